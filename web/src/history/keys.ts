// The household's tag key (docs/FORMAT.md, "Household keys"): derived
// with HKDF-SHA256 from the genesis hash, it makes the HMAC tags by which
// members and hubs recognise their household's entries in the log. As Go
// internal/history/keys.go.
//
// Must never: export the tag key (it is a non-extractable HMAC CryptoKey).

import { buf, concat, hkdf, u64be, utf8 } from '../crypto/bytes';

const TAG_INFO = utf8('vigil/history/v1/tag');

export class TagKey {
  private constructor(private key: CryptoKey) {}

  /** derive makes the tag key of a household from its 32-byte genesis hash. */
  static async derive(genesisHash: Uint8Array): Promise<TagKey> {
    if (genesisHash.length !== 32) throw new Error('history: a genesis hash is 32 bytes');
    const raw = await hkdf(genesisHash, new Uint8Array(0), TAG_INFO, 32);
    try {
      return new TagKey(await crypto.subtle.importKey('raw', buf(raw), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']));
    } finally {
      raw.fill(0);
    }
  }

  private async tag(label: string, n: number): Promise<Uint8Array> {
    return new Uint8Array(await crypto.subtle.sign('HMAC', this.key, concat(utf8(label), new Uint8Array([0]), u64be(n))));
  }

  /** chain is the tag of the household's chain head at seq. */
  chain(seq: number): Promise<Uint8Array> {
    return this.tag('chain', seq);
  }

  /** record is the tag of the household's record n. */
  record(n: number): Promise<Uint8Array> {
    return this.tag('record', n);
  }

  /** chainHeadEntry is the log entry of the chain head: link seq whose link hash is head. */
  async chainHeadEntry(seq: number, head: Uint8Array): Promise<Uint8Array> {
    if (head.length !== 32 || !Number.isSafeInteger(seq) || seq < 0) throw new Error('history: a chain head is a seq >= 0 and a 32-byte link hash');
    return concat(new Uint8Array([1, 1]), await this.chain(seq), head);
  }
}
