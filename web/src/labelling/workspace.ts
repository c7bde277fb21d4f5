// Labelling workspaces as a donor's browser sees them (G7; docs/API.md,
// "Labelling"): the list the cloud offers and a workspace's chain, verified
// here (the household chain's format, crypto/chain.ts) with its head proven
// in the transparency log this browser pinned, as a household's is
// (household.ts proveHead). The first time, from the genesis the cloud
// lists, which this browser then pins with the head it verified (a
// workspace's ID is not derived from its genesis); after that, a listing
// with another genesis, or a chain that no longer holds the head verified
// before, is refused. The verified
// chain gives the key a donation is sealed to (its current epoch) and the
// devices shown as who can open it.
//
// Owns: reading and checking a workspace. Must never: seal to a workspace
// whose chain did not verify or whose head is not in the log.

import { api, ApiError, unb64 } from '../api';
import { type ChainState } from '../crypto/chain';
import { fetchChainAt } from '../history/log';
import { loggedChain } from '../household';

export interface WorkspaceInfo {
  id: string;
  name: string;
  genesisHash: Uint8Array;
  purposes: string[];
}

export interface Workspace extends WorkspaceInfo {
  /** state is the workspace's chain, verified from genesisHash, its head in the log. */
  state: ChainState;
}

/** listWorkspaces returns the workspaces a member may donate to. */
export async function listWorkspaces(): Promise<WorkspaceInfo[]> {
  const list = await api<{ id: string; name: string; genesis_hash: string; purposes: string[] | null }[] | null>('GET', '/v1/labelling/workspaces');
  return (list ?? []).map((w) => ({ id: String(w.id), name: String(w.name), genesisHash: unb64(String(w.genesis_hash)), purposes: Array.isArray(w.purposes) ? w.purposes.map(String) : [] }));
}

/**
 * openWorkspace fetches and verifies w's chain: from the genesis pinned
 * for w's ID (w's, pinned now, the first time),
 * with its head proven in the transparency log (waiting up to LOG_WAIT_MS
 * for a head the log has not taken in yet).
 */
export async function openWorkspace(w: WorkspaceInfo): Promise<Workspace> {
  const { state } = await loggedChain({
    id: w.id,
    what: 'workspace',
    genesis: w.genesisHash,
    pin: true,
    fetch: () => fetchChainAt(`/v1/labelling/workspaces/${encodeURIComponent(w.id)}/chain`),
  });
  return { ...w, state };
}

/** isNotFound reports a 404 of the cloud. */
export const isNotFound = (e: unknown) => e instanceof ApiError && e.status === 404;
