// Live view in the browser: one signalling WebSocket per page to the cloud
// (which relays to the household's hub), and one RTCPeerConnection per
// camera shown. Each offer carries this browser's DTLS fingerprint signed by
// its device key; each answer is checked against the hub key of the chain
// this browser verified (G8) before it is used. A dropped connection is
// replaced by a new session with backoff; a refusal on security grounds is
// shown and not retried.

import { api } from '../api';
import type { DeviceKeys } from '../crypto/devicekeys';
import { b64url } from '../crypto/keys';
import { checkAnswer, LiveRefused, type Message, newSessionId, offerMessage, sdpFingerprint } from './signal';
import type { Talk } from './talk';

/** LiveTrust is what the verified chain says about the household's hubs. */
export interface LiveTrust {
  householdId: string;
  hubs: Map<string, Uint8Array>; // device ID -> Ed25519 public key, current hubs only
}

interface Pending {
  resolve: (m: Message) => void;
  reject: (e: Error) => void;
}

/** Signal is the page's signalling connection for one household. */
export class Signal {
  private ws?: WebSocket;
  private opening?: Promise<WebSocket>;
  private replies = new Map<string, Pending>();
  private listeners = new Map<string, (m: Message) => void>();
  private closed = false;

  constructor(private hh: string) {}

  private open(): Promise<WebSocket> {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) return Promise.resolve(this.ws);
    if (this.opening) return this.opening;
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + `/v1/households/${encodeURIComponent(this.hh)}/live`;
    this.opening = new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => {
        this.ws = ws;
        this.opening = undefined;
        resolve(ws);
      };
      ws.onerror = () => {
        this.opening = undefined;
        reject(new Error('the live-view connection to the Vigil service failed; retrying'));
      };
      ws.onclose = () => {
        if (this.ws === ws) this.ws = undefined;
        for (const p of this.replies.values()) p.reject(new Error('the live-view connection to the Vigil service closed; retrying'));
        this.replies.clear();
        for (const l of this.listeners.values()) l({ type: 'error', code: 'session-gone', error: 'the signalling connection closed' });
      };
      ws.onmessage = (e) => {
        let m: Message;
        try {
          m = JSON.parse(String(e.data));
        } catch {
          return;
        }
        const p = this.replies.get(m.session ?? '');
        if (p && (m.type === 'answer' || m.type === 'error')) {
          this.replies.delete(m.session ?? '');
          p.resolve(m);
          return;
        }
        this.listeners.get(m.session ?? '')?.(m);
      };
    });
    return this.opening;
  }

  /** connect opens the connection ahead of the first offer. */
  connect(): void {
    this.open().catch(() => undefined);
  }

  /** exchange sends an offer and resolves with the hub's answer or error. */
  async exchange(offer: Message, timeoutMs = 15000): Promise<Message> {
    if (this.closed) throw new Error('closed');
    const ws = await this.open();
    return new Promise<Message>((resolve, reject) => {
      const t = setTimeout(() => {
        this.replies.delete(offer.session!);
        reject(new Error('the hub did not answer; retrying'));
      }, timeoutMs);
      this.replies.set(offer.session!, {
        resolve: (m) => (clearTimeout(t), resolve(m)),
        reject: (e) => (clearTimeout(t), reject(e)),
      });
      ws.send(JSON.stringify(offer));
    });
  }

  /** listen receives later messages of a session (the hub went away). */
  listen(session: string, f: (m: Message) => void): void {
    this.listeners.set(session, f);
  }

  /** end tells the hub a session is over. */
  end(session: string): void {
    this.listeners.delete(session);
    this.replies.delete(session);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'close', session }));
  }

  close(): void {
    this.closed = true;
    this.ws?.close();
  }
}

export interface LiveViewOptions {
  hh: string;
  camera: string;
  video: HTMLVideoElement;
  signal: Signal;
  keys: DeviceKeys;
  trust: LiveTrust;
  onStatus: (s: string) => void;
  /** onError: fatal errors stop the view (a refusal on security grounds). */
  onError: (msg: string, fatal: boolean) => void;
  onFirstFrame?: (at: number) => void;
  /** onAudio: the hub sends the camera's sound (G.711) with the picture; it plays through video, which stays muted until the user unmutes it. */
  onAudio?: () => void;
  /** talk, when set, is attached to each session's connection (talk-back to the camera's speaker). */
  talk?: Talk;
}

interface IceConfig {
  ice_servers: RTCIceServer[];
}

/** SessionParams: what a session with a household's hub needs. */
export interface SessionParams {
  hh: string;
  camera: string;
  signal: Signal;
  keys: DeviceKeys;
  trust: LiveTrust;
}

/** HubAnswerError: the hub (or the cloud for it) answered an offer with an error other than a refusal. */
export class HubAnswerError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/**
 * newPeer creates a peer connection for a session with the household's hub
 * (ICE servers from the cloud) with the receive-only video and audio
 * transceivers every live session offers (the hub sends audio only for a
 * camera with G.711 sound).
 */
export async function newPeer(hh: string): Promise<RTCPeerConnection> {
  const cfg = await api<IceConfig>('GET', `/v1/households/${encodeURIComponent(hh)}/live/ice`);
  const pc = new RTCPeerConnection({ iceServers: cfg.ice_servers ?? [], bundlePolicy: 'max-bundle' });
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  return pc;
}

