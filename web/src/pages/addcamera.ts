// Page: add a camera to the household's hub (/h/:hh/cameras/add), for admin
// devices. It lists what the hub discovered on its network (and takes an
// address typed in), takes the camera's ONVIF account, shows the camera's
// profiles and a snapshot, lets the admin pick the main stream (recorded)
// and a sub stream, and adds it: the hub records it at once. A camera added
// here can be removed here too. Everything
// goes over the cameras channel of a live session (live/cameras.ts), end to
// end encrypted between this browser and the hub: the camera's address,
// user name and password never reach the cloud.
//
// Must never: keep the password after the page is left, store it in this
// browser, or put network text in as HTML.

import './addcamera.css';
import { loadDeviceKeys } from '../crypto/devicekeys';
import { api } from '../api';
import { CamerasChannel, HubSaid, type FoundCamera, type Probed } from '../live/cameras';
import { liveTrust } from '../live/trust';
import { pageHead } from '../kit';
import { route } from '../router';
import { h, mount } from '../ui';

const enc = encodeURIComponent;

/** cameraName makes a hub camera name of a device's model ("front-door"). */
function cameraName(s: string): string {
  const n = s
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 64);
  return n && n !== '.' && n !== '..' ? n : 'camera';
}

const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;

function profileLabel(p: Probed['profiles'][number]): string {
  const video = p.encoding ? `${p.encoding} ${p.width ?? '?'}×${p.height ?? '?'}${p.fps ? ` ${p.fps} fps` : ''}` : 'no video';
  return `${p.name} — ${video}${p.audio ? `, audio ${p.audio}` : ''}`;
}

