// A household as this browser sees it: its chain fetched from the cloud and
// verified from the genesis hash this browser pinned, never from what the
// cloud says alone; refused if it is shorter than, or forks from, the chain
// this browser verified before (rollback), and used only once its head is
// proven in the transparency log the browser pinned (a head outside the
// public log could be a fork shown to this browser alone); with this
// device's epoch keys (non-extractable CryptoKeys) and the hubs whose
// objects it trusts.
//
// Owns: the pins and rollback marks in IndexedDB ("vigil", store
// "households": {genesisHash, seq, head} per household), and a per-page-load
// cache of opened households. Must never: trust a chain that does not start
// at the pin or whose head is not in the log, export or log keys.

import { api, b64, ApiError } from './api';
import { equal, hex, unhex } from './crypto/bytes';
import { ChainError, applyLink, epochIdentities, linkHash, verifyChain, type ChainState, type Device } from './crypto/chain';
import { loadDeviceKeys, type DeviceKeys } from './crypto/devicekeys';
import { idbGet, idbPut } from './crypto/idb';
import { TagKey } from './history/keys';
import { fetchChain, saveCheckpoint, serviceLog } from './history/log';
import { TlogError, type LogClient } from './tlog';

export interface Household {
  hh: string;
  name: string;
  role: string; // the account's role in the cloud: 'admin' | 'member'
  state: ChainState;
  /** pinned is false when this browser had no pin and took the cloud's genesis (and pinned it now). */
  pinned: boolean;
  keys: DeviceKeys | null; // this browser's device keys
  me: Device | null; // this device in the chain, or null if it is not in it
  identities: CryptoKey[]; // every epoch key this device holds, newest first; empty if not a member
  trustedHubs: Uint8Array[]; // current hubs' signing keys (Go TrustedHubs)
  formerHubs: Uint8Array[]; // removed hubs' signing keys: their older footage is genuine
}

interface Pin {
  genesisHash: Uint8Array;
  seq: number;
  head: Uint8Array;
}

/** RollbackError: the cloud served an older or different chain than this browser verified before. */
export class RollbackError extends Error {
  constructor(have: number, seen: number, what = 'household') {
    super(`the cloud served an older or different chain of the ${what} than this browser saw before (it has ${have} links; this browser verified link ${seen}); refusing it`);
    this.name = 'RollbackError';
  }
}

/**
 * pinHousehold records the genesis hash of household hh, at creation or
 * enrolment (from a source the user trusts, not the cloud alone). A
 * different pin already stored is an error: the household's identity never
 * changes.
 */
export async function pinHousehold(hh: string, genesisHash: Uint8Array): Promise<void> {
  if (genesisHash.length !== 32) throw new Error('a household genesis hash is 32 bytes');
  const old = await idbGet<Pin>('households', hh);
  if (old) {
    if (!equal(old.genesisHash, genesisHash)) throw new Error(`this browser already knows household ${hh} with another genesis; refusing to change it`);
    return;
  }
  await idbPut('households', hh, { genesisHash: genesisHash.slice(), seq: 0, head: genesisHash.slice() } satisfies Pin);
}

/** pinnedGenesis returns the genesis hash pinned for hh, or null. */
export async function pinnedGenesis(hh: string): Promise<Uint8Array | null> {
  return (await idbGet<Pin>('households', hh))?.genesisHash ?? null;
}

/**
 * NotLoggedError: the household chain's head is not in the transparency
 * log (or not where the cloud says): the browser does not use a chain the
 * public log does not hold.
 */
export class NotLoggedError extends Error {
  constructor(message: string, what = 'household') {
    super(`the ${what} chain's head is not in the transparency log: ${message}`);
    this.name = 'NotLoggedError';
  }
}

/** LOG_WAIT_MS bounds how long a new head may wait for the log (the cloud integrates entries within about a second). */
export const LOG_WAIT_MS = 10_000;

/**
 * proveHead proves that the head of state is the entry at index of the
 * log, in a checkpoint newer than or equal to the last one verified.
 */
export async function proveHead(lc: LogClient, state: ChainState, index: number): Promise<void> {
  try {
    await lc.update();
  } catch (e) {
    if (!(e instanceof TlogError && e.code === 'older')) throw new Error(`the transparency log does not verify: ${(e as Error).message}`);
  } finally {
    await saveCheckpoint(lc);
  }
  const tk = await TagKey.derive(state.genesisHash);
  const entry = await tk.chainHeadEntry(state.seq, state.head);
  try {
    await lc.proveEntry(index, entry);
  } catch (e) {
    throw new NotLoggedError(`link ${state.seq} is not at log index ${index} as the cloud says: ${(e as Error).message}`);
  }
}

/**
 * loggedChain fetches a chain in the household chain's format (a
 * household's, or a labelling workspace's: what names it in errors) and
 * verifies it from its genesis for id: the one this browser pinned when
 * pin is set (the cloud's genesis, which it then pins, when it has none),
 * else the genesis given — or, without one, the genesis the fetch says; with a pin, a chain shorter than, or forking
 * from, the one verified before is refused. Its head must be proven in the
 * transparency log, waiting up to LOG_WAIT_MS for a head the log has not
 * taken in yet; with a pin, the new head is recorded.
 */
