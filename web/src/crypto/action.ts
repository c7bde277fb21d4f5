// Signed household actions (docs/FORMAT.md, "Signed household actions"; Go:
// internal/history/action.go): changes to a household that the chain does
// not sign itself — retention settings, invites, account membership, staff
// access (the lockbox) — are signed by an admin device of the household's
// current chain over the exact change. This module builds the canonical body (the same bytes as Go, checked
// against internal/history/testdata/actions.json), signs it with this
// browser's device key, and parses and verifies signed actions.
//
// Owns: the body encoding and its checks. Must never: sign an action that
// breaks a rule of the format, accept a body that does not re-encode to its
// own bytes, log keys.

import { base32, concat, fromUtf8, hmacSha256, randomBytes, sha256, utf8 } from './bytes';
import type { ChainState } from './chain';
import { b64url, ed25519Verify, unb64url } from './keys';

export const ACTION_VERSION = 1;
/** ACTION_SKEW_MS is how far an action's time may be from the verifier's clock. */
export const ACTION_SKEW_MS = 5 * 60 * 1000;
export const MAX_ACTION_SIZE = 4096;
export const ACTION_NONCE_SIZE = 16;
const CONTEXT = 'vigil/household/v1/action\x00';

export type ActionName = 'settings.set' | 'invite.create' | 'invite.delete' | 'member.add' | 'member.remove' | 'staff.approve' | 'staff.deny' | 'staff.revoke';

export interface SettingsParams {
  quota_bytes: number; // 0: the service default
  max_age_seconds: number; // 0: no age limit
}
export interface InviteParams {
  invite: string; // 26 lower-case base32 letters, chosen by this device
  role: 'member' | 'admin';
  expires: Date | string;
}
export interface InviteDeleteParams {
  invite: string;
}
export interface MemberAddParams {
  email: string; // trimmed, lower case
  role: 'member' | 'admin';
}
export interface MemberRemoveParams {
  account: string;
}

/** StaffApproveParams grant a staff request exactly as filed: its scopes (ascending) and its duration. */
export interface StaffApproveParams {
  request: string; // the request's ID: 26 lower-case base32 letters
  scopes: string[]; // lower-case names, ascending, no repeats
  seconds: number; // how long the grant lasts from approval
}
export interface StaffRequestParams {
  request: string;
}

export interface ParamsOf {
  'settings.set': SettingsParams;
  'invite.create': InviteParams;
  'invite.delete': InviteDeleteParams;
  'member.add': MemberAddParams;
  'member.remove': MemberRemoveParams;
  'staff.approve': StaffApproveParams;
  'staff.deny': StaffRequestParams;
  'staff.revoke': StaffRequestParams;
}

/** Action is a household action, the body an admin device signs. */
export interface Action {
  v: number;
  household: string;
  action: ActionName;
  time: string; // RFC 3339 UTC with milliseconds
  nonce: Uint8Array;
  params: Record<string, unknown>;
}

/** Signed is a signed action as sent to the cloud: {"device","body","sig"}, base64url. */
export interface Signed {
  device: string;
  body: string;
  sig: string;
}

export type ActionErrorCode = 'malformed' | 'household' | 'signer' | 'signature' | 'time';

/** ActionError says why an action was refused, with the same codes as the Go errors (ErrAction…). */
export class ActionError extends Error {
  constructor(
    public code: ActionErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ActionError';
  }
}

const malformed = (msg: string) => new ActionError('malformed', `malformed household action: ${msg}`);

const HOUSEHOLD_RE = /^h[a-z2-7]{26}$/;
const DEVICE_RE = /^d[a-z2-7]{26}$/;
const INVITE_RE = /^[a-z2-7]{26}$/;
const ACCOUNT_RE = /^[A-Za-z0-9._-]{1,64}$/;
const SCOPE_RE = /^[a-z]{1,16}$/;
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const B64URL_RE = /^[A-Za-z0-9_-]*$/;

