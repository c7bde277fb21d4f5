// Pages: sharing.
//   /s/:id          a guest opens a share (link key from the fragment, or the
//                   signed-in guest account's device key) and plays it
//   /h/:hh/shares   members list, revoke and create shares
//   /shared         a guest account's shares and this browser's device string

import { api } from '../api';
import { createDeviceKeys, deviceString, loadDeviceKeys } from '../crypto/devicekeys';
import { route } from '../router';
import { h, mount, showError } from '../ui';
import { nsToMs } from '../crypto/signedtime';
import { createShare, NothingToShare, type RefusedObject } from '../share/create';
import { openShare, openSharedObject, SharedObjectRefused, ShareRefused, type OpenedSharedObject } from '../share/guest';
import { b64u, parseFragment, unb64u } from '../share/manifest';
import { SegmentPlayer } from '../share/player';
import { verifyHistory } from '../history/verify';

const fmt = (s: string) => new Date(s).toLocaleString();
const fmtMs = (ms: number) => new Date(ms).toLocaleString();
const secretKey = (id: string) => 'vigil.share.' + id;

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

  const status = h('p', { class: 'muted', id: 'share-status' }, 'Opening the share…');
  const err = h('p', { id: 'share-error' });
  const info = h('div', { class: 'card', id: 'share-info', hidden: true });
  const video = h('video', { id: 'share-video', controls: true, muted: true, playsinline: true });
  video.muted = true;
  const list = h('ol', { id: 'share-segments', class: 'muted' });
  const page = h('section', { id: 'share-page', 'data-state': 'loading' }, h('h1', {}, 'Shared recording'), status, err, info, video, list);
  mount(root, page);

  let player: SegmentPlayer | null = null;
  let stopped = false;
  (async () => {
    const s = await openShare(id, secret);
    const b = s.body;
    info.hidden = false;
    info.append(
      h('p', {}, h('strong', {}, `Camera ${b.camera}`), ` of ${b.household_name || 'a household'}`),
      h('p', { id: 'share-range' }, `${fmt(b.from)} – ${fmt(b.to)}`),
      h('p', { class: 'muted' }, `Shared by ${s.meta.creator ? s.meta.creator + ', ' : ''}device ${b.sharer.name ? b.sharer.name + ' ' : ''}(${b.sharer.device}). Available until ${fmt(s.meta.expires)}.`),
    );
    page.dataset.from = b.from;
    page.dataset.to = b.to;
    page.dataset.total = String(s.objects.length);
    if (s.objects.length === 0) {
      status.textContent = 'This share holds no recordings.';
      page.dataset.state = 'empty';
      return;
    }
    player = new SegmentPlayer(video);
    let n = 0;
    let gone = 0;
    let refused = 0;
    for (const [i, o] of s.objects.entries()) {
      if (stopped) return;
      status.textContent = `Decrypting segment ${i + 1} of ${s.objects.length}…`;
      let seg: OpenedSharedObject;
      try {
        seg = await openSharedObject(s, o);
      } catch (e) {
        // A segment the household's retention has deleted since: skip it.
        if (e instanceof ShareRefused && e.status === 404) {
          gone++;
          list.append(h('li', { class: 'muted' }, `${fmt(o.start)} – ${fmt(o.end)}: no longer stored`));
          continue;
        }
        // A segment whose signed times are not the shared range's: not played.
        if (e instanceof SharedObjectRefused) {
          refused++;
          page.dataset.refused = String(refused);
          list.append(h('li', { class: 'error share-refused', 'data-key': o.key }, e.message));
          continue;
        }
        throw e;
      }
      await player.append(seg.plaintext);
      seg.plaintext.fill(0);
      n++;
      page.dataset.segments = String(n);
      // The times shown are the segment's signed ones.
      list.append(h('li', {}, `${fmtMs(nsToMs(seg.start))} – ${fmtMs(nsToMs(seg.end))}`));
      if (n === 1) page.dataset.state = 'playing';
    }
    player.end();
    status.textContent = `${n} segment${n === 1 ? '' : 's'}, decrypted in this browser${gone ? `; ${gone} no longer stored` : ''}${refused ? `; ${refused} refused (signed times outside the shared range)` : ''}.`;
    if (n === 0 && refused > 0) throw new Error('none of the shared segments was recorded in the shared range (by their signed times): nothing is played');
    if (n === 0) throw new Error('none of the shared segments is stored any more');
    page.dataset.state = 'loaded';
  })().catch((e) => {
    page.dataset.state = 'error';
    if (e instanceof ShareRefused) page.dataset.status = String(e.status);
    status.textContent = '';
    video.hidden = true;
    video.style.display = 'none'; // the stylesheet's display: block outranks [hidden]
    showError(err, e);
  });
  return () => {
    stopped = true;
    player?.close();
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

function cell(cells: Map<string, HTMLElement>, id: string): HTMLElement {
  const c = h('td', { class: 'muted', title: 'from the household’s history, verified in this browser' }, 'checking…');
  cells.set(id, c);
  return c;
}

const toLocalInput = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);

