// Signed times of sealed objects (docs/FORMAT.md: the header's `start`, the
// footer's `end`, both i64 Unix nanoseconds) in the browser: exact
// conversions between nanoseconds, milliseconds and RFC 3339, so that what
// the app shows and writes is the signed time, not a rounding of it.
//
// Owns: nothing secret. Must never: round a signed time where it is
// compared for equality (compare nanoseconds, or state the tolerance).

export const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;

/** msToNs converts milliseconds since the epoch (an integer) to nanoseconds. */
export function msToNs(ms: number): bigint {
  return BigInt(Math.trunc(ms)) * NS_PER_MS;
}

/** nsToMs converts nanoseconds to milliseconds since the epoch, rounding down. */
export function nsToMs(ns: bigint): number {
  let q = ns / NS_PER_MS;
  if (ns < 0n && q * NS_PER_MS !== ns) q -= 1n;
  return Number(q);
}

/** formatNs writes nanoseconds as RFC 3339 in UTC with all nine fraction digits. */
export function formatNs(ns: bigint): string {
  const ms = nsToMs(ns);
  const frac = ((ns % NS_PER_S) + NS_PER_S) % NS_PER_S;
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return iso.replace(/\.\d{3}Z$/, '.' + frac.toString().padStart(9, '0') + 'Z');
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * parseRFC3339Ns reads an RFC 3339 time (as Go's time.RFC3339Nano writes
 * it) to nanoseconds since the epoch; it throws on anything else.
 */
export function parseRFC3339Ns(s: string): bigint {
  const m = typeof s === 'string' && s.length <= 64 ? RFC3339.exec(s) : null;
  if (!m) throw new Error(`${String(s).slice(0, 40)} is not an RFC 3339 time`);
  const [y, mo, d, hh, mi, ss] = m.slice(1, 7).map(Number);
  const ms = Date.UTC(y, mo - 1, d, hh, mi, ss);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || hh > 23 || mi > 59 || ss > 59) {
    throw new Error(`${s} is not a valid time`);
  }
  let off = 0;
  if (m[8] !== 'Z') {
    const sign = m[8][0] === '-' ? -1 : 1;
    off = sign * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6))) * 60_000;
  }
  const frac = BigInt((m[7] ?? '').padEnd(9, '0') || '0');
  return msToNs(ms - off) + frac;
}

/** showNs is a signed time for people: RFC 3339 in UTC to the millisecond. */
export function showNs(ns: bigint): string {
  return new Date(nsToMs(ns)).toISOString();
}
