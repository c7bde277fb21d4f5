// The guest's side of a share: fetch the manifest (with the link's bearer
// token, or the guest account's session), check it, and open the shared
// objects with the link key or this browser's device key. The link secret
// never leaves the browser; only the token derived from it is sent. An
// object is played only if its signed times (header and footer, verified
// with the whole object) put it in the manifest's range by the sharer's
// rule (select.ts) and equal the times the manifest gives it. A redacted
// share's one clip is played only if the sharer's device the signed
// manifest names signed it (openSharedClip).

import { unwrapFileKey, openWithFileKey, parseHeader, STANZA_SIZE, type Stanza } from '../crypto/envelope';
import { KIND_CLIP } from '../crypto/seal';
import { loadDeviceKeys } from '../crypto/devicekeys';
import { NS_PER_MS, parseRFC3339Ns, showNs } from '../crypto/signedtime';
import { linkKeys, openManifest, unb64u, b64u, type ManifestBody, type ManifestObject } from './manifest';
import { KIND_SEGMENT, refusal } from './select';

/** ShareMeta is what the cloud says of the share. */
export interface ShareMeta {
  id: string;
  camera: string;
  from: string;
  to: string;
  expires: string;
  kind: 'link' | 'account';
  state: string;
  creator?: string;
  manifest: string; // base64
}