/** jsonString is a JSON string as Go writes it without HTML escaping (JSON.stringify, plus U+2028 and U+2029 escaped). */
function jsonString(s: string): string {
  return JSON.stringify(s).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function safeInt(n: unknown, field: string, what: string): string {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw malformed(`${field} ${String(n)}: ${what}`);
  return String(n);
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string') throw malformed(`${field}: a string`);
  return v;
}

function role(v: unknown): string {
  if (v !== 'member' && v !== 'admin') throw malformed(`role ${JSON.stringify(v)}: "member" or "admin"`);
  return v;
}

function inviteId(v: unknown): string {
  const s = str(v, 'invite');
  if (!INVITE_RE.test(s)) throw malformed(`invite ${JSON.stringify(s)}: 26 lower-case base32 letters (a-z, 2-7)`);
  return s;
}

function requestId(v: unknown): string {
  const s = str(v, 'request');
  if (!INVITE_RE.test(s)) throw malformed(`request ${JSON.stringify(s)}: 26 lower-case base32 letters (a-z, 2-7)`);
  return s;
}

function scopes(v: unknown): string {
  if (!Array.isArray(v) || v.length === 0 || v.length > 16) throw malformed('scopes: 1 to 16 names');
  v.forEach((sc, i) => {
    if (typeof sc !== 'string' || !SCOPE_RE.test(sc) || (i > 0 && sc <= v[i - 1])) throw malformed('scopes: lower-case names, ascending, no repeats');
  });
  return `[${v.map((sc) => jsonString(sc)).join(',')}]`;
}

/** timeString writes t as an action does: UTC with milliseconds, years 0 to 9999. */
function timeString(t: Date | string, field: string): string {
  if (typeof t === 'string') {
    const d = new Date(t);
    if (!TIME_RE.test(t) || Number.isNaN(d.getTime()) || d.toISOString() !== t) {
      throw malformed(`${field} ${JSON.stringify(t)}: RFC 3339 in UTC with milliseconds, as 2026-12-03T18:00:00.123Z`);
    }
    return t;
  }
  if (!(t instanceof Date) || Number.isNaN(t.getTime())) throw malformed(`${field}: a time`);
  const s = t.toISOString();
  if (!TIME_RE.test(s)) throw malformed(`${field}: a UTC time of the years 0 to 9999`);
  return s;
}

function email(v: unknown): string {
  const e = str(v, 'email');
  const n = utf8(e).length;
  const at = e.split('@').length - 1;
  if (n < 3 || n > 254 || at !== 1 || e.startsWith('@') || e.endsWith('@')) throw malformed(`email ${JSON.stringify(e)}: an e-mail address of at most 254 bytes`);
  if (/[\p{C}\p{Z}\s\p{Lu}]/u.test(e)) throw malformed(`email ${JSON.stringify(e)}: trimmed, lower case, no spaces or control characters`);
  return e;
}

/** paramsJSON returns the canonical JSON of action's params after checking them. */
function paramsJSON(action: string, p: Record<string, unknown>): string {
  if (p === null || typeof p !== 'object' || Array.isArray(p)) throw malformed(`${action} params: an object`);
  switch (action) {
    case 'settings.set':
      return `{"quota_bytes":${safeInt(p.quota_bytes, 'quota_bytes', '0 (the service default) or a positive number of bytes')},"max_age_seconds":${safeInt(p.max_age_seconds, 'max_age_seconds', '0 (no age limit) or a positive number of seconds')}}`;
    case 'invite.create':
      return `{"invite":${jsonString(inviteId(p.invite))},"role":${jsonString(role(p.role))},"expires":${jsonString(timeString(p.expires as Date | string, 'expires'))}}`;
    case 'invite.delete':
      return `{"invite":${jsonString(inviteId(p.invite))}}`;
    case 'member.add':
      return `{"email":${jsonString(email(p.email))},"role":${jsonString(role(p.role))}}`;
    case 'member.remove': {
      const a = str(p.account, 'account');
      if (!ACCOUNT_RE.test(a)) throw malformed(`account ${JSON.stringify(a)}: an account ID (1 to 64 letters, digits, '.', '_', '-')`);
      return `{"account":${jsonString(a)}}`;
    }
    case 'staff.approve': {
      const sec = p.seconds;
      if (typeof sec !== 'number' || !Number.isSafeInteger(sec) || sec < 1) throw malformed(`seconds ${String(sec)}: a positive number of seconds`);
      return `{"request":${jsonString(requestId(p.request))},"scopes":${scopes(p.scopes)},"seconds":${sec}}`;
    }
    case 'staff.deny':
    case 'staff.revoke':
      return `{"request":${jsonString(requestId(p.request))}}`;
  }
  throw malformed(`unknown action ${JSON.stringify(action)}`);
}

/** encodeAction returns the action's body: its canonical JSON, after checking every rule of the format. */
export function encodeAction(a: { household: string; action: ActionName | string; time: Date | string; nonce: Uint8Array; params: Record<string, unknown> | object }): Uint8Array {
  if (typeof a.household !== 'string' || !HOUSEHOLD_RE.test(a.household)) throw malformed(`household ${JSON.stringify(a.household)} is not a household ID`);
  const time = timeString(a.time, 'time');
  if (!(a.nonce instanceof Uint8Array) || a.nonce.length !== ACTION_NONCE_SIZE) throw malformed(`nonce: ${ACTION_NONCE_SIZE} bytes`);
  const params = paramsJSON(a.action, a.params as Record<string, unknown>);
  const body = utf8(`{"v":1,"household":${jsonString(a.household)},"action":${jsonString(a.action)},"time":${jsonString(time)},"nonce":${jsonString(b64url(a.nonce))},"params":${params}}`);
  if (body.length > MAX_ACTION_SIZE) throw malformed(`body of ${body.length} bytes is over ${MAX_ACTION_SIZE}`);
  return body;
}

/** newInviteId returns a fresh invite ID: 16 random bytes as 26 lower-case base32 letters. No device can present a key for it: invites people join are named by inviteIdForSecret. */
export function newInviteId(): string {
  return base32(randomBytes(16)).toLowerCase();
}

/**
 * inviteKey is what a joining device presents (in request bodies only) to
 * read an invite and ask to join: HMAC-SHA-256(secret, "vigil invite key v1").
 * The secret itself never leaves the link (Go: member.InviteKey).
 */
export function inviteKey(secret: Uint8Array): Promise<Uint8Array> {
  return hmacSha256(secret, utf8('vigil invite key v1'));
}

/** inviteIdForKey is the invite's ID: the first 16 bytes of SHA-256("vigil invite id v1\n" + key), 26 lower-case base32 letters (Go: history.InviteIDForKey). */
export async function inviteIdForKey(key: Uint8Array): Promise<string> {
  return base32((await sha256(utf8('vigil invite id v1\n'), key)).slice(0, 16)).toLowerCase();
}

/** inviteIdForSecret is the ID an admin device gives the invite whose link carries secret (Go: member.InviteID). */
export async function inviteIdForSecret(secret: Uint8Array): Promise<string> {
  return inviteIdForKey(await inviteKey(secret));
}

/** Signer is what signs: this browser's device keys (devicekeys.ts) or any Ed25519 key with its device ID. */
export interface Signer {
  id: string;
  sign(msg: Uint8Array): Promise<Uint8Array>;
}

/** signBody signs an encoded body. */
export async function signBody(keys: Signer, body: Uint8Array): Promise<Signed> {
  const sig = await keys.sign(concat(utf8(CONTEXT), body));
  return { device: keys.id, body: b64url(body), sig: b64url(sig) };
}

/**
 * signAction makes and signs a fresh action on household: a new random
 * nonce, and now as its time.
 */
export async function signAction<A extends ActionName>(keys: Signer, household: string, action: A, params: ParamsOf[A], now: Date = new Date()): Promise<Signed> {
  const body = encodeAction({ household, action, time: now, nonce: randomBytes(ACTION_NONCE_SIZE), params: params as unknown as Record<string, unknown> });
  return signBody(keys, body);
}

function strictB64url(s: unknown, field: string): Uint8Array {
  if (typeof s !== 'string' || !B64URL_RE.test(s) || s.length % 4 === 1) throw malformed(`${field}: unpadded base64url`);
  const b = unb64url(s);
  if (b64url(b) !== s) throw malformed(`${field}: unpadded base64url`);
  return b;
}

/** parseSigned reads {"device","body","sig"} and nothing else (as Go ParseSigned). */
export function parseSigned(v: unknown): { device: string; body: Uint8Array; sig: Uint8Array } {
  let o = v;
  if (typeof v === 'string') {
    try {
      o = JSON.parse(v);
    } catch {
      throw malformed('expected {"device","body","sig"}: not JSON');
    }
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw malformed('expected {"device","body","sig"}');
  const keys = Object.keys(o).sort().join(',');
  if (keys !== 'body,device,sig') throw malformed(`expected {"device","body","sig"}, got the fields ${keys}`);
  const s = o as Record<string, unknown>;
  if (typeof s.device !== 'string' || !DEVICE_RE.test(s.device)) throw malformed(`device ${JSON.stringify(s.device)} is not a device ID`);
  const body = strictB64url(s.body, 'body');
  if (body.length === 0 || body.length > MAX_ACTION_SIZE) throw malformed(`body: the action's JSON (1 to ${MAX_ACTION_SIZE} bytes)`);
  const sig = strictB64url(s.sig, 'sig');
  if (sig.length !== 64) throw malformed('sig: the 64-byte Ed25519 signature');
  return { device: s.device, body, sig };
}

/** parseAction reads a body strictly: UTF-8 JSON in canonical form, a known action with valid parameters (as Go ParseAction). */
export function parseAction(body: Uint8Array): Action {
  if (body.length > MAX_ACTION_SIZE) throw malformed(`body of ${body.length} bytes is over ${MAX_ACTION_SIZE}`);
  let text: string;
  let o: any;
  try {
    text = fromUtf8(body);
    o = JSON.parse(text);
  } catch {
    throw malformed('body is not UTF-8 JSON');
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw malformed('body: a JSON object');
  if (o.v !== ACTION_VERSION) throw malformed(`version ${JSON.stringify(o.v)} (this is version ${ACTION_VERSION})`);
  const nonce = strictB64url(o.nonce, 'nonce');
  if (nonce.length !== ACTION_NONCE_SIZE) throw malformed(`nonce: ${ACTION_NONCE_SIZE} random bytes`);
  const canon = fromUtf8(encodeAction({ household: o.household, action: o.action, time: str(o.time, 'time'), nonce, params: o.params }));
  if (canon !== text) throw malformed('body is not in canonical form (fields v, household, action, time, nonce, params, in that order, no spaces)');
  return { v: 1, household: o.household, action: o.action, time: o.time, nonce, params: o.params };
}

/** verifyBodySignature reports whether sig is the signature of the device key pub over an action body. */
export function verifyBodySignature(pub: Uint8Array, body: Uint8Array, sig: Uint8Array): Promise<boolean> {
  return ed25519Verify(pub, concat(utf8(CONTEXT), body), sig);
}

/**
 * verifySigned checks everything verifyAction does except the time: for
 * actions read back later (history records, the settings a hub is served).
 */
export async function verifySigned(signed: unknown, state: ChainState, household: string): Promise<Action> {
  const s = parseSigned(signed);
  const a = parseAction(s.body);
  if (a.household !== household) throw new ActionError('household', `household action for another household: it was signed for household ${a.household}, not ${household}`);
  if (state.householdId !== household) throw new ActionError('signer', `no verified chain of household ${household} to check it with`);
  const d = state.device(s.device);
  if (!d) throw new ActionError('signer', `not signed by an admin device of the household: device ${s.device} is not in the household's chain (never added, or removed)`);
  if (d.role !== 'admin') throw new ActionError('signer', `not signed by an admin device of the household: device ${s.device} ("${d.name}") is a ${d.role} device, not an admin`);
  if (!(await verifyBodySignature(d.signPub, s.body, s.sig))) {
    throw new ActionError('signature', `household action signature does not verify: not the signature of device ${s.device} over this body`);
  }
  return a;
}

/** verifyAction checks a signed action as the cloud does before making the change (as Go VerifyAction). */
export async function verifyAction(signed: unknown, state: ChainState, household: string, now: Date, skewMs = ACTION_SKEW_MS): Promise<Action> {
  const a = await verifySigned(signed, state, household);
  const d = new Date(a.time).getTime() - now.getTime();
  if (d > skewMs || d < -skewMs) {
    throw new ActionError('time', `household action outside the accepted time window: signed at ${a.time}, ${Math.round(Math.abs(d) / 1000)} s from this clock's ${now.toISOString()} (hint: check the device's clock and sign again)`);
  }
  return a;
}