export async function loggedChain(o: {
  id: string;
  what: 'household' | 'workspace';
  genesis?: Uint8Array;
  pin: boolean;
  fetch: () => Promise<{ links: Uint8Array[]; indexes: number[]; genesis?: Uint8Array }>;
}): Promise<{ state: ChainState; pinned: boolean }> {
  const lc = await serviceLog();
  // A workspace's pin is kept apart from the households' (whose keys the
  // service worker reads as the households this browser belongs to).
  const key = o.what === 'household' ? o.id : `${o.what}:${o.id}`;
  const pin = o.pin ? await idbGet<Pin>('households', key) : undefined;
  if (pin && o.genesis && !equal(pin.genesisHash, o.genesis)) throw new Error(`the cloud names a genesis for ${o.what} ${o.id} other than the one this browser pinned; refusing it`);
  const deadline = Date.now() + LOG_WAIT_MS;
  for (;;) {
    const fetched = await o.fetch();
    const { links, indexes } = fetched;
    const genesis = pin?.genesisHash ?? o.genesis ?? fetched.genesis;
    if (!genesis) throw new Error(`the cloud did not say which genesis ${o.what} ${o.id} starts from`);
    const state = await verifyChain(links, genesis);
    if (state.householdId !== o.id) throw new Error(`the cloud served the chain of ${state.householdId} for ${o.what} ${o.id}; refusing it`);
    if (pin && pin.seq > 0) {
      if (links.length <= pin.seq || !equal(await linkHash(links[pin.seq]), pin.head)) throw new RollbackError(links.length, pin.seq, o.what);
    }
    const ix = indexes[indexes.length - 1];
    if (ix < 0) {
      if (Date.now() > deadline) throw new NotLoggedError(`link ${state.seq} is still waiting for the log after ${LOG_WAIT_MS / 1000} s; refusing to use it (try again in a moment)`, o.what);
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    await proveHead(lc, state, ix);
    if (o.pin && (!pin || state.seq > pin.seq)) await idbPut('households', key, { genesisHash: genesis.slice(), seq: state.seq, head: state.head.slice() } satisfies Pin);
    return { state, pinned: !!pin };
  }
}

const cache = new Map<string, Promise<Household>>();

/** openHousehold fetches, verifies and caches (per page load) household hh. */
export function openHousehold(hh: string, opts: { refresh?: boolean } = {}): Promise<Household> {
  let p = cache.get(hh);
  if (!p || opts.refresh) {
    p = load(hh);
    cache.set(hh, p);
    p.catch(() => cache.delete(hh));
  }
  return p;
}

/** forgetHousehold drops hh from the page's cache (after its chain changed). */
export function forgetHousehold(hh?: string): void {
  if (hh === undefined) cache.clear();
  else cache.delete(hh);
}

async function load(hh: string): Promise<Household> {
  const path = `/v1/households/${encodeURIComponent(hh)}`;
  const info = await api<{ household_id: string; name: string; genesis_hash: string; role: string }>('GET', path);
  const { state, pinned } = await loggedChain({ id: hh, what: 'household', genesis: unhex(info.genesis_hash), pin: true, fetch: () => fetchChain(hh) });
  return withKeys(hh, info.name, info.role, state, pinned);
}

async function withKeys(hh: string, name: string, role: string, state: ChainState, pinned: boolean): Promise<Household> {
  const keys = await loadDeviceKeys();
  const me = keys ? (state.device(keys.id) ?? null) : null;
  let identities: CryptoKey[] = [];
  if (keys && me && me.role !== 'hub') {
    try {
      identities = await epochIdentities(state, keys);
    } catch (e) {
      if (!(e instanceof ChainError && e.code === 'not-member')) throw e;
    }
  }
  return {
    hh, name: name || state.name, role, state, pinned, keys, me, identities,
    trustedHubs: state.trustedHubs(),
    formerHubs: state.formerHubs().map((d) => d.signPub),
  };
}

/**
 * appendLink uploads a link this device built from h.state (chain.ts
 * builders) and returns the household with it applied. A 409 means another
 * admin changed the chain first: reopen and build again. The link is this
 * device's own, so it is used without waiting for the log; the next load
 * proves its head in the log like any other.
 */
export async function appendLink(h: Household, link: Uint8Array): Promise<Household> {
  const state = await applyLink(h.state, link);
  try {
    await api('POST', `/v1/households/${encodeURIComponent(h.hh)}/chain`, { link: b64(link) });
  } catch (e) {
    forgetHousehold(h.hh);
    if (e instanceof ApiError && e.status === 409) throw new ApiError(409, 'another device changed the household at the same time; try again');
    throw e;
  }
  await idbPut('households', h.hh, { genesisHash: state.genesisHash.slice(), seq: state.seq, head: state.head.slice() } satisfies Pin);
  const next = await withKeys(h.hh, h.name, h.role, state, true);
  cache.set(h.hh, Promise.resolve(next));
  return next;
}

/** genesisHex is the pin as shown to people (hex). */
export const genesisHex = (h: Household): string => hex(h.state.genesisHash);
