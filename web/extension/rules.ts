// The declarativeNetRequest rules that make Chromium refuse, by content,
// any script of a guarded origin that is not in a logged release:
//
//   - rules.json (static, written by 'vigil verify extension'; priority 1):
//     every script request of the origin is blocked and every page of it
//     gets "script-src 'none'; worker-src 'none'" — fail closed until the
//     log has been verified;
//   - the dynamic rules below (priority 2), once it has: each page gets a
//     second Content-Security-Policy appended (both policies are enforced:
//     ours can only restrict the cloud's) whose script-src lists only the
//     SHA-256 of logged scripts — Chromium then runs an external script
//     only if its integrity attribute carries a listed hash, and SRI
//     refuses bytes that do not match that hash — and whose worker-src
//     lists only logged service-worker paths; script requests are allowed
//     only to logged script paths (the appended header outranks the static
//     "set", and the allow rules outrank the static block).

import { originRegex } from './config';
import { isScript, isServiceWorker, type Logged } from './release';

type Rule = chrome.declarativeNetRequest.Rule;

/**
 * FAIL_CLOSED_CSP is the policy the static rules (rules.json, written by
 * internal/cli/verify.go with the same text) set on every page of an origin
 * the extension has not verified: a page that reports a violation of it
 * was loaded before the verification.
 */
export const FAIL_CLOSED_CSP =
  "default-src 'none'; script-src 'none'; worker-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** RULE_BASE spaces out the dynamic rule IDs of each guarded origin. */
export const RULE_BASE = 10000;

/** ruleIDs is the range of dynamic rule IDs of the origin at index i of the configuration. */
export function ruleIDs(i: number): [number, number] {
  return [RULE_BASE * (i + 1), RULE_BASE * (i + 2)];
}

/** pagePolicy is the CSP appended to every page of origin. */
export function pagePolicy(origin: string, logged: Logged): string {
  const hashes = new Set<string>();
  const workers: string[] = [];
  for (const [path, sums] of Object.entries(logged)) {
    if (isServiceWorker(path)) workers.push(origin + path);
    else if (isScript(path)) for (const s of sums) hashes.add(`'${s}'`);
  }
  const script = hashes.size > 0 ? [...hashes].sort().join(' ') : "'none'";
  const worker = workers.length > 0 ? workers.sort().join(' ') : "'none'";
  return `script-src ${script}; worker-src ${worker}; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`;
}

/** verifiedRules are the dynamic rules of the origin at index i once its releases are verified. */
export function verifiedRules(i: number, origin: string, logged: Logged): Rule[] {
  const [first] = ruleIDs(i);
  const rules: Rule[] = [
    {
      id: first,
      priority: 2,
      action: { type: 'modifyHeaders', responseHeaders: [{ header: 'content-security-policy', operation: 'append', value: pagePolicy(origin, logged) }] },
      condition: { regexFilter: originRegex(origin), resourceTypes: ['main_frame', 'sub_frame'] },
    },
  ];
  let id = first + 1;
  for (const path of Object.keys(logged).sort()) {
    if (!isScript(path)) continue;
    rules.push({
      id: id++,
      priority: 2,
      action: { type: 'allow' },
      condition: { urlFilter: `|${origin}${path}|`, isUrlFilterCaseSensitive: true, resourceTypes: ['script'] },
    });
  }
  return rules;
}