/** ShareRefused is the cloud's answer when it will not serve the share. */
export class ShareRefused extends Error {
  constructor(
    public status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface OpenedShare {
  id: string;
  meta: ShareMeta;
  body: ManifestBody;
  objects: ManifestObject[]; // in time order
  hubs: Uint8Array[];
  identity: CryptoKey;
  headers: Record<string, string>;
}

async function guestFetch(path: string, headers: Record<string, string>): Promise<Response> {
  const link = 'Vigil-Share-Token' in headers;
  let res: Response;
  try {
    res = await fetch(path, { headers, credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ShareRefused(0, `the Vigil service cannot be reached (${(e as Error).message}); check your connection`);
  }
  if (!res.ok) {
    let msg = '';
    try {
      const j = await res.json();
      if (j && typeof j.error === 'string') msg = j.error;
    } catch {
      /* not JSON */
    }
    if (res.status === 404)
      msg = link
        ? 'This share does not exist, or the link is incomplete (copy the whole link, including the part after #).'
        : 'This share does not exist, or it was not shared with the account you are signed in as.';
    else if (res.status === 401 && !link) msg = 'This video was shared with a Vigil account: sign in as that account, on the browser it was shared with, to watch it.';
    else if (res.status === 410) msg = msg.charAt(0).toUpperCase() + msg.slice(1) + '. Ask the sender for a new link.';
    throw new ShareRefused(res.status, msg || `${res.status} ${res.statusText}`);
  }
  return res;
}

function unb64std(s: string): Uint8Array {
  return unb64u(s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));
}

/**
 * openShare fetches and checks share id: with secret (a link), or as the
 * signed-in guest account with this browser's device key.
 */
export async function openShare(id: string, secret: Uint8Array | null): Promise<OpenedShare> {
  let identity!: CryptoKey;
  let recipient!: Uint8Array;
  let macKey: Uint8Array | undefined;
  const headers: Record<string, string> = {};
  if (secret) {
    const lk = await linkKeys(secret, id);
    identity = lk.boxKey;
    recipient = lk.boxPub;
    macKey = lk.macKey;
    headers['Vigil-Share-Token'] = b64u(lk.token);
  }
  // The cloud first (an account share needs a signed-in guest), then, for
  // an account share, this browser's device key.
  const meta = (await (await guestFetch(`/v1/shares/${encodeURIComponent(id)}`, headers)).json()) as ShareMeta;
  if (!secret) {
    const keys = await loadDeviceKeys();
    if (!keys) throw new ShareRefused(0, 'This browser has no device key, so it cannot open a share made for your account. Open the share on the browser whose device string you sent, or set this one up under "Shared with me" and ask for the share again.');
    identity = keys.boxKey;
    recipient = keys.boxPub;
  }
  const body = await openManifest(unb64std(meta.manifest), { id, recipient, macKey });
  if (body.kind !== meta.kind || body.camera !== meta.camera || Date.parse(body.from) !== Date.parse(meta.from) || Date.parse(body.to) !== Date.parse(meta.to)) {
    throw new ShareRefused(0, 'the cloud describes this share differently from what the sharer signed');
  }
  const hubs = body.hubs.map((h) => unb64u(h));
  const objects = [...body.objects].sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  return { id, meta, body, objects, hubs, identity, headers };
}

function parseStanza(b: Uint8Array): Stanza {
  if (b.length !== STANZA_SIZE || b[0] !== 1) throw new Error('a key in the share manifest is damaged');
  return { type: 1, hint: b.slice(1, 5), enc: b.slice(5, 37), body: b.slice(37, 85) };
}

/** SharedObjectRefused: an object of the manifest that opened but is not played (its signed times say why). */
export class SharedObjectRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SharedObjectRefused';
  }
}

/** OpenedSharedObject is a shared segment's plaintext and its signed times (Unix ns). */
export interface OpenedSharedObject {
  plaintext: Uint8Array;
  start: bigint;
  end: bigint;
}

// A manifest holds the signed times exactly; 1 ms of slack accepts ones
// that wrote them at millisecond precision.
const TIME_TOLERANCE_NS = NS_PER_MS;

function manifestTime(s: string): bigint | null {
  try {
    return parseRFC3339Ns(s);
  } catch {
    return null;
  }
}

/**
 * openSharedObject fetches one object of the share and opens it with the
 * key the manifest wraps for this guest, verifying it in full (a hub the
 * sharer trusts made it; it is a segment of the shared camera), and checks
 * its signed times against the manifest's range and entry: otherwise it
 * throws SharedObjectRefused and returns no plaintext.
 */
export async function openSharedObject(s: OpenedShare, o: ManifestObject): Promise<OpenedSharedObject> {
  const res = await guestFetch(`/v1/shares/${encodeURIComponent(s.id)}/objects/${o.key}`, s.headers);
  const sealed = new Uint8Array(await res.arrayBuffer());
  const hdr = parseHeader(sealed);
  if (hdr.stream !== s.body.camera) throw new Error(`object ${o.key} is not of the shared camera`);
  const fileKey = await unwrapFileKey({ ...hdr, stanzas: [parseStanza(unb64u(o.stanza))] }, [s.identity]);
  let opened;
  try {
    opened = await openWithFileKey(sealed, fileKey, s.hubs);
  } finally {
    fileKey.fill(0);
  }
  const t = { start: opened.header.start, end: opened.end };
  const from = manifestTime(s.body.from);
  const to = manifestTime(s.body.to);
  const ms = manifestTime(o.start);
  const me = manifestTime(o.end);
  let why: string | null = null;
  if (opened.header.kind !== KIND_SEGMENT) why = `it is a ${opened.header.kindName}, not a segment`;
  else if (from === null || to === null) why = 'the manifest has no valid range';
  else why = refusal(t, from, to);
  if (!why) {
    const near = (a: bigint | null, b: bigint) => a !== null && (a > b ? a - b : b - a) <= TIME_TOLERANCE_NS;
    if (!near(ms, t.start) || !near(me, t.end)) why = `the manifest says ${o.start} – ${o.end}, its signed times are ${showNs(t.start)} – ${showNs(t.end)}`;
  }
  if (why) {
    opened.plaintext.fill(0);
    throw new SharedObjectRefused(`segment ${o.key} is not played: ${why}`);
  }
  return { plaintext: opened.plaintext, start: t.start, end: t.end };
}

/**
 * openSharedClip fetches the one object of a redacted share (manifest
 * version 2) and opens it with the key the manifest wraps for this guest,
 * verified in full against the signing key of the sharer's device the
 * signed manifest names; it must be a clip of the shared camera, with the
 * manifest's times. Otherwise it throws SharedObjectRefused.
 */
export async function openSharedClip(s: OpenedShare): Promise<OpenedSharedObject> {
  const r = s.body.redacted;
  const o = s.objects[0];
  if (!r || s.objects.length !== 1) throw new SharedObjectRefused('this share is not a blurred clip');
  const res = await guestFetch(`/v1/shares/${encodeURIComponent(s.id)}/objects/${o.key}`, s.headers);
  const sealed = new Uint8Array(await res.arrayBuffer());
  let opened;
  try {
    const hdr = parseHeader(sealed);
    const fileKey = await unwrapFileKey({ ...hdr, stanzas: [parseStanza(unb64u(o.stanza))] }, [s.identity]);
    try {
      opened = await openWithFileKey(sealed, fileKey, [unb64u(r.sign_pub)]);
    } finally {
      fileKey.fill(0);
    }
  } catch (e) {
    throw new SharedObjectRefused(`the blurred clip did not check out as the one ${s.body.sharer.name || 'the sharer'} made (${(e as Error).message})`);
  }
  const t = { start: opened.header.start, end: opened.end };
  const near = (a: bigint | null, b: bigint) => a !== null && (a > b ? a - b : b - a) <= TIME_TOLERANCE_NS;
  let why: string | null = null;
  if (opened.header.kind !== KIND_CLIP) why = `it is a ${opened.header.kindName}, not a clip`;
  else if (opened.header.stream !== s.body.camera) why = `it is of camera "${opened.header.stream}", not ${s.body.camera}`;
  else if (!near(manifestTime(o.start), t.start) || !near(manifestTime(o.end), t.end)) why = `the manifest says ${o.start} – ${o.end}, its signed times are ${showNs(t.start)} – ${showNs(t.end)}`;
  if (why) {
    opened.plaintext.fill(0);
    throw new SharedObjectRefused(`the blurred clip is not played: ${why}`);
  }
  return { plaintext: opened.plaintext, start: t.start, end: t.end };
}
