// Pages: sharing.
//   /s/:id          a guest opens a share (link key from the fragment, or the
//                   signed-in guest account's device key) and watches it as
//                   one video, or saves it as one MP4 file; a redacted
//                   share is one blurred clip, and says so
//   /h/:hh/shares   the household's shares: what, until when, who opened it,
//                   Stop sharing; ?camera=&at=<ms> (or &from=&to=, RFC 3339)
//                   opens the share sheet pre-filled
//   /shared         "Shared with me": a guest account's shares and this
//                   browser's code (device string) to send to the sharer

import './share.css';
import { api } from '../api';
import { createDeviceKeys, deviceString, loadDeviceKeys } from '../crypto/devicekeys';
import { nsToMs } from '../crypto/signedtime';
import { verifyHistory } from '../history/verify';
import { copyButton, emptyState, fmtAgo, fmtDateTime, fmtDuration, fmtRange, fmtTime, pageHead, securityDetails, toast } from '../kit';
import { buildMP4, type ClipPart } from '../media/mp4';
import { go, route } from '../router';
import { rememberNext, requireAccount } from './auth';
import { openShare, openSharedClip, openSharedObject, SharedObjectRefused, ShareRefused, type OpenedShare, type OpenedSharedObject } from '../share/guest';
import { b64u, parseFragment, unb64u } from '../share/manifest';
import { SharePlayer } from '../share/player';
import { openShareSheet } from '../share/sheet';
import { h, mount, showError } from '../ui';

const secretKey = (id: string) => 'vigil.share.' + id;
const lowerDay = (s: string) => s.replace(/^(Today|Tomorrow|Yesterday)/, (w) => w.toLowerCase());

/** fileStamp is a local time for a file name: 2024-12-01-210405. */
function fileStamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * oneFile makes the verified pieces one MP4 file: a progressive MP4 of the
 * shared range (media/mp4.ts), or, where that cannot be built, the first
 * piece's header and every piece's fragments (a fragmented MP4).
 */
function oneFile(parts: ClipPart[], from: number, to: number): Uint8Array {
  try {
    return buildMP4(parts, from, to).bytes;
  } catch {
    const chunks: Uint8Array[] = [];
    for (const [i, p] of parts.entries()) {
      // Each piece is ftyp + moov + moof/mdat pairs; the header once.
      const d = p.data;
      let off = 0;
      while (off + 8 <= d.length) {
        const size = new DataView(d.buffer, d.byteOffset + off, 8).getUint32(0);
        const type = String.fromCharCode(d[off + 4], d[off + 5], d[off + 6], d[off + 7]);
        if (size < 8 || off + size > d.length) break;
        if (i === 0 || (type !== 'ftyp' && type !== 'moov')) chunks.push(d.subarray(off, off + size));
        off += size;
      }
    }
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let p = 0;
    for (const c of chunks) (out.set(c, p), (p += c.length));
    return out;
  }
}

