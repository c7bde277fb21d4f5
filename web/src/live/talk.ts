// Talk-back: this browser's microphone to the camera's speaker, in the live
// session's own peer connection (docs/FORMAT.md, "Talk channel"). The
// session's audio transceiver is made send-and-receive with PCMU first, so
// the voice travels in the session's DTLS-SRTP, bound to both device keys
// (G8); the cloud relays only the signalling. A "talk" data channel asks
// the hub to start and stop; the hub answers {"talking":true} once the
// camera's speaker is open, or {"talking":false,"code","error"} (someone
// else is talking, the camera has no speaker, it stopped taking audio).
//
// Owns: the microphone stream (asked for on the first start; kept for
// MIC_KEEP_MS after a talk so a quick second press starts at once, then
// released so the browser's microphone indicator goes off; a browser that
// was allowed once does not ask again) and the talk channel.
// Must never: send the microphone while not talking (the sender's track is
// null then), or ask for the microphone before the first press (a live
// view opened by a ring's "Talk" action starts at once only when the
// microphone is already allowed, so nothing is asked for).

import { h } from '../ui';

/** How long the microphone stays open after a talk ends. */
const MIC_KEEP_MS = 10_000;

/** TalkState: off, waiting for the microphone or the hub, on, or refused (with a reason). */
export type TalkState = 'unavailable' | 'off' | 'starting' | 'on' | 'refused';

interface TalkReply {
  talking: boolean;
  code?: string;
  error?: string;
}

/** Talk is one tile's talk-back, attached to each new peer connection of its live view. */
export class Talk {
  private mic?: MediaStream;
  private micAsk?: Promise<MediaStream>;
  private sender?: RTCRtpSender;
  private dc?: RTCDataChannel;
  private want = false;
  private stops = 0; // {"talk":false} sent, not yet answered
  private release = 0; // timer: the microphone is let go
  state: TalkState = 'unavailable';

  constructor(private onState: (s: TalkState, msg?: string) => void) {}

  private set(s: TalkState, msg?: string): void {
    this.state = s;
    this.onState(s, msg);
  }

  /** attach prepares a new peer connection before its offer: the audio transceiver sends too (PCMU first), and a talk channel opens. */
  attach(pc: RTCPeerConnection): void {
    this.detach();
    const tr = pc.getTransceivers().find((t) => t.receiver.track.kind === 'audio');
    if (!tr) return;
    tr.direction = 'sendrecv';
    // G.711 first (PCMU, then PCMA), the rest after: the camera's sound
    // may come in another codec on this transceiver.
    const caps = RTCRtpReceiver.getCapabilities?.('audio')?.codecs ?? [];
    const rank = (c: RTCRtpCodec) => ['audio/pcmu', 'audio/pcma'].indexOf(c.mimeType.toLowerCase());
    const g711 = caps.filter((c) => rank(c) >= 0).sort((a, b) => rank(a) - rank(b));
    if (g711.length && typeof tr.setCodecPreferences === 'function') tr.setCodecPreferences([...g711, ...caps.filter((c) => rank(c) < 0)]);
    this.sender = tr.sender;
    const dc = pc.createDataChannel('talk');
    this.dc = dc;
    this.stops = 0;
    dc.onopen = () => {
      if (this.dc === dc) this.set('off');
    };
    dc.onclose = () => {
      if (this.dc !== dc) return;
      this.dc = undefined;
      this.want = false;
      this.set('unavailable');
    };
    dc.onmessage = (e) => {
      if (this.dc !== dc || typeof e.data !== 'string' || e.data.length > 4096) return;
      let r: TalkReply;
      try {
        r = JSON.parse(e.data);
      } catch {
        return;
      }
      if (!r.talking && !r.error && this.stops > 0) {
        this.stops--; // the answer to a stop sent before the latest start
        return;
      }
      if (r.talking && this.want) this.set('on');
      else if (!r.talking) {
        const was = this.want;
        this.want = false;
        void this.sender?.replaceTrack(null).catch(() => undefined);
        window.clearTimeout(this.release);
        this.release = window.setTimeout(() => this.releaseMic(), MIC_KEEP_MS);
        if (r.error) this.set('refused', r.error);
        else if (was || this.state !== 'refused') this.set('off');
      }
    };
  }

  /** detach forgets the connection (it closed): no talk without a new one. */
  detach(): void {
    if (this.dc) {
      this.dc.onclose = null;
      this.dc.close();
    }
    this.dc = undefined;
    this.sender = undefined;
    if (this.want || this.state !== 'unavailable') {
      this.want = false;
      this.set('unavailable');
    }
  }

