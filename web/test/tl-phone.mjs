// Phone checks for the camera page and the events inbox: a 390x844 touch
// context, the page's width at 360/390/430, controls under 44 px, axe-core's
// serious and critical violations, and a tap on the timeline bar at a time.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// Evaluated through the driver: the app's CSP refuses inline scripts.
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const PHONE = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true };

/** layoutProblems returns the widths at which the page is wider than the screen, the controls under 44x44 px, and axe's serious/critical violations; it leaves the viewport at 390x844. */
export async function layoutProblems(page) {
  const wide = [];
  for (const width of [360, 430, 390]) {
    await page.setViewportSize({ width, height: 844 });
    await page.waitForTimeout(200);
    const w = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
    if (w.scroll > w.inner) wide.push(`${width}: ${w.scroll}px`);
  }
  const small = await page.evaluate(() => {
    const out = [];
    const sel = 'button, input, select, summary, [role=button], [role=slider], [role=tab], a.btn, nav a';
    for (const el of document.querySelectorAll(sel)) {
      const target = el.matches('input[type=checkbox], input[type=radio]') ? el.closest('label') || el : el;
      const r = target.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || getComputedStyle(target).visibility === 'hidden') continue;
      if (r.width < 44 - 0.5 || r.height < 44 - 0.5) out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${[...el.classList].join('.')} ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
    return out;
  });
  if (!(await page.evaluate(() => !!window.axe))) await page.evaluate(axeSource);
  const axe = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  });
  return { wide, small, axe };
}

/**
 * tapBarAt taps #tl-bar at wall time w (ms) with the touchscreen, on a
 * whole pixel, and returns the time under that pixel as the bar was drawn
 * (tapped) and the time the page took the tap to be (clicked). It retries
 * once when the bar's window moved between reading it and the tap.
 */
export async function tapBarAt(page, w) {
  for (let i = 0; ; i++) {
    const box = await page.locator('#tl-bar').boundingBox();
    const from = Number(await page.getAttribute('#tl-bar', 'data-from'));
    const to = Number(await page.getAttribute('#tl-bar', 'data-to'));
    if (!(w > from && w < to)) throw new Error(`time ${new Date(w).toISOString()} is outside the bar (${new Date(from).toISOString()} .. ${new Date(to).toISOString()})`);
    const x = Math.round(box.x + ((w - from) / (to - from)) * box.width);
    const tapped = from + ((x - box.x) / box.width) * (to - from);
    await page.evaluate(() => delete document.querySelector('#tl-bar').dataset.clicked);
    const started = Date.now();
    await page.touchscreen.tap(x, Math.round(box.y + box.height / 2));
    await page.waitForFunction(() => document.querySelector('#tl-bar').dataset.clicked, null, { timeout: 5000 });
    const clicked = Number(await page.getAttribute('#tl-bar', 'data-clicked'));
    const msPerPx = (to - from) / box.width;
    if (Math.abs(clicked - tapped) <= msPerPx || i > 0) return { started, tapped, clicked, msPerPx };
  }
}
