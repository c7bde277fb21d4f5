// The verifier's background service worker. For each guarded origin it
// verifies the transparency log (the checkpoint against the pinned log key
// and witness quorum, consistent with the last one it verified), proves
// every web release entry the log lists, keeps those signed by a pinned
// release key, and installs the dynamic rules (rules.ts) that let the
// browser run only their scripts. It refreshes every 10 minutes
// (chrome.alarms) and when a page of the origin asks.
//
// Owns: the verified state (chrome.storage.local: the last checkpoint and
// what the logged releases list) and the dynamic rules. Must never: install
// rules from anything it has not verified, loosen the static fail-closed
// rules for an origin it has not verified, or keep an origin's rules after
// its log was caught rewriting history (split view, rollback, fork): then
// the origin is back to fail closed.

import { httpFetcher, LogClient, newPolicy, TlogError, verifyCheckpoint, type Checkpoint } from '../src/tlog';
import { parseConfig, type Config } from './config';
import { loggedOf, openRelease, parseRelease, ReleaseError, type Logged, type Manifest } from './release';
import { ruleIDs, verifiedRules } from './rules';
import type { PageState, Request } from './messages';

/** REFRESH_MINUTES is how often the log is checked again. */
const REFRESH_MINUTES = 10;
const MAX_RELEASES_JSON = 1 << 20;

/** Stored is what the extension keeps per origin. */
interface Stored {
  checkpoint?: string; // the note of the last verified checkpoint
  logged?: Logged; // what the trusted releases list (path -> SRI hashes)
  releases?: string[]; // "name version (created)" of each trusted release, with its log index
  verifiedAt?: string;
  error?: string; // the last failure
  severe?: boolean; // the log was caught rewriting history: fail closed
}

let configPromise: Promise<Config | null> | null = null;

function config(): Promise<Config | null> {
  configPromise ??= (async () => {
    try {
      const res = await fetch(chrome.runtime.getURL('config.json'));
      if (!res.ok) return null;
      return parseConfig(await res.json());
    } catch (e) {
      console.error(`vigil verifier: ${(e as Error).message}`);
      return null;
    }
  })();
  return configPromise;
}

const key = (origin: string) => 'origin:' + origin;

async function load(origin: string): Promise<Stored> {
  const v = await chrome.storage.local.get(key(origin));
  return (v[key(origin)] as Stored | undefined) ?? {};
}

async function save(origin: string, s: Stored): Promise<void> {
  await chrome.storage.local.set({ [key(origin)]: s });
}

async function fetchReleaseIndexes(origin: string): Promise<number[]> {
  const res = await fetch(origin + '/tlog/releases', { credentials: 'omit', cache: 'no-store', redirect: 'error' });
  if (!res.ok) throw new Error(`GET ${origin}/tlog/releases: ${res.status}`);
  const text = await res.text();
  if (text.length > MAX_RELEASES_JSON) throw new Error(`GET ${origin}/tlog/releases: over ${MAX_RELEASES_JSON} bytes`);
  const v = JSON.parse(text) as { releases?: { index?: unknown }[] };
  if (!v || !Array.isArray(v.releases)) throw new Error(`GET ${origin}/tlog/releases: not {"releases":[...]}`);
  const out = new Set<number>();
  for (const r of v.releases) if (typeof r?.index === 'number' && Number.isSafeInteger(r.index) && r.index >= 0) out.add(r.index);
  return [...out].sort((a, b) => a - b);
}

/** dynamicRuleIds returns the IDs of the installed dynamic rules in [lo, hi). */
async function dynamicRuleIds(lo: number, hi = Infinity): Promise<number[]> {
  return (await chrome.declarativeNetRequest.getDynamicRules()).map((r) => r.id).filter((id) => id >= lo && id < hi);
}

const running = new Map<string, Promise<Stored>>();

/** verify checks origin's log and releases once (one run per origin at a time). */
function verify(origin: string): Promise<Stored> {
  let p = running.get(origin);
  if (!p) {
    p = doVerify(origin).finally(() => running.delete(origin));
    running.set(origin, p);
  }
  return p;
}

async function doVerify(origin: string): Promise<Stored> {
  const cfg = await config();
  const i = cfg?.origins.indexOf(origin) ?? -1;
  if (!cfg || i < 0) return { error: 'this origin is not guarded' };
  const prev = await load(origin);
  const [lo, hi] = ruleIDs(i);
  const failClosed = async () => chrome.declarativeNetRequest.updateDynamicRules({ removeRuleIds: await dynamicRuleIds(lo, hi) });
  try {
    const policy = await newPolicy(cfg.log.key, cfg.log.witnesses, cfg.log.quorum);
    let last: Checkpoint | undefined;
    if (prev.checkpoint) last = await verifyCheckpoint(policy, prev.checkpoint);
    const client = new LogClient(policy, httpFetcher(origin), last);
    const cp = await client.update();
    const manifests: Manifest[] = [];
    const releases: string[] = [];
    for (const index of await fetchReleaseIndexes(origin)) {
      if (index >= cp.size) continue; // not in the verified checkpoint yet
      const entry = await client.entry(index);
      let m: Manifest;
      try {
        m = await openRelease(entry, cfg.release_keys);
      } catch (e) {
        if (e instanceof ReleaseError) continue; // another signer's release, or not a release
        throw e;
      }
      manifests.push(m);
      releases.push(`#${index} ${m.name} ${m.version} (${m.created})`);
    }
    if (manifests.length === 0) {
      throw new Error('no release signed by a pinned release key is in the log: nothing this site serves can be checked');
    }
    const logged = loggedOf(manifests);
    const rules = verifiedRules(i, origin, logged);
    await chrome.declarativeNetRequest.updateDynamicRules({ removeRuleIds: await dynamicRuleIds(lo, hi), addRules: rules });
    const s: Stored = { checkpoint: cp.note, logged, releases, verifiedAt: new Date().toISOString() };
    await save(origin, s);
    return s;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const severe = e instanceof TlogError && (e.code === 'older' || e.code === 'split-view' || e.code === 'inconsistent');
    // A log caught rewriting history: back to fail closed. Anything else
    // (the log unreachable for a while): the releases verified before
    // stay verified, the log is append-only.
    if (severe || !prev.logged) await failClosed();
    const s: Stored = severe || !prev.logged ? { checkpoint: prev.checkpoint, error: msg, severe } : { ...prev, error: msg };
    await save(origin, s);
    return s;
  }
}

