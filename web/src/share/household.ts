// What the sharer's browser needs of its household to share: its device
// keys, the epoch identities that open the household's objects, the hubs it
// trusts, and names — from the household as household.ts opens it: the chain
// verified from the genesis this browser pinned, extending what it verified
// before, with its head proven in the transparency log.

import { openHousehold } from '../household';
import type { DeviceKeys } from '../crypto/devicekeys';

export interface SharerContext {
  keys: DeviceKeys;
  identities: CryptoKey[]; // every epoch key this device can open
  trustedHubs: Uint8Array[]; // current and former hubs' signing keys
  householdName: string;
  deviceName: string;
}

/** sharerContext loads this browser's view of household hh for sharing. */
export async function sharerContext(hh: string): Promise<SharerContext> {
  const h = await openHousehold(hh, { refresh: true });
  if (!h.keys) throw new Error('this browser has no device key: enrol it in the household before sharing');
  if (!h.me || h.identities.length === 0) {
    throw new Error(`this browser (device ${h.keys.id}) is not enrolled in the household, so it cannot open, or share, its recordings`);
  }
  return {
    keys: h.keys,
    identities: h.identities,
    trustedHubs: [...h.trustedHubs, ...h.formerHubs],
    householdName: h.state.name,
    deviceName: h.me.name,
  };
}
