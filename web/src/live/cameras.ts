// Camera management with the household's hub over a data channel,
// "cameras", of a live-view session on one of its cameras: the same signed
// offer and checked answer as live video (G8), so a camera's address, user
// name and password go from this browser to the hub end-to-end encrypted;
// the cloud only relays the signalling. Admin devices only (the hub checks
// the role in its verified chain at each request).
//
// Protocol (JSON text messages, in order, each at most 96 KiB;
// docs/FORMAT.md, "Camera management channel"):
//
//	{"id":"…","op":"discover"}
//	{"id":"…","op":"probe","body":{"address":…,"username":…,"password":…}}
//	{"id":"…","op":"add","body":{"name":…,"address":…,"username":…,"password":…,"main":token,"sub":token}}
//	{"id":"…","op":"remove","body":{"name":…}}
//
// answered by {"id":"…","ok":true,"result":{…}} or {"id":"…","ok":false,"error":"…"}.

import type { DeviceKeys } from '../crypto/devicekeys';
import { newSessionId } from './signal';
import { HubAnswerError, negotiate, newPeer, Signal, type LiveTrust } from './session';
import { HubSaid } from './settings';

export { HubSaid };

/** MAX_MESSAGE is the most bytes of a request or reply. */
export const MAX_MESSAGE = 96 * 1024;

export interface FoundCamera {
  address: string;
  name?: string;
  hardware?: string;
  endpoint?: string;
  /** camera is the hub's camera on this device, when one was added. */
  camera?: string;
}

export interface ProbedProfile {
  token: string;
  name: string;
  encoding?: string;
  width?: number;
  height?: number;
  fps?: number;
  audio?: string;
  stream: string;
  /** record: the hub can record it and show it live (H.264). */
  record: boolean;
}

export interface Probed {
  address: string;
  manufacturer: string;
  model: string;
  profiles: ProbedProfile[];
  /** snapshot is a JPEG, base64 (standard alphabet); absent with snapshot_error. */
  snapshot?: string;
  snapshot_error?: string;
}

export interface Account {
  address: string;
  username: string;
  password: string;
}

const utf8 = new TextEncoder();

interface Waiting {
  id: string;
  resolve: (r: unknown) => void;
  reject: (e: Error) => void;
}

/**
 * CamerasChannel is an open cameras channel to the hub. open() connects;
 * each request waits for its reply (one at a time); close() ends the
 * session. A failed connection rejects the request in progress and the
 * next ones.
 */
export class CamerasChannel {
  private signal: Signal;
  private pc?: RTCPeerConnection;
  private dc?: RTCDataChannel;
  private session = '';
  private closed = false;
  private broken?: Error;
  private waiting?: Waiting;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private o: HubChannelParams) {
    this.signal = new Signal(o.hh);
  }

  /** open connects to the hub; it resolves once the channel is open. */
  async open(timeoutMs = 30000): Promise<void> {
    const ch = await openHubChannel(this.o, this.signal, 'cameras', timeoutMs, {
      closed: () => this.closed,
      started: (s) => (this.session = s),
      message: (d) => this.onMessage(d),
      fail: (e) => this.fail(e),
    });
    this.pc = ch.pc;
    this.dc = ch.dc;
  }

  private fail(e: Error) {
    this.broken ??= e;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(e);
  }

  private onMessage(data: unknown) {
    const w = this.waiting;
    if (!w) return;
    if (typeof data !== 'string' || data.length > MAX_MESSAGE * 2) return this.fail(new Error('the hub sent a reply this page does not read'));
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(data);
    } catch {
      return this.fail(new Error('the hub sent a reply that is not JSON'));
    }
    if (m?.id !== w.id && (m?.ok === true || (m?.id ?? '') !== '')) return; // a late reply
    this.waiting = undefined;
    if (m.ok !== true) w.reject(new HubSaid(typeof m.error === 'string' && m.error ? m.error : 'the hub refused the request without a reason'));
    else w.resolve(m.result);
  }

  /** request sends one request and resolves with the hub's result. */
  request<T>(op: 'discover' | 'probe' | 'add' | 'remove', body?: object): Promise<T> {
    const run = () =>
      new Promise<T>((resolve, reject) => {
        if (this.broken) return reject(this.broken);
        if (!this.dc || this.dc.readyState !== 'open') return reject(new Error('not connected to the hub'));
        const id = newSessionId().slice(0, 22);
        const text = JSON.stringify(body ? { id, op, body } : { id, op });
        if (utf8.encode(text).length > MAX_MESSAGE) return reject(new Error('the request is too large'));
        this.waiting = { id, resolve: resolve as (r: unknown) => void, reject };
        this.dc.send(text);
      });
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }

  discover(): Promise<{ cameras: FoundCamera[] }> {
    return this.request('discover');
  }

  probe(a: Account): Promise<Probed> {
    return this.request('probe', a);
  }

  add(a: Account & { name: string; main: string; sub?: string }): Promise<{ camera: string }> {
    return this.request('add', a);
  }

  remove(name: string): Promise<{ camera: string }> {
    return this.request('remove', { name });
  }

  close(): void {
    this.closed = true;
    this.fail(new Error('cancelled'));
    if (this.session) this.signal.end(this.session);
    this.pc?.close();
    this.signal.close();
  }
}

