// The extension's configuration (config.json, written by 'vigil verify
// extension'): the Vigil origins it guards, the transparency log it trusts
// (the log's key, witness keys and quorum) and the release keys whose
// releases it lets run. The same file is the Go side's
// (internal/cli/verify.go); rules.json beside it holds the fail-closed
// rules for the same origins.

export interface LogConfig {
  key: string;
  witnesses: string[];
  quorum: number;
}

export interface Config {
  v: 1;
  origins: string[];
  log: LogConfig;
  release_keys: string[];
}

/** parseConfig checks config.json; it throws an Error that names the bad field. */
export function parseConfig(v: unknown): Config {
  const o = v as Record<string, unknown>;
  const fail = (m: string) => new Error(`config.json: ${m} (write it with 'vigil verify extension')`);
  if (typeof o !== 'object' || o === null || o.v !== 1) throw fail('not a version-1 configuration');
  const origins = o.origins;
  if (!Array.isArray(origins) || origins.length === 0 || !origins.every((x) => typeof x === 'string' && validOrigin(x))) throw fail('origins: a list of origins such as https://vigil.example');
  const log = o.log as Record<string, unknown>;
  if (typeof log !== 'object' || log === null || typeof log.key !== 'string' || !Array.isArray(log.witnesses) || !log.witnesses.every((w) => typeof w === 'string') || typeof log.quorum !== 'number') {
    throw fail('log: {key, witnesses, quorum}');
  }
  const keys = o.release_keys;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string' && /^[A-Za-z0-9+/]{43}=$/.test(k))) throw fail('release_keys: base64 Ed25519 public keys');
  return { v: 1, origins: origins as string[], log: { key: log.key, witnesses: log.witnesses as string[], quorum: log.quorum }, release_keys: keys as string[] };
}

/** validOrigin: scheme, host and port only, as location.origin writes it. */
export function validOrigin(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === s;
  } catch {
    return false;
  }
}

/** originRegex matches every URL of origin (RE2 syntax, as Go's regexp.QuoteMeta escapes). */
export function originRegex(origin: string): string {
  return '^' + origin.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&') + '/';
}
