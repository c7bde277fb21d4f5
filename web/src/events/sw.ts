// The app's service worker (registered at scope "/" by pwa.ts, which makes
// the app installable; events/push.ts subscribes on that same
// registration). It handles Web Push:
//   - a sealed health record (the hub telling of a problem, or its end):
//     shown in the hub's own words ("Front door camera: no video for 2
//     minutes", then "... is back"), the resolution replacing the problem,
//     opening the health page (docs/FORMAT.md, "Health records");
//   - a sealed event record: opened here with this device's keys (the same
//     non-extractable CryptoKeys in IndexedDB, and the household chain
//     verified from the pinned genesis as in the pages) and shown as a
//     notification ("Person at front"; a doorbell's ring stays until
//     answered, shows its snapshot, fetched sealed and opened here, and
//     opens the doorbell's live view: "Answer", or "Talk" with the sound
//     on and the talk button ready). A message no household of this
//     browser opens shows a generic notification: the push service and the
//     cloud never learn more.
//   - a join request, {"type":"join-request","household":HH} (the cloud's
//     JoinPush; a sealed record never starts with '{'): "A device is
//     waiting to join <household>" (the name when this browser holds the
//     household), opening the settings page at its waiting devices
//     (#waiting, where they are approved).
//   - a hub gone quiet or back, {"type":"hub-quiet"|"hub-back",
//     "household":HH,"hub":ID,"last_contact":T[,"back":T]} (the cloud's
//     HubPush: it only knows that the hub stopped reporting): "<hub> is not
//     heard from" / "<hub> is back", the hub's name from the household's
//     verified chain when this browser holds it, opening the health page.
// It intercepts no request (no fetch handler): pages always come from the
// network, as the verifier extension checks them.
//
// Owns: push and notification-click handling. Must never: show or log
// plaintext of a record that failed verification; trust a join push for
// more than a prompt to open the app (it is unauthenticated).

import { openHousehold } from '../household';
import { b64 } from '../api';
import { readSnapshot } from './api';
import { headline, openAnyRecord, type EventRecord, type HealthRecord, type OpenerKeys } from './record';

interface Opened {
  hh: string;
  record: EventRecord;
  title: string;
  keys: OpenerKeys;
}

/** OpenedHealth is a push that opened as the hub's health record. */
interface OpenedHealth {
  hh: string;
  health: HealthRecord;
}

/** SNAPSHOT_WAIT_MS bounds the wait for a ring's snapshot: past it the notification shows without. */
const SNAPSHOT_WAIT_MS = 5_000;

/** ringImage fetches and opens a ring's sealed snapshot as a data: URL, or '' (none, too slow, or not opened). */
async function ringImage(o: Opened): Promise<string> {
  if (!o.record.snapshot) return '';
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(''), SNAPSHOT_WAIT_MS)));
  const read = readSnapshot(o.hh, o.keys, o.record.snapshot).then(
    (jpg) => `data:image/jpeg;base64,${b64(jpg)}`,
    () => '',
  );
  try {
    return await Promise.race([read, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** pinnedHouseholds lists the households this browser pinned (IndexedDB "vigil"/"households"). */
function pinnedHouseholds(): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open('vigil');
    req.onupgradeneeded = () => {
      // No database yet: this browser knows no household.
      req.transaction?.abort();
    };
    req.onerror = () => resolve([]);
    req.onsuccess = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains('households')) {
        db.close();
        resolve([]);
        return;
      }
      const k = db.transaction('households', 'readonly').objectStore('households').getAllKeys();
      k.onsuccess = () => {
        db.close();
        resolve(k.result.map(String));
      };
      k.onerror = () => reject(k.error);
    };
  });
}