// The guest page.
route('/s/:id', (root, params) => {
  const id = params.id;
  // Read the key from the fragment and take it out of the address bar (and
  // so out of history and screenshots). It stays in this tab's session
  // storage so a reload still plays.
  let secret = parseFragment(location.hash);
  if (secret) {
    sessionStorage.setItem(secretKey(id), b64u(secret));
    history.replaceState(null, '', location.pathname + location.search);
  } else {
    const kept = sessionStorage.getItem(secretKey(id));
    if (kept) {
      try {
        secret = unb64u(kept);
      } catch {
        secret = null;
      }
    }
  }

  const title = h('h1', { id: 'share-title' }, 'Shared video');
  const status = h('p', { class: 'muted', id: 'share-status', role: 'status' }, 'Opening the video…');
  const err = h('p', { id: 'share-error' });
  const info = h('div', { id: 'share-info', hidden: true });
  const video = h('video', { id: 'share-video', controls: true, muted: true, playsinline: true, 'aria-label': 'The shared video' });
  video.muted = true;
  const clock = h('span', { class: 'overlay-time', 'aria-hidden': 'true' });
  const media = h('div', { class: 'media' }, video, clock);
  const download = h('a', { class: 'btn', id: 'share-download', hidden: true }, 'Download video');
  const problems = h('ul', { id: 'share-problems', class: 'share-problems', hidden: true });
  const pieces = h('ol', { id: 'share-segments', class: 'share-problems' });
  const refusals = h('ul', { class: 'share-problems' });
  const details = h('div', { id: 'share-details' });
  const page = h(
    'section',
    { id: 'share-page', 'data-state': 'loading' },
    title,
    info,
    status,
    err,
    media,
    h('div', { class: 'share-actions' }, download),
    problems,
    details,
  );
  mount(root, page);

  let player: SharePlayer | null = null;
  let stopped = false;
  let fileURL = '';
  const parts: ClipPart[] = [];
  video.addEventListener('timeupdate', () => {
    if (player) clock.textContent = fmtTime(player.wallTime());
  });
  const fail = (e: unknown) => {
    if (stopped) return;
    page.dataset.state = 'error';
    if (e instanceof ShareRefused) page.dataset.status = String(e.status);
    if (e instanceof ShareRefused && e.status === 401) {
      const signIn = h('button', { type: 'button', id: 'share-signin' }, 'Sign in');
      signIn.addEventListener('click', () => {
        rememberNext(`/s/${encodeURIComponent(id)}`);
        go('/signin');
      });
      download.replaceWith(signIn);
    }
    status.textContent = '';
    media.hidden = true;
    video.hidden = true;
    video.style.display = 'none'; // the stylesheet's display: block outranks [hidden]
    showError(err, e);
  };
  // A redacted share: one blurred clip, played as it is.
  const playBlurred = async (s: OpenedShare) => {
    const b = s.body;
    page.dataset.redacted = 'true';
    info.append(h('p', { id: 'share-redacted', class: 'chip' }, 'Faces and heads are blurred'));
    details.append(
      securityDetails(
        h('p', {}, `Decrypted and checked in this browser: the video is one clip in which the household's hub blurred faces and heads before it was sealed, and it carries the signature of the device that shared it, ${b.sharer.name || 'a device'} (${b.sharer.device}), as the share signed by that device says. The unblurred recording was not shared.`),
        secret ? h('p', {}, 'The key is in the part of the link after "#": it stays in this browser and is never sent to the Vigil service.') : h('p', {}, 'The key was made for this browser’s own key.'),
      ),
    );
    page.dataset.from = b.from;
    page.dataset.to = b.to;
    page.dataset.total = '1';
    status.textContent = 'Checking the video…';
    const clip = await openSharedClip(s);
    if (stopped) {
      clip.plaintext.fill(0);
      return;
    }
    parts.push({ start: nsToMs(clip.start), data: clip.plaintext });
    fileURL = URL.createObjectURL(new Blob([clip.plaintext.slice().buffer], { type: 'video/mp4' }));
    video.src = fileURL;
    video.play().catch(() => {
      /* autoplay refused: the controls start it */
    });
    const start = nsToMs(clip.start);
    video.addEventListener('timeupdate', () => (clock.textContent = fmtTime(start + video.currentTime * 1000)));
    pieces.append(h('li', {}, `${fmtTime(start)} – ${fmtTime(nsToMs(clip.end))}`));
    page.dataset.segments = '1';
    status.textContent = '';
    download.href = fileURL;
    download.setAttribute('download', `vigil-${b.camera}-${fileStamp(start)}-blurred.mp4`);
    download.dataset.bytes = String(clip.plaintext.length);
    download.textContent = `Download video (${(clip.plaintext.length / 1e6).toFixed(1)} MB)`;
    download.hidden = false;
    page.dataset.state = 'loaded';
  };
  (async () => {
    const s = await openShare(id, secret);
    const b = s.body;
    const from = Date.parse(b.from);
    const to = Date.parse(b.to);
    title.textContent = `Video from ${b.camera}`;
    const by = [s.meta.creator, b.household_name ? `the ${b.household_name} household` : ''].filter(Boolean).join(' of ');
    info.hidden = false;
    info.append(
      h('p', { id: 'share-range', class: 'share-when' }, fmtRange(from, to)),
      h('p', { class: 'muted' }, `${fmtDuration(to - from)}, shared by ${by || 'a household'}. You can watch it until ${lowerDay(fmtDateTime(Date.parse(s.meta.expires)))}.`),
    );
    if (b.redacted) {
      await playBlurred(s);
      return;
    }
    details.append(
      securityDetails(
        h('p', {}, `Decrypted and checked in this browser: each piece of the video must carry the signature of a camera hub of the household and signed times inside the shared range, and the whole share the signature of the device that shared it: ${b.sharer.name || 'a device'} (${b.sharer.device}).`),
        secret ? h('p', {}, 'The key is in the part of the link after "#": it stays in this browser and is never sent to the Vigil service.') : h('p', {}, 'The key was made for this browser’s own key.'),
        h('p', {}, 'Pieces played (signed times):'),
        pieces,
        refusals,
      ),
    );
    page.dataset.from = b.from;
    page.dataset.to = b.to;
    page.dataset.total = String(s.objects.length);
    if (s.objects.length === 0) {
      status.textContent = 'This share holds no video.';
      media.hidden = true;
      page.dataset.state = 'empty';
      return;
    }
    // Media time 0 is the first piece's start; playback starts at the
    // shared moment (a piece may begin a little before it).
    const origin = Math.min(...s.objects.map((o) => Date.parse(o.start)));
    const last = Math.max(...s.objects.map((o) => Date.parse(o.end)));
    player = new SharePlayer(video, origin, from, last - origin);
    player.onError = fail;
    let n = 0;
    let goneMs = 0;
    let refusedMs = 0;
    let refused = 0;
    for (const [i, o] of s.objects.entries()) {
      if (stopped) return;
      status.textContent = `Checking the video… ${Math.round((i / s.objects.length) * 100)}%`;
      let seg: OpenedSharedObject;
      try {
        seg = await openSharedObject(s, o);
      } catch (e) {
        // A piece the household's retention has deleted since: skipped.
        if (e instanceof ShareRefused && e.status === 404) {
          goneMs += Math.max(0, Date.parse(o.end) - Date.parse(o.start));
          continue;
        }
        // A piece whose signed times are not the shared range's: not played.
        if (e instanceof SharedObjectRefused) {
          refused++;
          refusedMs += Math.max(0, Date.parse(o.end) - Date.parse(o.start));
          page.dataset.refused = String(refused);
          refusals.append(h('li', { class: 'error share-refused', 'data-key': o.key }, e.message));
          continue;
        }
        throw e;
      }
      if (stopped) return;
      const start = nsToMs(seg.start);
      const end = nsToMs(seg.end);
      parts.push({ start, data: seg.plaintext });
      await player.add(start, end, seg.plaintext);
      n++;
      page.dataset.segments = String(n);
      // The times shown are the piece's signed ones.
      pieces.append(h('li', {}, `${fmtTime(start)} – ${fmtTime(end)}`));
      if (n === 1) page.dataset.state = 'playing';
    }
    if (stopped) return;
    player.end();
    const notes: string[] = [];
    if (goneMs > 0) notes.push(`${fmtDuration(goneMs)} of this video is no longer stored (the household keeps recordings for a limited time).`);
    if (refusedMs > 0) notes.push(`${fmtDuration(refusedMs)} of this video was left out: it did not check out as recorded by the household’s camera at this time.`);
    problems.replaceChildren(...notes.map((t) => h('li', {}, t)));
    problems.hidden = notes.length === 0;
    if (n === 0 && refused > 0) throw new Error('None of this video checked out as recorded at the shared time, so nothing is played.');
    if (n === 0) throw new Error('This video is no longer stored.');
    status.textContent = '';
    // The whole range as one file.
    const bytes = oneFile(parts, from, to);
    fileURL = URL.createObjectURL(new Blob([bytes.slice().buffer], { type: 'video/mp4' }));
    download.href = fileURL;
    download.setAttribute('download', `vigil-${b.camera}-${fileStamp(from)}.mp4`);
    download.dataset.bytes = String(bytes.length);
    download.textContent = `Download video (${(bytes.length / 1e6).toFixed(1)} MB)`;
    download.hidden = false;
    page.dataset.state = 'loaded';
  })().catch(fail);
  return () => {
    stopped = true;
    player?.close();
    if (fileURL) URL.revokeObjectURL(fileURL);
    for (const p of parts) p.data.fill(0);
  };
});

