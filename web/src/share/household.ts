// What the sharer's browser needs of its household to share: its device
// keys, the epoch identities that open the household's objects, the hubs it
// trusts, and names. Built from the household's verified chain.

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
  void hh;
  throw new Error('this browser cannot read the household chain yet (reload to update the app)');
}
