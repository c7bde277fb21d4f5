// The browser's IndexedDB database "vigil": this device's keys (store
// "keys"), the households it pinned (store "households"), the transparency
// log policy it pinned and the last checkpoint it verified (store "tlog",
// since version 2) and what it verified of each household's history
// (store "audit", since version 2). CryptoKeys are stored as structured
// clones, so non-extractable keys stay non-extractable. Upgrades only add
// stores: existing data is kept.
//
// Must never: store a private key in any other form than a non-extractable
// CryptoKey.

const DB = 'vigil';
const VERSION = 2;
export const STORES = ['keys', 'households', 'tlog', 'audit'] as const;
export type StoreName = (typeof STORES)[number];

let dbp: Promise<IDBDatabase> | null = null;

function open(): Promise<IDBDatabase> {
  if (!dbp) {
    dbp = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, VERSION);
      req.onupgradeneeded = () => {
        for (const s of STORES) if (!req.result.objectStoreNames.contains(s)) req.result.createObjectStore(s);
      };
      req.onsuccess = () => {
        // Another tab opening a newer version: let it upgrade.
        req.result.onversionchange = () => {
          req.result.close();
          dbp = null;
        };
        resolve(req.result);
      };
      req.onerror = () => reject(req.error ?? new Error('IndexedDB is not available'));
      req.onblocked = () => reject(new Error('the Vigil database is open in another tab with an older version; close the other tabs'));
    });
    dbp.catch(() => (dbp = null));
  }
  return dbp;
}

export async function idbGet<T>(store: StoreName, key: string): Promise<T | undefined> {
  const db = await open();
  return new Promise((resolve, reject) => {
    const req = db.transaction(store, 'readonly').objectStore(store).get(key);
    req.onsuccess = () => resolve(req.result as T | undefined);
    req.onerror = () => reject(req.error);
  });
}

export async function idbPut(store: StoreName, key: string, value: unknown): Promise<void> {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, 'readwrite');
    tx.objectStore(store).put(value, key);
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB write aborted'));
  });
}

/** idbAdd stores value only if key is absent; it reports whether it did. */
export async function idbAdd(store: StoreName, key: string, value: unknown): Promise<boolean> {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, 'readwrite');
    const os = tx.objectStore(store);
    let added = false;
    const g = os.get(key);
    g.onsuccess = () => {
      if (g.result === undefined) {
        os.add(value, key);
        added = true;
      }
    };
    tx.oncomplete = () => resolve(added);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB write aborted'));
  });
}

/**
 * idbUpdate replaces the value at key with f(current) in one transaction
 * (f returns undefined to leave it as it is) and returns what is stored
 * afterwards.
 */
export async function idbUpdate<T>(store: StoreName, key: string, f: (cur: T | undefined) => T | undefined): Promise<T | undefined> {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, 'readwrite');
    const os = tx.objectStore(store);
    let out: T | undefined;
    const g = os.get(key);
    g.onsuccess = () => {
      out = g.result as T | undefined;
      let next: T | undefined;
      try {
        next = f(out);
      } catch (e) {
        tx.abort();
        reject(e);
        return;
      }
      if (next !== undefined) {
        os.put(next, key);
        out = next;
      }
    };
    tx.oncomplete = () => resolve(out);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB write aborted'));
  });
}
