// Creating a share in the sharer's browser: for every object of the camera
// in [from, to) unwrap its file key with this device's epoch identities and
// wrap it again to the guest (a device's X25519 key, or the key derived from
// a fresh link secret), sign the manifest, and give the cloud the manifest
// and, for a link, the SHA-256 of its bearer token. The link secret goes
// into the returned URL's fragment and nowhere else.
//
// The cloud's listing only proposes objects: each one is shared only if its
// signed times put it in the range (select.ts; docs/FORMAT.md, "Choosing
// the objects"). Its header (fetched with a Range request) is authenticated
// by the header MAC under the file key this device unwraps, which the cloud
// does not hold; its footer (the last 112 bytes) by the hub's signature. An
// object the listing placed in the range but whose signed times do not is
// refused, and the refusal is returned to the caller to show.
//
// A redacted share (createRedactedShare) wraps no key of the household's:
// its one object is the blurred clip this device seals with a fresh file
// key and signs, stored with the cloud as the share's own.
//
// Owns: choosing the objects and building the manifest. Must never: wrap
// the file key of an object whose signed times are outside the range, put
// the listing's times in the manifest, wrap a segment's key in a redacted
// share, or log a file key.

import { api, ApiError, b64, request } from '../api';
import { equal, sha256 } from '../crypto/bytes';
import { parseDeviceString } from '../crypto/devicekeys';
import { EnvelopeError, FOOTER_SIZE, openRandomAccess, openWithFileKey, parseHeader, unwrapFileKey, wrapFileKey, type Header } from '../crypto/envelope';
import { formatNs, msToNs } from '../crypto/signedtime';
import { fmtRange } from '../kit';
import { KIND_CLIP, sealObject } from '../crypto/seal';
import { b64u, clipKey, linkKeys, linkURL, newLinkSecret, newShareId, signManifest, V_REDACTED, type ManifestBody, type ManifestObject } from './manifest';
import { sharerContext, type SharerContext } from './household';
import { KIND_SEGMENT, needsWhole, refusal, type SignedTimes } from './select';

export interface ShareOptions {
  expires: Date;
  /** An account share: the guest's "vigdev1:" device string and account e-mail. Without them, a link. */
  guestDevice?: string;
  guestEmail?: string;
  /** The household as this device verified it (loaded when absent). */
  sharer?: SharerContext;
  /** progress(done, total) while objects are checked and keys wrapped. */
  progress?: (done: number, total: number) => void;
}

/** RefusedObject is an object the cloud listed in the range that was not shared, and why. */
export interface RefusedObject {
  key: string;
  listed: { start: string; end: string }; // what the cloud's listing said
  signed?: { start: string; end: string }; // what the object's signed header and footer say, when read
  reason: string;
}

export interface CreatedShare {
  id: string;
  kind: 'link' | 'account';
  url: string; // the link (with its key) or, for an account share, the guest's page
  objects: number;
  refused: RefusedObject[];
  /** redacted: the share is of one blurred clip (createRedactedShare). */
  redacted?: boolean;
}

/** NothingToShare: no object of the range could be shared (refused says which were listed). */
export class NothingToShare extends Error {
  constructor(
    message: string,
    public refused: RefusedObject[],
  ) {
    super(message);
    this.name = 'NothingToShare';
  }
}

interface ObjectJSON {
  key: string;
  camera: string;
  start: string;
  end: string;
}

// A sealed header is at most 132 + 255 + 64 * 85 bytes.
const HEADER_FETCH = 8192;
// Objects checked at once.
const WORKERS = 4;
// An object key as the cloud names them: segments of A-Z a-z 0-9 . _ -,
// no "." or ".." segment (so the path cannot leave the household's route).
const KEY_RE = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const DOT_SEGMENT_RE = /(^|\/)\.{1,2}(\/|$)/;

const enc = encodeURIComponent;

/** fetchRange fetches a byte range of an object (all of it when range is null) and its total size. */
async function fetchRange(path: string, range: string | null): Promise<{ bytes: Uint8Array; size: number }> {
  const res = await request('GET', path, null, range ? { Range: range } : {});
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 206) return { bytes, size: bytes.length };
  const m = /^bytes \d+-\d+\/(\d+)$/.exec(res.headers.get('Content-Range') ?? '');
  if (!m) throw new ApiError(res.status, 'the cloud answered a range request without a usable Content-Range');
  return { bytes, size: Number(m[1]) };
}

