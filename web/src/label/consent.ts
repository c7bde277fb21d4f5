// A donation's consent record as an annotator's or reviewer's device
// checks it before showing a frame (docs/FORMAT.md, "Consent records"; Go
// consent.VerifyWithKey): the body is a canonical consent, the key given
// is the one of the device it names, the signature over
// "vigil/labelling/v1/consent" || 0x00 || body verifies, the consent has
// not expired, and it names the SHA-256 of exactly the sealed bytes
// fetched.
//
// Owns: reading and checking the text form BODY.SIG. Must never: let a
// caller use a consent that failed a check, or put its text into HTML.

import { concat, fromUtf8, hex, sha256, utf8 } from '../crypto/bytes';
import { deviceId } from '../crypto/devicekeys';
import { ed25519Verify, unb64url } from '../crypto/keys';

const CONTEXT = utf8('vigil/labelling/v1/consent\x00');
const MAX_SIZE = 4096;
const PURPOSES = ['improve-person-detection', 'improve-object-detection'];
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export interface Consent {
  v: 1;
  id: string;
  household: string;
  device: string;
  workspace: string;
  purpose: string;
  camera: string;
  from: string;
  to: string;
  event: string;
  object: string;
  audio: boolean;
  created: string;
  expires: string;
}

/** ConsentError is a consent that does not allow showing the clip; the message says why. */
export class ConsentError extends Error {
  constructor(message: string) {
    super(`the donor's consent does not verify: ${message}; the clip is not shown`);
    this.name = 'ConsentError';
  }
}

const FIELDS = ['v', 'id', 'household', 'device', 'workspace', 'purpose', 'camera', 'from', 'to', 'event', 'object', 'audio', 'created', 'expires'] as const;

function parseTime(s: unknown, name: string): number {
  if (typeof s !== 'string' || !TIME.test(s)) throw new ConsentError(`${name} is not a UTC time with milliseconds`);
  const t = Date.parse(s);
  if (!Number.isFinite(t) || new Date(t).toISOString() !== s) throw new ConsentError(`${name} is not a valid time`);
  return t;
}

/** parseConsent reads a consent body, refusing one that is not in canonical form. */
export function parseConsent(body: Uint8Array): Consent {
  if (body.length === 0 || body.length > MAX_SIZE) throw new ConsentError(`the record is not 1 to ${MAX_SIZE} bytes`);
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(fromUtf8(body));
  } catch {
    throw new ConsentError('the record is not JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ConsentError('the record is not a JSON object');
  const keys = Object.keys(v);
  if (keys.length !== FIELDS.length || keys.some((k, i) => k !== FIELDS[i])) throw new ConsentError('the record does not have exactly the consent fields, in order');
  const c = v as unknown as Consent;
  const str = (k: keyof Consent, re: RegExp) => {
    if (typeof c[k] !== 'string' || !re.test(c[k] as string)) throw new ConsentError(`${k} is malformed`);
  };
  if (c.v !== 1) throw new ConsentError('version is not 1');
  str('id', /^[a-z2-7]{26}$/);
  str('household', /^h[a-z2-7]{1,127}$/);
  str('device', /^d[a-z2-7]{1,127}$/);
  str('workspace', /^h[a-z2-7]{1,127}$/);
  if (!PURPOSES.includes(c.purpose)) throw new ConsentError('purpose is not one this page knows');
  str('camera', /^[0-9a-f]{64}$/);
  str('event', /^[A-Za-z0-9._-]{0,128}$/);
  str('object', /^[0-9a-f]{64}$/);
  if (typeof c.audio !== 'boolean') throw new ConsentError('audio is not a boolean');
  if (parseTime(c.from, 'from') >= parseTime(c.to, 'to')) throw new ConsentError('from is not before to');
  if (parseTime(c.created, 'created') >= parseTime(c.expires, 'expires')) throw new ConsentError('expires is not after created');
  // Canonical: re-encoding gives exactly the bytes signed.
  const again = JSON.stringify(Object.fromEntries(FIELDS.map((k) => [k, c[k]])));
  if (again !== fromUtf8(body)) throw new ConsentError('the record is not in canonical form');
  return c;
}

/** splitSigned reads the text form BODY.SIG (unpadded base64url each). */
export function splitSigned(text: string): { body: Uint8Array; sig: Uint8Array } {
  const parts = text.split('.');
  if (parts.length !== 2) throw new ConsentError('expected BODY.SIG');
  let body: Uint8Array, sig: Uint8Array;
  try {
    body = unb64url(parts[0]);
    sig = unb64url(parts[1]);
  } catch {
    throw new ConsentError('BODY.SIG is not unpadded base64url');
  }
  if (sig.length !== 64) throw new ConsentError('the signature is not 64 bytes');
  return { body, sig };
}

/**
 * verifyConsent is Go consent.VerifyWithKey: signed (BODY.SIG) must be a
 * consent of the device whose Ed25519 key is pub, not expired at now, for
 * the sealed bytes (their SHA-256). It also checks the workspace and the
 * donation ID it was given for.
 */
export async function verifyConsent(signed: string, pub: Uint8Array, sealed: Uint8Array, want: { workspace: string; id: string }, now: Date = new Date()): Promise<Consent> {
  const { body, sig } = splitSigned(signed);
  const c = parseConsent(body);
  if (pub.length !== 32 || (await deviceId(pub)) !== c.device) throw new ConsentError(`the key given is not device ${c.device}'s`);
  if (!(await ed25519Verify(pub, concat(CONTEXT, body), sig))) throw new ConsentError(`the signature of consent ${c.id} is not the donor device's`);
  if (now.getTime() >= Date.parse(c.expires)) throw new ConsentError(`consent ${c.id} expired at ${c.expires}`);
  if (hex(await sha256(sealed)) !== c.object) throw new ConsentError(`the clip's bytes are not the ones consent ${c.id} gives`);
  if (c.workspace !== want.workspace || c.id !== want.id) throw new ConsentError(`consent ${c.id} is for another workspace or donation`);
  return c;
}
