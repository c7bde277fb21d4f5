// The geometry of a donated clip the editor needs (frame rate, size, frame
// count), read from the MP4's first video track: tkhd's size (or the
// sample entry's), mdhd's timescale, and stts (frame count and the first
// sample's duration, as ffmpeg writes a constant frame rate). Bounded: it
// walks boxes inside the bytes it was given and refuses anything else.
//
// Owns: only that reading. Must never: trust a size that runs past the
// buffer.

export interface ClipInfo {
  fps: number;
  width: number;
  height: number;
  frames: number;
}

type Box = { type: string; start: number; end: number };

function boxes(b: DataView, start: number, end: number): Box[] {
  const out: Box[] = [];
  let p = start;
  while (p + 8 <= end && out.length < 10000) {
    let size = b.getUint32(p);
    const type = String.fromCharCode(b.getUint8(p + 4), b.getUint8(p + 5), b.getUint8(p + 6), b.getUint8(p + 7));
    let head = 8;
    if (size === 1) {
      if (p + 16 > end) break;
      size = Number(b.getBigUint64(p + 8));
      head = 16;
    } else if (size === 0) size = end - p;
    if (size < head || p + size > end) throw new Error(`the clip's MP4 box ${type} runs past its container`);
    out.push({ type, start: p + head, end: p + size });
    p += size;
  }
  return out;
}

const child = (b: DataView, parent: Box, type: string) => boxes(b, parent.start, parent.end).find((x) => x.type === type);

/** clipInfo reads the first video track's geometry from an MP4 file. */
export function clipInfo(mp4: Uint8Array): ClipInfo {
  const b = new DataView(mp4.buffer, mp4.byteOffset, mp4.byteLength);
  const moov = boxes(b, 0, mp4.byteLength).find((x) => x.type === 'moov');
  if (!moov) throw new Error('the clip is not an MP4 with a moov box');
  for (const trak of boxes(b, moov.start, moov.end).filter((x) => x.type === 'trak')) {
    const mdia = child(b, trak, 'mdia');
    const hdlr = mdia && child(b, mdia, 'hdlr');
    if (!mdia || !hdlr || hdlr.end - hdlr.start < 12) continue;
    const handler = String.fromCharCode(...mp4.subarray(hdlr.start + 8, hdlr.start + 12));
    if (handler !== 'vide') continue;
    const mdhd = child(b, mdia, 'mdhd');
    const stbl = child(b, child(b, mdia, 'minf') ?? mdia, 'stbl');
    const stts = stbl && child(b, stbl, 'stts');
    if (!mdhd || !stts) break;
    const timescale = b.getUint8(mdhd.start) === 1 ? b.getUint32(mdhd.start + 20) : b.getUint32(mdhd.start + 12);
    const n = b.getUint32(stts.start + 4);
    if (n < 1 || stts.start + 8 + 8 * n > stts.end) throw new Error('the clip has no frame timing');
    let frames = 0;
    for (let i = 0; i < n; i++) frames += b.getUint32(stts.start + 8 + 8 * i);
    const delta = b.getUint32(stts.start + 12);
    let width = 0;
    let height = 0;
    const tkhd = child(b, trak, 'tkhd');
    if (tkhd) {
      const off = b.getUint8(tkhd.start) === 1 ? 88 : 76;
      if (tkhd.start + off + 8 <= tkhd.end) {
        width = Math.round(b.getUint32(tkhd.start + off) / 65536);
        height = Math.round(b.getUint32(tkhd.start + off + 4) / 65536);
      }
    }
    const fps = Math.round((timescale / delta) * 1000) / 1000;
    if (!(timescale > 0 && delta > 0 && fps > 0 && fps <= 240)) throw new Error('the clip has no usable frame rate');
    if (!(width >= 1 && height >= 1 && width <= 8192 && height <= 8192)) throw new Error('the clip has no usable frame size');
    if (frames < 1 || frames > 1 << 24) throw new Error('the clip has no usable frame count');
    return { fps, width, height, frames };
  }
  throw new Error('the clip has no video track');
}
