// Creating a share in the sharer's browser: for every object of the camera
// in [from, to) unwrap its file key with this device's epoch identities and
// wrap it again to the guest (a device's X25519 key, or the key derived from
// a fresh link secret), sign the manifest, and give the cloud the manifest
// and, for a link, the SHA-256 of its bearer token. The link secret goes
// into the returned URL's fragment and nowhere else.

import { api, apiBytes, b64 } from '../api';
import { sha256 } from '../crypto/bytes';
import { parseDeviceString } from '../crypto/devicekeys';
import { checkHeaderMAC, deriveKeys, parseHeader, unwrapFileKey, wrapFileKey } from '../crypto/envelope';
import { equal } from '../crypto/bytes';
import { b64u, linkKeys, linkURL, newLinkSecret, newShareId, signManifest, type ManifestBody, type ManifestObject } from './manifest';
import { sharerContext, type SharerContext } from './household';

export interface ShareOptions {
  expires: Date;
  /** An account share: the guest's "vigdev1:" device string and account e-mail. Without them, a link. */
  guestDevice?: string;
  guestEmail?: string;
  /** The household as this device verified it (loaded when absent). */
  sharer?: SharerContext;
  /** progress(done, total) while keys are wrapped. */
  progress?: (done: number, total: number) => void;
}

export interface CreatedShare {
  id: string;
  kind: 'link' | 'account';
  url: string; // the link (with its key) or, for an account share, the guest's page
  objects: number;
}

interface ObjectJSON {
  key: string;
  camera: string;
  start: string;
  end: string;
}

// A sealed header is at most 132 + 255 + 64 * 85 bytes.
const HEADER_FETCH = 8192;

/**
 * createShare shares [from, to) of camera in household hh until
 * opts.expires, as a link or with a guest account's device.
 */
export async function createShare(hh: string, camera: string, from: Date, to: Date, opts: ShareOptions): Promise<CreatedShare> {
  if (!(from < to)) throw new Error('the range to share is empty: the start must be before the end');
  if (!(opts.expires.getTime() > Date.now())) throw new Error('the expiry must be in the future');
  const ctx = opts.sharer ?? (await sharerContext(hh));
  const id = newShareId();
  const account = !!(opts.guestDevice || opts.guestEmail);
  let recipient: Uint8Array;
  let secret: Uint8Array | undefined;
  let macKey: Uint8Array | undefined;
  let tokenHash: Uint8Array | undefined;
  if (account) {
    if (!opts.guestDevice || !opts.guestEmail) throw new Error("sharing with a guest account needs both the guest's e-mail and their device string (vigdev1:…)");
    recipient = (await parseDeviceString(opts.guestDevice)).boxPub;
  } else {
    secret = newLinkSecret();
    const lk = await linkKeys(secret, id);
    recipient = lk.boxPub;
    macKey = lk.macKey;
    tokenHash = await sha256(lk.token);
  }

  const q = new URLSearchParams({ camera, from: from.toISOString(), to: to.toISOString() });
  const list = await api<{ objects: ObjectJSON[] }>('GET', `/v1/households/${encodeURIComponent(hh)}/objects?${q}`);
  // The cloud's range filter is by overlap; keep exactly that.
  const objs = list.objects.filter((o) => o.camera === camera && new Date(o.start) < to && new Date(o.end) > from);
  if (objs.length === 0) throw new Error(`camera ${camera} has no recordings between ${from.toLocaleString()} and ${to.toLocaleString()}`);

  const entries: ManifestObject[] = [];
  let done = 0;
  for (const o of objs) {
    const head = await apiBytes(`/v1/households/${encodeURIComponent(hh)}/objects/${o.key}`, { Range: `bytes=0-${HEADER_FETCH - 1}` });
    const hdr = parseHeader(head);
    if (hdr.stream !== camera) throw new Error(`object ${o.key} is not of camera ${camera}`);
    if (!ctx.trustedHubs.some((k) => equal(k, hdr.signer))) throw new Error(`object ${o.key} was not made by a hub of this household`);
    const fileKey = await unwrapFileKey(hdr, ctx.identities);
    try {
      // The file key must be this object's: its header MAC says so.
      await checkHeaderMAC(hdr, (await deriveKeys(fileKey, hdr.salt)).macKey);
      entries.push({ key: o.key, start: o.start, end: o.end, stanza: b64u(await wrapFileKey(fileKey, recipient)) });
    } finally {
      fileKey.fill(0);
    }
    opts.progress?.(++done, objs.length);
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
  const manifest = await signManifest(body, (m) => ctx.keys.sign(m), macKey);
  const req: Record<string, unknown> = {
    id,
    camera,
    from: body.from,
    to: body.to,
    expires: body.expires,
    kind: body.kind,
    manifest: b64(manifest),
  };
  if (account) req.guest_email = opts.guestEmail;
  else req.token_hash = b64(tokenHash!);
  await api('POST', `/v1/households/${encodeURIComponent(hh)}/shares`, req);
  const url = secret ? linkURL(location.origin, id, secret) : `${location.origin}/s/${id}`;
  secret?.fill(0);
  return { id, kind: body.kind, url, objects: entries.length };
}

/** sharePagePath is the shares page with its form set to share [from, to) of camera (for a "Share" control). */
export function sharePagePath(hh: string, camera: string, from: Date, to: Date): string {
  const q = new URLSearchParams({ camera, from: from.toISOString(), to: to.toISOString() });
  return `/h/${encodeURIComponent(hh)}/shares?${q}`;
}