/** Refused is thrown inside examine() for an object that is not shared. */
class Refused extends Error {
  constructor(
    message: string,
    public signed?: SignedTimes,
  ) {
    super(message);
  }
}

/** GuestKeys is whom a new share's keys are wrapped to: a guest account's device, or a new link. */
interface GuestKeys {
  account: boolean;
  recipient: Uint8Array;
  secret?: Uint8Array; // a link's secret, for its URL's fragment only
  macKey?: Uint8Array;
  tokenHash?: Uint8Array;
}

async function guestKeys(id: string, opts: ShareOptions): Promise<GuestKeys> {
  if (opts.guestDevice || opts.guestEmail) {
    if (!opts.guestDevice || !opts.guestEmail) throw new Error('To share with a Vigil account, enter both their e-mail and the code from their "Shared with me" page.');
    return { account: true, recipient: (await parseDeviceString(opts.guestDevice)).boxPub };
  }
  const secret = newLinkSecret();
  const lk = await linkKeys(secret, id);
  return { account: false, recipient: lk.boxPub, secret, macKey: lk.macKey, tokenHash: await sha256(lk.token) };
}

/** postShare signs body and gives the cloud the share; it returns the guest's URL. */
async function postShare(hh: string, body: ManifestBody, g: GuestKeys, ctx: SharerContext, opts: ShareOptions, redacted: boolean): Promise<string> {
  const manifest = await signManifest(body, (m) => ctx.keys.sign(m), g.macKey);
  const req: Record<string, unknown> = {
    id: body.id,
    camera: body.camera,
    from: body.from,
    to: body.to,
    expires: body.expires,
    kind: body.kind,
    manifest: b64(manifest),
  };
  if (redacted) req.redacted = true;
  if (g.account) req.guest_email = opts.guestEmail;
  else req.token_hash = b64(g.tokenHash!);
  await api('POST', `/v1/households/${enc(hh)}/shares`, req);
  return g.secret ? linkURL(location.origin, body.id, g.secret) : `${location.origin}/s/${body.id}`;
}

/**
 * createShare shares [from, to) of camera in household hh until
 * opts.expires, as a link or with a guest account's device.
 */
