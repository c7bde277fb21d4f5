// Consent records (docs/FORMAT.md, "Consent records"; Go: internal/consent):
// a member's device gives one donated clip to a labelling workspace (G7) by
// signing a consent over the exact sealed bytes, and takes it back by
// signing a revocation. This module writes the canonical bodies — the same
// bytes as Go's Consent.Encode and Revocation.Encode, checked against Go in
// internal/e2e TestBrowserConsent — signs them with this browser's
// non-extractable WebCrypto Ed25519 key, and reads a signed consent back
// strictly (a body that does not re-encode to its own bytes is refused).
//
// Owns: the two body encodings and their checks. Must never: sign a body
// that breaks a rule of the format, export or log keys.

import { base32, concat, equal, fromUtf8, hex, randomBytes, sha256, utf8 } from './bytes';
import { b64url, ed25519Verify, unb64url } from './keys';
import type { Signer } from './action';

export const CONSENT_VERSION = 1;
export const MAX_CONSENT_SIZE = 4096;
/** MAX_LIFE_MS bounds a consent's life (created to expires); DEFAULT_LIFE_MS is what a device offers. */
export const MAX_LIFE_MS = 731 * 86400_000;
export const DEFAULT_LIFE_MS = 365 * 86400_000;

export const PURPOSE_PERSON = 'improve-person-detection';
export const PURPOSE_OBJECT = 'improve-object-detection';
/** PURPOSES is the fixed list a member chooses from, in the order a device offers them (Go consent.Purposes). */
export const PURPOSES = [PURPOSE_PERSON, PURPOSE_OBJECT] as const;
export type Purpose = (typeof PURPOSES)[number];

const CONSENT_CONTEXT = 'vigil/labelling/v1/consent\x00';
const REVOCATION_CONTEXT = 'vigil/labelling/v1/revocation\x00';

const ID_RE = /^[a-z2-7]{26}$/;
const GROUP_RE = /^h[a-z2-7]{26}$/;
const DEVICE_RE = /^d[a-z2-7]{26}$/;
const HEX_RE = /^[0-9a-f]{64}$/;
const EVENT_RE = /^[A-Za-z0-9._-]{0,128}$/;
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const B64URL_RE = /^[A-Za-z0-9_-]*$/;

/** ConsentError is a record that breaks a rule of the format. */
export class ConsentError extends Error {
  constructor(message: string) {
    super(`consent: malformed record: ${message}`);
    this.name = 'ConsentError';
  }
}

/** Consent is the body a donor's device signs. Times are Dates or canonical strings. */
export interface Consent {
  v: number;
  id: string; // 26 lower-case base32 letters, chosen by the device
  household: string;
  device: string; // the signing member device
  workspace: string;
  purpose: string; // one of PURPOSES
  camera: string; // cameraDigest of the clip's camera
  from: Date | string;
  to: Date | string;
  event: string; // the event the clip is of; '' for a range of the timeline
  object: string; // hex SHA-256 of the sealed donation object, exactly as uploaded
  audio: boolean;
  created: Date | string;
  expires: Date | string;
}

/** Revocation takes a consent back; the donor device or an admin device signs it. */
export interface Revocation {
  v: number;
  consent: string;
  household: string;
  device: string;
  time: Date | string;
}

/** newConsentId is a fresh consent ID: 128 random bits as 26 lower-case base32 letters. */
export function newConsentId(): string {
  return base32(randomBytes(16)).toLowerCase();
}

/** cameraDigest names a camera in a consent: hex SHA-256 of "vigil camera v1\n" + its stream name (Go consent.CameraDigest). */
export async function cameraDigest(name: string): Promise<string> {
  return hex(await sha256(utf8('vigil camera v1\n' + name)));
}

