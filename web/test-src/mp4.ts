// Exposes the in-browser download's MP4 assembly (web/src/media/mp4) to the
// browser test web/test/mp4.mjs, which hands it opened segments recorded
// by the Go test and gives the file back for ffprobe.
import { buildMP4, type ClipPart } from '../src/media/mp4';

interface In {
  parts: { start: number; data: string }[]; // data in base64
  from: number;
  to: number;
}

const fromB64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

function toB64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

function build(input: In) {
  const parts: ClipPart[] = input.parts.map((p) => ({ start: p.start, data: fromB64(p.data) }));
  const clip = buildMP4(parts, input.from, input.to);
  return { data: toB64(clip.bytes), frames: clip.frames, audioFrames: clip.audioFrames, duration: clip.duration };
}

(window as unknown as { vigilTest: unknown }).vigilTest = { build };
(window as unknown as { vigilReady: boolean }).vigilReady = true;
