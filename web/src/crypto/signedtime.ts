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
 * parseRFC3339Ns reads an RFC 3339 time as Go's encoding/json does
 * (time.RFC3339Nano, years 0 to 9999, zone offsets up to 23:59) to
 * nanoseconds since the epoch; it throws on anything else.
 */
export function parseRFC3339Ns(s: string): bigint {
  const m = typeof s === 'string' && s.length <= 64 ? RFC3339.exec(s) : null;
  if (!m) throw new Error(`${String(s).slice(0, 40)} is not an RFC 3339 time`);
  const [y, mo, d, hh, mi, ss] = m.slice(1, 7).map(Number);
  const days = [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  if (mo < 1 || mo > 12 || d < 1 || d > days[mo - 1] || hh > 23 || mi > 59 || ss > 59) throw new Error(`${s} is not a valid time`);
  let off = 0;
  if (m[8] !== 'Z') {
    const oh = Number(m[8].slice(1, 3));
    const om = Number(m[8].slice(4, 6));
    if (oh > 23 || om > 59) throw new Error(`${s} has an invalid zone offset`);
    off = (m[8][0] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  // setUTCFullYear, not Date.UTC, which reads the years 0 to 99 as 1900 to 1999.
  const base = new Date(0);
  base.setUTCFullYear(y, mo - 1, d);
  base.setUTCHours(hh, mi, ss, 0);
  const frac = BigInt((m[7] ?? '').padEnd(9, '0') || '0');
  return msToNs(base.getTime() - off) + frac;
}

/** showNs is a signed time for people: RFC 3339 in UTC to the millisecond. */
export function showNs(ns: bigint): string {
  return new Date(nsToMs(ns)).toISOString();
}
