// The browser's side of a session bound to its device (docs/FORMAT.md,
// "Household records", the actor's device): once per session, this
// browser proves to the cloud that it holds its device's signing key by
// signing the session's own challenge, so that the household's history
// names the device ("Anna's phone") for what this session reads and
// changes, not only the account.
//
// Must never: sign anything but the session-device message, log the
// challenge or the signature, or make a sign-in fail because binding did.

import { api, ApiError } from './api';
import { utf8 } from './crypto/bytes';
import { deviceString, loadDeviceKeys } from './crypto/devicekeys';
import { b64url, unb64url } from './crypto/keys';

const CONTEXT = utf8('vigil/session/v1/device\0');

/** sessionDeviceMessage is what the device signs: the context string, a zero byte and the session's challenge. */
export function sessionDeviceMessage(challenge: Uint8Array): Uint8Array {
  const m = new Uint8Array(CONTEXT.length + challenge.length);
  m.set(CONTEXT);
  m.set(challenge, CONTEXT.length);
  return m;
}

let inFlight: Promise<void> | null = null;

/**
 * bindDevice binds the signed-in session to this browser's device, if it
 * has device keys and the session is not bound yet. It resolves without
 * binding when signed out, without device keys (before enrolment: call it
 * again once the keys exist), or when the session is bound to another
 * device (a session's device never changes: sign in again); it never
 * rejects.
 */
export function bindDevice(): Promise<void> {
  if (!inFlight) inFlight = bind().finally(() => (inFlight = null));
  return inFlight;
}

async function bind(): Promise<void> {
  try {
    const keys = await loadDeviceKeys();
    if (!keys) return;
    const cur = await api<{ challenge: string; device: string }>('GET', '/v1/sessions/current/device');
    if (cur.device) return; // bound: to this device, or for good to another one
    const challenge = unb64url(cur.challenge);
    if (challenge.length !== 32) throw new Error('the service sent a challenge of the wrong size');
    const sig = await keys.sign(sessionDeviceMessage(challenge));
    await api('PUT', '/v1/sessions/current/device', { device: deviceString(keys), sig: b64url(sig) });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401 && !/signature/.test(e.message)) return; // signed out
    console.warn(`this browser could not name its device to the service: ${e instanceof Error ? e.message : String(e)}`);
  }
}
