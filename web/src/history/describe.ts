// The history in words people use: who (the device from the household's
// verified chain, "Anna's phone"; a device the chain does not hold; the
// account's e-mail when the session named no device; someone with a share
// link), what (plain verbs: watched, shared, changed how long recordings
// are kept), and which records are the app's own bookkeeping (polling,
// listings, reads of the chain and settings) that the page hides unless
// asked. Consecutive reads of one camera's recordings by one actor become
// one row.
//
// Owns: the wording and grouping of verified records. Must never: describe
// a record that was not verified (it only receives Verified records), or
// read a change's details from anything but its verified signed body.

import { parseAction, parseSigned } from '../crypto/action';
import type { ChainState } from '../crypto/chain';
import type { Verified } from './audit';

/** Actions that are the app's own bookkeeping: hidden unless "Everything" is on. */
const BOOKKEEPING = new Set([
  'household.read', 'households.list', 'chain.read', 'cameras.list', 'objects.list', 'events.list', 'events.live',
  'live.ice', 'members.list', 'settings.read', 'invites.list', 'join-requests.list', 'shares.list', 'history.read',
  'access.read', 'staff-requests.list', 'hubs.health',
]);

/** Streams of objects that are not footage (docs/FORMAT.md, "Event records v1", "Hub state records"). */
const EVENTS_STREAM = 'events';
const SNAPSHOTS_STREAM = 'snapshots';
const STATES_STREAM = 'states';

/** Plain verbs of the actions that are not reads of recordings. */
const VERB: Record<string, string> = {
  'household.read': 'opened the household',
  'households.list': 'listed the households',
  'chain.read': 'checked the household’s devices',
  'chain.append': 'changed the household’s devices',
  'cameras.list': 'listed the cameras',
  'objects.list': 'looked through the recordings',
  'events.list': 'looked through the alerts',
  'events.live': 'waited for new alerts',
  'live.view': 'watched live',
  'live.ice': 'got ready to watch live',
  'members.list': 'listed who has access',
  'member.add': 'gave an account access',
  'member.remove': 'took an account’s access away',
  'settings.read': 'checked how long recordings are kept',
  'hubs.health': 'checked how the hubs are doing',
  'settings.set': 'changed how long recordings are kept',
  'invites.list': 'listed the invites',
  'invite.create': 'made an invite',
  'invite.delete': 'cancelled an invite',
  'invite.read': 'opened an invite',
  'join-requests.list': 'checked for devices waiting to join',
  'join-requests.approve': 'let a new device join',
  'join-requests.decline': 'turned a device away',
  'shares.list': 'listed the shares',
  'share.create': 'shared recordings',
  'share.revoke': 'stopped sharing',
  'share.clip': 'stored a blurred clip for a share',
  'share.read': 'opened a share',
  'share.object.read': 'watched the blurred clip of a share',
  'push.subscribe': 'turned notifications on',
  'push.unsubscribe': 'turned notifications off',
  'history.read': 'read this history',
  'access.read': 'read the access history',
  'staff-requests.list': 'checked for requests from Vigil staff',
  'staff.lookup': 'looked this household up by its support code',
  'staff.tickets': 'looked up Vigil staff’s tickets about this household',
};

/** ObjectKey is an object key's parts: {household}/{hub}/{stream}/{sequence, 16 hex}. */
export interface ObjectKey {
  hub: string;
  stream: string;
  seq: bigint;
}

/** parseObjectKey reads an object key (docs/FORMAT.md), or returns null for anything else. */
export function parseObjectKey(key: string | undefined): ObjectKey | null {
  const m = /^[A-Za-z0-9._-]+\/([A-Za-z0-9._-]+)\/([A-Za-z0-9._-]{1,64})\/([0-9a-f]{16})$/.exec(key ?? '');
  return m ? { hub: m[1], stream: m[2], seq: BigInt('0x' + m[3]) } : null;
}

/** ActorKind is what the page tells apart (data-actor-kind). */
export type ActorKind = 'device' | 'unknown-device' | 'account' | 'guest' | 'link' | 'hub' | 'cloud' | 'staff' | 'workspace';

export interface Who {
  kind: ActorKind;
  /** name starts a sentence: "Anna's phone", "Someone with a share link". */
  name: string;
  /** account is the e-mail (or ID) behind a device, when there is one. */
  account?: string;
}

/**
 * Names are what the page knows to name actors: the verified chain, the
 * members' e-mails and, when the page could read them (admins), the names
 * of the staff members who asked for access, by staff ID.
 */
