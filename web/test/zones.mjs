// Zones: an enrolled browser opens a camera's newest snapshot on the zones
// page, draws a zone (4 clicks, closed on its first point, one vertex
// dragged) and a mask (3 clicks and a stray one taken back with Backspace,
// closed with Enter), names the zone, tries other labels the hub accepts or
// refuses, unticks a label and sets the minimum score (a score out of range
// first: refused, Save disabled), and reads the YAML; then saves the
// drawing to the hub (over the settings channel of a live session) and
// asks the Go side what the hub holds; a reload keeps the drawing; with the
// drawing cleared from this browser, Load from hub brings it back, labels
// and score too; "Use the
// config file's" drops it on the hub; a member device's Save is refused;
// a camera with no snapshot gets a blank 16:9 frame.
//
// Env: BASE_URL, HOUSEHOLD, CAMERA, CONTROL_URL (POST /enrol?role=admin|member
// with the device string; POST /hub-settings: the Go side records what the
// hub holds now, under the name in the body), SESSION,
// CSRF, ZONE, MASK, STRAY ("x,y;x,y;..." frame fractions), DRAG ("from;to"),
// ZONE_NAME, ZONE_LABELS, NAME_VARIANTS (JSON list of zone names tried, and
// of other labels), UNTICK (a label unticked), MIN_SCORE, ARTIFACTS.
import { join } from 'node:path';
import { launch, newPage, result, fail, signedInContext, enrol } from './lib.mjs';

const base = process.env.BASE_URL;
const hh = process.env.HOUSEHOLD;
const cam = process.env.CAMERA;
const pts = (s) => s.split(';').map((p) => p.split(',').map(Number));
const page0 = `${base}/h/${encodeURIComponent(hh)}/cam/${encodeURIComponent(cam)}/zones`;

const control = process.env.CONTROL_URL;

// context: a signed-in browser whose device is enrolled with role.
async function context(role, label) {
  const ctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF, { viewport: { width: 1280, height: 1000 } });
  const page = await newPage(ctx, label);
  await enrol(page, base, `?role=${role}&name=browser%20${role}`);
  return { ctx, page };
}

// hubOp clicks one of the hub buttons and waits for the outcome; while the
// hub's signalling connection to the cloud is not up yet it tries again.
async function hubOp(page, button) {
  for (let i = 0; ; i++) {
    await page.click(button);
    await page.waitForSelector('#zn-hub-status[data-state="ok"], #zn-hub-status[data-state="error"]', { timeout: 60000 });
    const st = await page.$eval('#zn-hub-status', (e) => ({ state: e.dataset.state, text: e.textContent, source: e.dataset.source ?? '', detecting: e.dataset.detecting ?? '' }));
    if (st.state === 'error' && /not connected/.test(st.text) && i < 30) {
      await page.waitForTimeout(1000);
      continue;
    }
    return st;
  }
}

// targets reads the What to detect controls.
const targets = (page) =>
  page.evaluate(() => ({
    labels: [...document.querySelectorAll('.zn-label')].filter((e) => e.checked).map((e) => e.value),
    other: document.querySelector('#zn-label-other').value,
    minScore: document.querySelector('#zn-min-score').value,
  }));

async function recordHub(name) {
  const r = await fetch(`${control}/hub-settings`, { method: 'POST', body: name });
  if (r.status !== 204) fail('hub settings: ' + (await r.text()));
}

