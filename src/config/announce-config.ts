// `sidekick announce` settings: the one service, its check and schedule, validated before anything is written.
import { commandArgv } from '../util/command-line.js';
import type { CheckTarget } from '../health/checks.js';
import type { CheckSpec, HealthSettings } from '../health/types.js';
import { parseHostPort, validateInstanceId, validateMeta, validateServiceName, validateTags, type ServiceRecord } from '../registry/record.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { isCheckUrl, parseCheckFlags, parseCheckUrlForm, type CheckFlags, type UrlCheck } from './check-url.js';
import { listFlag, scheduleSettings, type RegistrySettings, type ScheduleFlags, type SidecarFlags } from './sidecar-config.js';
import { sidekickSetting, type FlagsOf, type SettingSpec } from './settings-table.js';

/** The service `announce` keeps registered. */
export const ANNOUNCE_OPTIONS = [
  sidekickSetting({ flag: 'name', value: '<name>', help: 'service name (key segment and upstream name), e.g. web', kind: 'string' }),
  sidekickSetting({ flag: 'address', value: '<host:port>', help: 'where the service answers, e.g. 127.0.0.1:8080 or [::1]:8080', kind: 'string' }),
  sidekickSetting({ flag: 'id', value: '<id>', help: 'instance id', defaultHelp: '<node-name>:<name>:<port>', kind: 'string' }),
  sidekickSetting({ flag: 'tags', value: '<list>', help: 'comma-separated tags; repeatable', kind: 'list' }),
  sidekickSetting({ flag: 'meta', value: '<key=value>', help: 'metadata; repeatable', kind: 'list' }),
] as const satisfies readonly SettingSpec[];

/** The options of `announce`, as commander returns them (its own, the shared etcd/registry, check and schedule ones). */
export type AnnounceFlags = FlagsOf<typeof ANNOUNCE_OPTIONS> & SidecarFlags & CheckFlags & ScheduleFlags;

/** What announce runs: one record and its health settings. */
export interface AnnounceSettings {
  record: ServiceRecord;
  health: HealthSettings;
  /** Where the check connects: --address, or the host:port of a URL-form --check (the first one's, when several). */
  checkTarget: CheckTarget;
}

/** `host:port`, `[v6]:port` → parts; throws ConfigError naming --address. */
export function parseAddress(text: string): { host: string; port: number } {
  const address = parseHostPort(text.trim());
  if (!address.ok) throw new ConfigError(`--address: ${address.reason}`);
  return address.value;
}

const ANNOUNCE_CHECK_FORMS = 'http:/PATH, https:/PATH, http(s)://HOST[:PORT]/PATH, tcp, tcp://HOST:PORT, exec:CMD or none';

/**
 * `http:/health`, `https:/health`, `tcp`, `exec:CMD` (a host command; a shell only when CMD is itself a shell line)
 * or `none`, checked on --address. The URL forms are {@link parseAnnounceCheck}'s.
 */
export function parseCheck(text: string | undefined): CheckSpec {
  const value = (text ?? 'tcp').trim();
  if (value === 'tcp') return { kind: 'tcp' };
  if (value === 'none') return { kind: 'none' };
  const scheme = /^https?:/.exec(value)?.[0];
  if (scheme !== undefined) {
    const path = value.slice(scheme.length) || '/';
    // eslint-disable-next-line no-control-regex
    if (!path.startsWith('/') || /[\s\u0000-\u001f\u007f]/.test(path)) {
      throw new ConfigError(`--check: an ${scheme.slice(0, -1)} check needs a path like ${scheme}/health, got "${text}"`);
    }
    return scheme === 'https:' ? { kind: 'http', path, tls: { skipVerify: false } } : { kind: 'http', path };
  }
  if (value.startsWith('exec:')) {
    const line = value.slice('exec:'.length).trim();
    if (!line) throw new ConfigError('--check: exec: needs a command, e.g. exec:"pg_isready -q"');
    try {
      return { kind: 'exec', where: 'host', argv: commandArgv(line) };
    } catch (err) {
      throw new ConfigError(`--check: exec: ${errorMessage(err)}`, { cause: err });
    }
  }
  throw new ConfigError(`--check: expected ${ANNOUNCE_CHECK_FORMS}, got "${text}"`);
}

/**
 * announce's `--check`: the forms of {@link parseCheck}, checked on `address`, or `elb --check`'s URL forms
 * (`http://127.0.0.1:8081/health`, `tcp://127.0.0.1:5432`), checked on the address the URL names.
 */
export function parseAnnounceCheck(text: string | undefined, address: CheckTarget): UrlCheck {
  const value = (text ?? '').trim();
  return isCheckUrl(value) ? parseCheckUrlForm(value, ANNOUNCE_CHECK_FORMS) : { spec: parseCheck(text), target: address };
}

/** `k=v` pairs (repeatable or comma-separated) → meta, validated. */
export function parseMeta(pairs: string[]): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--meta: expected key=value, got "${pair}"`);
    meta[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const valid = validateMeta(meta);
  if (!valid.ok) throw new ConfigError(`--meta: ${valid.reason}`);
  return valid.value;
}

/** Builds the record and health settings from the flags; every mistake is a ConfigError naming its flag. */
export function announceSettings(flags: AnnounceFlags, registry: RegistrySettings): AnnounceSettings {
  if (!flags.name) throw new ConfigError('--name: required (the service name, e.g. web)');
  if (!flags.address) throw new ConfigError('--address: required (where the service answers, e.g. 127.0.0.1:8080)');
  const name = validateServiceName(flags.name);
  if (!name.ok) throw new ConfigError(`--name: ${name.reason}`);
  const { host, port } = parseAddress(flags.address);
  const id = validateInstanceId(flags.id ?? `${registry.nodeName}:${name.value}:${port}`);
  if (!id.ok) throw new ConfigError(`--id: ${id.reason}`);
  const tags = validateTags(listFlag(flags.tags));
  if (!tags.ok) throw new ConfigError(`--tags: ${tags.reason}`);
  const record: ServiceRecord = { name: name.value, id: id.value, host, port, tags: tags.value, meta: parseMeta(listFlag(flags.meta)), node: registry.nodeName };
  const check = parseCheckFlags(flags, (text) => parseAnnounceCheck(text, { host, port }));
  const health: HealthSettings = { check: check.spec, ...scheduleSettings(flags) };
  return { record, health, checkTarget: check.target };
}
