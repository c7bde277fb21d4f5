// Device-signed requests (Go internal/devauth, "Wire format"): the browser's
// device signs a request with its Ed25519 key, which never leaves WebCrypto,
// as hubs and CLI devices do. The labelling workspace's routes take only
// these (no account or staff session).
//
//	Authorization: Vigil-Device id=<device id>, ts=<unix seconds>, nonce=<nonce>, sig=<signature>
//
// over the UTF-8 message
//
//	"vigil-device-request-v1\n" + id + "\n" + method + "\n" + target + "\n" +
//	host + "\n" + ts + "\n" + nonce + "\n" + hex(SHA-256(body))
//
// target is the request URI in origin form (path and query, escaped as
// sent), host the Host header in lower case; nonce is 16 random bytes and
// sig the 64-byte signature, both unpadded base64url.
//
// Owns: the header and the signed message. Must never: sign with or export
// a private key it was not given as a signer, or log a signature or body.

import { buf, hex, randomBytes, sha256, utf8 } from './bytes';
import { b64url } from './keys';

export const DEVAUTH_SCHEME = 'Vigil-Device';
const DOMAIN = 'vigil-device-request-v1\n';
const NONCE_SIZE = 16;
const MAX_ID = 128;

/** RequestSigner is a device that signs requests: a DeviceKeys is one. */
export interface RequestSigner {
  id: string;
  sign(msg: Uint8Array): Promise<Uint8Array>;
}

/** validDeviceId is Go devauth.ValidDeviceID: 1 to 128 bytes of [A-Za-z0-9._~:-]. */
export function validDeviceId(id: string): boolean {
  return id.length >= 1 && id.length <= MAX_ID && /^[A-Za-z0-9._~:-]+$/.test(id);
}

/** requestMessage is the signed message of a request (Go devauth's message). */
export async function requestMessage(id: string, method: string, target: string, host: string, ts: string, nonce: string, body: Uint8Array): Promise<Uint8Array> {
  const sum = hex(await sha256(body));
  return utf8(DOMAIN + [id, method, target, host, ts, nonce].join('\n') + '\n' + sum);
}

/**
 * signRequest returns the Authorization header value for a request of
 * method to url (absolute; its host and origin-form target are signed) with
 * body, at time now.
 */
export async function signRequest(dev: RequestSigner, method: string, url: string | URL, body: Uint8Array = new Uint8Array(0), now: Date = new Date()): Promise<string> {
  if (!validDeviceId(dev.id)) throw new Error('device-signed request: the device ID is not valid');
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method)) throw new Error('device-signed request: the method is not an HTTP token');
  const u = new URL(url, typeof location !== 'undefined' ? location.href : undefined);
  const target = u.pathname + u.search;
  const host = u.host.toLowerCase();
  const ts = String(Math.floor(now.getTime() / 1000));
  const nonce = b64url(randomBytes(NONCE_SIZE));
  const sig = await dev.sign(await requestMessage(dev.id, method, target, host, ts, nonce, body));
  return `${DEVAUTH_SCHEME} id=${dev.id}, ts=${ts}, nonce=${nonce}, sig=${b64url(sig)}`;
}

/** DeviceRequestError is a refused device-signed request; status 0 when the service could not be reached. */
export class DeviceRequestError extends Error {
  constructor(
    public status: number,
    message: string,
  ) {
    super(message);
    this.name = 'DeviceRequestError';
  }
}

/**
 * deviceFetch sends a request signed by dev to path (same origin) and
 * returns the response; a non-2xx answer is a DeviceRequestError carrying
 * the service's message. It sends no cookie.
 */
export async function deviceFetch(dev: RequestSigner, method: string, path: string, body?: Uint8Array, headers: Record<string, string> = {}): Promise<Response> {
  const url = new URL(path, location.href);
  const b = body ?? new Uint8Array(0);
  const h: Record<string, string> = { ...headers, Authorization: await signRequest(dev, method, url, b) };
  let res: Response;
  try {
    res = await fetch(url, { method, body: body ? buf(body) : null, headers: h, credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    throw new DeviceRequestError(0, `the Vigil service cannot be reached (${(e as Error).message}); check your connection`);
  }
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const j = await res.json();
      if (j && typeof j.error === 'string') msg = j.error;
    } catch {
      /* not JSON */
    }
    throw new DeviceRequestError(res.status, msg);
  }
  return res;
}