function timeString(t: Date | string, field: string): string {
  if (typeof t === 'string') {
    const d = new Date(t);
    if (!TIME_RE.test(t) || Number.isNaN(d.getTime()) || d.toISOString() !== t) {
      throw new ConsentError(`${field} ${JSON.stringify(t)}: RFC 3339 in UTC with milliseconds, as 2026-12-03T18:00:00.123Z`);
    }
    return t;
  }
  if (!(t instanceof Date) || Number.isNaN(t.getTime())) throw new ConsentError(`${field}: a time`);
  const s = t.toISOString();
  if (!TIME_RE.test(s)) throw new ConsentError(`${field}: a UTC time of the years 0 to 9999 with millisecond precision`);
  return s;
}

const q = (s: string) => JSON.stringify(s);

/** encodeConsent returns the consent's body, its canonical JSON, after checking every rule of the format (Go Consent.Encode). */
export function encodeConsent(c: Consent): Uint8Array<ArrayBuffer> {
  const str = (v: unknown) => (typeof v === 'string' ? v : '\u0000');
  if (c.v !== CONSENT_VERSION) throw new ConsentError(`version ${String(c.v)} (this is version ${CONSENT_VERSION})`);
  if (!ID_RE.test(str(c.id))) throw new ConsentError(`id ${q(str(c.id))}: 26 lower-case base32 letters (a-z, 2-7)`);
  if (!GROUP_RE.test(str(c.household))) throw new ConsentError(`household ${q(str(c.household))} is not a household ID`);
  if (!DEVICE_RE.test(str(c.device))) throw new ConsentError(`device ${q(str(c.device))} is not a device ID`);
  if (!GROUP_RE.test(str(c.workspace))) throw new ConsentError(`workspace ${q(str(c.workspace))} is not a workspace ID`);
  if (!HEX_RE.test(str(c.camera))) throw new ConsentError("camera: the camera's digest, 64 lower-case hex digits");
  if (!EVENT_RE.test(str(c.event))) throw new ConsentError('event: an event ID (up to 128 of A-Z a-z 0-9 . _ -) or empty');
  if (!(PURPOSES as readonly string[]).includes(str(c.purpose))) throw new ConsentError(`purpose ${q(str(c.purpose))}: one of ${PURPOSES.join(', ')}`);
  if (!HEX_RE.test(str(c.object))) throw new ConsentError("object: the sealed object's SHA-256, 64 lower-case hex digits");
  if (typeof c.audio !== 'boolean') throw new ConsentError('audio: true or false');
  const from = timeString(c.from, 'from');
  const to = timeString(c.to, 'to');
  const created = timeString(c.created, 'created');
  const expires = timeString(c.expires, 'expires');
  const ms = (s: string) => new Date(s).getTime();
  if (!(ms(from) < ms(to))) throw new ConsentError('from must be before to');
  if (!(ms(created) < ms(expires))) throw new ConsentError('expires must be after created');
  if (ms(expires) - ms(created) > MAX_LIFE_MS) throw new ConsentError(`expires: at most ${MAX_LIFE_MS / 86400_000} days after created`);
  const body = utf8(
    `{"v":1,"id":${q(c.id)},"household":${q(c.household)},"device":${q(c.device)},"workspace":${q(c.workspace)},` +
      `"purpose":${q(c.purpose)},"camera":${q(c.camera)},"from":${q(from)},"to":${q(to)},"event":${q(c.event)},` +
      `"object":${q(c.object)},"audio":${c.audio ? 'true' : 'false'},"created":${q(created)},"expires":${q(expires)}}`,
  );
  if (body.length > MAX_CONSENT_SIZE) throw new ConsentError(`body of ${body.length} bytes is over ${MAX_CONSENT_SIZE}`);
  return body;
}

