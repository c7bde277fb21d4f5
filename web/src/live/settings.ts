// A camera's detection settings (motion masks and zones) read from and
// written to the household's hub over a data channel, "settings", of a
// live-view session: the same signed offer and checked answer as live
// video (G8), so the request and its reply are end-to-end encrypted
// between this browser and the hub; the cloud only relays the signalling.
//
// Protocol (JSON text messages, one request outstanding, each at most
// 64 KiB):
//
//	{"id":"…","op":"get"}
//	{"id":"…","op":"put","detect":{"mask":[[[x,y],…],…],"zones":[{"name":…,"points":[[x,y],…],"labels":[…],"inertia":n}],"labels":[…],"min_score":n}}
//	{"id":"…","op":"reset"}
//
// answered by {"id":"…","ok":true,"detect":{…},"source":"app"|"config","detecting":bool}
// or {"id":"…","ok":false,"error":"…"}. Only an admin device may put or reset.
// The detect object's labels (tracked) and min_score (the lowest detector
// score kept): in a put, absent or empty keeps the config file's; a reply
// carries what detection uses, the hub's defaults filled in.

import type { DeviceKeys } from '../crypto/devicekeys';
import { newSessionId } from './signal';
import { HubAnswerError, negotiate, newPeer, Signal, type LiveTrust } from './session';

export interface HubZone {
  name: string;
  points: [number, number][];
  labels?: string[];
  inertia?: number;
}

export interface HubDetect {
  mask: [number, number][][];
  zones: HubZone[];
  labels?: string[];
  min_score?: number;
}

export type SettingsRequest = { op: 'get' } | { op: 'put'; detect: HubDetect } | { op: 'reset' };

export interface SettingsReply {
  detect: HubDetect;
  source: 'app' | 'config';
  detecting: boolean;
}

/** HubSaid: the hub answered the request with ok:false. */
export class HubSaid extends Error {}

/** MAX_MESSAGE is the most bytes of a request or reply. */
export const MAX_MESSAGE = 64 * 1024;

const utf8 = new TextEncoder();

export interface SettingsOptions {
  hh: string;
  camera: string;
  keys: DeviceKeys;
  trust: LiveTrust;
  /** onStatus reports progress ("Connecting to the hub…"). */
  onStatus?: (s: string) => void;
  /** timeoutMs bounds the whole operation (default 30 s). */
  timeoutMs?: number;
}

/** Cancel ends an operation in progress (the page is left). */
export interface Cancel {
  cancel(): void;
}

/**
 * hubSettings opens a live session for the camera with a "settings" data
 * channel, sends req, waits for its reply and closes the session. It
 * rejects with HubSaid when the hub refuses the request, and with an Error
 * saying why when the connection fails. cancel ends it early.
 */
export function hubSettings(o: SettingsOptions, req: SettingsRequest, cancel?: (c: Cancel) => void): Promise<SettingsReply> {
  const id = newSessionId().slice(0, 22);
  const text = JSON.stringify({ id, ...req });
  if (utf8.encode(text).length > MAX_MESSAGE) return Promise.reject(new Error(`the settings are larger than the ${MAX_MESSAGE / 1024} KiB the hub accepts`));

  const signal = new Signal(o.hh);
  let pc: RTCPeerConnection | undefined;
  let session = '';
  let done = false;
  let timer = 0;
  const close = () => {
    done = true;
    clearTimeout(timer);
    if (session) signal.end(session);
    pc?.close();
    signal.close();
  };

  return new Promise<SettingsReply>((resolve, reject) => {
    const finish = (err: Error | null, r?: SettingsReply) => {
      if (done) return;
      close();
      if (err) reject(err);
      else resolve(r!);
    };
    cancel?.({ cancel: () => finish(new Error('cancelled')) });
    timer = window.setTimeout(() => finish(new Error('the hub did not reply in time')), o.timeoutMs ?? 30000);

    void (async () => {
      o.onStatus?.('Connecting to the hub…');
      signal.connect();
      const p = await newPeer(o.hh);
      if (done) {
        p.close();
        return;
      }
      pc = p;
      const dc = p.createDataChannel('settings', { ordered: true });
      dc.onopen = () => {
        o.onStatus?.('Connected to the hub; waiting for its reply…');
        dc.send(text);
      };
      dc.onmessage = (e) => {
        if (typeof e.data !== 'string' || e.data.length > MAX_MESSAGE) return finish(new Error('the hub sent a reply this page does not read'));
        let m: Record<string, unknown>;
        try {
          m = JSON.parse(e.data);
        } catch {
          return finish(new Error('the hub sent a reply that is not JSON'));
        }
        // Not the reply to this request (a refusal of a request the hub could
        // not read carries no id).
        if (m?.id !== id && !(m?.ok !== true && (m?.id ?? '') === '')) return;
        if (m.ok !== true) return finish(new HubSaid(typeof m.error === 'string' && m.error ? m.error : 'the hub refused the request without a reason'));
        const r = reply(m);
        if (!r) return finish(new Error('the hub sent a reply this page does not read'));
        finish(null, r);
      };
      dc.onclose = () => finish(new Error('the hub closed the settings channel before it replied'));
      p.onconnectionstatechange = () => {
        if (p.connectionState === 'failed') finish(new Error('the connection to the hub failed'));
      };
      const ok = await negotiate(p, { hh: o.hh, camera: o.camera, signal, keys: o.keys, trust: o.trust }, {
        current: () => !done,
        started: (s) => {
          session = s;
          signal.listen(s, (m) => {
            if (m.type === 'error') finish(new Error(m.error ?? 'the hub ended the session'));
          });
        },
      });
      if (ok) o.onStatus?.('Connecting to the hub (encrypted channel)…');
    })().catch((e: Error) => finish(e instanceof HubAnswerError && e.code === 'hub-offline' ? new Error('the hub is not connected to the Vigil service') : e));
  });
}

// reply checks the shape of an ok reply.
function reply(m: Record<string, unknown>): SettingsReply | null {
  const d = m.detect as Record<string, unknown> | undefined;
  if (typeof d !== 'object' || d === null) return null;
  const mask = d.mask ?? [];
  const zones = d.zones ?? [];
  if (!Array.isArray(mask) || !Array.isArray(zones)) return null;
  const isPoly = (p: unknown): p is [number, number][] =>
    Array.isArray(p) && p.every((q) => Array.isArray(q) && q.length === 2 && Number.isFinite(q[0]) && Number.isFinite(q[1]));
  if (!mask.every(isPoly)) return null;
  for (const z of zones) {
    if (typeof z !== 'object' || z === null || typeof z.name !== 'string' || !isPoly(z.points)) return null;
    if (z.labels != null && !(Array.isArray(z.labels) && z.labels.every((l: unknown) => typeof l === 'string'))) return null;
    if (z.inertia != null && !Number.isInteger(z.inertia)) return null;
  }
  const labels = d.labels ?? [];
  if (!Array.isArray(labels) || !labels.every((l: unknown) => typeof l === 'string')) return null;
  const minScore = d.min_score ?? 0;
  if (typeof minScore !== 'number' || !Number.isFinite(minScore)) return null;
  return {
    detect: { mask, zones, labels, min_score: minScore },
    source: m.source === 'app' ? 'app' : 'config',
    detecting: m.detecting === true,
  };
}
