// Redaction of a clip by the household's own hub over a data channel,
// "redact", of a live-view session (docs/FORMAT.md, "Redaction channel";
// internal/live/redact.go). A member donating a clip (G7) opens it here —
// the hub holds no key that opens past footage (G9) — and sends the MP4 to
// the hub inside the session's signed DTLS (G8); the hub blurs faces and
// heads and sends the redacted MP4 back the same way, keeping nothing. The
// cloud relays only the signalling.
//
// Protocol: JSON text messages and raw binary messages of at most 64 KiB:
//
//	page: {"op":"begin","size":N,"keep_audio":bool}   hub: {"op":"ready"}
//	page: N bytes                                    hub: {"op":"progress","done":d,"total":t} …
//	hub:  {"op":"result","size":M,"report":{…}}, M bytes, {"op":"end"}
//	either way {"op":"error","error":"…"}; page: {"op":"cancel"} ends the job.

import { Signal } from './session';
import { HubSaid } from './settings';
import { openHubChannel, type HubChannelParams } from './cameras';

/** CHUNK is the most bytes of one binary message either side sends. */
export const CHUNK = 64 * 1024;
/** MAX_CLIP is the hub's default bound on a clip sent for redaction. */
export const MAX_CLIP = 64 << 20;
const BUFFER_HIGH = 1 << 20;

/** RedactReport is what the hub says it blurred (counts only). */
export interface RedactReport {
  frames?: number;
  face_frames?: number;
  faces?: number;
  heads?: number;
  plates?: number;
  audio_kept?: boolean;
  [k: string]: unknown;
}

type Msg = { op: string; size?: number; done?: number; total?: number; report?: RedactReport; error?: string };

/**
 * RedactChannel is an open redact channel to the household's hub: open()
 * connects, redact() sends one clip and resolves with the redacted one,
 * close() ends the session.
 */
export class RedactChannel {
  private signal: Signal;
  private pc?: RTCPeerConnection;
  private dc?: RTCDataChannel;
  private session = '';
  private closed = false;
  private broken?: Error;
  private inbox: (Msg | Uint8Array)[] = [];
  private wake?: () => void;

  constructor(private o: HubChannelParams) {
    this.signal = new Signal(o.hh);
  }

  /** open connects to the hub; it resolves once the channel is open. */
  async open(timeoutMs = 30000): Promise<void> {
    const ch = await openHubChannel(this.o, this.signal, 'redact', timeoutMs, {
      closed: () => this.closed,
      started: (s) => (this.session = s),
      message: (d) => this.onMessage(d),
      fail: (e) => this.fail(e),
    });
    ch.dc.binaryType = 'arraybuffer';
    ch.dc.bufferedAmountLowThreshold = BUFFER_HIGH / 2;
    this.pc = ch.pc;
    this.dc = ch.dc;
  }

  private fail(e: Error) {
    this.broken ??= e;
    this.wake?.();
  }

  private onMessage(data: unknown) {
    if (data instanceof ArrayBuffer) {
      this.inbox.push(new Uint8Array(data));
    } else if (typeof data === 'string' && data.length <= 8192) {
      try {
        this.inbox.push(JSON.parse(data) as Msg);
      } catch {
        return this.fail(new Error('the hub sent a message that is not JSON'));
      }
    } else {
      return this.fail(new Error('the hub sent a message this page does not read'));
    }
    this.wake?.();
  }

  private async next(signal?: AbortSignal): Promise<Msg | Uint8Array> {
    for (;;) {
      if (this.inbox.length) return this.inbox.shift()!;
      if (this.broken) throw this.broken;
      if (signal?.aborted) throw new Error('cancelled');
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
      this.wake = undefined;
    }
  }

  private async reply(progress?: (done: number, total: number) => void, signal?: AbortSignal): Promise<Msg> {
    for (;;) {
      const m = await this.next(signal);
      if (m instanceof Uint8Array) continue; // bytes of an earlier, cancelled job
      if (m.op === 'error') throw new HubSaid(m.error || 'the hub could not redact the clip, and did not say why');
      if (m.op === 'progress') {
        progress?.(m.done ?? 0, m.total ?? 0);
        continue;
      }
      return m;
    }
  }

  private async drain(signal?: AbortSignal) {
    const dc = this.dc!;
    while (dc.bufferedAmount > BUFFER_HIGH) {
      if (this.broken) throw this.broken;
      if (signal?.aborted) throw new Error('cancelled');
      await new Promise<void>((resolve) => {
        const t = window.setTimeout(resolve, 1000);
        dc.onbufferedamountlow = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /**
   * redact sends clip (an MP4 this browser opened) and resolves with the
   * hub's redacted MP4 and its report. progress gets the hub's frames done
   * and total; an aborted signal cancels the job at the hub.
   */
  async redact(
    clip: Uint8Array<ArrayBuffer>,
    o: { keepAudio?: boolean; progress?: (done: number, total: number) => void; signal?: AbortSignal } = {},
  ): Promise<{ clip: Uint8Array; report: RedactReport }> {
    const dc = this.dc;
    if (!dc || dc.readyState !== 'open') throw this.broken ?? new Error('not connected to the hub');
    this.inbox = [];
    const cancel = () => {
      if (dc.readyState === 'open') dc.send(JSON.stringify({ op: 'cancel' }));
    };
    o.signal?.addEventListener('abort', cancel, { once: true });
    try {
      dc.send(JSON.stringify({ op: 'begin', size: clip.length, keep_audio: !!o.keepAudio }));
      const ready = await this.reply(undefined, o.signal);
      if (ready.op !== 'ready') throw new Error(`the hub answered "${ready.op}" to a clip`);
      for (let off = 0; off < clip.length; off += CHUNK) {
        await this.drain(o.signal);
        dc.send(clip.subarray(off, Math.min(off + CHUNK, clip.length)));
      }
      const res = await this.reply(o.progress, o.signal);
      const size = res.size ?? 0;
      if (res.op !== 'result' || size <= 0 || size > 4 * MAX_CLIP) throw new Error(`the hub answered "${res.op}" of ${size} bytes`);
      const out = new Uint8Array(size);
      let got = 0;
      while (got < size) {
        const m = await this.next(o.signal);
        if (!(m instanceof Uint8Array)) {
          if (m.op === 'error') throw new HubSaid(m.error || 'the hub stopped sending the clip');
          throw new Error(`the hub sent "${m.op}" in the middle of the clip`);
        }
        if (got + m.length > size) throw new Error('the hub sent more than the clip it announced');
        out.set(m, got);
        got += m.length;
      }
      const end = await this.reply(undefined, o.signal);
      if (end.op !== 'end') throw new Error(`the hub ended the clip with "${end.op}"`);
      return { clip: out, report: res.report ?? {} };
    } finally {
      o.signal?.removeEventListener('abort', cancel);
    }
  }

  close(): void {
    this.closed = true;
    this.fail(new Error('cancelled'));
    if (this.session) this.signal.end(this.session);
    this.pc?.close();
    this.signal.close();
  }
}
