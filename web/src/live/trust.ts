// The hub keys live view trusts: those of the household chain this browser
// verifies from the genesis it pinned (IndexedDB "households"), never the
// cloud's word.

import { api, unb64 } from '../api';
import { unhex } from '../crypto/bytes';
import { verifyChain } from '../crypto/chain';
import type { DeviceKeys } from '../crypto/devicekeys';
import { pinHousehold, pinnedGenesis } from '../household';
import type { LiveTrust } from './session';

interface ChainResp {
  household_id: string;
  genesis_hash: string;
  links: string[];
}

/**
 * liveTrust verifies the household's chain and returns its current hubs. It
 * throws when this browser is not an admin or member device of the chain
 * (it could not be admitted by the hub anyway).
 */
export async function liveTrust(hh: string, keys: DeviceKeys): Promise<LiveTrust> {
  const c = await api<ChainResp>('GET', `/v1/households/${encodeURIComponent(hh)}/chain`);
  let genesis = await pinnedGenesis(hh);
  if (!genesis) {
    // First sight of this household in this browser: pin its genesis.
    genesis = unhex(c.genesis_hash);
    await pinHousehold(hh, genesis);
  }
  const st = await verifyChain(c.links.map((l) => unb64(l)), genesis);
  if (st.householdId !== hh) throw new Error(`the chain is of household ${st.householdId}, not ${hh}`);
  const me = st.device(keys.id);
  if (!me || (me.role !== 'admin' && me.role !== 'member')) {
    throw new Error(`this browser (device ${keys.id}) is not enrolled in this household: an admin must add it first (see /device)`);
  }
  const hubs = new Map<string, Uint8Array>();
  for (const d of st.devices) if (d.role === 'hub') hubs.set(d.id, d.signPub);
  return { householdId: st.householdId, hubs };
}