/** openPush opens a push payload (a sealed event or health record) with the households this browser holds keys of. */
export async function openPush(sealed: Uint8Array): Promise<Opened | OpenedHealth> {
  let last: unknown = new Error('this browser holds no household key');
  for (const hh of await pinnedHouseholds()) {
    try {
      const h = await openHousehold(hh, { refresh: true });
      if (h.identities.length === 0) continue;
      const keys = { identities: h.identities, trustedSigners: [...h.trustedHubs, ...h.formerHubs] };
      const record = await openAnyRecord(sealed, keys);
      if ('kind' in record) return { hh, health: record };
      return { hh, record, title: headline(record), keys };
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

/**
 * pushJSON reads a push the cloud sends in the clear (a join request, a hub
 * gone quiet or back): a JSON object of at most 1 KiB, or null. A sealed
 * record never starts with '{'.
 */
function pushJSON(data: Uint8Array): Record<string, unknown> | null {
  if (data.length === 0 || data.length > 1024 || data[0] !== 0x7b /* '{' */) return null;
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  return v as Record<string, unknown>;
}

/** joinRequestOf returns the household of a join-request push ({"type":"join-request","household":HH}), or null. */
export function joinRequestOf(data: Uint8Array): string | null {
  const v = pushJSON(data);
  if (v === null) return null;
  const { type, household } = v;
  if (type !== 'join-request' || typeof household !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(household)) return null;
  return household;
}

/** HubChange is a hub-quiet or hub-back push. */
export interface HubChange {
  type: 'hub-quiet' | 'hub-back';
  household: string;
  hub: string;
  lastContact: number;
  back: number;
}

/** hubChangeOf reads a hub-quiet or hub-back push, or returns null. */
export function hubChangeOf(data: Uint8Array): HubChange | null {
  const v = pushJSON(data);
  if (v === null) return null;
  const { type, household, hub, last_contact, back } = v;
  const id = /^[A-Za-z0-9_-]{1,128}$/;
  if ((type !== 'hub-quiet' && type !== 'hub-back') || typeof household !== 'string' || !id.test(household) || typeof hub !== 'string' || !id.test(hub)) return null;
  const lastContact = typeof last_contact === 'string' ? Date.parse(last_contact) : NaN;
  const backAt = typeof back === 'string' ? Date.parse(back) : 0;
  if (!Number.isFinite(lastContact) || !Number.isFinite(backAt) || (type === 'hub-back' && !backAt)) return null;
  return { type, household, hub, lastContact, back: backAt };
}

/** hubName is the name of hub in hh's verified chain when this browser holds the household, else ''. */
function hubName(hh: string, hub: string): Promise<string> {
  return pinnedName(hh, (h) => h.state.devices.find((d) => d.id === hub && d.role === 'hub')?.name ?? '');
}

/** Notice is a notification to show: its title and options. */
export interface Notice {
  title: string;
  options: NotificationOptions & { data: { url: string; talkUrl?: string }; actions?: { action: string; title: string }[]; image?: string };
}

/** NAME_WAIT_MS bounds the wait for a household's name: past it the notification shows without. */
const NAME_WAIT_MS = 15_000;

/** householdName is the name of hh when this browser holds the household (pinned and its chain verifies), else ''. */
function householdName(hh: string): Promise<string> {
  return pinnedName(hh, (h) => h.name);
}

/**
 * pinnedName reads a name from household hh when this browser holds it
 * (pinned, and its chain verifies), else ''; past NAME_WAIT_MS it gives ''
 * so that the notification shows without.
 */
async function pinnedName(hh: string, pick: (h: Awaited<ReturnType<typeof openHousehold>>) => string): Promise<string> {
  const lookup = (async () => {
    if (!(await pinnedHouseholds()).includes(hh)) return '';
    return pick(await openHousehold(hh, { refresh: true }));
  })().catch(() => '');
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(''), NAME_WAIT_MS)));
  try {
    return await Promise.race([lookup, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** noticeOf decides what a push shows: a join request, an opened event, or the generic "New event". */
export async function noticeOf(data: Uint8Array): Promise<Notice> {
  const joinHH = joinRequestOf(data);
  if (joinHH !== null) {
    const name = await householdName(joinHH);
    return {
      title: name ? `A device is waiting to join ${name}` : 'A device is waiting to join',
      options: {
        body: 'Open Vigil to approve or decline it.',
        tag: `join-request:${joinHH}`,
        data: { url: `/h/${encodeURIComponent(joinHH)}/settings#waiting` },
      },
    };
  }
  const hubChange = hubChangeOf(data);
  if (hubChange !== null) {
    const name = (await hubName(hubChange.household, hubChange.hub)) || 'A hub';
    const at = (t: number) => new Date(t).toLocaleString();
    return {
      title: hubChange.type === 'hub-quiet' ? `${name} is not heard from` : `${name} is back`,
      options: {
        body:
          hubChange.type === 'hub-quiet'
            ? `Nothing from it since ${at(hubChange.lastContact)}. Check that it has power and internet.`
            : `It reported again at ${at(hubChange.back)} after nothing since ${at(hubChange.lastContact)}.`,
        tag: `hub:${hubChange.hub}`,
        data: { url: `/h/${encodeURIComponent(hubChange.household)}/health#hub-${encodeURIComponent(hubChange.hub)}` },
      },
    };
  }
  try {
    const opened = await openPush(data);
    if ('health' in opened) return healthNotice(opened);
    const o = opened;
    const at = new Date(o.record.start).toLocaleTimeString();
    if (o.record.labels.includes('ring')) {
      // A doorbell's ring stays until answered; answering opens the
      // doorbell's live view, and Talk opens it with the sound on, ready
      // to talk (live/tile.ts). Its snapshot, opened here, is the picture.
      const image = await ringImage(o);
      const live = `/h/${encodeURIComponent(o.hh)}/cam/${encodeURIComponent(o.record.camera)}/live`;
      return {
        title: o.title,
        options: {
          ...(image ? { image } : {}),
          body: `${at} · someone is at the door`,
          tag: o.record.id,
          requireInteraction: true,
          actions: [
            { action: 'answer', title: 'Answer' },
            { action: 'talk', title: 'Talk' },
          ],
          data: { url: live, talkUrl: `${live}?talk=1` },
        },
      };
    }
    return {
      title: o.title,
      options: {
        body: `${at}${o.record.alert ? ' · alert' : ''}`,
        tag: o.record.id,
        data: { url: `/h/${encodeURIComponent(o.hh)}/events` },
      },
    };
  } catch {
    return { title: 'New event', options: { body: 'Open Vigil to see it.', data: { url: '/' } } };
  }
}

/**
 * healthNotice shows the hub's health alert in the hub's own plain words
 * ("Front door camera: no video for 2 minutes", then "Front door camera
 * is back (after 5 minutes)"); the resolution replaces the problem's
 * notification (same tag); it opens the health page at the camera or at
 * the hub's own checks.
 */
function healthNotice(o: OpenedHealth): Notice {
  const h = o.health;
  const place = h.camera ? `camera-${encodeURIComponent(h.camera)}` : 'health-checks';
  const body =
    h.state === 'problem'
      ? `Since ${new Date(h.start).toLocaleTimeString()} · Vigil keeps checking and will tell you when it is resolved.`
      : `Resolved at ${new Date(h.end ?? h.start).toLocaleTimeString()}.`;
  return {
    title: h.message,
    options: { body, tag: `health:${h.id}`, data: { url: `/h/${encodeURIComponent(o.hh)}/health#${place}` } },
  };
}

// Exposed for the browser tests, which load this script into a page.
Object.assign(globalThis, { vigilOpenPush: openPush, vigilNoticeOf: noticeOf });

interface PushEventLike extends Event {
  data: { arrayBuffer(): ArrayBuffer } | null;
  waitUntil(p: Promise<unknown>): void;
}
interface NotificationEventLike extends Event {
  notification: Notification;
  waitUntil(p: Promise<unknown>): void;
}
interface ExtendableEventLike extends Event {
  waitUntil(p: Promise<unknown>): void;
}
interface SWGlobal {
  registration?: { showNotification(title: string, o?: NotificationOptions): Promise<void> };
  clients?: { openWindow(url: string): Promise<unknown>; claim(): Promise<void> };
  skipWaiting?: () => Promise<void>;
  addEventListener(type: string, f: (e: Event) => void): void;
}
const sw = globalThis as unknown as SWGlobal;

if (sw.registration) {
  // A new release's worker takes over at once: it holds no state of its own.
  sw.addEventListener('install', (ev) => (ev as ExtendableEventLike).waitUntil(sw.skipWaiting!()));
  sw.addEventListener('activate', (ev) => (ev as ExtendableEventLike).waitUntil(sw.clients!.claim()));
  sw.addEventListener('push', (ev) => {
    const e = ev as PushEventLike;
    const bytes = e.data ? new Uint8Array(e.data.arrayBuffer()) : new Uint8Array();
    e.waitUntil(noticeOf(bytes).then((n) => sw.registration!.showNotification(n.title, n.options)));
  });
  sw.addEventListener('notificationclick', (ev) => {
    const e = ev as NotificationEventLike;
    e.notification.close();
    const data = e.notification.data as { url?: string; talkUrl?: string } | null;
    const url = ((e as NotificationEventLike & { action?: string }).action === 'talk' ? data?.talkUrl : undefined) ?? data?.url ?? '/';
    e.waitUntil(sw.clients!.openWindow(url.startsWith('/') && !url.startsWith('//') ? url : '/'));
  });
}
