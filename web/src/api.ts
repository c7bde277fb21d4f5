// The cloud's JSON API (docs/API.md), called with the browser session
// cookie. Every non-GET request carries the CSRF token from sign-in.

export class ApiError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

const csrfKey = 'vigil.csrf';

/**
 * setCSRF keeps the token a sign-in returned (or forgets it) and tells the
 * app the session changed (the "vigil:session" event: the header asks the
 * cloud who is signed in again).
 */
export function setCSRF(token: string): void {
  if (token) localStorage.setItem(csrfKey, token);
  else localStorage.removeItem(csrfKey);
  if (typeof window !== 'undefined') window.dispatchEvent(new Event('vigil:session'));
}

function csrf(): string {
  return localStorage.getItem(csrfKey) ?? '';
}

/** request sends one API request and returns its response; a failure or a non-2xx status is an ApiError. */
export async function request(method: string, path: string, body?: BodyInit | null, headers: Record<string, string> = {}): Promise<Response> {
  const h: Record<string, string> = { ...headers };
  if (method !== 'GET' && method !== 'HEAD') h['X-CSRF-Token'] = csrf();
  let res: Response;
  try {
    res = await fetch(path, { method, body: body ?? null, headers: h, credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, `the Vigil service cannot be reached (${(e as Error).message}); check your connection`);
  }
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const j = await res.json();
      if (j && typeof j.error === 'string') msg = j.error;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, msg);
  }
  return res;
}

/** api calls a JSON route and returns its decoded answer. */
export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await request(method, path, body === undefined ? null : JSON.stringify(body), body === undefined ? {} : { 'Content-Type': 'application/json' });
  const text = await res.text();
  return (text ? JSON.parse(text) : {}) as T;
}

/** apiBytes fetches a binary answer (a sealed object). */
export async function apiBytes(path: string, headers: Record<string, string> = {}): Promise<Uint8Array> {
  const res = await request('GET', path, null, headers);
  return new Uint8Array(await res.arrayBuffer());
}

// Base64 helpers for the API's byte strings (standard base64) and WebAuthn
// (base64url).
export function b64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

export function unb64(s: string): Uint8Array {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(s.length / 4) * 4, '='));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function b64url(b: Uint8Array): string {
  return b64(b).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
