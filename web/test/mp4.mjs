// The in-browser download's MP4 assembly in Chromium: the Go test writes
// opened segments and the range to $INPUT (JSON: parts with start and
// base64 data, from, to), this builds the clip as the timeline's download
// does and writes it to $OUTPUT; the Go test reads it with ffprobe.
import { readFile, writeFile } from 'node:fs/promises';
import { launch, newPage, result } from './lib.mjs';
import { serveTestBundle } from './cryptoserve.mjs';

const input = JSON.parse(await readFile(process.env.INPUT, 'utf8'));
const srv = await serveTestBundle();
const browser = await launch();
try {
  const ctx = await browser.newContext();
  const page = await newPage(ctx, 'mp4');
  await page.goto(srv.url + '/mp4.html');
  await page.waitForFunction(() => window.vigilReady === true);
  const out = await page.evaluate((arg) => window.vigilTest.build(arg), input);
  await writeFile(process.env.OUTPUT, Buffer.from(out.data, 'base64'));
  result({ frames: out.frames, audioFrames: out.audioFrames, duration: out.duration });
} finally {
  await browser.close();
  srv.close();
}
