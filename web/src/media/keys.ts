// The keys playback needs: this browser's epoch identities in a household
// and the hub keys whose signatures it accepts, from the verified chain.
// A browser whose device is not in the chain gets NotEnrolledError: it can
// download sealed objects (the cloud lets any member account) but never
// open them.

import { api, unb64 } from '../api';
import { ChainError, epochIdentities, verifyChain } from '../crypto/chain';
import type { ChainState } from '../crypto/chain';
import { unhex } from '../crypto/bytes';
import { loadDeviceKeys } from '../crypto/devicekeys';
import { idbGet } from '../crypto/idb';

export class NotEnrolledError extends Error {
  constructor(public deviceId?: string) {
    super('this browser is not enrolled in the household: it can only see sealed data');
  }
}

export interface HouseholdKeys {
  state: ChainState;
  identities: CryptoKey[];
  trustedSigners: Uint8Array[];
}

interface PinnedHousehold {
  genesis?: Uint8Array;
  genesisHash?: Uint8Array;
}

/** householdKeys verifies the household's chain and unwraps this browser's epoch keys. */
export async function householdKeys(hh: string): Promise<HouseholdKeys> {
  const keys = await loadDeviceKeys();
  const info = await api<{ genesis_hash: string }>('GET', `/v1/households/${encodeURIComponent(hh)}`);
  // A genesis hash this browser pinned when it joined wins over the server's.
  let pinned: Uint8Array | undefined;
  try {
    const rec = await idbGet<PinnedHousehold>('households', hh);
    pinned = rec?.genesisHash ?? undefined;
  } catch {
    /* no record */
  }
  const genesis = pinned ?? decodeHash(info.genesis_hash);
  const chain = await api<{ links: string[] }>('GET', `/v1/households/${encodeURIComponent(hh)}/chain?from=0`);
  const state = await verifyChain(chain.links.map((l) => unb64(l)), genesis);
  if (!keys) throw new NotEnrolledError();
  let identities: CryptoKey[];
  try {
    identities = await epochIdentities(state, keys);
  } catch (e) {
    if (e instanceof ChainError && e.code === 'not-member') throw new NotEnrolledError(keys.id);
    throw e;
  }
  const trustedSigners = [...state.trustedHubs(), ...state.formerHubs().map((d) => d.signPub)];
  return { state, identities, trustedSigners };
}

function decodeHash(s: string): Uint8Array {
  if (/^[0-9a-f]{64}$/i.test(s)) return unhex(s);
  return unb64(s);
}
