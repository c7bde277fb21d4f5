// The cloud's event routes as the web app uses them: the listing of sealed
// event objects in a time range, their sealed bytes (the object route the
// timeline uses for segments), and the live WebSocket that announces each
// new event object. The cloud sees only that an event exists at a time;
// everything else is read here, in the browser, with the household's keys.
//
// Owns: a per-page-load cache of opened records and snapshots (by object
// key; sealed objects never change). Must never: send plaintext anywhere.

import { api, apiBytes } from '../api';
import { merge, NotAnEvent, openRecord, openSnapshot, type Event, type EventRecord, type OpenerKeys } from './record';

/** EventObject is one entry of the cloud's event listing (sealed; no label). */
export interface EventObject {
  key: string;
  seq: number;
  start: number; // ms
  end: number; // ms
  size: number;
  device: string;
}

/** LiveNotice is what the live WebSocket sends for a new event object. */
export interface LiveNotice {
  key: string;
  start: number; // ms
  seq: number;
}

const enc = encodeURIComponent;
/** The most objects one listing is read for (the newest are kept). */
export const MAX_LISTED = 2000;

/**
 * listEvents lists the sealed event objects of hh overlapping [from, to),
 * newest first: at most MAX_LISTED, the newest kept. The cloud answers
 * oldest first in pages ("more": ask again from the last start).
 */
export async function listEvents(hh: string, from: number, to: number): Promise<EventObject[]> {
  const out = new Map<string, EventObject>();
  let cursor = from;
  for (let page = 0; page < 50; page++) {
    const q = new URLSearchParams({ from: new Date(cursor).toISOString(), to: new Date(to).toISOString() });
    const res = await api<{ events: { key: string; seq: number; start: string; end: string; size: number; device: string }[] | null; more?: boolean }>('GET', `/v1/households/${enc(hh)}/events?${q}`);
    let last = cursor;
    for (const o of res.events ?? []) {
      if (typeof o.key !== 'string' || !o.key.startsWith(hh + '/')) continue;
      const start = Date.parse(o.start);
      if (Number.isNaN(start)) continue;
      out.set(o.key, { key: o.key, seq: Number(o.seq), start, end: Date.parse(o.end) || start, size: Number(o.size), device: String(o.device ?? '') });
      last = Math.max(last, start);
    }
    if (!res.more || last <= cursor) break;
    cursor = last;
  }
  const list = [...out.values()].sort((a, b) => b.start - a.start || b.seq - a.seq);
  return list.slice(0, MAX_LISTED);
}

const records = new Map<string, Promise<EventRecord>>();
const snapshots = new Map<string, Promise<Uint8Array>>();

function objectPath(hh: string, key: string): string {
  if (!key.startsWith(hh + '/') || key.includes('..')) throw new Error(`object key ${key} is not of this household`);
  return `/v1/households/${enc(hh)}/objects/${key}`;
}

/** readRecord fetches and opens the event record stored as key (cached). */
export function readRecord(hh: string, keys: OpenerKeys, key: string): Promise<EventRecord> {
  let p = records.get(key);
  if (!p) {
    p = (async () => openRecord(await apiBytes(objectPath(hh, key)), keys))();
    records.set(key, p);
    p.catch(() => records.delete(key));
  }
  return p;
}

/** readSnapshot fetches and opens the snapshot stored as key (cached): its JPEG. */
export function readSnapshot(hh: string, keys: OpenerKeys, key: string): Promise<Uint8Array> {
  let p = snapshots.get(key);
  if (!p) {
    p = (async () => openSnapshot(await apiBytes(objectPath(hh, key)), keys))();
    snapshots.set(key, p);
    p.catch(() => snapshots.delete(key));
  }
  return p;
}

/** Failure is an object that could not be opened, and why. */
export interface Failure {
  key: string;
  start: number;
  error: string;
}

/**
 * loadEvents opens every listed object (a few at a time) and merges them
 * into events by id. Objects that fail to open are returned as failures,
 * never shown as events.
 */
export async function loadEvents(hh: string, keys: OpenerKeys, objs: EventObject[], into = new Map<string, Event>()): Promise<{ events: Map<string, Event>; failures: Failure[] }> {
  const failures: Failure[] = [];
  let next = 0;
  const worker = async () => {
    while (next < objs.length) {
      const o = objs[next++];
      try {
        merge(into, await readRecord(hh, keys, o.key), o.key);
      } catch (e) {
        if (e instanceof NotAnEvent) continue; // the hub's health records share the stream
        failures.push({ key: o.key, start: o.start, error: e instanceof Error ? e.message : String(e) });
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return { events: into, failures };
}

const HOUR = 3600_000;

/**
 * findEvent finds event id of hh: first among the records this page load
 * already opened (the inbox opened them), then by opening the listed
 * records of the last hour, day and week, newer first. It returns the
 * event with all its records merged, or undefined.
 */
export async function findEvent(hh: string, keys: OpenerKeys, id: string, now = Date.now()): Promise<Event | undefined> {
  const mine = [...records.entries()].filter(([k]) => k.startsWith(hh + '/'));
  const known = new Map<string, Event>();
  for (const [k, p] of mine) {
    try {
      const r = await p;
      if (r.id === id) merge(known, r, k);
    } catch {
      /* a failed record is no event */
    }
  }
  const found = known.get(id);
  if (found) return found;
  let to = now + 5 * 60_000;
  for (const from of [now - HOUR, now - 24 * HOUR, now - 7 * 24 * HOUR]) {
    const { events } = await loadEvents(hh, keys, await listEvents(hh, from, to));
    const e = events.get(id);
    if (e) return e;
    to = from + 60_000;
  }
  return undefined;
}

/**
 * LiveEvents keeps the household's live event socket open (reconnecting
 * with backoff) and calls onNotice for each new event object.
 */
export class LiveEvents {
  private ws?: WebSocket;
  private closed = false;
  private backoff = 500;
  private timer = 0;

  constructor(
    private hh: string,
    private onNotice: (n: LiveNotice) => void,
    private onState: (open: boolean) => void = () => {},
  ) {
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + `/v1/households/${enc(this.hh)}/events/live`;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 500;
      this.onState(true);
    };
    ws.onmessage = (m) => {
      if (typeof m.data !== 'string' || m.data.length > 4096) return;
      try {
        const j = JSON.parse(m.data);
        if (typeof j.key !== 'string' || !j.key.startsWith(this.hh + '/')) return;
        this.onNotice({ key: j.key, start: Date.parse(j.start), seq: Number(j.seq) });
      } catch {
        /* not a notice */
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.onState(false);
      if (this.closed) return;
      this.timer = window.setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 30_000);
    };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.ws?.close();
    this.ws = undefined;
  }
}
