// C2SP tlog-checkpoint and a client's policy: the log's Ed25519 key and
// K of N witness cosignature keys (C2SP tlog-cosignature/v1). A checkpoint
// counts only when the log signed it and at least K distinct listed
// witnesses cosigned it.
//
// Owns: the checkpoint body's syntax and the policy's rules. Must never:
// count a witness twice, or a signature that did not verify.

import { malformed, TlogError } from './errors';
import { b64, openNote, parseVerifierKey, SIG_COSIGNATURE, SIG_ED25519, strictB64, type Verifier } from './note';
import { EMPTY_HASH, HASH_SIZE } from './merkle';
import { equal, utf8 } from '../crypto/bytes';

/** MAX_CHECKPOINT_BYTES bounds a checkpoint note. */
export const MAX_CHECKPOINT_BYTES = 1 << 20;
/** MAX_TREE_SIZE bounds the tree sizes accepted from a checkpoint (2^48). */
export const MAX_TREE_SIZE = 2 ** 48;

/** Checkpoint is a verified checkpoint. */
export interface Checkpoint {
  origin: string;
  size: number;
  hash: Uint8Array; // the root hash
  /** note is the whole signed note, with the cosignatures it came with ('' for none verified yet). */
  note: string;
  /** cosigners are the names of the policy's witnesses whose cosignatures verified. */
  cosigners?: string[];
}

/** Policy is what a checkpoint must carry: the log's signature and Quorum of the witnesses' cosignatures. */
export interface Policy {
  origin: string;
  quorum: number;
  log: Verifier;
  witnesses: Verifier[];
}

/**
 * newPolicy builds a Policy from the log's verifier key (as /tlog/key
 * serves it), the witnesses' cosignature verifier keys and the quorum K
 * (0..N). Bad keys, a key listed twice and a quorum out of range are
 * 'malformed'.
 */
export async function newPolicy(logVKey: string, witnessVKeys: string[], quorum: number): Promise<Policy> {
  const log = await parseVerifierKey(logVKey.trim(), SIG_ED25519);
  const witnesses: Verifier[] = [];
  const seen = new Set([`${log.name}+${log.keyHash}`]);
  for (const [i, k] of witnessVKeys.entries()) {
    if (typeof k !== 'string') throw malformed(`witness key ${i + 1} is not a string`);
    const v = await parseVerifierKey(k.trim(), SIG_COSIGNATURE);
    const id = `${v.name}+${v.keyHash}`;
    if (seen.has(id)) throw malformed(`witness key ${i + 1} (${JSON.stringify(k.slice(0, 200))}) is listed twice or is the log's key`);
    seen.add(id);
    witnesses.push(v);
  }
  if (!Number.isInteger(quorum) || quorum < 0 || quorum > witnesses.length) {
    throw malformed(`quorum ${quorum} with ${witnesses.length} witness keys (want 0 to ${witnesses.length})`);
  }
  return { origin: log.name, quorum, log, witnesses };
}

/** formatCheckpoint is the C2SP checkpoint body: origin, size, base64 root, no extension lines. */
export function formatCheckpoint(origin: string, size: number, hash: Uint8Array): string {
  return `${origin}\n${size}\n${b64(hash)}\n`;
}

function parseBody(text: string): { origin: string; size: number; hash: Uint8Array } {
  const lines = text.split('\n');
  if (lines.length !== 4 || lines[3] !== '') {
    throw malformed(`checkpoint body has ${lines.length - 1} lines (want origin, size and root hash, each ending in a newline, no extension lines)`);
  }
  const [origin, sizeText, hashText] = lines;
  if (origin === '') throw malformed('checkpoint has an empty origin');
  if (!/^(0|[1-9][0-9]{0,14})$/.test(sizeText)) throw malformed(`checkpoint size ${JSON.stringify(sizeText.slice(0, 40))} is not a canonical decimal number`);
  const size = Number(sizeText);
  if (size > MAX_TREE_SIZE) throw malformed(`checkpoint size ${size} is beyond what any log here reaches (2^48)`);
  const hash = strictB64(hashText);
  if (!hash || hash.length !== HASH_SIZE || b64(hash) !== hashText) throw malformed(`checkpoint root hash ${JSON.stringify(hashText.slice(0, 60))} is not the base64 of 32 bytes`);
  if (size === 0 && !equal(hash, EMPTY_HASH)) throw malformed("checkpoint of size 0 whose root is not the empty tree's");
  return { origin, size, hash };
}

/**
 * verifyCheckpoint checks a checkpoint note with the policy: the log's
 * signature, the body (origin, canonical size and root, no extension
 * lines) and valid cosignatures from at least Quorum distinct listed
 * witnesses. Errors: 'bad-signature', 'malformed', 'quorum'.
 */
export async function verifyCheckpoint(p: Policy, note: string): Promise<Checkpoint> {
  if (typeof note !== 'string') throw malformed('checkpoint note is not text');
  if (utf8(note).length > MAX_CHECKPOINT_BYTES) throw malformed(`checkpoint note of more than ${MAX_CHECKPOINT_BYTES} bytes`);
  const n = await openNote(note, [p.log, ...p.witnesses]);
  if (!n.signers.includes(p.log)) throw new TlogError('bad-signature', `tlog: checkpoint not signed by the log key ${p.log.name}`);
  const body = parseBody(n.text);
  if (body.origin !== p.origin) throw malformed(`checkpoint origin ${JSON.stringify(body.origin.slice(0, 200))}, want ${JSON.stringify(p.origin)}`);
  const cosigners = n.signers.filter((v) => v !== p.log).map((v) => v.name);
  if (cosigners.length < p.quorum) {
    throw new TlogError('quorum', `tlog: the checkpoint has valid cosignatures from ${cosigners.length} of the ${p.quorum} witnesses the policy requires`);
  }
  return { ...body, note, cosigners };
}
