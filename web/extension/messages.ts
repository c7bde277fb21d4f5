// Messages between the content script and the background worker.

import type { Logged } from './release';

export type Request = { type: 'state' } | { type: 'verify' } | { type: 'ok' } | { type: 'stopped'; reason: string };

/** PageState is what the background tells a page of a guarded origin. */
export type PageState =
  | { status: 'verified'; logged: Logged; releases: string[]; error?: string; reload?: boolean }
  | { status: 'verifying' }
  | { status: 'failed'; error: string; severe?: boolean }
  | { status: 'unguarded' };