  /** start talks: the microphone (asked for on the first start) goes to the hub, which opens the camera's speaker. */
  async start(): Promise<void> {
    const dc = this.dc;
    if (!dc || dc.readyState !== 'open' || !this.sender || this.want) return;
    this.want = true;
    window.clearTimeout(this.release);
    this.set('starting');
    let mic: MediaStream;
    try {
      this.micAsk ??= navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: false, autoGainControl: false, channelCount: 1 } });
      mic = this.mic = await this.micAsk;
    } catch (e) {
      this.micAsk = undefined;
      this.want = false;
      const denied = e instanceof DOMException && (e.name === 'NotAllowedError' || e.name === 'SecurityError');
      this.set('refused', denied ? 'This browser may not use the microphone: allow it in the site settings to talk.' : `No microphone to talk with: ${(e as Error).message}`);
      return;
    }
    if (!this.want || this.dc !== dc || dc.readyState !== 'open') return;
    await this.sender.replaceTrack(mic.getAudioTracks()[0] ?? null);
    if (!this.want) {
      await this.sender?.replaceTrack(null);
      return;
    }
    dc.send(JSON.stringify({ talk: true }));
  }

  /** stop ends the talk: the microphone stops going out at once, and is let go a little later. */
  stop(): void {
    if (!this.want && this.state !== 'starting' && this.state !== 'on') return;
    this.want = false;
    window.clearTimeout(this.release);
    this.release = window.setTimeout(() => this.releaseMic(), MIC_KEEP_MS);
    void this.sender?.replaceTrack(null).catch(() => undefined);
    if (this.dc?.readyState === 'open') {
      this.stops++;
      this.dc.send(JSON.stringify({ talk: false }));
    }
    this.set(this.dc ? 'off' : 'unavailable');
  }

  private releaseMic(): void {
    if (this.want) return;
    for (const t of this.mic?.getTracks() ?? []) t.stop();
    this.mic = undefined;
    this.micAsk = undefined;
  }

  /** close stops talking and releases the microphone. */
  close(): void {
    this.stop();
    this.detach();
    window.clearTimeout(this.release);
    this.releaseMic();
  }
}

/** How long a press must last to be a hold (released: the talk ends) rather than a click (the talk stays on). */
const HOLD_MS = 350;

const NOTES: Record<TalkState, (cam: string) => string> = {
  unavailable: () => '',
  off: () => 'Microphone off',
  starting: (cam) => `Opening ${cam}’s speaker…`,
  on: (cam) => `Talking — ${cam} hears you`,
  refused: () => '',
};

/** TalkControl is a tile's push-to-talk button and the line that says whether the microphone is on. */
export interface TalkControl {
  talk: Talk;
  button: HTMLButtonElement;
  note: HTMLElement;
  close(): void;
}

/**
 * talkControl makes the push-to-talk button for camera cam: hold it to talk
 * (released, the talk ends), or click it (or press Enter or Space) to turn
 * talking on and again to turn it off. It shows once the hub's talk channel
 * is open. icon draws the microphone.
 */
export function talkControl(cam: string, icon: () => SVGSVGElement, opts: { answer?: boolean } = {}): TalkControl {
  const button = h('button', { type: 'button', class: 'icon talk', 'aria-label': 'Talk', 'aria-pressed': 'false', hidden: true, 'data-talk': 'unavailable', title: 'Hold to talk, or click to talk until you click again' }, icon());
  const note = h('p', { class: 'talk-note', role: 'status', 'data-talk': 'unavailable', hidden: true });
  const talk = new Talk((s, msg) => {
    const on = s === 'starting' || s === 'on';
    button.hidden = s === 'unavailable';
    button.dataset.talk = s;
    note.dataset.talk = s;
    button.setAttribute('aria-pressed', String(on));
    button.setAttribute('aria-label', on ? 'Stop talking' : 'Talk');
    note.textContent = s === 'refused' ? (msg ?? 'The hub refused the talk.') : NOTES[s](cam);
    note.hidden = s === 'unavailable';
    if (s === 'off' && answering) {
      answering = false;
      void answer();
    }
  });
  // Answering a ring with "Talk" (opts.answer): once the talk channel
  // first opens, talk at once if this browser already allows the
  // microphone (so nothing is asked), else have the button ready.
  let answering = !!opts.answer;
  const answer = async () => {
    const allowed = await navigator.permissions
      ?.query({ name: 'microphone' as PermissionName })
      .then((p) => p.state === 'granted', () => false);
    if (talk.state !== 'off') return;
    if (allowed) {
      void talk.start();
      return;
    }
    button.dataset.ready = 'true';
    button.focus();
    note.textContent = `Press Talk to speak to ${cam}`;
  };
  let downAt = 0;
  let stopOnUp = false;
  let pressing = false;
  button.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    pressing = true;
    downAt = performance.now();
    stopOnUp = talk.state === 'on' || talk.state === 'starting';
    if (!stopOnUp) void talk.start();
    button.setPointerCapture?.(e.pointerId);
  });
  const up = (cancelled: boolean) => {
    if (!pressing) return;
    pressing = false;
    if (stopOnUp || cancelled || performance.now() - downAt > HOLD_MS) talk.stop();
  };
  button.addEventListener('pointerup', () => up(false));
  button.addEventListener('pointercancel', () => up(true));
  // Enter and Space: a click with no pointer (detail 0) toggles.
  button.addEventListener('click', (e) => {
    if (e.detail !== 0) return;
    if (talk.state === 'on' || talk.state === 'starting') talk.stop();
    else void talk.start();
  });
  return { talk, button, note, close: () => talk.close() };
}
