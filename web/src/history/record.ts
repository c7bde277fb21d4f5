// Household records (docs/FORMAT.md, "Household records"): the strict JSON
// of a record, opening a sealed record with the household's epoch keys
// (HPKE base mode with the entry's first 38 bytes as aad), and the entry
// hash that chains records. As Go internal/history/record.go.
//
// Owns: the record rules. Must never: return a record that failed a rule,
// or log a record's plaintext.

import { fromUtf8, hex, sha256, utf8, equal } from '../crypto/bytes';
import { msToNs, nsToMs, parseRFC3339Ns } from '../crypto/signedtime';
import { hpkeOpen } from '../crypto/hpke';
import { HistoryError, malformed, parseEntry } from './entry';
import type { TagKey } from './keys';

export const MAX_RECORD_SIZE = 16384;
const RECORD_INFO = utf8('vigil/history/v1/record');
export const ZERO_PREV = '0'.repeat(64);
export const ACTOR_KINDS = ['account', 'hub', 'device', 'guest', 'link', 'cloud', 'staff', 'workspace'] as const;

export interface Actor {
  kind: string;
  id: string;
  /** device is the member device an account's or guest's session proved it holds (its device ID). */
  device?: string;
}

/** HistoryRecord is one verified record of a household's history. */
export interface HistoryRecord {
  v: number;
  n: number;
  prev: string;
  time: string; // as written (RFC 3339)
  timeMs: number;
  actor: Actor;
  action: string;
  object?: string;
  count: number;
  last?: string;
  lastMs?: number;
  /** signed is the signed household action ({"device","body","sig"}) that authorised a change. */
  signed?: Record<string, unknown>;
}

/** entryHash is what the next record's prev holds: SHA-256 of the entry, hex. */
export async function entryHash(entry: Uint8Array): Promise<string> {
  return hex(await sha256(entry));
}

/** parseTime reads an RFC 3339 time as Go's encoding/json does (signedtime.ts); it returns [ms, ns within the ms] or null. */
export function parseTime(s: string): [number, number] | null {
  let ns: bigint;
  try {
    ns = parseRFC3339Ns(s);
  } catch {
    return null;
  }
  const ms = nsToMs(ns);
  return [ms, Number(ns - msToNs(ms))];
}

// Go's zero time, 0001-01-01T00:00:00Z, which a record's time may not be.
const GO_ZERO = (() => {
  const d = new Date(0);
  d.setUTCFullYear(1, 0, 1);
  d.setUTCHours(0, 0, 0, 0);
  return d.getTime();
})();

/** printable is Go's check: 1..max bytes of UTF-8, every rune a letter, mark, number, punctuation, symbol or ASCII space. */
export function printable(s: unknown, max: number): s is string {
  return typeof s === 'string' && s !== '' && utf8(s).length <= max && /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]+$/u.test(s);
}

const ACTION_RE = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/;
const HEX64 = /^[0-9a-f]{64}$/;
const DEVICE_ID = /^d[a-z2-7]{26}$/;
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** strictObject checks that v is a JSON object with only the allowed keys. */
export function strictObject(v: unknown, allowed: string[], what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw malformed(`${what}: not a JSON object`);
  for (const k of Object.keys(v)) if (!allowed.includes(k)) throw malformed(`${what}: json: unknown field ${JSON.stringify(k)}`);
  return v as Record<string, unknown>;
}

