// Pages: this browser's device identity (/device) and joining a household
// (/join/:id with the invite secret in the fragment, or with the recovery
// phrase).
import { route } from '../router';
import { h, mount, showError } from '../ui';
import { createDeviceKeys, deviceString, loadDeviceKeys, type DeviceKeys } from '../crypto/devicekeys';

/** deviceKeys returns this browser's device keys, creating them on first use. */
export async function deviceKeys(): Promise<DeviceKeys> {
  return (await loadDeviceKeys()) ?? (await createDeviceKeys());
}

route('/device', async (root) => {
  const err = h('p');
  mount(root, h('div', { class: 'card' }, h('h1', {}, 'This device'), h('p', { class: 'muted' }, 'Loading the device keys…')));
  try {
    const k = await deviceKeys();
    mount(
      root,
      h(
        'div',
        { class: 'card' },
        h('h1', {}, 'This device'),
        h('p', { class: 'muted' }, 'This browser’s public device identity. Its private keys never leave this browser. An admin device adds it to a household’s chain (vigil household add-device).'),
        h('p', {}, 'Device ID: ', h('code', { id: 'device-id' }, k.id)),
        h('p', {}, 'Device identity:'),
        h('pre', { class: 'mono wrap', id: 'device-string' }, deviceString(k)),
        err,
      ),
    );
  } catch (e) {
    mount(root, h('div', { class: 'card' }, h('h1', {}, 'This device'), err));
    showError(err, e);
  }
});