/**
 * negotiate runs the signed offer and answer of one session on pc (whose
 * transceivers and data channels are already added): the offer carries
 * this browser's DTLS fingerprint signed by its device key, and the
 * answer is used only once its signature by a hub of the verified chain
 * checks out (G8). hooks.started gets the session ID before the offer is
 * sent (so the caller can end it); hooks.current says whether the caller
 * still wants this session: when it stops, negotiate returns false.
 * Throws LiveRefused when the session is refused on security grounds,
 * HubAnswerError when the hub answers with another error.
 */
export async function negotiate(
  pc: RTCPeerConnection,
  o: SessionParams,
  hooks: { current: () => boolean; started: (session: string) => void },
): Promise<boolean> {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc, 2000);
  if (!hooks.current()) return false;
  const sdp = pc.localDescription!.sdp;
  const fp = sdpFingerprint(sdp);
  const session = newSessionId();
  hooks.started(session);
  const ts = Date.now();
  const sig = await o.keys.sign(offerMessage(o.trust.householdId, session, o.camera, ts, fp));
  const ans = await o.signal.exchange({ type: 'offer', session, camera: o.camera, device: o.keys.id, ts, fingerprint: fp, sig: b64url(sig), sdp });
  if (!hooks.current()) return false;
  if (ans.type === 'error') {
    if (ans.code === 'refused') throw new LiveRefused(`The hub refused this browser: ${ans.error}`);
    throw new HubAnswerError(ans.error ?? 'the hub could not start the video', ans.code ?? '');
  }
  await checkAnswer(o.trust.hubs, o.trust.householdId, o.camera, fp, ans);
  await pc.setRemoteDescription({ type: 'answer', sdp: ans.sdp! });
  return true;
}

/** LiveView shows one camera, reconnecting until stopped. */
export class LiveView {
  private pc?: RTCPeerConnection;
  private session = '';
  private stopped = false;
  private backoff = 500;
  private timer?: number;
  private firstSeen = false;

  constructor(private o: LiveViewOptions) {}

  start(): void {
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.teardown();
    this.o.video.srcObject = null;
  }

  private teardown(): void {
    if (this.session) this.o.signal.end(this.session);
    this.session = '';
    this.o.talk?.detach();
    this.pc?.close();
    this.pc = undefined;
  }

  private retry(msg: string): void {
    if (this.stopped) return;
    this.teardown();
    this.o.onError(msg, false);
    clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 15000);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const o = this.o;
    o.onStatus('Connecting…');
    try {
      const pc = await newPeer(o.hh);
      if (this.stopped) {
        pc.close();
        return;
      }
      this.pc = pc;
      o.talk?.attach(pc);
      pc.ontrack = (e) => {
        if (e.track.kind === 'audio') {
          // The sound joins the picture's element (the hub sends it in a
          // stream of its own, so that it is not held back for lip-sync).
          const cur = o.video.srcObject;
          if (cur instanceof MediaStream) {
            if (!cur.getTracks().includes(e.track)) cur.addTrack(e.track);
          } else o.video.srcObject = e.streams[0] ?? new MediaStream([e.track]);
          o.onAudio?.();
          return;
        }
        o.video.srcObject = e.streams[0] ?? new MediaStream([e.track]);
        void o.video.play().catch(() => undefined);
        this.watchFirstFrame();
      };
      pc.onconnectionstatechange = () => {
        if (this.pc !== pc) return;
        const s = pc.connectionState;
        if (s === 'connected') {
          this.backoff = 500;
          o.onStatus('Live');
        } else if (s === 'failed' || s === 'disconnected') {
          this.retry('The connection to the hub dropped; reconnecting…');
        }
      };
      const current = await negotiate(pc, o, {
        current: () => !this.stopped && this.pc === pc,
        started: (session) => {
          this.session = session;
          o.signal.listen(session, (m) => {
            if (m.type === 'error' && this.session === session) this.retry(m.error ?? 'the hub went away; reconnecting…');
          });
        },
      });
      if (!current) return;
      o.onStatus('Starting video…');
    } catch (e) {
      if (e instanceof LiveRefused) {
        this.stopped = true;
        this.teardown();
        o.onStatus('Refused');
        o.onError(e.message, true);
        return;
      }
      if (e instanceof HubAnswerError) {
        this.retry(e.code === 'hub-offline' ? 'The hub is not connected; retrying…' : e.message);
        return;
      }
      this.retry((e as Error).message);
    }
  }

  private watchFirstFrame(): void {
    if (this.firstSeen) return;
    const v = this.o.video;
    const done = () => {
      if (this.firstSeen) return;
      this.firstSeen = true;
      this.o.onFirstFrame?.(performance.now());
    };
    if (typeof v.requestVideoFrameCallback === 'function') v.requestVideoFrameCallback(() => done());
    else (v as HTMLVideoElement).addEventListener('loadeddata', done, { once: true });
  }
}

/** gathered waits for ICE gathering to finish (or the timeout). */
function gathered(pc: RTCPeerConnection, ms: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(t);
        resolve();
      }
    });
  });
}
