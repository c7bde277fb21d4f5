// Helpers of the history browser tests (web/test/history*.mjs): reading
// the history page's verification state and records, and calling the Go
// test's control server.

/** control POSTs to the Go test's control server and fails on an error. */
export async function control(path, body) {
  const res = await fetch(process.env.CONTROL_URL + path, { method: 'POST', body: body ?? '' });
  if (!res.ok) throw new Error(`control ${path}: ${res.status} ${await res.text()}`);
}

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

/** rows returns the records the history page shows. */
export function rows(page) {
  return page.$$eval('#history-records tr.record', (trs) =>
    trs.map((tr) => ({
      n: Number(tr.dataset.n),
      action: tr.dataset.action,
      count: Number(tr.dataset.count),
      actor: tr.dataset.actor,
      signed: tr.dataset.signed,
      who: tr.querySelector('.record-who')?.textContent ?? '',
      did: tr.querySelector('.record-did')?.textContent ?? '',
      text: tr.textContent,
    })),
  );
}

/** enrolHere makes this browser's device keys and has the Go admin add the device. */
export async function enrolHere(page, base, role, name) {
  await page.goto(base + '/device');
  const ds = (await (await page.waitForSelector('#device-string', { timeout: 20000 })).textContent()).trim();
  const id = (await page.textContent('#device-id')).trim();
  await control(`/enrol?role=${role}&name=${encodeURIComponent(name)}`, ds);
  return id;
}
