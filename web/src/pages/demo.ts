// The page 'vigil demo' links to:
// /demo#t=TOKEN&k=SECRET&h=HOUSEHOLD&g=GENESIS. It signs the local
// user in once with the one-time token, makes this browser's device keys,
// pins the household's genesis (from the link, not the cloud) and asks to
// join through the invite (presenting its key, member.InviteKey, in the
// body: the invite's ID is a hash of it), proving it holds the invite's
// secret (member.JoinProof); the demo's admin device checks the proof and adds
// the browser to the chain. The fragment never reaches the server; it is
// wiped from the address bar at once. Then it opens the household's home
// (/h/:hh/live, the home page's alias). The account is read again after
// the link's sign-in, so the header shows it at once.
//
// Must never: send the invite secret, or keep the fragment in history.

import { api, ApiError, b64, setCSRF, unb64 } from '../api';
import { inviteIdForKey, inviteKey } from '../crypto/action';
import { hmacSha256, unhex, utf8 } from '../crypto/bytes';
import { verifyChain } from '../crypto/chain';
import { createDeviceKeys, deviceString, loadDeviceKeys } from '../crypto/devicekeys';
import { pinHousehold } from '../household';
import { pageHead } from '../kit';
import { go, route } from '../router';
import { bindDevice } from '../session';
import { h, mount, showError } from '../ui';
import { signedIn } from './auth';

interface ChainResp {
  household_id: string;
  genesis_hash: string;
  links: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

route('/demo', async (root) => {
  const frag = new URLSearchParams(location.hash.slice(1));
  history.replaceState(null, '', '/demo');
  const status = h('p', { id: 'demo-status', role: 'status' }, 'Signing in…');
  const err = h('p', { id: 'demo-error' });
  mount(root, pageHead('Vigil demo'), h('div', { class: 'card' }, status, err));
  const tok = frag.get('t');
  const secret = frag.get('k');
  const hh = frag.get('h');
  const genesis = frag.get('g');
  if (!tok || !secret || !hh || !genesis || !/^[0-9a-f]{64}$/.test(genesis)) {
    status.textContent = '';
    showError(err, new Error("This demo link is incomplete: copy the whole link 'vigil demo' printed, or run it again for a fresh one."));
    return;
  }
  let stopped = false;
  try {
    const s = await api<{ csrf: string }>('POST', '/v1/sessions/link', { token: tok });
    setCSRF(s.csrf);
    await signedIn();

    status.textContent = 'Setting up this browser…';
    const keys = (await loadDeviceKeys()) ?? (await createDeviceKeys());
    void bindDevice();
    const dev = deviceString(keys);
    await pinHousehold(hh, unhex(genesis));

    const enrolled = async (): Promise<boolean> => {
      const c = await api<ChainResp>('GET', `/v1/households/${encodeURIComponent(hh)}/chain`);
      const st = await verifyChain(c.links.map((l) => unb64(l)), unhex(genesis));
      return st.devices.some((d) => d.id === keys.id);
    };
    if (!(await enrolled())) {
      status.textContent = 'Adding this browser to the demo household…';
      const key = await inviteKey(unb64(secret));
      const invite = await inviteIdForKey(key);
      // member.JoinProof: HMAC-SHA-256(secret, "vigil join proof v1\n" + invite + "\n" + device).
      const proof = await hmacSha256(unb64(secret), utf8(`vigil join proof v1\n${invite}\n${dev}`));
      await api('POST', '/v1/invites/join', { key: b64(key), device: dev, name: 'Demo browser', proof: b64(proof) });
      const deadline = Date.now() + 60_000;
      while (!(await enrolled())) {
        if (stopped) return;
        if (Date.now() > deadline) throw new Error('the demo did not add this browser within a minute: is vigil demo still running?');
        await sleep(300);
      }
    }
    status.textContent = 'Done. Opening the cameras…';
    go(`/h/${encodeURIComponent(hh)}/live`);
  } catch (e) {
    status.textContent = '';
    if (e instanceof ApiError && e.status === 401) showError(err, new Error(`This demo link was used already or has expired (${e.message}). Run vigil demo again for a fresh link.`));
    else showError(err, e);
  }
  return () => {
    stopped = true;
  };
});