export interface Names {
  chain: ChainState;
  emails: Map<string, string>;
  staff?: Map<string, string>;
}

const quoted = (s: string) => `“${s}”`;

/** who names a record's actor. */
export function who(r: Verified, names: Names): Who {
  const { chain, emails } = names;
  const deviceName = (id: string): { name: string; removed: boolean } | null => {
    const d = chain.device(id);
    if (d) return { name: d.name, removed: false };
    const gone = chain.removedDevice(id);
    return gone ? { name: gone.device.name, removed: true } : null;
  };
  const a = r.actor;
  switch (a.kind) {
    case 'account':
    case 'guest': {
      const email = emails.get(a.id);
      const person = a.kind === 'guest' ? `Guest ${email ?? 'account'}` : email ?? 'An account of the household';
      if (a.device) {
        const d = deviceName(a.device);
        if (d) return { kind: 'device', name: d.removed ? `${d.name} (since removed)` : d.name, account: email ?? a.id };
        return { kind: 'unknown-device', name: 'A device not in the household', account: email ?? a.id };
      }
      return { kind: a.kind, name: person, account: email ?? a.id };
    }
    case 'device': {
      const d = deviceName(a.id);
      return { kind: d ? 'device' : 'unknown-device', name: d ? d.name : 'A device not in the household' };
    }
    case 'hub': {
      const d = deviceName(a.id);
      return { kind: 'hub', name: d ? `The hub ${quoted(d.name)}` : 'A hub not in the household' };
    }
    case 'link':
      return { kind: 'link', name: 'Someone with a share link' };
    case 'cloud':
      return { kind: 'cloud', name: 'The Vigil service' };
    case 'staff':
      return { kind: 'staff', name: staffWho(a.id, names) };
    case 'workspace':
      return { kind: 'workspace', name: `Labelling workspace device ${a.id}` };
  }
  return { kind: 'account', name: `${a.kind} ${a.id}` };
}

/** staffWho names a staff member: "Sam of Vigil staff", or their staff ID. */
function staffWho(id: string, names: Names): string {
  const n = names.staff?.get(id);
  return n ? `${n} of Vigil staff` : `Vigil staff member ${id}`;
}

/** StaffRequestRef is a lockbox request as a record's object names it (internal/cloud/staff.go requestObject). */
export interface StaffRequestRef {
  id: string;
  staff: string;
  scopes: string[];
  durationMs: number | null;
  reason: string;
}

/** parseGoDuration reads Go's Duration.String ("8h0m0s", "30m0s", "1.5s"), or returns null. */
export function parseGoDuration(s: string): number | null {
  const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$/.exec(s);
  if (!m || s === '') return null;
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}

/**
 * parseStaffObject reads "…request ID by staff SID (a,b for 1h0m0s): reason"
 * from a record's object; prefix is what comes before "request" (a read:
 * "hubs under "). It returns null for anything else.
 */
export function parseStaffObject(object: string | undefined): { prefix: string; req: StaffRequestRef } | null {
  const m = /^(.*?)request ([a-z2-7]{26}) by staff ([A-Za-z0-9]+) \(([a-z,]+) for ([0-9hms.]+)\): ([\s\S]*)$/.exec(object ?? '');
  if (!m) return null;
  return { prefix: m[1], req: { id: m[2], staff: m[3], scopes: m[4].split(','), durationMs: parseGoDuration(m[5]), reason: m[6] } };
}

/** STAFF_SCOPE_WORDS are the lockbox's scopes in words (as the settings page says them). */
const STAFF_SCOPE_WORDS: Record<string, string> = {
  hubs: 'your hubs',
  uploads: 'your uploads',
  storage: 'your storage use',
  cameras: 'your camera count',
  versions: 'your app and hub versions',
};

const andList = (w: string[]) => (w.length <= 1 ? w[0] ?? '' : `${w.slice(0, -1).join(', ')} and ${w[w.length - 1]}`);
const scopeWords = (scopes: string[]) => andList(scopes.map((s) => STAFF_SCOPE_WORDS[s] ?? s));

/** Row is one line of the page: one record, or consecutive reads of one camera by one actor. */
export interface Row {
  action: string;
  who: Who;
  /** actorKey tells actors apart (kind, id and device). */
  actorKey: string;
  records: Verified[]; // newest first
  /** reads: how many reads the row stands for (coalesced records count each). */
  reads: number;
  /** when the first and the last of them happened (ms). */
  fromMs: number;
  toMs: number;
  bookkeeping: boolean;
  /** camera (stream) and object keys, for reads of recordings. */
  camera?: string;
  keys: string[];
}