async function verifyAll(): Promise<void> {
  const cfg = await config();
  if (!cfg) return;
  // Rules of origins a previous configuration guarded go first.
  const [, end] = ruleIDs(cfg.origins.length - 1);
  const stale = await dynamicRuleIds(end);
  if (stale.length > 0) await chrome.declarativeNetRequest.updateDynamicRules({ removeRuleIds: stale });
  await Promise.all(cfg.origins.map((o) => verify(o)));
}

function pageState(s: Stored): PageState {
  if (s.logged && !s.severe) return { status: 'verified', logged: s.logged, releases: s.releases ?? [], error: s.error };
  return { status: 'failed', error: s.error ?? 'not verified yet', severe: s.severe };
}

// A page loaded before verification reloads once verified; at most 3
// times a minute per tab, so rules that do not apply cannot loop a tab.
const reloads = new Map<number, number[]>();
function reloadAllowed(tabId: number | undefined): boolean {
  if (tabId === undefined) return false;
  const now = Date.now();
  const recent = (reloads.get(tabId) ?? []).filter((t) => now - t < 60000);
  if (recent.length >= 3) return false;
  recent.push(now);
  reloads.set(tabId, recent);
  return true;
}

// The last verdict on each page (by URL), kept in memory for the tests:
// the badge is what people see.
const verdicts = new Map<string, string>();
function verdict(url: string | undefined, v: string): void {
  if (!url) return;
  verdicts.delete(url);
  verdicts.set(url, v);
  if (verdicts.size > 100) verdicts.delete(verdicts.keys().next().value as string);
}

async function badge(tabId: number | undefined, kind: 'ok' | 'stopped' | 'verifying', title: string): Promise<void> {
  if (tabId === undefined) return;
  const text = { ok: '✓', stopped: '!', verifying: '…' }[kind];
  const color = { ok: '#1a7f37', stopped: '#cf222e', verifying: '#6e7781' }[kind];
  await chrome.action.setBadgeText({ tabId, text });
  await chrome.action.setBadgeBackgroundColor({ tabId, color });
  await chrome.action.setTitle({ tabId, title: 'Vigil code verifier: ' + title });
}

chrome.runtime.onMessage.addListener((msg, sender, reply) => {
  const m = msg as Request;
  (async () => {
    const cfg = await config();
    const origin = sender.origin ?? (sender.url ? new URL(sender.url).origin : '');
    if (!cfg || !cfg.origins.includes(origin)) return { status: 'unguarded' } satisfies PageState;
    switch (m?.type) {
      case 'state': {
        const s = await load(origin);
        if (s.logged && !s.severe) return pageState(s);
        await badge(sender.tab?.id, 'verifying', 'checking the transparency log');
        return { status: 'verifying' } satisfies PageState;
      }
      case 'verify': {
        const st = pageState(await verify(origin));
        if (st.status === 'verified') st.reload = reloadAllowed(sender.tab?.id);
        return st;
      }
      case 'ok':
        verdict(sender.url, 'ok');
        await badge(sender.tab?.id, 'ok', 'the page runs only code from logged releases');
        return null;
      case 'stopped':
        verdict(sender.url, 'stopped: ' + String(m.reason ?? ''));
        await badge(sender.tab?.id, 'stopped', 'stopped: ' + String(m.reason ?? '').slice(0, 200));
        return null;
    }
    return null;
  })().then(reply, (e) => reply({ status: 'failed', error: String(e) } satisfies PageState));
  return true;
});

chrome.runtime.onInstalled.addListener(() => {
  chrome.alarms.create('refresh', { periodInMinutes: REFRESH_MINUTES });
  verifyAll();
});
chrome.runtime.onStartup.addListener(() => {
  chrome.alarms.create('refresh', { periodInMinutes: REFRESH_MINUTES });
  verifyAll();
});
chrome.alarms.onAlarm.addListener((a) => {
  if (a.name === 'refresh') verifyAll();
});

// For the tests (web/test/extension.mjs), run in this worker: the release
// parser against the vectors Go checks too.
(globalThis as Record<string, unknown>).vigilVerifier = { openRelease, parseRelease, verifyAll, verdict: (url: string) => verdicts.get(url) ?? null };