const browser = await launch();
const out = {};
try {
  const { ctx, page } = await context('admin', 'zones');

  // From the camera's row in the household's settings.
  await page.goto(`${base}/h/${encodeURIComponent(hh)}/settings`);
  await page.click('#cameras .camera-zones');
  await page.waitForSelector('#zn-img, #zn-blank', { timeout: 30000 });
  out.link = new URL(page.url()).pathname;
  if (await page.$('#zn-blank')) fail('no snapshot shown: ' + (await page.textContent('#zn-status')) + ' ' + (await page.textContent('#zn-error')));
  await page.waitForFunction(() => document.querySelector('#zn-img').complete && document.querySelector('#zn-img').naturalWidth > 0, null, { timeout: 20000 });
  Object.assign(out, await page.$eval('#zn-img', (i) => ({ snapWidth: i.naturalWidth, snapHeight: i.naturalHeight, snapSrc: i.src })));
  await page.waitForFunction(() => document.querySelector('#zn-svg').getAttribute('viewBox') === '0 0 96 64', null, { timeout: 5000 }).catch(() => {});

  // The picture in the middle of the screen (below the sticky header), then its box.
  await page.$eval('#zn-svg', (e) => e.scrollIntoView({ block: 'center' }));
  const box = await (await page.$('#zn-svg')).boundingBox();
  const at = ([x, y]) => [box.x + x * box.width, box.y + y * box.height];
  const click = async (p) => {
    const [x, y] = at(p);
    await page.mouse.click(x, y);
  };

  // The zone: 4 clicks, closed by clicking the first point.
  const zone = pts(process.env.ZONE);
  for (const p of zone) await click(p);
  await click(zone[0]);
  if ((await page.getAttribute('#zn-svg', 'data-shapes')) !== '1') fail('clicking the first point did not close the zone');
  // Drag one of its vertices.
  const [from, to] = pts(process.env.DRAG);
  await page.mouse.move(...at(from));
  await page.mouse.down();
  await page.mouse.move(...at([(from[0] + to[0]) / 2, (from[1] + to[1]) / 2]), { steps: 4 });
  await page.mouse.move(...at(to), { steps: 4 });
  await page.mouse.up();

  // The mask: 3 clicks, a stray one taken back, closed with Enter.
  await page.check('#zn-draw-mask');
  for (const p of pts(process.env.MASK)) await click(p);
  await click(pts(process.env.STRAY)[0]);
  if ((await page.getAttribute('#zn-svg', 'data-draft')) !== '4') fail('the mask being drawn does not have 4 points');
  await page.keyboard.press('Backspace');
  await page.keyboard.press('Enter');
  if ((await page.getAttribute('#zn-svg', 'data-shapes')) !== '2') fail('Enter did not close the mask');

  // A zone without a name is refused as the hub would, and not copied.
  await page.fill('.zn-shape-zone .zn-name', '');
  out.unnamed = { valid: await page.getAttribute('#zn-yaml', 'data-valid'), errors: await page.textContent('#zn-errors'), copy: await page.isDisabled('#zn-copy') };
  // Names the hub accepts or refuses: the page decides the same.
  out.variants = [];
  for (const v of JSON.parse(process.env.NAME_VARIANTS || '[]')) {
    await page.fill('.zn-shape-zone .zn-name', v);
    out.variants.push({ name: v, valid: await page.getAttribute('#zn-yaml', 'data-valid'), yaml: await page.textContent('#zn-yaml') });
  }
  await page.fill('.zn-shape-zone .zn-name', process.env.ZONE_NAME);
  await page.fill('.zn-shape-zone .zn-labels', process.env.ZONE_LABELS);

  // What to detect: the hub's defaults at first; other labels the hub
  // accepts or refuses, the page decides the same.
  out.defaultTargets = await targets(page);
  out.labelVariants = [];
  for (const v of JSON.parse(process.env.NAME_VARIANTS || '[]')) {
    await page.fill('#zn-label-other', v);
    out.labelVariants.push({ name: v, valid: await page.getAttribute('#zn-yaml', 'data-valid'), yaml: await page.textContent('#zn-yaml') });
  }
  await page.fill('#zn-label-other', '');
  await page.uncheck(`#zn-label-${process.env.UNTICK}`);
  await page.fill('#zn-min-score', '1');
  out.badScore = { valid: await page.getAttribute('#zn-yaml', 'data-valid'), errors: await page.textContent('#zn-errors'), save: await page.isDisabled('#zn-save-hub') };
  await page.fill('#zn-min-score', process.env.MIN_SCORE);
  out.targets = await targets(page);
  out.zones = await page.$$eval('#zn-svg .zn-zone', (els) => els.length);
  out.masks = await page.$$eval('#zn-svg .zn-mask', (els) => els.length);
  out.zoneLabel = await page.$eval('#zn-svg .zn-zone-name', (e) => e.textContent);
  out.yaml = await page.textContent('#zn-yaml');
  out.valid = await page.getAttribute('#zn-yaml', 'data-valid');
  out.errors = await page.textContent('#zn-errors');

  // Save to hub: the Go side then reads what the hub holds.
  out.saveDisabled = await page.isDisabled('#zn-save-hub');
  out.saved = await hubOp(page, '#zn-save-hub');
  await recordHub('saved');
  await page.screenshot({ path: join(process.env.ARTIFACTS, 'zones.png'), fullPage: true });

  // A reload keeps the drawing.
  await page.reload();
  await page.waitForSelector('#zn-img', { timeout: 30000 });
  out.reloaded = await page.textContent('#zn-yaml');
  out.reloadedTargets = await targets(page);

  // With the drawing gone from this browser, Load from hub brings it back.
  await page.evaluate(({ hh, cam }) => localStorage.removeItem(`vigil.zones.${hh}.${cam}`), { hh, cam });
  await page.reload();
  await page.waitForSelector('#zn-img', { timeout: 30000 });
  out.cleared = await page.textContent('#zn-yaml');
  out.clearedTargets = await targets(page);
  out.loaded = await hubOp(page, '#zn-load-hub');
  out.loaded.yaml = await page.textContent('#zn-yaml');
  out.loaded.targets = await targets(page);
  out.loaded.shapes = await page.getAttribute('#zn-svg', 'data-shapes');

  // "Use the config file's": the hub drops the app's settings.
  out.reset = await hubOp(page, '#zn-reset-hub');
  out.reset.yaml = await page.textContent('#zn-yaml');
  out.reset.targets = await targets(page);
  await recordHub('reset');

  // A member device may read but not change them.
  const m = await context('member', 'zones-member');
  await m.page.goto(page0);
  await m.page.waitForSelector('#zn-img, #zn-blank', { timeout: 30000 });
  out.member = await hubOp(m.page, '#zn-save-hub');
  await m.ctx.close();
  await recordHub('member');

  // A camera with no snapshot.
  await page.goto(`${base}/h/${encodeURIComponent(hh)}/cam/no-such-camera/zones`);
  await page.waitForSelector('#zn-blank', { timeout: 30000 });
  out.blankStatus = await page.textContent('#zn-status');
  out.blank = await page.$eval('#zn-blank', (e) => {
    const r = e.getBoundingClientRect();
    return { width: r.width, height: r.height };
  });
  await ctx.close();
  result(out);
} finally {
  await browser.close();
}