/** parseRecord decodes a record's JSON strictly (unknown fields, and anything the rules refuse, are 'malformed'). */
export function parseRecord(b: Uint8Array): HistoryRecord {
  if (b.length > MAX_RECORD_SIZE) throw malformed(`record of ${b.length} bytes is over ${MAX_RECORD_SIZE}`);
  let o: unknown;
  try {
    o = JSON.parse(fromUtf8(b));
  } catch (e) {
    throw malformed(`record: ${(e as Error).message}`);
  }
  const r = strictObject(o, ['v', 'n', 'prev', 'time', 'actor', 'action', 'object', 'count', 'last', 'signed'], 'record');
  const n = r.n;
  const label = isInt(n) ? `record ${n}` : 'record';
  if (r.v !== 1) throw malformed(`record version ${JSON.stringify(r.v)} (want 1)`);
  if (!isInt(n) || n < 1) throw malformed(`record number ${JSON.stringify(n)} (records count from 1)`);
  if (typeof r.prev !== 'string' || !HEX64.test(r.prev)) throw malformed(`${label}: prev is not 64 lower-case hex digits`);
  if (n === 1 && r.prev !== ZERO_PREV) throw malformed('record 1 has a previous record');
  const t = typeof r.time === 'string' ? parseTime(r.time) : null;
  if (!t || (t[0] === GO_ZERO && t[1] === 0)) throw malformed(`${label} has no time`);
  const actor = strictObject(r.actor, ['kind', 'id', 'device'], `${label}: actor`);
  if (typeof actor.kind !== 'string' || !(ACTOR_KINDS as readonly string[]).includes(actor.kind)) throw malformed(`${label}: unknown actor kind ${JSON.stringify(actor.kind)}`);
  if (!printable(actor.id, 128)) throw malformed(`${label}: actor id must be 1..128 printable bytes`);
  // As Go's decoder: an empty or null device is no device (omitempty writes none).
  const device = actor.device === undefined || actor.device === null || actor.device === '' ? undefined : actor.device;
  if (device !== undefined && (typeof device !== 'string' || !DEVICE_ID.test(device))) throw malformed(`${label}: actor device ${JSON.stringify(device)} is not a device ID`);
  if (device !== undefined && actor.kind !== 'account' && actor.kind !== 'guest') throw malformed(`${label}: only an account or a guest names a device, not ${actor.kind}`);
  if (typeof r.action !== 'string' || r.action.length > 64 || !ACTION_RE.test(r.action)) throw malformed(`${label}: action ${JSON.stringify(r.action)} is not a dotted lower-case name`);
  if (r.object !== undefined && r.object !== '' && !printable(r.object, 512)) throw malformed(`${label}: object must be at most 512 printable bytes`);
  if (!isInt(r.count) || r.count < 1) throw malformed(`${label}: count ${JSON.stringify(r.count)} (at least 1)`);
  let last: [number, number] | null = null;
  if (r.last !== undefined) {
    last = typeof r.last === 'string' ? parseTime(r.last) : null;
    if (!last || r.count < 2 || last[0] < t[0] || (last[0] === t[0] && last[1] < t[1])) throw malformed(`${label}: last is only for repeated reads, and not before time`);
  }
  let signed: Record<string, unknown> | undefined;
  if (r.signed !== undefined) {
    if (r.signed === null || typeof r.signed !== 'object' || Array.isArray(r.signed) || JSON.stringify(r.signed).length > 8192) {
      throw malformed(`${label}: signed must be a JSON object of at most 8192 bytes`);
    }
    signed = r.signed as Record<string, unknown>;
  }
  return {
    v: 1, n, prev: r.prev, time: r.time as string, timeMs: t[0], actor: device ? { kind: actor.kind, id: actor.id, device } : { kind: actor.kind, id: actor.id },
    action: r.action, object: (r.object as string | undefined) || undefined, count: r.count,
    last: last ? (r.last as string) : undefined, lastMs: last ? last[0] : undefined, signed,
  };
}

/**
 * openRecord opens a type-2 entry with the household's epoch keys
 * (identities, newest first: identities[0] is epoch `current`) and checks
 * that its tag is the household's tag for its number. 'no-key' when none
 * opens it.
 */
export async function openRecord(entry: Uint8Array, tk: TagKey, identities: CryptoKey[], current = identities.length): Promise<HistoryRecord> {
  const e = parseEntry(entry);
  if (!e.record) throw malformed('not a household record');
  const sr = e.record;
  // The epoch's own key first, then the others.
  const order = [...identities];
  const i = current - sr.epoch;
  if (i >= 0 && i < order.length) order.unshift(...order.splice(i, 1));
  for (const id of order) {
    let pt: Uint8Array;
    try {
      pt = await hpkeOpen(id, sr.enc, RECORD_INFO, sr.aad, sr.ct);
    } catch {
      continue;
    }
    try {
      const r = parseRecord(pt);
      if (!equal(await tk.record(r.n), sr.tag)) throw malformed(`record ${r.n} carries the tag of another record or household`);
      return r;
    } finally {
      pt.fill(0);
    }
  }
  throw new HistoryError('no-key', 'history: no key of this device opens the record');
}
