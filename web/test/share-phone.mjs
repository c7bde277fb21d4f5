// Phone checks for the sharing scripts: a phone context (390x844, touch),
// and a page's fit at 360/390/430 px, its small controls and its serious or
// critical axe-core violations.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// Evaluated through the DevTools protocol: the app's CSP allows no inline script.
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const PHONE = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2 };

/** phoneContext opens a phone-sized touch context (opts are added, e.g. permissions). */
export async function phoneContext(browser, opts = {}) {
  return browser.newContext({ ...PHONE, ...opts });
}

/** smallControls lists the visible controls under 44x44 CSS px (inline links in text excepted). */
export async function smallControls(page) {
  return page.evaluate(() => {
    const out = [];
    const sel = 'button, input, select, textarea, summary, [role=button], [role=slider], [role=tab], a.btn, nav a';
    for (const el of document.querySelectorAll(sel)) {
      let t = el;
      if (el.matches('input[type=checkbox], input[type=radio]')) t = el.closest('label') ?? el;
      const r = t.getBoundingClientRect();
      const cs = getComputedStyle(t);
      if (r.width === 0 || r.height === 0 || cs.visibility === 'hidden') continue;
      if (el.closest('[aria-hidden=true]')) continue;
      if (r.width < 43.5 || r.height < 43.5) out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} "${(el.textContent || el.getAttribute('aria-label') || '').trim().slice(0, 30)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
    return out;
  });
}

/** axeViolations runs axe-core on the page and returns its serious and critical violations. */
export async function axeViolations(page) {
  if (!(await page.evaluate(() => !!window.axe))) await page.evaluate(axeSource);
  const res = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  });
  return res;
}

/** tooWide lists the widths (of 360, 390, 430) at which the page is wider than the screen; it ends at 390. */
export async function tooWide(page) {
  const out = [];
  for (const width of [360, 430, 390]) {
    await page.setViewportSize({ width, height: 844 });
    await page.waitForTimeout(150);
    const w = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
    if (w.scroll > w.inner) out.push(`${width}: ${w.scroll} px`);
  }
  return out;
}

/** phoneCheck is all three for the page as it is now. */
export async function phoneCheck(page) {
  return { tooWide: await tooWide(page), small: await smallControls(page), axe: await axeViolations(page) };
}

/** inView says whether the element is wholly inside the viewport. */
export async function inView(page, selector) {
  return page.$eval(selector, (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth;
  });
}

/** readDownload clicks selector, waits for the download and returns its size, its first box type and name. */
export async function readDownload(page, selector) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 30000 }), page.click(selector)]);
  const stream = await dl.createReadStream();
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  const buf = Buffer.concat(chunks);
  return { size: buf.length, box: buf.length >= 8 ? buf.subarray(4, 8).toString('latin1') : '', name: dl.suggestedFilename() };
}