// Members: the household's shares. The form may be prefilled from the
// address: /h/:hh/shares?camera=front&from=<RFC 3339>&to=<RFC 3339> (the
// timeline links here to share what it shows).
route('/h/:hh/shares', (root, params) => {
  const hh = params.hh;
  const q = new URLSearchParams(location.search);
  const qTime = (k: string) => {
    const t = Date.parse(q.get(k) ?? '');
    return Number.isNaN(t) ? null : new Date(t);
  };
  const base = `/v1/households/${encodeURIComponent(hh)}`;
  const err = h('p', { id: 'shares-error' });
  const tbody = h('tbody', {});
  const table = h('table', { id: 'shares-table' }, h('thead', {}, h('tr', {}, h('th', {}, 'Camera'), h('th', {}, 'Range'), h('th', {}, 'With'), h('th', {}, 'Expires'), h('th', {}, 'State'), h('th', {}, 'Opened'), h('th', {}, ''))), tbody);

  const load = async () => {
    const { shares } = await api<{ shares: ShareJSON[] }>('GET', `${base}/shares`);
    // How often each link was opened, from the household's history as this
    // browser verifies it (each guest read is a record there; repeated reads
    // are counted in one). It is filled in once verified.
    const verified = shares.length > 0 ? openedCounts(hh, shares) : Promise.resolve(null);
    tbody.replaceChildren();
    const cells = new Map<string, HTMLElement>();
    for (const s of shares) {
      const revoke = h('button', { class: 'danger', 'data-share': s.id }, 'Revoke');
      revoke.addEventListener('click', async () => {
        revoke.disabled = true;
        try {
          await api('DELETE', `${base}/shares/${s.id}`);
          await load();
        } catch (e) {
          showError(err, e);
          revoke.disabled = false;
        }
      });
      tbody.append(
        h('tr', { 'data-share': s.id, 'data-state': s.state },
          h('td', {}, s.camera),
          h('td', {}, `${fmt(s.from)} – ${fmt(s.to)}`),
          h('td', {}, s.kind === 'link' ? 'anyone with the link' : s.guest_email ?? 'a guest account'),
          h('td', {}, fmt(s.expires)),
          h('td', {}, s.state),
          cell(cells, s.id),
          h('td', {}, s.state === 'active' ? revoke : ''),
        ),
      );
    }
    if (shares.length === 0) tbody.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'Nothing is shared.')));
    verified.then(
      (opened) => {
        for (const s of shares) {
          const c = cells.get(s.id)!;
          c.classList.add('share-opened');
          const op = opened?.get(s.id);
          c.dataset.opened = String(op?.n ?? 0);
          c.textContent = op ? `${op.n}×, last ${fmtMs(op.last)}` : 'not yet';
        }
      },
      (e) => {
        for (const c of cells.values()) {
          c.classList.add('share-opened');
          c.textContent = 'not verified';
          c.title = e instanceof Error ? e.message : String(e);
        }
      },
    );
  };

  // Create.
  const camera = h('select', { name: 'camera', required: true });
  const now = new Date();
  const from = h('input', { type: 'datetime-local', name: 'from', step: 1, required: true, value: toLocalInput(qTime('from') ?? new Date(now.getTime() - 15 * 60000)) });
  const to = h('input', { type: 'datetime-local', name: 'to', step: 1, required: true, value: toLocalInput(qTime('to') ?? now) });
  const expires = h('select', { name: 'expires' },
    h('option', { value: String(3600) }, '1 hour'),
    h('option', { value: String(86400), selected: true }, '1 day'),
    h('option', { value: String(7 * 86400) }, '7 days'),
    h('option', { value: String(30 * 86400) }, '30 days'),
  );
  const guestEmail = h('input', { type: 'email', name: 'guest_email', placeholder: 'empty: a link anyone holding it can open' });
  const guestDevice = h('input', { name: 'guest_device', placeholder: 'vigdev1:… (the guest sends it from "Shared with me")' });
  const out = h('div', { id: 'share-created' });
  // What the cloud listed in the range but its signed times put outside it.
  const refusedOut = h('div', { id: 'share-refused', hidden: true });
  const showRefused = (rs: RefusedObject[]) => {
    refusedOut.replaceChildren();
    refusedOut.dataset.count = String(rs.length);
    refusedOut.hidden = rs.length === 0;
    if (rs.length === 0) return;
    refusedOut.append(
      h('p', { class: 'error', role: 'alert' }, `Not shared: ${rs.length} recording${rs.length === 1 ? '' : 's'} the cloud listed in this range, because the signed segment${rs.length === 1 ? ' says' : 's say'} otherwise (the cloud's listing disagrees with the signed segments):`),
      h('ul', { id: 'share-refused-list' },
        ...rs.map((r) => h('li', { 'data-key': r.key }, h('span', { class: 'mono' }, r.key), `: listed ${fmt(r.listed.start)} – ${fmt(r.listed.end)}; ${r.reason}`)),
      ),
    );
  };
  const submit = h('button', { type: 'submit' }, 'Share');
  const form = h('form', { class: 'stack', id: 'share-form' },
    h('label', {}, 'Camera', camera),
    h('label', {}, 'From', from),
    h('label', {}, 'To', to),
    h('label', {}, 'Expires after', expires),
    h('label', {}, "Guest's account e-mail (optional)", guestEmail),
    h('label', {}, "Guest's device string (with an e-mail)", guestDevice),
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    out.replaceChildren();
    showRefused([]);
    err.textContent = '';
    try {
      const res = await createShare(hh, camera.value, new Date(from.value), new Date(to.value), {
        expires: new Date(Date.now() + Number(expires.value) * 1000),
        guestEmail: guestEmail.value.trim() || undefined,
        guestDevice: guestDevice.value.trim() || undefined,
        progress: (d, n) => (submit.textContent = `Checking and wrapping keys ${d}/${n}…`),
      });
      showRefused(res.refused);
      const link = h('input', { readonly: true, id: 'share-link', value: res.url, class: 'mono' });
      link.style.flex = '1';
      link.style.minWidth = '0';
      const copy = h('button', { type: 'button', class: 'secondary' }, 'Copy');
      copy.addEventListener('click', () => void navigator.clipboard?.writeText(res.url));
      out.append(
        h('p', { class: 'ok' }, res.kind === 'link' ? `Link to ${res.objects} segments. The key is in the part after #: send the whole link, privately.` : `Shared ${res.objects} segments with ${guestEmail.value}. They open it signed in, on that device:`),
        h('div', { class: 'row' }, link, copy),
      );
      await load();
    } catch (e2) {
      if (e2 instanceof NothingToShare) showRefused(e2.refused);
      showError(err, e2);
    } finally {
      submit.disabled = false;
      submit.textContent = 'Share';
    }
  });

  mount(root,
    h('h1', {}, 'Shares'),
    h('p', {}, h('a', { href: `/h/${encodeURIComponent(hh)}` }, '← Household')),
    err,
    h('div', { class: 'card' }, table),
    h('div', { class: 'card' }, h('h2', {}, 'Share a time range'), form, out, refusedOut),
  );
  (async () => {
    const { cameras } = await api<{ cameras: string[] }>('GET', `${base}/cameras`);
    for (const c of cameras) camera.append(h('option', { value: c, selected: c === q.get('camera') }, c));
    await load();
  })().catch((e) => showError(err, e));
});

