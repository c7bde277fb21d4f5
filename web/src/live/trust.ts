// The hub keys live view trusts: those of the household chain this browser
// verified from the genesis it pinned (household.ts), never the cloud's word.

import type { DeviceKeys } from '../crypto/devicekeys';
import { openHousehold } from '../household';
import type { LiveTrust } from './session';

/** NotADevice: this browser is not an admin or member device of the household's chain. */
export class NotADevice extends Error {
  constructor(readonly deviceId?: string) {
    super(`this browser${deviceId ? ` (device ${deviceId})` : ''} is not enrolled in this household: an admin must add it first (see /device)`);
  }
}

/**
 * liveTrust verifies the household's current chain and returns its current
 * hubs. It throws NotADevice when this browser is not an admin or member device of the
 * chain (the hub would not admit it anyway).
 */
export async function liveTrust(hh: string, keys: DeviceKeys): Promise<LiveTrust> {
  const h = await openHousehold(hh, { refresh: true });
  const me = h.state.device(keys.id);
  if (!me || (me.role !== 'admin' && me.role !== 'member')) {
    throw new NotADevice(keys.id);
  }
  const hubs = new Map<string, Uint8Array>();
  for (const d of h.state.devices) if (d.role === 'hub') hubs.set(d.id, d.signPub);
  return { householdId: h.state.householdId, hubs };
}
