// A range of a camera's recording, blurred by the household's own hub: the
// segments are opened in this browser (media/segments.ts), put together
// into one MP4 (media/mp4.ts), sent to the hub over the redact channel of a
// live session (live/redact.ts: end to end encrypted to the hub) and come
// back with faces and heads blurred, with the hub's report. The donate
// sheet (labelling/donate.ts) and the share sheet (share/sheet.ts) both
// make their clip here and show it with showBlurred.
//
// Owns: making the blurred clip and its preview. Must never: send the clip
// anywhere but the household's hub, keep the unblurred clip after the hub
// answered, or put network text in as HTML.

import { api } from '../api';
import { hex, sha256 } from '../crypto/bytes';
import type { DeviceKeys } from '../crypto/devicekeys';
import { MAX_CLIP, RedactChannel, type RedactReport } from '../live/redact';
import { liveTrust } from '../live/trust';
import { householdKeys } from './keys';
import { buildMP4, type ClipPart } from './mp4';
import { listSegments, openSegment } from './segments';

/** MAX_BLUR_SPAN_MS bounds the range blurred at once. */
export const MAX_BLUR_SPAN_MS = 10 * 60_000;

export interface BlurOptions {
  hh: string;
  cam: string;
  fromMs: number;
  toMs: number;
  keys: DeviceKeys;
  keepAudio: boolean;
  /** signal ends the hub's job and drops every byte. */
  signal: AbortSignal;
  /** say reports progress in words, with the fraction done when known. */
  say: (text: string, frac?: number) => void;
}

export interface BlurredClip {
  /** clip is the blurred MP4 the hub sent back. */
  clip: Uint8Array<ArrayBuffer>;
  /** range is the clip's time (ms since the epoch): whole segments, so a little wider than asked. */
  range: [number, number];
  /** originalSha256 is the hex SHA-256 of the MP4 sent to the hub. */
  originalSha256: string;
  report: RedactReport;
}

/** Cancelled: the signal stopped the work. */
export class Cancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'Cancelled';
  }
}

/**
 * blurRange makes the blurred clip of [fromMs, toMs) of camera cam. It
 * throws Cancelled when o.signal aborts, live/settings' HubSaid when the
 * hub refuses, and an Error saying what to do otherwise.
 */
export async function blurRange(o: BlurOptions): Promise<BlurredClip> {
  const { hh, cam, fromMs, toMs, signal, say } = o;
  const stop = () => {
    if (signal.aborted) throw new Cancelled();
  };
  if (!(toMs > fromMs)) throw new Error('choose a start before the end');
  if (toMs - fromMs > MAX_BLUR_SPAN_MS) throw new Error(`your hub blurs at most ${MAX_BLUR_SPAN_MS / 60_000} minutes at once: choose a shorter time`);

  // The recording, opened on this device.
  const hk = await householdKeys(hh);
  const list = (await listSegments(hh, cam, fromMs, toMs)).filter((s) => s.end > fromMs && s.start < toMs);
  if (!list.length) throw new Error('nothing was recorded in that time');
  const parts: ClipPart[] = [];
  let bytes = 0;
  for (const [i, ref] of list.entries()) {
    stop();
    say('Opening the recording…', i / list.length);
    const seg = await openSegment(hh, cam, hk, ref);
    bytes += seg.data.length;
    if (bytes > 4 * MAX_CLIP) throw new Error('the clip is too long for your hub to blur: choose a shorter time');
    parts.push({ start: seg.start, data: seg.data });
  }
  const built = buildMP4(parts, fromMs, toMs);
  if (built.bytes.length > MAX_CLIP) {
    throw new Error(`the clip is ${(built.bytes.length / 1e6).toFixed(1)} MB, and your hub blurs at most ${MAX_CLIP / (1 << 20)} MB at once: choose a shorter time`);
  }
  const start = Math.floor(built.start);
  const range: [number, number] = [start, Math.max(start + 1, Math.ceil(built.start + built.duration * 1000))];
  const originalSha256 = hex(await sha256(built.bytes));
  stop();

  // Blurred by the household's own hub, over the live session's encrypted channel.
  say('Connecting to your hub…');
  const trust = await liveTrust(hh, o.keys);
  const ice = await api<{ cameras: string[] | null }>('GET', `/v1/households/${encodeURIComponent(hh)}/live/ice`);
  const cams = ice.cameras ?? [];
  const on = cams.includes(cam) ? cam : cams[0];
  if (!on) throw new Error('your hub is not connected to the Vigil service; check that it is on and online, then try again');
  const ch = new RedactChannel({ hh, camera: on, keys: o.keys, trust });
  const close = () => ch.close();
  signal.addEventListener('abort', close, { once: true });
  try {
    try {
      await ch.open();
    } catch (x) {
      stop();
      throw new Error(`your hub could not be reached (${(x as Error).message}); check that it is on and online, then try again`);
    }
    stop();
    say('Sending the clip to your hub…');
    const res = await ch.redact(built.bytes.slice(), {
      keepAudio: o.keepAudio,
      signal,
      progress: (d, t) => say(t > 0 ? `Blurring faces and heads… ${d} of ${t} frames` : `Blurring faces and heads… ${d} frames`, t > 0 ? d / t : undefined),
    });
    stop();
    return { clip: res.clip.slice(), range, originalSha256, report: res.report };
  } catch (x) {
    stop();
    throw x;
  } finally {
    signal.removeEventListener('abort', close);
    ch.close();
  }
}

/** reportWords is the hub's report in words. */
export function reportWords(r: RedactReport): string {
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const parts = [`${n(r.frames)} frames checked`, `${n(r.faces)} face${n(r.faces) === 1 ? '' : 's'} blurred in ${n(r.face_frames)} frame${n(r.face_frames) === 1 ? '' : 's'}`, `${n(r.heads)} head${n(r.heads) === 1 ? '' : 's'} of people blurred`];
  if (n(r.plates)) parts.push(`${n(r.plates)} number plate${n(r.plates) === 1 ? '' : 's'} blurred`);
  parts.push(r.audio_kept ? 'sound kept' : 'no sound');
  return parts.join(' · ');
}

/**
 * showBlurred shows b in the preview video and its report (the report's
 * numbers also as data- attributes), and returns the object URL the
 * caller revokes when the preview closes.
 */
export async function showBlurred(b: BlurredClip, video: HTMLVideoElement, report: HTMLElement): Promise<string> {
  const url = URL.createObjectURL(new Blob([b.clip], { type: 'video/mp4' }));
  video.src = url;
  video.dataset.sha256 = hex(await sha256(b.clip));
  video.dataset.originalSha256 = b.originalSha256;
  video.dataset.bytes = String(b.clip.length);
  report.textContent = `Your hub blurred it: ${reportWords(b.report)}.`;
  for (const [k, v] of Object.entries(b.report)) if (typeof v === 'number' || typeof v === 'boolean') report.dataset[k.replace(/_(\w)/g, (_, c: string) => c.toUpperCase())] = String(v);
  return url;
}