interface ShareJSON {
  id: string;
  camera: string;
  from: string;
  to: string;
  expires: string;
  revoked?: string;
  kind: 'link' | 'account';
  redacted?: boolean;
  state: string;
  created: string;
  creator?: string;
  guest_email?: string;
}

/** openedCounts counts the verified share.read records of each share (their object is "share:<id>") since the oldest share was made. */
async function openedCounts(hh: string, shares: ShareJSON[]): Promise<Map<string, { n: number; last: number }>> {
  const since = Math.min(...shares.map((s) => Date.parse(s.created)));
  const v = await verifyHistory(hh, { window: 0, sinceMs: since });
  const opened = new Map<string, { n: number; last: number }>();
  for (const r of v.records) {
    if (r.action !== 'share.read' || !r.object?.startsWith('share:')) continue;
    const id = r.object.slice('share:'.length);
    const o = opened.get(id) ?? { n: 0, last: 0 };
    o.n += r.count;
    o.last = Math.max(o.last, r.lastMs ?? r.timeMs);
    opened.set(id, o);
  }
  return opened;
}

const stateChip = (s: ShareJSON) =>
  s.state === 'active' ? null : h('span', { class: 'chip' }, s.state === 'revoked' ? 'Stopped' : s.state === 'expired' ? 'Ended' : s.state);