const actorKey = (r: Verified) => `${r.actor.kind}\u0000${r.actor.id}\u0000${r.actor.device ?? ''}`;

/** isBookkeeping says whether a record is the app's own bookkeeping. */
export function isBookkeeping(r: Verified): boolean {
  if (BOOKKEEPING.has(r.action)) return true;
  if (r.actor.kind === 'hub') return true; // hubs read the chain and settings to keep recording
  if (r.action === 'object.read') {
    const k = parseObjectKey(r.object);
    return k?.stream === STATES_STREAM;
  }
  return false;
}

const isFootageRead = (r: Verified) => (r.action === 'object.read' || r.action === 'share.object.read') && parseObjectKey(r.object) !== null;

/** GROUP_GAP_MS: reads further apart than this are separate rows. */
const GROUP_GAP_MS = 30 * 60_000;

/**
 * rows turns verified records (newest first) into the page's rows, newest
 * first: consecutive reads of one stream by one actor (among the records
 * that are not bookkeeping) become one row; every other record is a row.
 */
export function rows(records: Verified[], names: Names): Row[] {
  const out: Row[] = [];
  let open: Row | null = null; // the group the next older read may join
  for (const r of records) {
    const last = r.lastMs ?? r.timeMs;
    const book = isBookkeeping(r);
    const key = actorKey(r);
    if (!book && isFootageRead(r)) {
      const k = parseObjectKey(r.object)!;
      if (open && open.actorKey === key && open.action === r.action && open.camera === k.stream && open.fromMs - last <= GROUP_GAP_MS) {
        open.records.push(r);
        open.reads += r.count;
        open.fromMs = Math.min(open.fromMs, r.timeMs);
        open.keys.push(r.object!);
        continue;
      }
      open = { action: r.action, who: who(r, names), actorKey: key, records: [r], reads: r.count, fromMs: r.timeMs, toMs: last, bookkeeping: false, camera: k.stream, keys: [r.object!] };
      out.push(open);
      continue;
    }
    if (r.action === 'share.read' && open && open.actorKey === key) {
      // A guest opening the share on the way to watching it: part of the watching.
      open.records.push(r);
      continue;
    }
    if (!book) open = null;
    out.push({ action: r.action, who: who(r, names), actorKey: key, records: [r], reads: r.count, fromMs: r.timeMs, toMs: last, bookkeeping: book, keys: r.object ? [r.object] : [] });
  }
  // A share opened just after its guest watched (newer than the reads) is
  // part of that watching too.
  return out.filter((row, i) => {
    if (row.action !== 'share.read') return true;
    const older = out[i + 1];
    if (older && older.camera !== undefined && older.actorKey === row.actorKey && row.fromMs - older.toMs <= GROUP_GAP_MS) {
      older.records.push(...row.records);
      return false;
    }
    return true;
  });
}

/** Footage is the recorded time a row's objects cover, from the objects listing (start of the first, end of the last). */
export interface Footage {
  startMs: number;
  endMs: number;
}

/** Sentence is a row in words: what (a sentence with the actor first) and a detail. */
export interface Sentence {
  text: string;
  /** footage: the recorded time the text names, when known. */
  footage?: Footage;
}

const lowerDay = (s: string) => s.replace(/^(Today|Yesterday|Tomorrow)\b/, (d) => d.toLowerCase());

const plural = (n: number, one: string, many: string) => (n === 1 ? `1 ${one}` : `${n} ${many}`);

const DAY = 86400;

function retentionWords(maxAge: number): string {
  if (maxAge <= 0) return 'until the storage is full';
  if (maxAge % DAY === 0) return `for ${plural(maxAge / DAY, 'day', 'days')}`;
  if (maxAge % 3600 === 0) return `for ${plural(maxAge / 3600, 'hour', 'hours')}`;
  return `for ${plural(Math.round(maxAge / 60), 'minute', 'minutes')}`;
}

/** signedParams reads a verified change's parameters (only when its signature verified). */
function signedParams(r: Verified): Record<string, unknown> | null {
  if (!r.signed || !r.signer) return null;
  try {
    return parseAction(parseSigned(r.signed).body).params;
  } catch {
    return null;
  }
}

/**
 * describe says what a row records, in a sentence starting with the actor.
 * fmt formats times (the kit's); footage is the recorded time of a read
 * row's objects, when known.
 */