route('/h/:hh/cameras/add', (root, { hh }) => {
  const status = h('p', { id: 'ac-status', class: 'muted', role: 'status' }, 'Connecting to the hub…');
  const error = h('p', { id: 'ac-error' });
  const found = h('ul', { id: 'ac-found', class: 'list', 'aria-label': 'cameras the hub found' });
  const rescan = h('button', { id: 'ac-discover', type: 'button', class: 'secondary', disabled: true }, 'Look again');
  const address = h('input', { id: 'ac-address', autocomplete: 'off', placeholder: '192.168.1.20 or http://192.168.1.20/onvif/device_service', maxlength: 256 });
  const user = h('input', { id: 'ac-user', autocomplete: 'off', maxlength: 256 });
  const password = h('input', { id: 'ac-password', type: 'password', autocomplete: 'new-password', maxlength: 256 });
  const probe = h('button', { id: 'ac-probe', type: 'button', disabled: true }, 'Connect to the camera');
  const device = h('p', { id: 'ac-device' });
  const snapshot = h('img', { id: 'ac-snapshot', alt: 'the camera’s picture now', hidden: true, class: 'ac-snapshot' });
  const snapNote = h('p', { id: 'ac-snapshot-note', class: 'muted' });
  const main = h('select', { id: 'ac-main' });
  const sub = h('select', { id: 'ac-sub' });
  const name = h('input', { id: 'ac-name', autocomplete: 'off', maxlength: 64 });
  const add = h('button', { id: 'ac-add', type: 'button', disabled: true }, 'Add camera');
  const chosen = h('section', { id: 'ac-chosen', class: 'card ac-form', hidden: true, 'aria-labelledby': 'ac-chosen-title' },
    h('h2', { id: 'ac-chosen-title' }, 'Streams'),
    device,
    snapshot,
    snapNote,
    h('label', {}, 'Main stream (recorded) ', main),
    h('label', {}, 'Sub stream ', sub),
    h('label', {}, 'Name on the hub ', name),
    h('div', { class: 'actions' }, add),
  );
  mount(
    root,
    pageHead('Add camera', { back: { href: `/h/${enc(hh)}/settings`, label: 'Settings' } }),
    h('p', { class: 'muted' }, 'The hub looks for ONVIF cameras on its network. Their addresses, user names and passwords go to the hub end-to-end encrypted and stay there; the Vigil service never sees them.'),
    status,
    error,
    h('section', { class: 'card', 'aria-labelledby': 'ac-found-title' }, h('h2', { id: 'ac-found-title' }, 'Cameras the hub found'), found, h('div', { class: 'actions' }, rescan)),
    h(
      'section',
      { class: 'card ac-form', 'aria-labelledby': 'ac-account-title' },
      h('h2', { id: 'ac-account-title' }, 'Camera'),
      h('label', {}, 'Address ', address),
      h('label', {}, 'User name ', user),
      h('label', {}, 'Password ', password),
      h('p', { class: 'muted' }, 'The camera’s ONVIF account, which on many cameras is set up apart from its web login.'),
      h('div', { class: 'actions' }, probe),
    ),
    chosen,
  );

  let ch: CamerasChannel | undefined;
  let gone = false;
  let busy = false;
  let probed: Probed | undefined;
  let snapURL = '';

  const say = (state: 'busy' | 'ok' | 'error', text: string) => {
    status.dataset.state = state;
    status.textContent = state === 'error' ? '' : text;
    if (state === 'error') {
      error.textContent = text;
      error.className = 'error';
      error.setAttribute('role', 'alert');
    } else {
      error.textContent = '';
      error.removeAttribute('role');
    }
  };
  const failed = (e: unknown) => {
    const msg = (e as Error).message ?? String(e);
    return e instanceof HubSaid ? `The hub says: ${msg}` : `Could not reach the hub: ${msg}`;
  };
  const setBusy = (b: boolean) => {
    busy = b;
    rescan.disabled = probe.disabled = b || !ch;
    add.disabled = b || !probed;
  };

  const showFound = (list: FoundCamera[]) => {
    found.replaceChildren();
    if (!list.length) {
      found.append(h('li', { class: 'item muted', id: 'ac-none' }, 'The hub found no ONVIF camera. Check that the camera is on the hub’s network with ONVIF turned on, or type its address below.'));
      return;
    }
    for (const f of list) {
      const pick = h('button', { type: 'button', class: 'secondary ac-pick' }, f.camera ? 'Remove' : 'Choose');
      pick.addEventListener('click', () => {
        if (f.camera) return void remove(f.camera);
        address.value = f.address;
        if (!name.value && f.name) name.value = cameraName(f.name);
        user.focus();
      });
      found.append(
        h('li', { class: 'item ac-camera', 'data-address': f.address }, h('div', { class: 'grow' }, h('strong', {}, f.name || 'Camera without a name'), h('div', { class: 'muted mono' }, f.address), f.camera ? h('div', { class: 'muted' }, `Recorded as ${f.camera}`) : null), pick),
      );
    }
  };

  const discover = async () => {
    if (!ch || busy) return;
    setBusy(true);
    say('busy', 'The hub is looking for cameras on its network…');
    try {
      const r = await ch.discover();
      if (gone) return;
      showFound(r.cameras ?? []);
      found.dataset.ready = 'true';
      say('ok', `The hub found ${r.cameras?.length ?? 0} camera${r.cameras?.length === 1 ? '' : 's'}.`);
    } catch (e) {
      if (!gone) say('error', failed(e));
    } finally {
      if (!gone) setBusy(false);
    }
  };

  const fill = (sel: HTMLSelectElement, p: Probed, none: boolean, only: (x: Probed['profiles'][number]) => boolean) => {
    sel.replaceChildren();
    if (none) sel.append(h('option', { value: '' }, 'None'));
    for (const x of p.profiles) if (only(x)) sel.append(h('option', { value: x.token }, profileLabel(x)));
  };

  probe.addEventListener('click', async () => {
    if (!ch || busy) return;
    if (!address.value.trim()) return say('error', 'Give the camera’s address, or choose one the hub found.');
    setBusy(true);
    probed = undefined;
    chosen.hidden = true;
    say('busy', 'The hub is connecting to the camera…');
    try {
      const p = await ch.probe({ address: address.value.trim(), username: user.value, password: password.value });
      if (gone) return;
      probed = p;
      device.textContent = `${p.manufacturer} ${p.model}`.trim();
      const recordable = p.profiles.filter((x) => x.record);
      fill(main, p, false, (x) => x.record);
      fill(sub, p, true, (x) => !!x.encoding);
      // The largest H.264 profile is recorded, the smallest other one is the sub stream.
      const px = (x: Probed['profiles'][number]) => (x.width ?? 0) * (x.height ?? 0);
      const best = recordable.reduce((a, b) => (px(b) > px(a) ? b : a), recordable[0]);
      main.value = best.token;
      const others = p.profiles.filter((x) => x.encoding && x.token !== best.token);
      sub.value = others.length ? others.reduce((a, b) => (px(b) < px(a) ? b : a)).token : '';
      if (!name.value) name.value = cameraName(p.model || 'camera');
      if (snapURL) URL.revokeObjectURL(snapURL);
      snapURL = '';
      if (p.snapshot) {
        const bin = Uint8Array.from(atob(p.snapshot), (c) => c.charCodeAt(0));
        snapURL = URL.createObjectURL(new Blob([bin], { type: 'image/jpeg' }));
        snapshot.src = snapURL;
        snapshot.hidden = false;
        snapNote.textContent = '';
      } else {
        snapshot.hidden = true;
        snapNote.textContent = p.snapshot_error ?? 'The camera gave no snapshot.';
      }
      chosen.hidden = false;
      say('ok', `Connected to the camera: ${p.profiles.length} profile${p.profiles.length === 1 ? '' : 's'}. Choose the streams and a name, then add it.`);
    } catch (e) {
      if (!gone) say('error', failed(e));
    } finally {
      if (!gone) setBusy(false);
    }
  });

  // change runs an add or a remove (which says how it went), then lists the
  // cameras again, keeping what it said: the camera's row shows the change.
  const change = async (doing: string, op: () => Promise<void>) => {
    setBusy(true);
    say('busy', doing);
    try {
      await op();
    } catch (e) {
      if (!gone) say('error', failed(e));
      return;
    } finally {
      if (!gone) setBusy(false);
    }
    if (gone) return;
    const said = status.textContent;
    await discover();
    if (!gone && status.dataset.state === 'ok') status.textContent = said;
  };

  add.addEventListener('click', async () => {
    if (!ch || busy || !probed) return;
    const n = name.value.trim();
    if (!NAME_RE.test(n) || n === '.' || n === '..') return say('error', 'The name is 1 to 64 letters, digits, “.”, “_” or “-”.');
    const c = ch;
    await change('Adding the camera…', async () => {
      const r = await c.add({ name: n, address: address.value.trim(), username: user.value, password: password.value, main: main.value, sub: sub.value || undefined });
      if (gone) return;
      password.value = '';
      probed = undefined;
      chosen.hidden = true;
      status.dataset.camera = r.camera;
      say('ok', `Added ${r.camera}: the hub records it now.`);
    });
  });
  rescan.addEventListener('click', () => void discover());

  // remove stops the hub recording a camera added here (its recordings stay).
  const remove = async (cam: string) => {
    if (!ch || busy || !window.confirm(`Stop recording ${cam}? Its recordings stay.`)) return;
    const c = ch;
    await change(`Removing ${cam}…`, async () => {
      await c.remove(cam);
      if (!gone) say('ok', `Removed ${cam}: the hub no longer records it.`);
    });
  };

  void (async () => {
    try {
      const keys = await loadDeviceKeys();
      if (!keys) throw new Error('this browser is not one of the household’s devices yet: ask an admin of the household to add it (This device, in the account menu)');
      const trust = await liveTrust(hh, keys);
      // The session rides on one of the hub's cameras; the hub answers the
      // cameras channel whichever it is.
      const ice = await api<{ cameras: string[] | null }>('GET', `/v1/households/${enc(hh)}/live/ice`);
      const cam = (ice.cameras ?? [])[0];
      if (!cam) throw new Error('the hub is not connected to the Vigil service');
      if (gone) return;
      const c = new CamerasChannel({ hh, camera: cam, keys, trust });
      ch = c;
      await c.open();
      if (gone) return;
      setBusy(false);
      await discover();
    } catch (e) {
      ch = undefined;
      if (!gone) {
        say('error', `Could not reach the hub: ${(e as Error).message}`);
        setBusy(false);
      }
    }
  })();

  return () => {
    gone = true;
    password.value = '';
    ch?.close();
    if (snapURL) URL.revokeObjectURL(snapURL);
  };
});
