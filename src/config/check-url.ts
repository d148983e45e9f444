// `--check` in URL form (`http(s)://HOST[:PORT]/PATH`, `tcp://HOST:PORT`), shared by `announce` and `elb`: the check
// and the address it connects to, which may differ from the address announced (a check over loopback). Also the
// flags both commands share around it: --check repeated (every check must pass), and what refines http(s) checks.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { activeChecks, parseBoolean, parseCheckHost, parseStatusRanges } from '../health/check-options.js';
import type { CheckTarget } from '../health/checks.js';
import type { ActiveCheckSpec, CheckSpec, HttpCheckSpec } from '../health/types.js';
import { validateHost, validatePort } from '../registry/record.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { addSettings, sidekickSetting } from './settings-table.js';

/** A check and where it connects (exec and none ignore the target). */
export interface UrlCheck {
  spec: CheckSpec;
  /** Where http/tcp checks connect. */
  target: CheckTarget;
}

/** `scheme://…`: the URL form. WHATWG URLs forgive "http:host" and "http:\\host"; a check URL is spelled out. */
const URL_FORM_RE = /^[a-z][a-z0-9+.-]*:\/\//i;
const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

/** `[::1]` → `::1`, as validateHost wants it. */
const bare = (host: string): string => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);

/** True when `value` is spelled as a URL (`scheme://…`). */
export const isCheckUrl = (value: string): boolean => URL_FORM_RE.test(value);

/**
 * Parses `http://HOST[:PORT]/PATH` (2xx/3xx pass; port 80 by default), `https://HOST[:PORT]/PATH` (the same over
 * TLS; port 443 by default) or `tcp://HOST:PORT` (a connect);
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
  if (url.protocol !== 'http:' && url.protocol !== 'https:' && url.protocol !== 'tcp:') throw new ConfigError(`--check: expected ${expected}, got "${value}"`);
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
  const path = `${url.pathname || '/'}${url.search}`;
  return { spec: url.protocol === 'https:' ? { kind: 'http', path, tls: { skipVerify: false } } : { kind: 'http', path }, target };
}

/** The check flags as commander returns them (`check` is a list once repeated; a string when given in code). */
export interface CheckFlags {
  check?: string[] | string;
  checkHost?: string;
  checkStatus?: string;
  checkSkipVerify?: string | boolean;
  checkCa?: string;
}

/** `--check` (repeatable: every check must pass) and the flags that refine its http(s) checks. */
export function addCheckOptions(cmd: Command, checkHelp: string): Command {
  return addSettings(cmd, [
    sidekickSetting({ flag: 'check', value: '<check>', help: `${checkHelp}; repeat to run several checks, all of which must pass`, kind: 'repeat' }),
    sidekickSetting({ flag: 'check-host', value: '<host>', help: 'Host header of http(s) checks, also the TLS server name (SNI) the certificate must match', kind: 'string' }),
    sidekickSetting({
      flag: 'check-status',
      value: '<statuses>',
      help: 'statuses that pass an http(s) check, e.g. 200-299 or 200,204,301-302',
      defaultHelp: '200-399',
      kind: 'string',
    }),
    sidekickSetting({ flag: 'check-skip-verify', value: '[bool]', help: 'https checks accept any certificate (true or false; default: false)', kind: 'string' }),
    sidekickSetting({ flag: 'check-ca', value: '<file>', help: "PEM CA certificate(s) that sign the https check's server", defaultHelp: "Node's bundled roots", kind: 'path' }),
  ]);
}

/** The --check values given, in order (none when the flag is absent). */
export function checkValues(check: CheckFlags['check']): string[] {
  if (check === undefined) return [];
  return Array.isArray(check) ? check : [check];
}

/**
 * The checks the flags describe: each --check parsed by `parseOne` (undefined when none is given: the command's
 * default), the refining flags applied to every http(s) check. One check keeps its own target; several become an
 * `all` check, each carrying its target. Throws ConfigError naming the flag.
 */
export function parseCheckFlags(flags: CheckFlags, parseOne: (text: string | undefined) => UrlCheck): UrlCheck {
  const values = checkValues(flags.check);
  const parsed = values.length === 0 ? [parseOne(undefined)] : values.map((v) => parseOne(v));
  const refine = checkRefiner(flags, parsed.flatMap((p) => activeChecks(p.spec)));
  const [first] = parsed as [UrlCheck, ...UrlCheck[]];
  if (parsed.length === 1) return { spec: refine(first.spec), target: first.target };
  if (parsed.some((p) => p.spec.kind === 'none')) throw new ConfigError('--check: none cannot be combined with other checks');
  const checks = parsed.map((p) => withTarget(refine(p.spec) as ActiveCheckSpec, p.target));
  return { spec: { kind: 'all', checks }, target: first.target };
}

/** An http/tcp check pinned to its own target (exec has none). */
function withTarget(spec: ActiveCheckSpec, target: CheckTarget): ActiveCheckSpec {
  return spec.kind === 'exec' ? spec : { ...spec, target };
}

/**
 * The function applying --check-host, --check-status, --check-skip-verify and --check-ca to a check. A refining
 * flag given when no check can use it is refused: it would silently do nothing.
 */
function checkRefiner(flags: CheckFlags, checks: ActiveCheckSpec[]): (spec: CheckSpec) => CheckSpec {
  const http = checks.some((c) => c.kind === 'http');
  const https = checks.some((c) => c.kind === 'http' && c.tls);
  const unused = (flag: string, what: string): ConfigError => new ConfigError(`${flag}: applies to ${what} checks, and no --check is one`);
  const refined: Partial<HttpCheckSpec> = {};
  if (flags.checkHost !== undefined) refined.host = flagValue(parseCheckHost(flags.checkHost), '--check-host');
  if (flags.checkStatus !== undefined) refined.status = flagValue(parseStatusRanges(flags.checkStatus), '--check-status');
  if (!http && flags.checkHost !== undefined) throw unused('--check-host', 'http(s)');
  if (!http && flags.checkStatus !== undefined) throw unused('--check-status', 'http(s)');
  const skip = flags.checkSkipVerify;
  const skipVerify = skip === undefined || skip === false ? false : skip === true ? true : flagValue(parseBoolean(skip), '--check-skip-verify');
  if (!https && skip !== undefined) throw unused('--check-skip-verify', 'https');
  if (!https && flags.checkCa !== undefined) throw unused('--check-ca', 'https');
  const ca = flags.checkCa === undefined ? undefined : readCa(flags.checkCa);
  return (spec) => {
    if (spec.kind !== 'http') return spec;
    const tls = spec.tls && { skipVerify, ...(ca !== undefined && { ca }) };
    return { ...spec, ...refined, ...(tls && { tls }) };
  };
}

/** A validated value, or a ConfigError naming the flag. */
function flagValue<T>(v: { ok: true; value: T } | { ok: false; reason: string }, flag: string): T {
  if (!v.ok) throw new ConfigError(`${flag}: ${v.reason}`);
  return v.value;
}

/** The PEM text of --check-ca; refused when unreadable or holding no certificate. */
function readCa(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`--check-ca: cannot read ${file}: ${errorMessage(err)}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`--check-ca: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return pem;
}