export async function createShare(hh: string, camera: string, from: Date, to: Date, opts: ShareOptions): Promise<CreatedShare> {
  if (!(from < to)) throw new Error('Choose a start before the end.');
  if (!(opts.expires.getTime() > Date.now())) throw new Error('Choose an end of sharing in the future.');
  const ctx = opts.sharer ?? (await sharerContext(hh));
  const id = newShareId();
  const g = await guestKeys(id, opts);
  const { account, recipient, secret } = g;

  const fromNs = msToNs(from.getTime());
  const toNs = msToNs(to.getTime());
  const q = new URLSearchParams({ camera, from: from.toISOString(), to: to.toISOString() });
  const list = await api<{ objects: ObjectJSON[] }>('GET', `/v1/households/${enc(hh)}/objects?${q}`);
  // The listing proposes; only what it says is in the range is looked at
  // (what it leaves out, it withholds), each key once.
  const seen = new Set<string>();
  const listed = (Array.isArray(list.objects) ? list.objects : []).filter((o) => {
    if (!o || typeof o.key !== 'string' || seen.has(o.key) || o.camera !== camera) return false;
    seen.add(o.key);
    const s = Date.parse(o.start);
    const e = Date.parse(o.end);
    return !(s >= to.getTime()) && !(e <= from.getTime());
  });
  if (listed.length === 0) throw new Error(`Nothing was recorded on ${camera} ${fmtRange(from.getTime(), to.getTime())}.`);

  // examine decides on one listed object from its signed times and returns
  // its manifest entry, or throws Refused.
  const examine = async (o: ObjectJSON): Promise<{ entry: ManifestObject; start: bigint; salt: string }> => {
    if (!o.key.startsWith(hh + '/') || !KEY_RE.test(o.key) || DOT_SEGMENT_RE.test(o.key) || o.key.length > 512) {
      throw new Refused('it is not an object key of this household');
    }
    const path = `/v1/households/${enc(hh)}/objects/${o.key}`;
    let head: { bytes: Uint8Array; size: number };
    let foot: { bytes: Uint8Array; size: number };
    try {
      [head, foot] = await Promise.all([fetchRange(path, `bytes=0-${HEADER_FETCH - 1}`), fetchRange(path, `bytes=-${FOOTER_SIZE}`)]);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 416)) throw new Refused(`the cloud does not serve it (${e.message})`);
      throw e;
    }
    let hdr: Header;
    try {
      hdr = parseHeader(head.bytes);
    } catch (e) {
      throw new Refused(`its header is damaged (${(e as Error).message})`);
    }
    if (hdr.kind !== KIND_SEGMENT) throw new Refused(`it is a ${hdr.kindName}, not a segment`);
    if (hdr.stream !== camera) throw new Refused(`its signed header is of camera "${hdr.stream}", not ${camera}`);
    if (!ctx.trustedHubs.some((k) => equal(k, hdr.signer))) throw new Refused('it was not made by a hub of this household');
    let fileKey: Uint8Array;
    try {
      fileKey = await unwrapFileKey(hdr, ctx.identities);
    } catch (e) {
      if (e instanceof EnvelopeError) throw new Refused(`this browser cannot open it (${e.message})`);
      throw e;
    }
    try {
      // The header MAC under this file key authenticates the header (the
      // start); the hub's signature, the footer (the end).
      let t: SignedTimes;
      try {
        const ra = await openRandomAccess(head.bytes, foot.bytes, foot.size, fileKey, ctx.trustedHubs);
        t = { start: ra.header.start, end: ra.footer.end };
      } catch (e) {
        if (e instanceof EnvelopeError) throw new Refused(`it failed verification (${e.message})`);
        throw e;
      }
      let why = refusal(t, fromNs, toNs);
      if (!why && needsWhole(t, fromNs)) {
        // Only its end puts it in the range: check that end against the
        // whole object (the footer's commitment covers this header).
        const whole = await fetchRange(path, null);
        try {
          const opened = await openWithFileKey(whole.bytes, fileKey, ctx.trustedHubs);
          opened.plaintext.fill(0);
          if (opened.header.kind !== KIND_SEGMENT || opened.header.stream !== camera) throw new EnvelopeError('corrupt', 'the whole object has another header');
          t = { start: opened.header.start, end: opened.end };
        } catch (e) {
          if (e instanceof EnvelopeError) throw new Refused(`it failed verification in full (${e.message})`, t);
          throw e;
        }
        why = refusal(t, fromNs, toNs);
      }
      if (why) throw new Refused(why, t);
      return {
        entry: { key: o.key, start: formatNs(t.start), end: formatNs(t.end), stanza: b64u(await wrapFileKey(fileKey, recipient)) },
        start: t.start,
        salt: b64u(hdr.salt),
      };
    } finally {
      fileKey.fill(0);
    }
  };

  const chosen: { entry: ManifestObject; start: bigint; salt: string }[] = [];
  const refused: RefusedObject[] = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < listed.length) {
      const o = listed[next++];
      try {
        chosen.push(await examine(o));
      } catch (e) {
        if (!(e instanceof Refused)) throw e;
        refused.push({
          key: o.key,
          listed: { start: String(o.start), end: String(o.end) },
          signed: e.signed && { start: formatNs(e.signed.start), end: formatNs(e.signed.end) },
          reason: e.message,
        });
      }
      opts.progress?.(++done, listed.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(WORKERS, listed.length) }, worker));
  // The same object served under two keys is shared once.
  chosen.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.entry.key < b.entry.key ? -1 : 1));
  const salts = new Set<string>();
  const entries: ManifestObject[] = [];
  for (const c of chosen) {
    if (salts.has(c.salt)) {
      refused.push({ key: c.entry.key, listed: { start: c.entry.start, end: c.entry.end }, signed: { start: c.entry.start, end: c.entry.end }, reason: 'the cloud served an object already shared under another key' });
      continue;
    }
    salts.add(c.salt);
    entries.push(c.entry);
  }
  refused.sort((a, b) => (a.key < b.key ? -1 : 1));
  if (entries.length === 0) {
    throw new NothingToShare(`Nothing was shared: none of the ${listed.length} recordings the Vigil service listed for ${fmtRange(from.getTime(), to.getTime())} was recorded then, by its own signed times.`, refused);
  }

  const body: ManifestBody = {
    v: 1,
    id,
    household: hh,
    household_name: ctx.householdName,
    camera,
    from: from.toISOString(),
    to: to.toISOString(),
    expires: opts.expires.toISOString(),
    kind: account ? 'account' : 'link',
    recipient: b64u(recipient),
    sharer: { device: ctx.keys.id, sign_pub: b64u(ctx.keys.signPub), name: ctx.deviceName },
    hubs: ctx.trustedHubs.map(b64u),
    objects: entries,
    created: new Date().toISOString(),
  };
  const url = await postShare(hh, body, g, ctx, opts, false);
  secret?.fill(0);
  return { id, kind: body.kind, url, objects: entries.length, refused };
}

