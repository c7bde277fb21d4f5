// Live-view signalling messages and their G8 signatures (docs/FORMAT.md,
// "Live view signalling"), exactly as Go internal/live: the viewer signs its
// DTLS fingerprint with its device key; the hub's answer carries the hub's
// fingerprint signed by the hub's device key, which is checked here against
// the hub key of the household chain this browser verified and against the
// fingerprint in the answer's SDP.

import { utf8 } from '../crypto/bytes';
import { b64url, ed25519Verify, unb64url } from '../crypto/keys';

export interface Message {
  type: string;
  session?: string;
  camera?: string;
  device?: string;
  ts?: number;
  fingerprint?: string;
  sig?: string;
  sdp?: string;
  error?: string;
  code?: string;
}

export const HUB_SIGNATURE_REFUSED =
  "The hub's signature does not match this connection: someone between you and the hub changed it. The session was refused.";

/** offerMessage: the bytes the viewer's device key signs. */
export function offerMessage(household: string, session: string, camera: string, ts: number, fp: string): Uint8Array {
  return utf8(`vigil-live-offer-v1\n${household}\n${session}\n${camera}\n${ts}\n${fp}`);
}

/** answerMessage: the bytes the hub's device key signs. */
export function answerMessage(household: string, session: string, camera: string, viewerFP: string, hubFP: string): Uint8Array {
  return utf8(`vigil-live-answer-v1\n${household}\n${session}\n${camera}\n${viewerFP}\n${hubFP}`);
}

/**
 * sdpFingerprint returns the one DTLS fingerprint of an SDP as
 * "sha-256 AB:CD:..."; none, another algorithm or two different ones throw.
 */
export function sdpFingerprint(sdp: string): string {
  let fp = '';
  for (const m of sdp.matchAll(/^a=fingerprint:(\S+) ([0-9A-Fa-f:]+)\s*$/gm)) {
    const f = m[1].toLowerCase() + ' ' + m[2].toUpperCase();
    if (!/^sha-256 [0-9A-F]{2}(:[0-9A-F]{2}){31}$/.test(f)) throw new Error('the DTLS fingerprint is not sha-256');
    if (fp && f !== fp) throw new Error('the SDP has more than one DTLS fingerprint');
    fp = f;
  }
  if (!fp) throw new Error('the SDP has no DTLS fingerprint');
  return fp;
}

export function newSessionId(): string {
  return b64url(crypto.getRandomValues(new Uint8Array(16)));
}

export class LiveRefused extends Error {}

/**
 * checkAnswer verifies the hub's answer: from a hub of the verified chain
 * (hubs: device ID -> Ed25519 public key), signed over this session, camera
 * and our fingerprint, naming the fingerprint in its SDP.
 */
export async function checkAnswer(hubs: Map<string, Uint8Array>, household: string, camera: string, viewerFP: string, m: Message): Promise<void> {
  const pub = hubs.get(m.device ?? '');
  if (!pub) throw new LiveRefused(HUB_SIGNATURE_REFUSED + ' (the answer is not from a hub of your household)');
  let sig: Uint8Array;
  try {
    sig = unb64url(m.sig ?? '');
  } catch {
    throw new LiveRefused(HUB_SIGNATURE_REFUSED);
  }
  const ok = await ed25519Verify(pub, answerMessage(household, m.session ?? '', camera, viewerFP, m.fingerprint ?? ''), sig);
  let sdpFP = '';
  try {
    sdpFP = sdpFingerprint(m.sdp ?? '');
  } catch {
    /* refused below */
  }
  if (!ok || sdpFP !== m.fingerprint) throw new LiveRefused(HUB_SIGNATURE_REFUSED);
}