/** HubChannelParams names the session a channel rides on. */
export interface HubChannelParams {
  hh: string;
  camera: string;
  keys: DeviceKeys;
  trust: LiveTrust;
}

/**
 * openHubChannel opens a live-view session with the household's hub on
 * o.camera carrying one data channel, label, and resolves once the channel
 * is open: the signed offer and checked answer of live video (G8), so what
 * the channel carries is end-to-end encrypted and the cloud only relays
 * the signalling. hooks.message gets each message, hooks.fail the first
 * failure of the channel or the session (once open too); hooks.closed says
 * whether the caller gave up (then it throws 'cancelled').
 */
export async function openHubChannel(
  o: HubChannelParams,
  signal: Signal,
  label: string,
  timeoutMs: number,
  hooks: { closed: () => boolean; started: (session: string) => void; message: (data: unknown) => void; fail: (e: Error) => void },
): Promise<{ pc: RTCPeerConnection; dc: RTCDataChannel }> {
  signal.connect();
  const pc = await newPeer(o.hh);
  if (hooks.closed()) {
    pc.close();
    throw new Error('cancelled');
  }
  const dc = pc.createDataChannel(label, { ordered: true });
  const opened = new Promise<void>((resolve, reject) => {
    const timer = window.setTimeout(() => reject(new Error('the hub did not answer in time')), timeoutMs);
    dc.onopen = () => {
      clearTimeout(timer);
      resolve();
    };
    const fail = (e: Error) => {
      clearTimeout(timer);
      hooks.fail(e);
      reject(e);
    };
    dc.onclose = () => fail(new Error(`the hub closed the ${label} channel`));
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed') fail(new Error('the connection to the hub failed'));
    };
  });
  opened.catch(() => {});
  dc.onmessage = (e) => hooks.message(e.data);
  try {
    const ok = await negotiate(pc, { hh: o.hh, camera: o.camera, signal, keys: o.keys, trust: o.trust }, {
      current: () => !hooks.closed(),
      started: (s) => {
        hooks.started(s);
        signal.listen(s, (m) => {
          if (m.type === 'error') hooks.fail(new Error(m.error ?? 'the hub ended the session'));
        });
      },
    });
    if (!ok) throw new Error('cancelled');
  } catch (e) {
    pc.close();
    if (e instanceof HubAnswerError && e.code === 'hub-offline') throw new Error('the hub is not connected to the Vigil service');
    throw e;
  }
  await opened;
  return { pc, dc };
}