/** encodeRevocation returns the revocation's body, its canonical JSON (Go Revocation.Encode). */
export function encodeRevocation(r: Revocation): Uint8Array<ArrayBuffer> {
  const str = (v: unknown) => (typeof v === 'string' ? v : '\u0000');
  if (r.v !== CONSENT_VERSION) throw new ConsentError(`version ${String(r.v)} (this is version ${CONSENT_VERSION})`);
  if (!ID_RE.test(str(r.consent))) throw new ConsentError(`consent ${q(str(r.consent))}: 26 lower-case base32 letters (a-z, 2-7)`);
  if (!GROUP_RE.test(str(r.household))) throw new ConsentError(`household ${q(str(r.household))} is not a household ID`);
  if (!DEVICE_RE.test(str(r.device))) throw new ConsentError(`device ${q(str(r.device))} is not a device ID`);
  const time = timeString(r.time, 'time');
  return utf8(`{"v":1,"consent":${q(r.consent)},"household":${q(r.household)},"device":${q(r.device)},"time":${q(time)}}`);
}

/** signedText is the text form of a signed record: BODY.SIG, each unpadded base64url. */
const signedText = (body: Uint8Array, sig: Uint8Array) => `${b64url(body)}.${b64url(sig)}`;

/** signConsent signs c with the donor device's keys (c.device must be keys.id) and returns BODY.SIG. */
export async function signConsent(keys: Signer, c: Consent): Promise<string> {
  if (keys.id !== c.device) throw new ConsentError(`device ${c.device} is not this device (${keys.id})`);
  const body = encodeConsent(c);
  return signedText(body, await keys.sign(concat(utf8(CONSENT_CONTEXT), body)));
}

/** signRevocation signs r with this device's keys (r.device must be keys.id) and returns BODY.SIG. */
export async function signRevocation(keys: Signer, r: Revocation): Promise<string> {
  if (keys.id !== r.device) throw new ConsentError(`device ${r.device} is not this device (${keys.id})`);
  const body = encodeRevocation(r);
  return signedText(body, await keys.sign(concat(utf8(REVOCATION_CONTEXT), body)));
}

function strictB64url(s: string, field: string): Uint8Array {
  if (!B64URL_RE.test(s) || s.length % 4 === 1) throw new ConsentError(`${field}: unpadded base64url`);
  const b = unb64url(s);
  if (b64url(b) !== s) throw new ConsentError(`${field}: unpadded base64url`);
  return b;
}

/**
 * parseConsent reads a signed consent's text form strictly (Go
 * consent.ParseSigned then consent.Parse): the body must re-encode to
 * exactly its own bytes. It does not check the signature: see
 * verifyConsentSignature.
 */
export function parseConsent(text: string): { consent: Consent & { from: string; to: string; created: string; expires: string }; body: Uint8Array; sig: Uint8Array } {
  if (typeof text !== 'string' || text.length > 2 * MAX_CONSENT_SIZE) throw new ConsentError('signed record is too long');
  const dot = text.indexOf('.');
  if (dot < 0) throw new ConsentError('expected BODY.SIG, each in unpadded base64url');
  const body = strictB64url(text.slice(0, dot), 'body');
  const sig = strictB64url(text.slice(dot + 1), 'sig');
  if (body.length === 0 || body.length > MAX_CONSENT_SIZE) throw new ConsentError(`body: 1 to ${MAX_CONSENT_SIZE} bytes`);
  if (sig.length !== 64) throw new ConsentError('sig: the 64-byte Ed25519 signature');
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(fromUtf8(body));
  } catch {
    throw new ConsentError('body is not UTF-8 JSON');
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new ConsentError('body: a JSON object');
  const c = o as unknown as Consent & { from: string; to: string; created: string; expires: string };
  const canon = encodeConsent(c);
  if (!equal(canon, body)) throw new ConsentError('body is not in canonical form');
  return { consent: c, body, sig };
}

/** verifyConsentSignature reports whether sig is the device key pub's signature over a consent body. */
export function verifyConsentSignature(pub: Uint8Array, body: Uint8Array, sig: Uint8Array): Promise<boolean> {
  return ed25519Verify(pub, concat(utf8(CONSENT_CONTEXT), body), sig);
}
