// The service worker for Web Push: each push message is a sealed event
// record; it is opened here with this device's keys (the same
// non-extractable CryptoKeys in IndexedDB, and the household chain verified
// from the pinned genesis as in the pages) and shown as a notification
// ("Person at front"). A message no household of this browser opens shows
// a generic notification: the push service and the cloud never learn more.
//
// Owns: push and notification-click handling. Must never: show or log
// plaintext of a record that failed verification.

import { openHousehold } from '../household';
import { headline, openRecord, type EventRecord } from './record';

interface Opened {
  hh: string;
  record: EventRecord;
  title: string;
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

/** openPush opens a push payload (a sealed event record) with the households this browser holds keys of. */
export async function openPush(sealed: Uint8Array): Promise<Opened> {
  let last: unknown = new Error('this browser holds no household key');
  for (const hh of await pinnedHouseholds()) {
    try {
      const h = await openHousehold(hh, { refresh: true });
      if (h.identities.length === 0) continue;
      const record = await openRecord(sealed, { identities: h.identities, trustedSigners: [...h.trustedHubs, ...h.formerHubs] });
      return { hh, record, title: headline(record) };
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

// Exposed for the browser test, which loads this script into a page.
(globalThis as { vigilOpenPush?: typeof openPush }).vigilOpenPush = openPush;

interface PushEventLike extends Event {
  data: { arrayBuffer(): ArrayBuffer } | null;
  waitUntil(p: Promise<unknown>): void;
}
interface NotificationEventLike extends Event {
  notification: Notification;
  waitUntil(p: Promise<unknown>): void;
}
interface SWGlobal {
  registration?: { showNotification(title: string, o?: NotificationOptions): Promise<void> };
  clients?: { openWindow(url: string): Promise<unknown> };
  addEventListener(type: string, f: (e: Event) => void): void;
}
const sw = globalThis as unknown as SWGlobal;

if (sw.registration) {
  sw.addEventListener('push', (ev) => {
    const e = ev as PushEventLike;
    const bytes = e.data ? new Uint8Array(e.data.arrayBuffer()) : new Uint8Array();
    e.waitUntil(
      openPush(bytes).then(
        (o) =>
          sw.registration!.showNotification(o.title, {
            body: `${new Date(o.record.start).toLocaleTimeString()}${o.record.alert ? ' · alert' : ''}`,
            tag: o.record.id,
            data: { url: `/h/${encodeURIComponent(o.hh)}/events` },
          }),
        () => sw.registration!.showNotification('New event', { body: 'Open Vigil to see it.', data: { url: '/' } }),
      ),
    );
  });
  sw.addEventListener('notificationclick', (ev) => {
    const e = ev as NotificationEventLike;
    e.notification.close();
    const url = (e.notification.data as { url?: string } | null)?.url ?? '/';
    e.waitUntil(sw.clients!.openWindow(url.startsWith('/') ? url : '/'));
  });
}
