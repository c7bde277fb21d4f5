// Helpers of the history browser tests (web/test/history*.mjs): reading
// the history page's verification state and records, and enrolling the
// browser by name.
import { enrol } from './lib.mjs';

/** openHistory loads the history page and waits until it has verified (or failed). */
export async function openHistory(page, base, hh) {
  await page.goto(`${base}/h/${hh}/history`);
  try {
    await page.waitForSelector('#history-status:not([data-state="loading"])', { timeout: 60000 });
  } catch {
    throw new Error(`the history page did not finish verifying: ${await page.textContent('#app', { timeout: 5000 }).catch((x) => String(x))}`);
  }
  return page.$eval('#history-status', (el) => ({
    state: el.dataset.state,
    size: Number(el.dataset.size ?? 0),
    record: Number(el.dataset.record ?? 0),
    text: el.textContent,
    findings: [...el.querySelectorAll('li.finding')].map((li) => li.textContent),
  }));
}

/** rows returns the rows the history page shows (.hist-row). */
export function rows(page) {
  return page.$$eval('#hist-list .hist-row', (lis) =>
    lis.map((li) => ({
      n: Number(li.dataset.n),
      action: li.dataset.action,
      actorKind: li.dataset.actorKind,
      count: Number(li.dataset.count),
      actor: li.dataset.actor,
      device: li.dataset.device,
      camera: li.dataset.camera,
      signed: li.dataset.signed,
      footageMs: li.dataset.footageMs ? Number(li.dataset.footageMs) : null,
      text: li.querySelector('.hist-text')?.textContent ?? '',
      sub: li.querySelector('.sub')?.textContent ?? '',
    })),
  );
}

/** enrolHere makes this browser's device keys, has the Go admin add the device, and returns its ID. */
export async function enrolHere(page, base, role, name) {
  await enrol(page, base, `?role=${role}&name=${encodeURIComponent(name)}`);
  return (await page.textContent('#device-id')).trim();
}
