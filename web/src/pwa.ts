// The installable app: the service worker (events/sw.ts) registered at
// scope "/" when the app starts, so that browsers offer to install Vigil
// (the manifest and icons are linked from index.html; scripts/icons.mjs
// makes them) and push notifications reach it.
//
// The worker is a file of the release at /assets/sw-<hash>.js (the
// verifier extension allows service workers from those paths only); the
// cloud sends it with "Service-Worker-Allowed: /" so that its scope can be
// the whole app. It intercepts no request.
//
// Owns: the registration at "/". Must never: fail the app when a browser
// has no service workers or refuses the registration.

import swURL from './events/sw.ts?worker&url';

/** SCOPE is the app worker's scope: every page of the app. */
export const SCOPE = '/';

/** registerWorker registers the app's service worker at SCOPE and returns its registration. */
export async function registerWorker(): Promise<ServiceWorkerRegistration> {
  return navigator.serviceWorker.register(swURL, { scope: SCOPE });
}

/** startPWA registers the service worker once the page has loaded (never in the way of the first page). */
export function startPWA(): void {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
  const go = () => {
    registerWorker().catch((e: unknown) => console.warn(`the app's service worker could not be registered: ${(e as Error).message}`));
  };
  if (document.readyState === 'complete') go();
  else window.addEventListener('load', go, { once: true });
}
