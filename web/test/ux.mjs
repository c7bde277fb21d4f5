// Measuring a page as a person on a phone meets it (docs/design: no page
// wider than the screen, every control at least 44x44 CSS px, no serious
// accessibility problem). Used by web/test/sweep.mjs (every page) and the
// journey test. Each helper measures the page as it is now and returns
// plain data; the caller decides what fails.
//
//   checkWidths(page, widths)  -> [{width, innerWidth, clientWidth, scrollWidth, offenders}]
//   smallControls(page)        -> [{what, width, height}]
//   axe(page)                  -> [{id, impact, help, nodes: [{target, summary}]}] (serious and critical only)
//   screenshot(page, name)     -> the PNG's path under $SCREENSHOTS, or null when it is not set
//   structure(page)            -> [text]: not exactly one visible <h1>, or "Page not found"
//   measure(page, opts)        -> {widths, small, axe, problems: [text]}: all of them, with what fails
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdirSync, readFileSync } from 'node:fs';

const here = dirname(fileURLToPath(import.meta.url));
const AXE = join(here, '..', 'node_modules', 'axe-core', 'axe.min.js');

/** MIN_TARGET is the smallest control, in CSS px, each way. */
export const MIN_TARGET = 44;

/** settle waits until the layout of the current size is done (two frames, fonts). */
export async function settle(page) {
  await page.evaluate(async () => {
    await document.fonts?.ready;
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  });
}

/**
 * checkWidths sets each viewport width (height 844) in turn and measures
 * the page: the document's scroll width against the layout viewport, and
 * the elements that reach past its right edge (those not clipped by an
 * ancestor that scrolls or hides its overflow inside the screen; only the
 * outermost of a nest is listed). The viewport size is restored after.
 */
export async function checkWidths(page, widths = [360, 390, 430]) {
  const before = page.viewportSize();
  const out = [];
  try {
    for (const width of widths) {
      await page.setViewportSize({ width, height: 844 });
      await settle(page);
      out.push({ width, ...(await page.evaluate(measureWidth)) });
    }
  } finally {
    if (before) {
      await page.setViewportSize(before);
      await settle(page);
    }
  }
  return out;
}

// Runs in the page.
function measureWidth() {
  const de = document.documentElement;
  const vw = Math.min(window.innerWidth, de.clientWidth || window.innerWidth);
  const describe = (el) => {
    const one = (e) => {
      let s = e.tagName.toLowerCase();
      if (e.id) s += '#' + e.id;
      for (const c of [...e.classList].slice(0, 3)) s += '.' + c;
      return s;
    };
    const path = [];
    for (let e = el; e && e !== document.body && path.length < 4; e = e.parentElement) {
      path.unshift(one(e));
      if (e.id) break;
    }
    const text = (el.innerText || el.getAttribute('aria-label') || el.value || '').replace(/\s+/g, ' ').trim().slice(0, 40);
    return path.join(' > ') + (text ? ` "${text}"` : '');
  };
  const clipped = (el) => {
    for (let a = el.parentElement; a && a !== de; a = a.parentElement) {
      const cs = getComputedStyle(a);
      if (cs.overflowX !== 'visible' && a !== document.body && a.getBoundingClientRect().right <= vw + 0.5) return true;
      if (cs.position === 'fixed') break;
    }
    return false;
  };
  const over = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return false;
    const cs = getComputedStyle(el);
    if (cs.visibility === 'hidden' || cs.display === 'contents') return false;
    return r.right > vw + 0.5;
  };
  const scrollWidth = Math.max(de.scrollWidth, document.body.scrollWidth);
  // A fixed bar spanning the page (left: 0; right: 0) is as wide as the
  // page a wider element made: a symptom, not a cause.
  const stretched = (el, r) => getComputedStyle(el).position === 'fixed' && r.left <= 0.5 && r.right >= scrollWidth - 0.5;
  const offenders = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (!over(el) || clipped(el) || stretched(el, el.getBoundingClientRect())) continue;
    const p = el.parentElement;
    // Listed when it sticks out of a parent that fits, or out of its parent.
    if (p && p !== document.body && over(p) && el.getBoundingClientRect().right <= p.getBoundingClientRect().right + 0.5) continue;
    const r = el.getBoundingClientRect();
    offenders.push(`${describe(el)} (right edge ${Math.round(r.right)} px, width ${Math.round(r.width)} px)`);
    if (offenders.length >= 20) break;
  }
  return { innerWidth: window.innerWidth, clientWidth: de.clientWidth, scrollWidth, viewport: vw, offenders };
}

/** widthProblems turns checkWidths' result into failure lines ([] when the page fits). */
export function widthProblems(widths) {
  const out = [];
  for (const w of widths) {
    if (w.scrollWidth <= w.viewport && w.offenders.length === 0) continue;
    out.push(`at ${w.width} px the page is ${w.scrollWidth} px wide${w.offenders.length ? ': ' + w.offenders.join('; ') : ''}`);
  }
  return out;
}

/**
 * smallControls lists the visible controls smaller than 44x44 CSS px:
 * buttons, inputs, selects, textareas, summaries, the ARIA button, slider,
 * tab and menuitem roles, a.btn, navigation links, and links that are not
 * inline text links within a sentence. An input inside a <label> is
 * measured as the label (the label is its target).
 */
