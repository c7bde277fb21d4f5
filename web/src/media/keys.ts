// The keys playback needs: this browser's epoch identities in a household
// and the hub keys whose signatures it accepts, from the household's chain
// as household.ts verifies it (pinned genesis, rollback refused). A browser
// whose device is not in the chain gets NotEnrolledError: it can download
// sealed objects (the cloud lets any member account) but never open them.

import type { ChainState } from '../crypto/chain';
import { openHousehold } from '../household';

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

/** householdKeys opens the household and returns this browser's keys to read its recordings. */
export async function householdKeys(hh: string): Promise<HouseholdKeys> {
  const h = await openHousehold(hh, { refresh: true });
  if (!h.me || h.identities.length === 0) throw new NotEnrolledError(h.keys?.id);
  return { state: h.state, identities: h.identities, trustedSigners: [...h.trustedHubs, ...h.formerHubs] };
}
