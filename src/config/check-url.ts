// `--check` in URL form (`http://HOST[:PORT]/PATH`, `tcp://HOST:PORT`), shared by `announce` and `elb`: the check
// and the address it connects to, which may differ from the address announced (a check over loopback).
import type { CheckTarget } from '../health/checks.js';
import type { CheckSpec } from '../health/types.js';
import { validateHost, validatePort } from '../registry/record.js';
import { ConfigError } from '../util/errors.js';

/** A check and where it connects (exec and none ignore the target). */
export interface UrlCheck {
  spec: CheckSpec;
  /** Where http/tcp checks connect. */
  target: CheckTarget;
}

/** `scheme://…`: the URL form. WHATWG URLs forgive "http:host" and "http:\\host"; a check URL is spelled out. */
const URL_FORM_RE = /^[a-z][a-z0-9+.-]*:\/\//i;
const DEFAULT_PORTS: Record<string, number> = { 'http:': 80 };

/** `[::1]` → `::1`, as validateHost wants it. */
const bare = (host: string): string => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);

/** True when `value` is spelled as a URL (`scheme://…`). */
export const isCheckUrl = (value: string): boolean => URL_FORM_RE.test(value);

/**
 * Parses `http://HOST[:PORT]/PATH` (2xx/3xx pass; port 80 by default) or `tcp://HOST:PORT` (a connect);
 * `expected` lists every form the command takes, for the refusal. Throws ConfigError naming --check.
 */
export function parseCheckUrlForm(value: string, expected: string): UrlCheck {
  let url: URL;
  try {
    if (!isCheckUrl(value)) throw new Error('not a URL');
    url = new URL(value);
  } catch {
    throw new ConfigError(`--check: expected ${expected}, got "${value}"`);
  }
  if (url.protocol === 'https:') throw new ConfigError('--check: https is not supported; check the service over plain http on loopback, or use tcp://HOST:PORT');
  if (url.protocol !== 'http:' && url.protocol !== 'tcp:') throw new ConfigError(`--check: expected ${expected}, got "${value}"`);
  if (url.username || url.password) throw new ConfigError('--check: credentials in the check URL are not supported');
  const host = validateHost(bare(url.hostname));
  if (!host.ok) throw new ConfigError(`--check: ${host.reason}`);
  const portText = url.port || (DEFAULT_PORTS[url.protocol] === undefined ? '' : String(DEFAULT_PORTS[url.protocol]));
  if (portText === '') throw new ConfigError(`--check: a tcp check needs a port, e.g. tcp://${url.hostname}:5432`);
  const port = validatePort(portText);
  if (!port.ok) throw new ConfigError(`--check: ${port.reason}`);
  const target = { host: host.value, port: port.value };
  if (url.protocol === 'tcp:') {
    if (url.pathname !== '' && url.pathname !== '/') throw new ConfigError(`--check: a tcp check has no path, got "${value}"`);
    return { spec: { kind: 'tcp' }, target };
  }
  return { spec: { kind: 'http', path: `${url.pathname || '/'}${url.search}` }, target };
}
