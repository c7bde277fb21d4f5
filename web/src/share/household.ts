// What the sharer's browser needs of its household to share: its device
// keys, the epoch identities that open the household's objects, the hubs it
// trusts, and names — from the household chain this browser verifies from
// the genesis it pinned (the cloud's genesis hash only on first sight).

import { api, unb64 } from '../api';
import { unhex } from '../crypto/bytes';
import { ChainError, epochIdentities, verifyChain } from '../crypto/chain';
import { loadDeviceKeys, type DeviceKeys } from '../crypto/devicekeys';
import { idbGet } from '../crypto/idb';

export interface SharerContext {
  keys: DeviceKeys;
  identities: CryptoKey[]; // every epoch key this device can open
  trustedHubs: Uint8Array[]; // current and former hubs' signing keys
  householdName: string;
  deviceName: string;
}

function hashBytes(v: unknown): Uint8Array | undefined {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string' && /^[0-9a-f]{64}$/i.test(v)) return unhex(v);
  return undefined;
}

/** sharerContext loads this browser's view of household hh for sharing. */
export async function sharerContext(hh: string): Promise<SharerContext> {
  const keys = await loadDeviceKeys();
  if (!keys) throw new Error('this browser has no device key: enrol it in the household before sharing');
  const c = await api<{ genesis_hash: string; links: string[] }>('GET', `/v1/households/${encodeURIComponent(hh)}/chain?from=0`);
  let pinned: Uint8Array | undefined;
  try {
    pinned = hashBytes((await idbGet<{ genesisHash?: unknown }>('households', hh))?.genesisHash);
  } catch {
    /* nothing pinned */
  }
  const genesis = pinned ?? hashBytes(c.genesis_hash);
  if (!genesis) throw new Error('the household has no genesis hash');
  const state = await verifyChain(c.links.map((l) => unb64(l)), genesis);
  if (state.householdId !== hh) throw new Error(`the chain is of household ${state.householdId}, not ${hh}`);
  let identities: CryptoKey[];
  try {
    identities = await epochIdentities(state, keys);
  } catch (e) {
    if (e instanceof ChainError && e.code === 'not-member') throw new Error(`this browser (device ${keys.id}) is not enrolled in the household, so it cannot open, or share, its recordings`);
    throw e;
  }
  return {
    keys,
    identities,
    trustedHubs: [...state.trustedHubs(), ...state.formerHubs().map((d) => d.signPub)],
    householdName: state.name,
    deviceName: state.device(keys.id)?.name ?? '',
  };
}