// Guests: shares with this account, and this browser's device string.
route('/shared', (root) => {
  const err = h('p', { id: 'shared-error' });
  const dev = h('div', { id: 'shared-device' });
  const ul = h('ul', { id: 'shared-list' });
  mount(root, h('h1', {}, 'Shared with me'), err,
    h('div', { class: 'card' }, h('h2', {}, 'This browser'), dev),
    h('div', { class: 'card' }, h('h2', {}, 'Shares'), ul));
  const showDevice = async () => {
    const k = await loadDeviceKeys();
    dev.replaceChildren();
    if (!k) {
      const b = h('button', {}, 'Set up this browser');
      b.addEventListener('click', () => void createDeviceKeys().then(showDevice).catch((e) => showError(err, e)));
      dev.append(h('p', { class: 'muted' }, 'A share for your account is opened with a key made in this browser. Set one up, then send the device string to the person sharing.'), b);
      return;
    }
    const ds = h('input', { readonly: true, class: 'mono', value: deviceString(k), id: 'device-string' });
    ds.style.width = '100%';
    dev.append(h('p', {}, 'Send this device string to the person sharing with you:'), ds);
  };
  (async () => {
    await showDevice();
    const { shares } = await api<{ shares: ShareJSON[] }>('GET', '/v1/shares');
    for (const s of shares) {
      ul.append(h('li', { 'data-state': s.state },
        s.state === 'active' ? h('a', { href: `/s/${s.id}` }, `${s.camera}: ${fmt(s.from)} – ${fmt(s.to)}`) : `${s.camera}: ${fmt(s.from)} – ${fmt(s.to)}`,
        ` from ${s.creator ?? 'a household'} (${s.state})`));
    }
    if (shares.length === 0) ul.append(h('li', { class: 'muted' }, 'Nothing is shared with you.'));
  })().catch((e) => showError(err, e));
});
