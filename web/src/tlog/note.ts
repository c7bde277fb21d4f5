// C2SP signed-note: verifier keys (Ed25519, type 0x01; tlog-cosignature/v1,
// type 0x04, timestamped Ed25519) and opening a note with a list of known
// verifiers, exactly as golang.org/x/mod/sumdb/note.Open does.
//
// Owns: the note syntax, key IDs and signature checks. Must never: count
// a signature it did not verify, or accept a note with a bad signature by
// a key it knows.

import { concat, fromUtf8, readU32, sha256, utf8 } from '../crypto/bytes';
import { ed25519Verify } from '../crypto/keys';
import { malformed, TlogError } from './errors';

export const SIG_ED25519 = 0x01;
export const SIG_COSIGNATURE = 0x04;

/** Verifier checks one key's signatures over a note's text. */
export interface Verifier {
  name: string;
  keyHash: number; // uint32, the first four bytes of SHA-256(name || "\n" || type || key)
  type: number;
  /** vkey is the key as written ("<name>+<hash>+<base64>"). */
  vkey: string;
  verify(text: Uint8Array, sig: Uint8Array): Promise<boolean>;
}

const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

/** validName is note's isValidName: non-empty, no Unicode space, no '+'. */
export function validName(name: string): boolean {
  return name !== '' && !GO_SPACE.test(name) && !name.includes('+') && !/[\ud800-\udfff]/u.test(name);
}

/** strictB64 decodes standard, padded base64, or returns null. */
export function strictB64(s: string): Uint8Array | null {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  try {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

export function b64(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

async function keyHash(name: string, typeAndKey: Uint8Array): Promise<number> {
  return readU32(await sha256(utf8(name), utf8('\n'), typeAndKey), 0);
}

/**
 * parseVerifierKey parses "<name>+<8 hex digits>+<base64(type || key)>" of
 * an Ed25519 key (type 0x01) or a cosignature/v1 key (type 0x04), checking
 * that the hash matches the name and key. want limits the accepted type.
 */
export async function parseVerifierKey(vkey: string, want: number): Promise<Verifier> {
  const what = want === SIG_COSIGNATURE ? 'witness key' : 'log key';
  const plus1 = vkey.indexOf('+');
  const plus2 = plus1 < 0 ? -1 : vkey.indexOf('+', plus1 + 1);
  const name = plus1 < 0 ? vkey : vkey.slice(0, plus1);
  const hash16 = plus2 < 0 ? '' : vkey.slice(plus1 + 1, plus2);
  const key = plus2 < 0 ? null : strictB64(vkey.slice(plus2 + 1));
  if (!validName(name) || !/^[0-9a-fA-F]{8}$/.test(hash16) || !key || key.length === 0) {
    throw malformed(`${what} ${JSON.stringify(vkey.slice(0, 200))}: want <name>+<8 hex digits>+<base64 key>`);
  }
  if (key[0] !== want || key.length !== 33) {
    throw malformed(`${what} ${JSON.stringify(vkey.slice(0, 200))} is not ${want === SIG_COSIGNATURE ? 'a cosignature/v1 key (type 0x04 and a 32-byte Ed25519 key)' : 'an Ed25519 note key (type 0x01 and a 32-byte key)'}`);
  }
  const hash = parseInt(hash16, 16) >>> 0;
  if (hash !== (await keyHash(name, key))) throw malformed(`${what} ${JSON.stringify(vkey.slice(0, 200))}: the key hash does not match the name and key`);
  const pub = key.slice(1);
  const verify =
    want === SIG_ED25519
      ? (text: Uint8Array, sig: Uint8Array) => ed25519Verify(pub, text, sig)
      : async (text: Uint8Array, sig: Uint8Array) => {
          if (sig.length !== 8 + 64) return false;
          const t = new DataView(sig.buffer, sig.byteOffset, 8).getBigUint64(0);
          return ed25519Verify(pub, concat(utf8(`cosignature/v1\ntime ${t}\n`), text), sig.subarray(8));
        };
  return { name, keyHash: hash, type: want, vkey, verify };
}

/** OpenedNote is a note whose listed signatures verified: its text and who signed it. */
export interface OpenedNote {
  text: string;
  signers: Verifier[];
}

const SIG_PREFIX = '\u2014 ';

/**
 * openNote checks a signed note (C2SP signed-note) against the known
 * verifiers: signatures by unknown keys and repeats by one key are
 * ignored, one by a known key that does not verify refuses the note
 * ('bad-signature'), and a note with no verified signature is refused
 * ('bad-signature'). A note that does not parse is 'malformed'.
 */
export async function openNote(msg: string, known: Verifier[]): Promise<OpenedNote> {
  for (const ch of msg) {
    const c = ch.codePointAt(0)!;
    if ((c < 0x20 && c !== 0x0a) || (c >= 0xd800 && c <= 0xdfff)) throw malformed('note: a control character or invalid UTF-8');
  }
  const split = msg.lastIndexOf('\n\n');
  if (split < 0) throw malformed('note: no signature block after a blank line');
  const text = msg.slice(0, split + 1);
  let sigs = msg.slice(split + 2);
  if (sigs === '' || !sigs.endsWith('\n')) throw malformed('note: the signature block does not end in a newline');
  const textBytes = utf8(text);
  const seen = new Set<Verifier>();
  const signers: Verifier[] = [];
  let count = 0;
  while (sigs !== '') {
    const i = sigs.indexOf('\n');
    let line = sigs.slice(0, i);
    sigs = sigs.slice(i + 1);
    if (!line.startsWith(SIG_PREFIX)) throw malformed('note: a signature line does not start with "— "');
    line = line.slice(SIG_PREFIX.length);
    const sp = line.indexOf(' ');
    const name = sp < 0 ? line : line.slice(0, sp);
    const b = sp < 0 ? '' : line.slice(sp + 1);
    const sig = strictB64(b);
    if (!sig || !validName(name) || b === '' || sig.length < 5) throw malformed('note: a malformed signature line');
    if (++count > 100) throw malformed('note: more than 100 signatures');
    const hash = readU32(sig, 0);
    const v = known.find((k) => k.name === name && k.keyHash === hash);
    if (!v || seen.has(v)) continue;
    seen.add(v);
    if (!(await v.verify(textBytes, sig.subarray(4)))) {
      throw new TlogError('bad-signature', `tlog: the signature by ${name}+${hash.toString(16).padStart(8, '0')} does not verify`);
    }
    signers.push(v);
  }
  if (signers.length === 0) throw new TlogError('bad-signature', 'tlog: the note carries no signature by a key this browser knows');
  return { text, signers };
}

/** noteText decodes the bytes of a note, refusing invalid UTF-8 ('malformed'). */
export function noteText(b: Uint8Array): string {
  try {
    return fromUtf8(b);
  } catch {
    throw malformed('note: invalid UTF-8');
  }
}
