// Web Push on this browser: subscribe the household's events with the
// cloud's VAPID key and a service worker (events/sw.ts) that opens each
// sealed payload with this device's keys and shows the notification. The
// cloud and the push service only ever carry the sealed record.
//
// Owns: the subscription request (POST /v1/households/{hh}/push) and its
// removal. Must never: send a key other than the subscription's own
// public p256dh/auth values.

import { api, b64url, unb64 } from '../api';
import { h, showError } from '../ui';
import { registerWorker, SCOPE } from '../pwa';

const enc = encodeURIComponent;

/** PushBody is what the cloud is sent for one subscription. */
export interface PushBody {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** subscriptionBody builds the request body from a browser subscription (validated). */
export function subscriptionBody(sub: { endpoint?: string | null; keys?: Record<string, string> }): PushBody {
  const endpoint = sub.endpoint ?? '';
  const p256dh = sub.keys?.p256dh ?? '';
  const auth = sub.keys?.auth ?? '';
  // https; plain http only to loopback while the service itself runs there (development).
  const devLoopback = location.protocol === 'http:' && /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(endpoint);
  if ((!/^https:\/\//.test(endpoint) && !devLoopback) || endpoint.length > 2048) throw new Error('the push subscription has no https endpoint');
  // p256dh: an uncompressed P-256 point (65 bytes); auth: 16 bytes.
  if (unb64(p256dh).length !== 65 || unb64(auth).length !== 16) throw new Error('the push subscription keys are malformed');
  return { endpoint, keys: { p256dh, auth } };
}

function supported(): boolean {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

async function registration(): Promise<ServiceWorkerRegistration> {
  const reg = await registerWorker(); // the app's one worker (pwa.ts)
  if (reg.active) return reg;
  const w = reg.installing ?? reg.waiting;
  if (w) {
    await new Promise<void>((resolve) => {
      const check = () => w.state === 'activated' && resolve();
      w.addEventListener('statechange', check);
      check();
    });
  }
  return reg;
}

/** subscribe asks for permission, subscribes this browser and registers it with the cloud for hh. */
export async function subscribe(hh: string): Promise<PushBody> {
  if (!supported()) throw new Error('this browser cannot receive push notifications');
  if ((await Notification.requestPermission()) !== 'granted') throw new Error('notifications are blocked for this site; allow them in the browser settings');
  const { public_key } = await api<{ public_key: string }>('GET', '/v1/push/vapid');
  const key = unb64(public_key ?? '');
  if (key.length !== 65 || key[0] !== 4) throw new Error('the service sent a malformed VAPID key');
  const reg = await registration();
  let sub = await reg.pushManager.getSubscription();
  if (sub && sub.options.applicationServerKey && b64url(new Uint8Array(sub.options.applicationServerKey)) !== b64url(key)) {
    await sub.unsubscribe();
    sub = null;
  }
  sub ??= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key.slice().buffer });
  const body = subscriptionBody(sub.toJSON());
  await api('POST', `/v1/households/${enc(hh)}/push`, body);
  return body;
}

/** unsubscribe removes this browser's subscription for hh from the cloud. */
export async function unsubscribe(hh: string): Promise<void> {
  if (!supported()) return;
  const reg = await navigator.serviceWorker.getRegistration(SCOPE);
  const sub = await reg?.pushManager.getSubscription();
  if (!sub) return;
  await api('DELETE', `/v1/households/${enc(hh)}/push?endpoint=${enc(sub.endpoint)}`);
}

/** pushControls is the inbox's "Notify me on this browser" switch. */
export function pushControls(hh: string): HTMLElement {
  const out = h('span', { id: 'ev-push-status', class: 'muted' });
  const on = h('button', { id: 'ev-push-on', type: 'button', class: 'secondary' }, 'Notify me on this browser');
  const off = h('button', { id: 'ev-push-off', type: 'button', class: 'secondary', hidden: true }, 'Stop notifications');
  on.addEventListener('click', async () => {
    on.disabled = true;
    out.className = 'muted';
    out.textContent = 'Subscribing…';
    try {
      await subscribe(hh);
      out.textContent = 'This browser is notified of events.';
      out.dataset.subscribed = 'true';
      on.hidden = true;
      off.hidden = false;
    } catch (e) {
      showError(out, e);
    } finally {
      on.disabled = false;
    }
  });
  off.addEventListener('click', async () => {
    try {
      await unsubscribe(hh);
      out.textContent = 'Notifications stopped.';
      out.dataset.subscribed = 'false';
      on.hidden = false;
      off.hidden = true;
    } catch (e) {
      showError(out, e);
    }
  });
  if (!supported()) {
    on.disabled = true;
    out.textContent = 'This browser cannot receive push notifications.';
  }
  return h('span', { class: 'row' }, on, off, out);
}
