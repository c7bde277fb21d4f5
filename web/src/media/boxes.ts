// ISO BMFF (MP4) box reading for recorded segments. A segment, once opened
// (decrypted and verified), is a self-contained fragmented MP4 as
// internal/segment writes it: ftyp, moov (one trak per track, mvex/trex),
// then one or more moof+mdat pairs. Each moof has one traf per track with
// tfhd (default-base-is-moof), tfdt (version 1, decode time since the
// recording session began) and trun (durations, sizes, flags, signed
// composition offsets).
//
// Everything here reads untrusted bytes defensively: a malformed box throws
// a MediaError, never reads out of bounds, never loops forever.

export class MediaError extends Error {}

export interface Box {
  type: string;
  start: number; // offset of the box header
  headerSize: number;
  size: number; // whole box
}

/** boxes lists the boxes in b[start, end). */
export function boxes(b: Uint8Array, start = 0, end = b.length): Box[] {
  const out: Box[] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let p = start;
  while (p < end) {
    if (end - p < 8) throw new MediaError(`truncated box header at ${p}`);
    let size = dv.getUint32(p);
    const type = String.fromCharCode(b[p + 4], b[p + 5], b[p + 6], b[p + 7]);
    let headerSize = 8;
    if (size === 1) {
      if (end - p < 16) throw new MediaError(`truncated large box at ${p}`);
      const big = dv.getBigUint64(p + 8);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new MediaError(`box ${type} too large`);
      size = Number(big);
      headerSize = 16;
    } else if (size === 0) {
      size = end - p;
    }
    if (size < headerSize || p + size > end) throw new MediaError(`box ${type} at ${p} overruns its parent (${size} bytes)`);
    out.push({ type, start: p, headerSize, size });
    p += size;
  }
  return out;
}

/** child finds the first child box of type in parent. */
export function child(b: Uint8Array, parent: Box, type: string): Box | undefined {
  return boxes(b, parent.start + parent.headerSize, parent.start + parent.size).find((x) => x.type === type);
}

export function children(b: Uint8Array, parent: Box, type: string): Box[] {
  return boxes(b, parent.start + parent.headerSize, parent.start + parent.size).filter((x) => x.type === type);
}

/** path follows a chain of child types from a box. */
export function path(b: Uint8Array, from: Box, ...types: string[]): Box | undefined {
  let cur: Box | undefined = from;
  for (const t of types) {
    if (!cur) return undefined;
    cur = child(b, cur, t);
  }
  return cur;
}