export async function smallControls(page) {
  return page.evaluate((min) => {
    const sel = 'button, input, select, textarea, summary, a[href], [role=button], [role=slider], [role=tab], [role=menuitem], [role=link]';
    const describe = (el) => {
      let s = el.tagName.toLowerCase();
      if (el.id) s += '#' + el.id;
      for (const c of [...el.classList].slice(0, 3)) s += '.' + c;
      if (el.type && el.tagName === 'INPUT') s += `[type=${el.type}]`;
      const text = (el.getAttribute('aria-label') || el.innerText || el.value || el.getAttribute('title') || '').replace(/\s+/g, ' ').trim().slice(0, 40);
      return s + (text ? ` "${text}"` : '');
    };
    const visible = (el) => {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) return false;
      const cs = getComputedStyle(el);
      if (cs.visibility === 'hidden' || Number(cs.opacity) === 0) return false;
      // Visually hidden (sr-only: a 1 px clipped box) is not a target.
      if (cs.position === 'absolute' && r.width <= 1 && r.height <= 1) return false;
      return !el.closest('[aria-hidden="true"], [inert]');
    };
    // A link in running text: inline, inside a block that has other text.
    const inlineTextLink = (a) => {
      if (a.closest('nav, [role=navigation], [role=menu], .menu, .tabs')) return false;
      if (a.classList.contains('btn') || a.getAttribute('role') === 'button') return false;
      const cs = getComputedStyle(a);
      if (!cs.display.startsWith('inline') || cs.display === 'inline-flex' || cs.display === 'inline-block' || cs.display === 'inline-grid') return false;
      let block = a.parentElement;
      while (block && getComputedStyle(block).display.startsWith('inline')) block = block.parentElement;
      if (!block) return false;
      // The text on the link's lines: the block's inline content (not its
      // block children), without the link itself.
      let around = '';
      const walk = (n) => {
        for (const c of n.childNodes) {
          if (c === a) continue;
          if (c.nodeType === Node.TEXT_NODE) around += c.textContent;
          else if (c.nodeType === Node.ELEMENT_NODE && getComputedStyle(c).display === 'inline') walk(c);
        }
      };
      walk(block);
      return around.replace(/\s+/g, '').length > 0;
    };
    const out = [];
    const seen = new Set();
    for (const el of document.querySelectorAll(sel)) {
      if (el.tagName === 'INPUT' && el.type === 'hidden') continue;
      if (el.tagName === 'A' && el.getAttribute('role') !== 'button' && inlineTextLink(el)) continue;
      let target = el;
      if (el.tagName === 'INPUT' || el.tagName === 'SELECT' || el.tagName === 'TEXTAREA') target = el.closest('label') ?? el;
      if (!visible(el) && !(target !== el && visible(target))) continue;
      if (seen.has(target)) continue;
      seen.add(target);
      const r = target.getBoundingClientRect();
      const w = Math.round(r.width * 10) / 10;
      const h = Math.round(r.height * 10) / 10;
      if (w + 0.5 < min || h + 0.5 < min) out.push({ what: describe(el) + (target !== el ? ` (its label ${describe(target)})` : ''), width: w, height: h });
    }
    return out;
  }, MIN_TARGET);
}

/** smallProblems turns smallControls' result into failure lines. */
export function smallProblems(small) {
  return small.map((c) => `control ${c.what} is ${c.width}x${c.height} px (under ${MIN_TARGET}x${MIN_TARGET})`);
}

let axeSource = null;

/**
 * axe runs axe-core (node_modules/axe-core/axe.min.js) on the page and
 * returns its serious and critical violations. The source is evaluated
 * through the DevTools protocol: the app's CSP (script-src 'self') refuses
 * a script tag added to the page (page.addScriptTag), and the protocol's
 * evaluation is not subject to it.
 */
export async function axe(page, opts = {}) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    axeSource ??= readFileSync(AXE, 'utf8');
    await page.evaluate(axeSource);
  }
  const res = await page.evaluate(async (o) => {
    const r = await window.axe.run(o.include ? { include: o.include } : document, { resultTypes: ['violations'] });
    return r.violations;
  }, opts);
  return res
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 8).map((n) => ({ target: n.target.join(' '), summary: (n.failureSummary || '').replace(/\s+/g, ' ').slice(0, 200) })),
    }));
}

/** axeProblems turns axe's result into failure lines. */
export function axeProblems(violations) {
  return violations.map((v) => `axe ${v.impact} ${v.id} (${v.help}): ${v.nodes.map((n) => n.target).join(', ')}`);
}

/** screenshot saves the viewport as $SCREENSHOTS/<name>.png (when SCREENSHOTS is set) and returns its path. */
export async function screenshot(page, name) {
  const dir = process.env.SCREENSHOTS;
  if (!dir) return null;
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, animations: 'disabled', caret: 'hide' });
  return path;
}

/**
 * structure lists what is wrong with the page as a whole: not exactly one
 * <h1> (the page's title; design contract), or the router's "Page not
 * found" (a route that does not exist).
 */
export async function structure(page) {
  return page.evaluate(() => {
    const out = [];
    const h1 = [...document.querySelectorAll('h1')].filter((e) => e.getClientRects().length > 0);
    if (h1.length !== 1) out.push(`the page has ${h1.length} visible <h1> (want one, its title)${h1.length ? ': ' + h1.map((e) => JSON.stringify(e.textContent.trim().slice(0, 40))).join(', ') : ''}`);
    if (/^\s*Page not found/i.test(document.querySelector('#app')?.innerText ?? '')) out.push('the app says "Page not found"');
    return out;
  });
}

/** measure runs the three checks on the page as it is and returns them with their failure lines. */
export async function measure(page, { widths = [360, 390, 430] } = {}) {
  const w = await checkWidths(page, widths);
  const small = await smallControls(page);
  const violations = await axe(page);
  const whole = await structure(page);
  return { widths: w, small, axe: violations, problems: [...whole, ...widthProblems(w), ...smallProblems(small), ...axeProblems(violations)] };
}