// Members: the household's shares.
route('/h/:hh/shares', (root, params) => {
  const hh = params.hh;
  const q = new URLSearchParams(location.search);
  const base = `/v1/households/${encodeURIComponent(hh)}`;
  const err = h('p', { id: 'shares-error' });
  const list = h('ul', { class: 'list', id: 'shares-list' });
  let cameras: string[] = [];
  const sheet = (cam: string, atMs: number, range?: [number, number]) =>
    openShareSheet({ hh, cam, atMs, cameras, fromMs: range?.[0], toMs: range?.[1], onCreated: () => void load().catch((e) => showError(err, e)) });
  const create = h('button', { type: 'button', id: 'shares-new' }, 'Share a clip');
  create.addEventListener('click', () => sheet(cameras[0] ?? '', Date.now()));

  const load = async () => {
    const { shares } = await api<{ shares: ShareJSON[] }>('GET', `${base}/shares`);
    // How often each link was opened, from the household's history as this
    // browser verifies it (each guest read is a record there; repeated reads
    // are counted in one). It is filled in once verified.
    const verified = shares.length > 0 ? openedCounts(hh, shares) : Promise.resolve(null);
    list.replaceChildren();
    const cells = new Map<string, HTMLElement>();
    for (const s of shares) {
      const stop = h('button', { type: 'button', class: 'danger', 'data-share': s.id }, 'Stop sharing');
      stop.addEventListener('click', async () => {
        stop.disabled = true;
        try {
          await api('DELETE', `${base}/shares/${encodeURIComponent(s.id)}`);
          toast('Stopped sharing');
          await load();
        } catch (e) {
          showError(err, e);
          stop.disabled = false;
        }
      });
      const opened = h('span', { class: 'share-opened', title: 'from the household’s history, checked in this browser' }, 'Checking who opened it…');
      cells.set(s.id, opened);
      const who = s.kind === 'link' ? 'Anyone with the link' : (s.guest_email ?? 'A Vigil account');
      const until = s.state === 'active' ? `until ${lowerDay(fmtDateTime(Date.parse(s.expires)))}` : s.state === 'revoked' ? 'stopped' : 'ended';
      list.append(
        h(
          'li',
          { class: 'item share-item', 'data-share': s.id, 'data-state': s.state },
          h(
            'div',
            { class: 'grow' },
            h('div', { class: 'what' }, `${s.camera} · ${fmtRange(Date.parse(s.from), Date.parse(s.to))}`, s.redacted ? h('span', { class: 'chip share-blurred-chip' }, 'Blurred') : null, stateChip(s)),
            h('div', { class: 'sub' }, `${who} · ${until}`),
            h('div', { class: 'sub' }, opened),
          ),
          s.state === 'active' ? h('div', { class: 'actions' }, stop) : null,
        ),
      );
    }
    if (shares.length === 0) list.append(h('li', { class: 'item' }, emptyState('Nothing is shared. Open a camera and tap Share to send a clip.')));
    verified.then(
      (op) => {
        for (const s of shares) {
          const c = cells.get(s.id)!;
          const o = op?.get(s.id);
          c.dataset.opened = String(o?.n ?? 0);
          c.textContent = o ? `Opened ${o.n === 1 ? 'once' : `${o.n} times`}, last ${fmtAgo(o.last)}` : 'Not opened yet';
        }
      },
      (e) => {
        for (const c of cells.values()) {
          c.textContent = 'Who opened it could not be checked';
          c.title = e instanceof Error ? e.message : String(e);
        }
      },
    );
  };

  mount(
    root,
    pageHead('Shared clips', { back: { href: `/h/${encodeURIComponent(hh)}`, label: 'Home' }, actions: [create] }),
    h('p', { class: 'muted' }, 'Clips you shared, who opened them, and a way to stop each one.'),
    err,
    h('div', { class: 'card' }, list),
  );
  (async () => {
    ({ cameras } = await api<{ cameras: string[] }>('GET', `${base}/cameras`));
    create.disabled = cameras.length === 0;
    const cam = q.get('camera');
    if (cam) {
      // Opened from a camera: the sheet, pre-filled (once: a reload shows
      // the list).
      history.replaceState(null, '', location.pathname);
      const t = (k: string) => Date.parse(q.get(k) ?? '');
      const at = Number(q.get('at'));
      if (!Number.isNaN(t('from')) && !Number.isNaN(t('to'))) sheet(cam, (t('from') + t('to')) / 2, [t('from'), t('to')]);
      else sheet(cam, Number.isFinite(at) && at > 0 ? at : Date.now());
    }
    await load();
  })().catch((e) => showError(err, e));
});

