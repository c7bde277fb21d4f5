// Pages: sign-up, sign-in (passkey; password + TOTP), the home page.
import { route } from '../router';
import { h, mount } from '../ui';

route('/', (root) => {
  mount(root, h('div', { class: 'card' }, h('h1', {}, 'Vigil'), h('p', { class: 'muted' }, 'Your cameras, sealed to your household’s keys.')));
});