export function dataView(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function need(box: Box, off: number, n: number): void {
  if (off + n > box.start + box.size) throw new MediaError(`box ${box.type} is too short`);
}

export interface Track {
  id: number;
  handler: string; // 'vide' | 'soun' | ...
  timescale: number;
  codec: string; // RFC 6381 codec string ('avc1.64001f'), '' if unknown
  trak: Box;
  width: number;
  height: number;
  // trex defaults
  defaultDuration: number;
  defaultSize: number;
  defaultFlags: number;
}

export interface Sample {
  track: number;
  dts: number; // decode time, track ticks (session-relative, from tfdt)
  duration: number;
  size: number;
  offset: number; // of the payload in the segment bytes
  cto: number; // composition time offset
  sync: boolean;
}

export interface Fragment {
  start: number; // moof offset
  end: number; // end of its mdat
  sequence: number;
}

export interface ParsedSegment {
  bytes: Uint8Array;
  init: Uint8Array; // ftyp + moov
  ftyp?: Box;
  moov: Box;
  media: Uint8Array; // everything after the moov (moof/mdat pairs)
  tracks: Track[];
  video?: Track;
  samples: Sample[]; // in file order
  fragments: Fragment[];
}

function fourcc(b: Uint8Array, off: number): string {
  return String.fromCharCode(b[off], b[off + 1], b[off + 2], b[off + 3]);
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/** codecString reads the RFC 6381 codec string from a trak's sample entry. */
function codecString(b: Uint8Array, stsd: Box): string {
  const dv = dataView(b);
  // stsd: fullbox header (4) + entry count (4), then sample entries.
  const entriesStart = stsd.start + stsd.headerSize + 8;
  const entries = boxes(b, entriesStart, stsd.start + stsd.size);
  const e = entries[0];
  if (!e) return '';
  if (e.type === 'avc1' || e.type === 'avc3') {
    // VisualSampleEntry: 8 (SampleEntry) + 70 bytes before the child boxes.
    const kids = boxes(b, e.start + e.headerSize + 78, e.start + e.size);
    const avcC = kids.find((k) => k.type === 'avcC');
    if (!avcC) throw new MediaError('H.264 sample entry without avcC');
    const p = avcC.start + avcC.headerSize;
    need(avcC, p, 4);
    return `${e.type}.${hex2(b[p + 1])}${hex2(b[p + 2])}${hex2(b[p + 3])}`;
  }
  if (e.type === 'hvc1' || e.type === 'hev1') {
    const kids = boxes(b, e.start + e.headerSize + 78, e.start + e.size);
    const hvcC = kids.find((k) => k.type === 'hvcC');
    if (!hvcC) throw new MediaError('H.265 sample entry without hvcC');
    const p = hvcC.start + hvcC.headerSize;
    need(hvcC, p, 13);
    const spaceIdc = ['', 'A', 'B', 'C'][b[p + 1] >> 6];
    const tier = b[p + 1] & 0x20 ? 'H' : 'L';
    const profile = b[p + 1] & 0x1f;
    let compat = dv.getUint32(p + 2);
    let rev = 0;
    for (let i = 0; i < 32; i++) {
      rev = (rev << 1) | (compat & 1);
      compat >>>= 1;
    }
    const level = b[p + 12];
    const cons: string[] = [];
    for (let i = 6; i < 12; i++) cons.push(hex2(b[p + i]).toUpperCase());
    while (cons.length > 0 && cons[cons.length - 1] === '00') cons.pop();
    return [`${e.type}`, `${spaceIdc}${profile}`, (rev >>> 0).toString(16).toUpperCase(), `${tier}${level}`, ...cons].join('.');
  }
  if (e.type === 'mp4a') return 'mp4a.40.2';
  if (e.type === 'Opus') return 'opus';
  return e.type;
}

function readTrack(b: Uint8Array, trak: Box): Track {
  const dv = dataView(b);
  const tkhd = child(b, trak, 'tkhd');
  const mdhd = path(b, trak, 'mdia', 'mdhd');
  const hdlr = path(b, trak, 'mdia', 'hdlr');
  const stsd = path(b, trak, 'mdia', 'minf', 'stbl', 'stsd');
  if (!tkhd || !mdhd || !hdlr || !stsd) throw new MediaError('track without tkhd, mdhd, hdlr or stsd');
  const tp = tkhd.start + tkhd.headerSize;
  const tv = b[tp];
  const idOff = tp + 4 + (tv === 1 ? 16 : 8);
  need(tkhd, idOff, 4);
  const id = dv.getUint32(idOff);
  // width/height are the last 8 bytes of tkhd (16.16 fixed point).
  const whOff = tkhd.start + tkhd.size - 8;
  const width = dv.getUint32(whOff) >>> 16;
  const height = dv.getUint32(whOff + 4) >>> 16;
  const mp = mdhd.start + mdhd.headerSize;
  const mv = b[mp];
  const tsOff = mp + 4 + (mv === 1 ? 16 : 8);
  need(mdhd, tsOff, 4);
  const timescale = dv.getUint32(tsOff);
  if (timescale === 0) throw new MediaError('track time scale is 0');
  need(hdlr, hdlr.start + hdlr.headerSize, 12);
  const handler = fourcc(b, hdlr.start + hdlr.headerSize + 8);
  return { id, handler, timescale, codec: codecString(b, stsd), trak, width, height, defaultDuration: 0, defaultSize: 0, defaultFlags: 0 };
}

const NON_SYNC = 0x10000;

/** parseSegment reads an opened segment's tracks, samples and fragments. */
export function parseSegment(bytes: Uint8Array): ParsedSegment {
  const dv = dataView(bytes);
  const top = boxes(bytes);
  const ftyp = top.find((x) => x.type === 'ftyp');
  const moovIdx = top.findIndex((x) => x.type === 'moov');
  if (moovIdx < 0) throw new MediaError('segment has no moov box');
  const moov = top[moovIdx];
  const tracks = children(bytes, moov, 'trak').map((t) => readTrack(bytes, t));
  const mvex = child(bytes, moov, 'mvex');
  if (mvex) {
    for (const trex of children(bytes, mvex, 'trex')) {
      const p = trex.start + trex.headerSize + 4;
      need(trex, p, 20);
      const t = tracks.find((x) => x.id === dv.getUint32(p));
      if (t) {
        t.defaultDuration = dv.getUint32(p + 8);
        t.defaultSize = dv.getUint32(p + 12);
        t.defaultFlags = dv.getUint32(p + 16);
      }
    }
  }
  const initEnd = moov.start + moov.size;
  const initStart = ftyp && ftyp.start < moov.start ? ftyp.start : moov.start;
  const samples: Sample[] = [];
  const fragments: Fragment[] = [];
  for (let i = moovIdx + 1; i < top.length; i++) {
    const moof = top[i];
    if (moof.type !== 'moof') continue;
    const mdat = top[i + 1]?.type === 'mdat' ? top[i + 1] : undefined;
    const mfhd = child(bytes, moof, 'mfhd');
    const sequence = mfhd ? dv.getUint32(mfhd.start + mfhd.headerSize + 4) : 0;
    fragments.push({ start: moof.start, end: mdat ? mdat.start + mdat.size : moof.start + moof.size, sequence });
    for (const traf of children(bytes, moof, 'traf')) {
      const tfhd = child(bytes, traf, 'tfhd');
      if (!tfhd) throw new MediaError('traf without tfhd');
      let p = tfhd.start + tfhd.headerSize;
      need(tfhd, p, 8);
      const tfFlags = dv.getUint32(p) & 0xffffff;
      const trackId = dv.getUint32(p + 4);
      const track = tracks.find((x) => x.id === trackId);
      if (!track) throw new MediaError(`fragment for unknown track ${trackId}`);
      p += 8;
      let base = moof.start;
      let defDur = track.defaultDuration;
      let defSize = track.defaultSize;
      let defFlags = track.defaultFlags;
      if (tfFlags & 0x1) {
        need(tfhd, p, 8);
        base = Number(dv.getBigUint64(p));
        p += 8;
      }
      if (tfFlags & 0x2) p += 4;
      if (tfFlags & 0x8) (need(tfhd, p, 4), (defDur = dv.getUint32(p)), (p += 4));
      if (tfFlags & 0x10) (need(tfhd, p, 4), (defSize = dv.getUint32(p)), (p += 4));
      if (tfFlags & 0x20) (need(tfhd, p, 4), (defFlags = dv.getUint32(p)), (p += 4));
      const tfdt = child(bytes, traf, 'tfdt');
      let dts = 0;
      if (tfdt) {
        const q = tfdt.start + tfdt.headerSize;
        need(tfdt, q, 8);
        if (bytes[q] === 1) {
          need(tfdt, q, 12);
          dts = Number(dv.getBigUint64(q + 4));
        } else dts = dv.getUint32(q + 4);
      }
      let dataEnd = base;
      for (const trun of children(bytes, traf, 'trun')) {
        let q = trun.start + trun.headerSize;
        need(trun, q, 8);
        const version = bytes[q];
        const fl = dv.getUint32(q) & 0xffffff;
        const count = dv.getUint32(q + 4);
        q += 8;
        let dataOff = dataEnd;
        if (fl & 0x1) (need(trun, q, 4), (dataOff = base + dv.getInt32(q)), (q += 4));
        let firstFlags: number | undefined;
        if (fl & 0x4) (need(trun, q, 4), (firstFlags = dv.getUint32(q)), (q += 4));
        const per = ((fl & 0x100 ? 4 : 0) + (fl & 0x200 ? 4 : 0) + (fl & 0x400 ? 4 : 0) + (fl & 0x800 ? 4 : 0));
        need(trun, q, per * count);
        for (let s = 0; s < count; s++) {
          const duration = fl & 0x100 ? dv.getUint32((q += 4) - 4) : defDur;
          const size = fl & 0x200 ? dv.getUint32((q += 4) - 4) : defSize;
          let flags = fl & 0x400 ? dv.getUint32((q += 4) - 4) : defFlags;
          if (s === 0 && firstFlags !== undefined) flags = firstFlags;
          const cto = fl & 0x800 ? (version === 0 ? dv.getUint32((q += 4) - 4) : dv.getInt32((q += 4) - 4)) : 0;
          if (dataOff < 0 || dataOff + size > bytes.length) throw new MediaError('sample data outside the segment');
          samples.push({ track: trackId, dts, duration, size, offset: dataOff, cto, sync: (flags & NON_SYNC) === 0 });
          dts += duration;
          dataOff += size;
        }
        dataEnd = dataOff;
      }
    }
  }
  const video = tracks.find((t) => t.handler === 'vide');
  return {
    bytes,
    init: bytes.subarray(initStart, initEnd),
    ftyp,
    moov,
    media: bytes.subarray(initEnd),
    tracks,
    video,
    samples,
    fragments,
  };
}

/** mimeType is the MSE type for a parsed segment ('video/mp4; codecs="avc1.64001f"'). */
export function mimeType(seg: ParsedSegment): string {
  const codecs = seg.tracks.filter((t) => t.codec && (t.handler === 'vide' || t.handler === 'soun')).map((t) => t.codec);
  return `video/mp4; codecs="${codecs.join(', ')}"`;
}

/** firstDecodeTime is the decode time (seconds, session-relative) of the segment's first video sample. */
export function firstDecodeTime(seg: ParsedSegment): number {
  const v = seg.video;
  if (!v) throw new MediaError('segment has no video track');
  const s = seg.samples.find((x) => x.track === v.id);
  if (!s) throw new MediaError('segment has no video samples');
  return s.dts / v.timescale;
}