// Guests: shares with this account, and this browser's code.
route('/shared', async (root) => {
  if (!(await requireAccount())) return;
  const err = h('p', { id: 'shared-error' });
  const dev = h('div', { id: 'shared-device', class: 'shared-device stack' });
  const list = h('ul', { id: 'shared-list', class: 'list' });
  mount(
    root,
    pageHead('Shared with me'),
    err,
    h('div', { class: 'card' }, h('h2', {}, 'Shared with you'), list),
    h('div', { class: 'card' }, h('h2', {}, 'This browser'), dev),
  );
  const showDevice = async () => {
    const k = await loadDeviceKeys();
    dev.replaceChildren();
    if (!k) {
      const b = h('button', { type: 'button', id: 'shared-setup' }, 'Set up this browser');
      b.addEventListener('click', () => void createDeviceKeys().then(showDevice).catch((e) => showError(err, e)));
      dev.append(h('p', { class: 'muted' }, 'To be sent a clip only you can open, set up this browser, then send its code to the person sharing.'), b);
      return;
    }
    const code = deviceString(k);
    const ds = h('input', { readonly: true, value: code, id: 'device-string' });
    ds.addEventListener('focus', () => ds.select());
    dev.append(
      h('p', {}, 'To be sent a clip only you can open, send this browser’s code to the person sharing. Clips shared that way open here, signed in.'),
      h('label', { class: 'field' }, h('span', {}, 'This browser’s code'), ds),
      h('div', { class: 'row' }, copyButton(() => code, { id: 'device-copy', label: 'Copy code' })),
    );
  };
  (async () => {
    await showDevice();
    const { shares } = await api<{ shares: ShareJSON[] }>('GET', '/v1/shares');
    for (const s of shares) {
      const range = fmtRange(Date.parse(s.from), Date.parse(s.to));
      list.append(
        h(
          'li',
          { class: 'item', 'data-state': s.state },
          h('div', { class: 'grow' }, h('div', {}, `${s.camera} · ${range}`, stateChip(s)), h('div', { class: 'sub' }, `From ${s.creator ?? 'a household'}`)),
          s.state === 'active' ? h('div', { class: 'actions' }, h('a', { class: 'btn', href: `/s/${s.id}`, 'aria-label': `Watch ${s.camera}, ${range}` }, 'Watch')) : null,
        ),
      );
    }
    if (shares.length === 0) list.append(h('li', { class: 'item' }, emptyState('Nothing is shared with you yet.')));
  })().catch((e) => showError(err, e));
});
