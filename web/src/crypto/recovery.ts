// The household recovery phrase, exactly as Go internal/keydir/recovery.go:
// 32 Crockford base32 characters in 8 groups of 4 (26 random values and a
// 6-value bech32m-style checksum seeded with "vigil-recovery-v1"), from
// which HKDF-SHA256 derives the recovery X25519 identity whose public key
// the chain's genesis holds.
//
// Must never: store, log or send a phrase or the key it derives, or quote a
// phrase in an error message.

import { hkdf, randomBytes, utf8 } from './bytes';
import { importX25519Private, x25519PublicKey } from './keys';

const DATA = 26;
const CHECK = 6;
const CHARS = DATA + CHECK;
const GROUP = 4;
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const SEED = 'vigil-recovery-v1';
const BECH32M = 0x2bc830a3;
const KDF_INFO = utf8('vigil/keydir/recovery/v1/x25519');
const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: ArrayLike<number>): number {
  let chk = 1;
  const step = (v: number) => {
    const top = chk >>> 25;
    chk = (((chk & 0x1ffffff) << 5) ^ v) >>> 0;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk = (chk ^ GEN[i]) >>> 0;
  };
  for (let i = 0; i < SEED.length; i++) step(SEED.charCodeAt(i) >> 5);
  step(0);
  for (let i = 0; i < SEED.length; i++) step(SEED.charCodeAt(i) & 31);
  for (let i = 0; i < values.length; i++) step(values[i]);
  return chk;
}

function phraseCheck(data: Uint8Array): Uint8Array {
  const v = new Uint8Array(DATA + CHECK);
  v.set(data);
  const mod = (polymod(v) ^ BECH32M) >>> 0;
  const c = new Uint8Array(CHECK);
  for (let i = 0; i < CHECK; i++) c[i] = (mod >>> (5 * (CHECK - 1 - i))) & 31;
  return c;
}

function formatPhrase(v: Uint8Array): string {
  let s = '';
  v.forEach((c, i) => {
    if (i > 0 && i % GROUP === 0) s += '-';
    s += CROCKFORD[c];
  });
  return s;
}

/** newRecoveryPhrase returns a fresh random phrase. It is secret: show it once. */
export function newRecoveryPhrase(): string {
  const v = randomBytes(DATA).map((x) => x & 31);
  const all = new Uint8Array(CHARS);
  all.set(v);
  all.set(phraseCheck(v), DATA);
  const s = formatPhrase(all);
  v.fill(0);
  all.fill(0);
  return s;
}

function crockfordValue(ch: string): number {
  let c = ch;
  if (c === 'I' || c === 'i' || c === 'L' || c === 'l') c = '1';
  if (c === 'O' || c === 'o') c = '0';
  if (c >= 'a' && c <= 'z') c = c.toUpperCase();
  if (c.length !== 1 || c.charCodeAt(0) > 0x7f) return -1;
  return CROCKFORD.indexOf(c);
}

function locateTypo(v: Uint8Array): number {
  const w = v.slice();
  let group = 0;
  for (let i = 0; i < w.length; i++) {
    const orig = w[i];
    for (let c = 0; c < 32; c++) {
      if (c === orig) continue;
      w[i] = c;
      if (polymod(w) === BECH32M) {
        if (group !== 0) return 0;
        group = Math.floor(i / GROUP) + 1;
      }
    }
    w[i] = orig;
  }
  return group;
}

/**
 * parseRecoveryPhrase checks a phrase (ignoring case, spaces and dashes,
 * reading I and L as 1 and O as 0) and returns its 32 values. Errors say
 * what is wrong and where, never what was typed.
 */
export function parseRecoveryPhrase(s: string): Uint8Array {
  const v: number[] = [];
  let n = 0;
  for (const r of s) {
    if (r === '-' || r === ' ' || r === '\t' || r === '\n' || r === '\r') continue;
    n++;
    const c = crockfordValue(r);
    if (c < 0) {
      throw new Error(`recovery phrase: character ${((n - 1) % GROUP) + 1} of group ${Math.floor((n - 1) / GROUP) + 1} is not one of the characters a recovery phrase uses (0-9 and letters other than U)`);
    }
    if (n <= CHARS) v.push(c);
  }
  if (n === 0) throw new Error('recovery phrase is empty');
  if (n < CHARS) throw new Error(`recovery phrase has ${n} characters, want ${CHARS} (8 groups of 4); a character or group is missing`);
  if (n > CHARS) throw new Error(`recovery phrase has ${n} characters, want ${CHARS} (8 groups of 4); a character or group is doubled`);
  const vals = Uint8Array.from(v);
  if (polymod(vals) !== BECH32M) {
    let msg = 'recovery phrase checksum does not match: a character is mistyped';
    const g = locateTypo(vals);
    if (g > 0) msg += `, probably in group ${g}`;
    throw new Error(msg + '; hint: compare each group with the written-down phrase');
  }
  return vals;
}

/** recoveryKeyBytes derives the raw recovery X25519 private key (secret; callers wipe it). */
export async function recoveryKeyBytes(phrase: string): Promise<Uint8Array> {
  const v = parseRecoveryPhrase(phrase);
  try {
    return await hkdf(v.subarray(0, DATA), new Uint8Array(0), KDF_INFO, 32);
  } finally {
    v.fill(0);
  }
}

/** recoveryIdentity returns the recovery X25519 identity of a phrase as a non-extractable CryptoKey. */
export async function recoveryIdentity(phrase: string): Promise<CryptoKey> {
  const raw = await recoveryKeyBytes(phrase);
  try {
    return await importX25519Private(raw);
  } finally {
    raw.fill(0);
  }
}

/** recoveryPublicKey returns the X25519 public key a phrase derives (what the genesis holds). */
export async function recoveryPublicKey(phrase: string): Promise<Uint8Array> {
  return x25519PublicKey(await recoveryIdentity(phrase));
}