export function describe(row: Row, names: Names, fmt: { dateTime(ms: number): string; duration(ms: number): string }, footage?: Footage): Sentence {
  const w = row.who.name;
  const r = row.records[0];
  if (row.camera !== undefined) {
    const n = row.keys.length;
    switch (row.camera) {
      case EVENTS_STREAM:
        return { text: `${w} opened ${plural(n, 'alert', 'alerts')}` };
      case SNAPSHOTS_STREAM:
        return { text: `${w} looked at ${plural(n, 'alert picture', 'alert pictures')}` };
    }
    if (footage) {
      return { text: `${w} watched ${row.camera}, ${fmt.duration(Math.max(1000, footage.endMs - footage.startMs))} of ${lowerDay(fmt.dateTime(footage.startMs))}`, footage };
    }
    return { text: `${w} watched ${row.camera}, ${plural(n, 'piece', 'pieces')} of recording` };
  }
  const p = signedParams(r);
  switch (r.action) {
    case 'settings.set':
      if (p && typeof p.max_age_seconds === 'number') {
        const quota = typeof p.quota_bytes === 'number' && p.quota_bytes > 0 ? ` (storage limit ${(p.quota_bytes / 1e9).toFixed(p.quota_bytes < 1e10 ? 1 : 0)} GB)` : '';
        return { text: `${w} changed how long recordings are kept: ${retentionWords(p.max_age_seconds)}${quota}` };
      }
      break;
    case 'member.add':
      if (p && typeof p.email === 'string') return { text: `${w} gave ${p.email} access${p.role === 'admin' ? ' as an admin' : ''}` };
      break;
    case 'member.remove': {
      const id = p && typeof p.account === 'string' ? p.account : r.object;
      const email = id ? names.emails.get(id) : undefined;
      if (email) return { text: `${w} took ${email}’s access away` };
      break;
    }
    case 'invite.create':
      if (p && typeof p.role === 'string') return { text: `${w} made an invite${p.role === 'admin' ? ' for an admin' : ''}` };
      break;
    case 'staff.request':
    case 'staff.read':
    case 'staff.expire':
    case 'staff.approve':
    case 'staff.deny':
    case 'staff.revoke': {
      const t = staffSentence(r.action, w, r.object, names, fmt);
      if (t) return { text: t };
      break;
    }
    case 'staff.ticket-open':
    case 'staff.ticket-close':
    case 'staff.ticket-reopen': {
      // "ticket <id>: <subject>" (internal/cloud/staff_tickets.go).
      const m = /^ticket [a-z0-9]+: (.+)$/.exec(r.object ?? '');
      const subject = m ? `: “${m[1]}”` : '';
      const verb = r.action === 'staff.ticket-open' ? 'opened a support ticket about this household' : r.action === 'staff.ticket-close' ? 'closed a support ticket about this household' : 'reopened a support ticket about this household';
      return { text: `${w} ${verb}${subject}` };
    }
    case 'object.read': {
      const k = parseObjectKey(r.object);
      if (k?.stream === STATES_STREAM) return { text: `${w} checked what the hubs verified` };
      return { text: `${w} downloaded ${r.object ?? 'an object'}` };
    }
  }
  const verb = VERB[r.action];
  return { text: verb ? `${w} ${verb}` : `${w} did “${r.action}”` };
}

/**
 * staffSentence says a lockbox record in words: who asked to see what, for
 * how long and why; an admin's decision on it; a staff member's look under
 * it; its end. w is the record's actor, already named.
 */
function staffSentence(action: string, w: string, object: string | undefined, names: Names, fmt: { duration(ms: number): string }): string | null {
  const o = parseStaffObject(object);
  if (!o) return null;
  const q = o.req;
  const asker = staffWho(q.staff, names);
  const span = q.durationMs ? ` for ${fmt.duration(q.durationMs)}` : '';
  const why = `: “${q.reason}”`;
  switch (action) {
    case 'staff.request':
      return `${w} asked to see ${scopeWords(q.scopes)}${span}${why}`;
    case 'staff.approve':
      return `${w} let ${asker} see ${scopeWords(q.scopes)}${span}${why}`;
    case 'staff.deny':
      return `${w} turned down ${asker}’s request to see ${scopeWords(q.scopes)}${why}`;
    case 'staff.revoke':
      return `${w} took back ${asker}’s access to ${scopeWords(q.scopes)}${why}`;
    case 'staff.read': {
      const scope = o.prefix.replace(/ under $/, '');
      return `${w} looked at ${scopeWords([scope])}, under the access given for${why.slice(1)}`;
    }
    case 'staff.expire':
      return `${asker}’s access to ${scopeWords(q.scopes)} ended${why}`;
  }
  return null;
}
