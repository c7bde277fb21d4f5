// Log entries, version 1 (docs/FORMAT.md, "Log entries, version 1"):
// chain heads, sealed household records and web releases, byte for byte as
// Go internal/history/entry.go.

import { readU32 } from '../crypto/bytes';

/** HistoryErrorCode: malformed bytes, a version-1 entry of a type this version does not know, or no key that opens a record. */
export type HistoryErrorCode = 'malformed' | 'unknown-type' | 'no-key';

/** HistoryError is every failure to read an entry, a record or a state record. */
export class HistoryError extends Error {
  constructor(
    public code: HistoryErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'HistoryError';
  }
}

export const malformed = (m: string): HistoryError => new HistoryError('malformed', `history: malformed log entry: ${m}`);

export const ENTRY_VERSION = 0x01;
export const TYPE_CHAIN_HEAD = 0x01;
export const TYPE_RECORD = 0x02;
export const TYPE_RELEASE = 0x03;
export const MAX_ENTRY_SIZE = 65535;

const TAG_SIZE = 32;
const CHAIN_HEAD_SIZE = 2 + TAG_SIZE + 32;
/** RECORD_FIXED is the size of a record entry before its ciphertext. */
export const RECORD_FIXED = 2 + TAG_SIZE + 4 + 32;
const GCM_TAG = 16;
/** RELEASE_FIXED is the size of a release entry before its manifest. */
export const RELEASE_FIXED = 2 + 32 + 64;

export interface ChainHead {
  tag: Uint8Array;
  head: Uint8Array;
}

export interface SealedRecord {
  tag: Uint8Array;
  epoch: number;
  enc: Uint8Array;
  ct: Uint8Array;
  /** aad is what the record's AEAD authenticates besides the plaintext: the entry's first 38 bytes. */
  aad: Uint8Array;
}

export interface Release {
  key: Uint8Array;
  sig: Uint8Array;
  manifest: Uint8Array;
}

/** Entry is one parsed entry: exactly one field is set. */
export interface Entry {
  chainHead?: ChainHead;
  record?: SealedRecord;
  release?: Release;
}

/**
 * parseEntry decodes b (layout only). A version-1 entry of another type is
 * 'unknown-type' (readers skip it); anything else that is not an entry,
 * 'malformed'.
 */
export function parseEntry(b: Uint8Array): Entry {
  if (b.length < 2) throw malformed(`${b.length} bytes`);
  if (b.length > MAX_ENTRY_SIZE) throw malformed(`${b.length} bytes is over the limit of ${MAX_ENTRY_SIZE}`);
  if (b[0] !== ENTRY_VERSION) throw malformed(`version ${b[0]} (this reader knows version ${ENTRY_VERSION})`);
  switch (b[1]) {
    case TYPE_CHAIN_HEAD:
      if (b.length !== CHAIN_HEAD_SIZE) throw malformed(`a chain head is ${CHAIN_HEAD_SIZE} bytes, not ${b.length}`);
      return { chainHead: { tag: b.slice(2, 34), head: b.slice(34) } };
    case TYPE_RECORD: {
      if (b.length < RECORD_FIXED + GCM_TAG) throw malformed(`a household record of ${b.length} bytes is too short`);
      const epoch = readU32(b, 34);
      if (epoch === 0) throw malformed('a household record sealed to epoch 0');
      return { record: { tag: b.slice(2, 34), epoch, enc: b.slice(38, 70), ct: b.slice(70), aad: b.slice(0, 38) } };
    }
    case TYPE_RELEASE:
      if (b.length <= RELEASE_FIXED) throw malformed(`a release of ${b.length} bytes has no manifest`);
      return { release: { key: b.slice(2, 34), sig: b.slice(34, RELEASE_FIXED), manifest: b.slice(RELEASE_FIXED) } };
  }
  throw new HistoryError('unknown-type', `history: log entry of an unknown type (type ${b[1]})`);
}