/** sharePagePath is the shares page with the share sheet open on [from, to) of camera. */
export function sharePagePath(hh: string, camera: string, from: Date, to: Date): string {
  const q = new URLSearchParams({ camera, from: from.toISOString(), to: to.toISOString() });
  return `/h/${encodeURIComponent(hh)}/shares?${q}`;
}

/** RedactedClip is a blurred clip of a camera (media/blur.ts) and its time (ms since the epoch). */
export interface RedactedClip {
  clip: Uint8Array;
  fromMs: number;
  toMs: number;
}

/**
 * createRedactedShare shares the blurred clip c of camera, made of [from,
 * to), until opts.expires: the clip is sealed here as one new object
 * (KIND_CLIP, stream camera) with a fresh file key to the guest (a link's
 * key or a guest account's device) and signed by this device; the manifest
 * (version 2) names this device as its signer and lists only that object,
 * which the share's creator then stores with the cloud as the share's own.
 * No segment of the household is wrapped to the guest. progress reports
 * sealing and sending.
 */
export async function createRedactedShare(hh: string, camera: string, from: Date, to: Date, c: RedactedClip, opts: ShareOptions): Promise<CreatedShare> {
  if (!(from < to)) throw new Error('Choose a start before the end.');
  if (!(opts.expires.getTime() > Date.now())) throw new Error('Choose an end of sharing in the future.');
  if (!(c.toMs > c.fromMs) || c.clip.length === 0) throw new Error('There is no blurred clip to share.');
  const ctx = opts.sharer ?? (await sharerContext(hh));
  const id = newShareId();
  const g = await guestKeys(id, opts);
  const start = msToNs(c.fromMs);
  const end = msToNs(c.toMs);
  const sealed = await sealObject({ kind: KIND_CLIP, stream: camera, sequence: 0n, start, end, epoch: 0 }, c.clip, [g.recipient], ctx.keys, {
    onProgress: (d, n) => opts.progress?.(d, 2 * n),
  });
  // The header's one stanza wraps the fresh file key to the guest; the
  // manifest carries it (a guest opens every share's objects the same way).
  const hdr = parseHeader(sealed);
  const st = hdr.stanzas[0];
  const stanza = new Uint8Array([st.type, ...st.hint, ...st.enc, ...st.body]);
  const signPub = b64u(ctx.keys.signPub);
  const body: ManifestBody = {
    v: V_REDACTED,
    id,
    household: hh,
    household_name: ctx.householdName,
    camera,
    from: from.toISOString(),
    to: to.toISOString(),
    expires: opts.expires.toISOString(),
    kind: g.account ? 'account' : 'link',
    recipient: b64u(g.recipient),
    sharer: { device: ctx.keys.id, sign_pub: signPub, name: ctx.deviceName },
    hubs: [],
    objects: [{ key: clipKey(id), start: formatNs(start), end: formatNs(end), stanza: b64u(stanza) }],
    created: new Date().toISOString(),
    redacted: { device: ctx.keys.id, sign_pub: signPub },
  };
  const url = await postShare(hh, body, g, ctx, opts, true);
  g.secret?.fill(0);
  try {
    await request('PUT', `/v1/households/${enc(hh)}/shares/${enc(id)}/clip`, new Blob([sealed.slice()]), { 'Content-Type': 'application/octet-stream' });
  } catch (e) {
    // A share without its clip is of no use: stop it.
    await api('DELETE', `/v1/households/${enc(hh)}/shares/${enc(id)}`).catch(() => undefined);
    throw e;
  }
  opts.progress?.(1, 1);
  return { id, kind: body.kind, url, objects: 1, refused: [], redacted: true };
}
