// Docker → services (docs/records.md): registrator's SERVICE_* conventions as a pure function of
// `docker inspect` data, so every convention can be table-tested without a Docker daemon.
//
// Decisions on points registrator leaves open or gets wrong (see also the tests):
// - An empty value counts as "not set": `SERVICE_80_NAME=` falls back to SERVICE_NAME, which falls back
//   to the image name (registrator's mapDefault). A label still replaces an env var of the same name first,
//   so `-e SERVICE_NAME=x --label SERVICE_NAME=` unsets it.
// - Per-port keys are `SERVICE_<port>_<key>` with the bare exposed port number; they apply to that port's
//   tcp and udp services alike. A `<port>` that is not 1-65535 (`SERVICE_99999_NAME`) is a warning, and
//   the label is ignored.
// - `SERVICE_ID` on a container with several ports to register gets `:<port>` (and `:udp` for udp) appended,
//   so ids stay unique; `SERVICE_<port>_ID` is used as written; a duplicate id skips the later port.
// - udp services get the id suffix `:udp` and the tag `udp`, as registrator does.
// - Several check kinds on one service all run (SERVICE_CHECK_HTTPS=/health and SERVICE_CHECK_TCP=true: both), and
//   the service is healthy only while every one passes. The kinds are overridden per port as a whole: when a port
//   sets any SERVICE_<port>_CHECK_<kind> (even `SERVICE_<port>_CHECK_TCP=false`), the container-wide kinds are
//   ignored for that port.
// - SERVICE_CHECK_HOST, SERVICE_CHECK_STATUS and SERVICE_CHECK_TLS_SKIP_VERIFY refine the HTTP and HTTPS checks
//   (per port like any key) and are read only when the service has one: another check kind ignores them.
// - A timeout longer than the interval: skip with a warning when the timeout was set by a label; a
//   default timeout is shortened to the (label-set) interval instead.
// - `--explicit` follows registrator per port: a port registers only if it has a name (SERVICE_<port>_NAME
//   or SERVICE_NAME); a container with neither registers nothing and raises no warnings.
// - Default name: `-<port>` is appended when more than one port is selected for registration, counted
//   before SERVICE_<port>_IGNORE (registrator's isGroup), so ignoring a port renames nothing.
// - On the host network, `--internal` makes no difference (the container has no IP of its own).
// - Addresses (container-address.ts): SERVICE_<port>_IP, SERVICE_<port>_NETWORK, SERVICE_IP, SERVICE_NETWORK, in
//   that order, the nearest one set decides; then `--network`. SERVICE_IP replaces the address in every mode (the
//   port stays the mode's). A network chooses only the container's own address (`--internal`, not on the host
//   network); elsewhere SERVICE_NETWORK is ignored with a warning and the host address registers. Unlike other
//   labels, an empty SERVICE_IP or SERVICE_NETWORK is refused, not "unset": it is most often a variable that did
//   not expand, and falling back would register the very address it was meant to replace. A refused address label,
//   or a network the container is not on or has no IP on, skips the services it covers (one warning).
// - SERVICE_IP and SERVICE_NETWORK choose the address and are not meta.
import { combineChecks, parseBoolean, parseCheckHost, parseStatusRanges } from '../health/check-options.js';
import type { ActiveCheckSpec, CheckSpec, HealthSettings, HttpCheckSpec } from '../health/types.js';
import {
  formatServiceRecord,
  validateHost,
  validateInstanceId,
  validateMeta,
  validatePort,
  validateRecordSize,
  validateServiceName,
  validateTags,
  type ServiceRecord,
} from '../registry/record.js';
import type { Validation } from '../util/validation.js';
import { commandArgv } from '../util/command-line.js';
import { chooseAddress, containerIp, type Address, type AddressSetting, type NetworkEndpoint } from './container-address.js';
import { parseDuration } from '../util/duration.js';
import { errorMessage } from '../util/errors.js';
import type { MappingOptions, MappingWarning, ServiceSpec } from './types.js';

/** A host binding of a published port, as in `NetworkSettings.Ports["80/tcp"]`. */
export interface PortBinding {
  HostIp?: string;
  HostPort?: string;
}

/**
 * The fields of `docker inspect` that the mapping reads. dockerode's ContainerInspectInfo is assignable to
 * it; the nulls are what the Engine API really sends (`"Env": null`, `"80/tcp": null` for an unpublished port).
 */
export interface InspectedContainer {
  Id: string;
  Name?: string;
  Config?: {
    Image?: string;
    Env?: readonly string[] | null;
    Labels?: Readonly<Record<string, string>> | null;
    ExposedPorts?: Readonly<Record<string, unknown>> | null;
    Healthcheck?: { Test?: readonly string[] | null } | null;
  } | null;
  State?: { Health?: unknown } | null;
  HostConfig?: { NetworkMode?: string } | null;
  NetworkSettings?: {
    IPAddress?: string;
    Ports?: Readonly<Record<string, readonly PortBinding[] | null>> | null;
    Networks?: Readonly<Record<string, NetworkEndpoint>> | null;
  } | null;
}

/** What one container maps to: its services sorted by id, and the labels that could not be used. */
export interface ContainerMapping {
  services: ServiceSpec[];
  warnings: MappingWarning[];
}

/** One SERVICE_* value and the label or env var that supplied it (named in warnings). */
interface Setting {
  value: string;
  label: string;
}

/** A problem found in a label or a Docker field: becomes a MappingWarning. */
interface Problem {
  label: string;
  message: string;
  /** Only the label was left out; the service registered. */
  ignored?: true;
}

/** A container's SERVICE_* settings, keys lowercased without the prefix: container-wide and per port. */
interface Settings {
  common: Map<string, Setting>;
  perPort: Map<number, Map<string, Setting>>;
  problems: Problem[];
}

/** One port selected for registration: the exposed (container) port and the address to write. */
interface Candidate {
  exposed: number;
  proto: string;
  /** The mode's address and where it came from ("--ip", "NetworkSettings.Ports[80/tcp].HostIp"); labels may replace it. */
  address?: Address;
  /** The container's own address (`--internal`): `--network` and SERVICE_NETWORK choose among its networks. */
  containerAddress: boolean;
  /** The port to write, validated when the service is built (so a bad one skips only its service). */
  port: string | number;
  portSource: string;
}

/** Everything buildService needs about the container being mapped. */
interface Context {
  info: InspectedContainer;
  opts: MappingOptions;
  settings: Settings;
  containerName: string;
  /** More than one port selected: default names get `-<port>`, SERVICE_ID gets `:<port>`. */
  group: boolean;
  seenIds: Set<string>;
  /** Where labels that had no effect are reported (the service still registers). */
  problems: Problem[];
}

/** Thrown inside buildService when a field is unusable: the service is skipped with one warning. */
class SkipService extends Error {
  constructor(
    readonly label: string,
    message: string,
  ) {
    super(message);
  }
}

const PREFIX = 'SERVICE_';
/** SERVICE_CHECK_* keys that are not check kinds: the schedule, and what refines http(s) checks. */
const CHECK_SETTINGS = new Set(['check_interval', 'check_timeout', 'check_rise', 'check_fall', 'check_host', 'check_status', 'check_tls_skip_verify']);
const NOT_META = new Set(['name', 'id', 'tags', 'ignore', 'ip', 'network']);
const WILDCARD_IPS = new Set(['', '0.0.0.0', '::']);
// eslint-disable-next-line no-control-regex
const HTTP_PATH_RE = /^\/[^\s\u0000-\u001f\u007f]*$/;

/**
 * Maps one inspected container to its services following registrator's conventions (docs/records.md).
 * Pure and total: a bad label or field skips only the service it belongs to, with a warning naming the
 * container and the label; results are sorted by id.
 */
export function containerServices(info: InspectedContainer, opts: MappingOptions): ContainerMapping {
  const containerName = nameOf(info);
  const settings = readSettings(info.Config);
  const none: ContainerMapping = { services: [], warnings: [] };
  if (settings.common.get('ignore')?.value) return none;
  const problems = [...settings.problems];
  const explicitWithoutName = opts.explicit && !hasAnyName(settings);
  const candidates = explicitWithoutName ? [] : selectPorts(info, settings, opts, problems);
  const ctx: Context = { info, opts, settings, containerName, group: candidates.length > 1, seenIds: new Set(), problems };
  const services: ServiceSpec[] = [];
  for (const c of candidates) {
    try {
      const spec = buildService(c, ctx);
      if (spec) services.push(spec);
    } catch (e) {
      if (!(e instanceof SkipService)) throw e;
      problems.push({ label: e.label, message: e.message });
    }
  }
  services.sort((a, b) => compare(a.record.id, b.record.id));
  return { services, warnings: dedupe(problems).map((p) => ({ container: containerName, ...p })) };
}

/** The image's base name: no registry host, path, tag or digest (`registry:5000/team/web:1.2` → `web`). */
export function imageBaseName(image: string): string {
  const noDigest = image.split('@')[0] as string;
  const last = noDigest.slice(noDigest.lastIndexOf('/') + 1);
  return last.split(':')[0] as string;
}

/** Splits a registrator tag list: `,` separates, `\,` is a literal comma, spaces are trimmed, empties dropped. */
export function splitTags(value: string): string[] {
  return value
    .split(/(?<!\\),/)
    .map((t) => t.replaceAll('\\,', ',').trim())
    .filter((t) => t !== '');
}

/** Container name without the leading "/", or the short id when it has none. */
function nameOf(info: InspectedContainer): string {
  const name = (info.Name ?? '').replace(/^\//, '');
  return name !== '' ? name : info.Id.slice(0, 12);
}

/** Reads SERVICE_* env vars, then labels over them (labels win), splitting off per-port keys. */
function readSettings(config: InspectedContainer['Config']): Settings {
  const settings: Settings = { common: new Map(), perPort: new Map(), problems: [] };
  const entries: Array<[string, string]> = [];
  for (const kv of config?.Env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) entries.push([kv.slice(0, eq), kv.slice(eq + 1)]);
  }
  entries.push(...Object.entries(config?.Labels ?? {}));
  for (const [label, value] of entries) {
    if (!label.startsWith(PREFIX) || label.length === PREFIX.length) continue;
    const key = label.slice(PREFIX.length).toLowerCase();
    const perPort = /^(\d+)_(.+)$/.exec(key);
    if (!perPort) {
      settings.common.set(key, { value, label });
      continue;
    }
    const port = validatePort(perPort[1]);
    if (!port.ok) {
      settings.problems.push({ label, message: `${label}: ${port.reason}; label ignored` });
      continue;
    }
    const own = settings.perPort.get(port.value) ?? new Map<string, Setting>();
    own.set(perPort[2] as string, { value, label });
    settings.perPort.set(port.value, own);
  }
  return settings;
}

/** The setting for `key` on `port`: SERVICE_<port>_<key>, else SERVICE_<key>; empty values count as unset. */
function lookup(settings: Settings, port: number, key: string): Setting | undefined {
  const own = settings.perPort.get(port)?.get(key);
  if (own && own.value !== '') return own;
  const common = settings.common.get(key);
  return common && common.value !== '' ? common : undefined;
}

/** Ports with a non-empty SERVICE_<port>_NAME. */
function namedPorts(settings: Settings): number[] {
  return [...settings.perPort].filter(([, keys]) => keys.get('name')?.value).map(([port]) => port);
}

/** SERVICE_NAME or any SERVICE_<port>_NAME set: what --explicit asks for. */
function hasAnyName(settings: Settings): boolean {
  return Boolean(settings.common.get('name')?.value) || namedPorts(settings).length > 0;
}

/** `80/tcp` → {port: 80, proto: 'tcp'}; a bare `80` is tcp. */
function parsePortKey(key: string): { port: number; proto: string } | undefined {
  const m = /^(\d+)(?:\/([a-z]+))?$/.exec(key);
  const port = m ? validatePort(m[1]) : undefined;
  return m && port?.ok ? { port: port.value, proto: m[2] ?? 'tcp' } : undefined;
}

/** Parses Docker's port keys, reporting the ones that make no sense. */
function portKeys(keys: string[], field: string, problems: Problem[]): Array<{ port: number; proto: string }> {
  const out: Array<{ port: number; proto: string }> = [];
  for (const key of keys) {
    const parsed = parsePortKey(key);
    if (parsed) out.push(parsed);
    else problems.push({ label: field, message: `port ${JSON.stringify(key)} is not <1-65535>[/<protocol>]` });
  }
  return out;
}

/** The ports to register and their addresses, by network mode: host network, --internal, or published. */
function selectPorts(info: InspectedContainer, settings: Settings, opts: MappingOptions, problems: Problem[]): Candidate[] {
  let found: Candidate[];
  if (info.HostConfig?.NetworkMode === 'host') found = hostNetworkPorts(info, settings, opts, problems);
  else if (opts.internal) found = internalPorts(info, problems);
  else found = publishedPorts(info, opts, problems);
  const unique = new Map(found.map((c) => [`${c.exposed}/${c.proto}`, c]));
  return [...unique.values()].sort((a, b) => a.exposed - b.exposed || compare(a.proto, b.proto));
}

/** Host network: exposed ports on --ip, only those named by SERVICE_<port>_NAME when any is (exposed or not). */
function hostNetworkPorts(info: InspectedContainer, settings: Settings, opts: MappingOptions, problems: Problem[]): Candidate[] {
  const exposed = portKeys(Object.keys(info.Config?.ExposedPorts ?? {}), 'Config.ExposedPorts', problems);
  const named = namedPorts(settings);
  const ports =
    named.length === 0
      ? exposed
      : named.flatMap((port) => {
          const matching = exposed.filter((e) => e.port === port);
          return matching.length > 0 ? matching : [{ port, proto: 'tcp' }];
        });
  const address = { host: opts.hostIp, source: '--ip' };
  return ports.map(({ port, proto }) => ({ exposed: port, proto, address, containerAddress: false, port, portSource: 'Config.ExposedPorts' }));
}

/** --internal: the container's IP (or one chosen per port) and every exposed or published container port. */
function internalPorts(info: InspectedContainer, problems: Problem[]): Candidate[] {
  const exposed = Object.keys(info.Config?.ExposedPorts ?? {});
  const publishedOnly = Object.keys(info.NetworkSettings?.Ports ?? {}).filter((k) => !exposed.includes(k));
  // Each bad key is blamed on the field it came from.
  const ports = [...portKeys(exposed, 'Config.ExposedPorts', problems), ...portKeys(publishedOnly, 'NetworkSettings.Ports', problems)];
  // Without an IP of its own, a port still registers when SERVICE_IP names its address (else one warning).
  const address = containerIp(info.NetworkSettings?.IPAddress, info.NetworkSettings?.Networks ?? {});
  return ports.map(({ port, proto }) => ({ exposed: port, proto, ...(address && { address }), containerAddress: true, port, portSource: 'Config.ExposedPorts' }));
}

/** Default mode: ports with a host binding, at --ip (or the binding's own specific address) and the host port. */
function publishedPorts(info: InspectedContainer, opts: MappingOptions, problems: Problem[]): Candidate[] {
  const out: Candidate[] = [];
  for (const [key, bindings] of Object.entries(info.NetworkSettings?.Ports ?? {})) {
    const binding = bindings?.[0];
    if (!binding?.HostPort) continue; // exposed but not published: registrator skips it
    const field = `NetworkSettings.Ports[${key}]`;
    const [parsed] = portKeys([key], 'NetworkSettings.Ports', problems);
    if (!parsed) continue;
    const specific = !WILDCARD_IPS.has(binding.HostIp ?? '');
    out.push({
      exposed: parsed.port,
      proto: parsed.proto,
      address: specific ? { host: binding.HostIp as string, source: `${field}.HostIp` } : { host: opts.hostIp, source: '--ip' },
      containerAddress: false,
      port: binding.HostPort,
      portSource: `${field}.HostPort`,
    });
  }
  return out;
}

/** The value of a validation, or a SkipService naming `label`. */
function need<T>(v: Validation<T>, label: string): T {
  if (!v.ok) throw new SkipService(label, `${label}: ${v.reason}`);
  return v.value;
}

/** One service for one port; undefined when the port is ignored (or unnamed with --explicit). */
function buildService(c: Candidate, ctx: Context): ServiceSpec | undefined {
  const { settings, opts } = ctx;
  if (lookup(settings, c.exposed, 'ignore')) return undefined;
  const named = lookup(settings, c.exposed, 'name');
  if (!named && opts.explicit) return undefined;
  const name = named ? need(validateServiceName(named.value), named.label) : defaultName(ctx, c);
  const node = need(validateInstanceId(opts.node, 'node'), '--node');
  const address = serviceAddress(c, ctx);
  const record: ServiceRecord = {
    name,
    id: serviceId(c, ctx),
    host: need(validateHost(address.host), address.source),
    port: need(validatePort(c.port), c.portSource),
    tags: serviceTags(c, ctx),
    meta: serviceMeta(c.exposed, settings),
    node,
  };
  // Many long SERVICE_* values can make a record larger than the renderer reads: refused here, not in every renderer.
  need(validateRecordSize(formatServiceRecord(record)), 'SERVICE_* labels');
  const health = healthSettings(c.exposed, ctx);
  ctx.seenIds.add(record.id);
  return {
    record,
    containerId: ctx.info.Id,
    containerName: ctx.containerName,
    checkHost: record.host,
    checkPort: record.port,
    health,
  };
}

/** The address to write: labels and `--network` over the mode's (see container-address.ts). */
function serviceAddress(c: Candidate, ctx: Context): Address {
  const outcome = chooseAddress({
    modeAddress: c.address,
    containerAddress: c.containerAddress,
    networks: ctx.info.NetworkSettings?.Networks ?? {},
    network: ctx.opts.network,
    setting: addressSetting(ctx.settings, c.exposed),
  });
  if (!outcome.ok) throw new SkipService(outcome.refusal.label, outcome.refusal.message);
  if (outcome.ignored) ctx.problems.push({ ...outcome.ignored, ignored: true });
  return outcome.address;
}

/** The nearest address label: SERVICE_<port>_IP, SERVICE_<port>_NETWORK, SERVICE_IP, SERVICE_NETWORK; empty values count. */
function addressSetting(settings: Settings, port: number): AddressSetting | undefined {
  for (const layer of [settings.perPort.get(port), settings.common]) {
    for (const key of ['ip', 'network'] as const) {
      const s = layer?.get(key);
      if (s) return { key, ...s };
    }
  }
  return undefined;
}

/** The image's base name, `-<port>` appended when several ports register (base checked first: one warning). */
function defaultName(ctx: Context, c: Candidate): string {
  const base = need(validateServiceName(imageBaseName(ctx.info.Config?.Image ?? '')), 'Config.Image');
  return ctx.group ? need(validateServiceName(`${base}-${c.exposed}`), 'Config.Image') : base;
}

/** `<node>:<container>:<port>[:udp]`, or SERVICE_<port>_ID as written, or SERVICE_ID (+`:<port>[:udp]` in a group). */
function serviceId(c: Candidate, ctx: Context): string {
  const suffix = c.proto === 'tcp' ? '' : `:${c.proto}`;
  const own = ctx.settings.perPort.get(c.exposed)?.get('id');
  const common = ctx.settings.common.get('id');
  let id: string;
  let label: string;
  if (own?.value) [id, label] = [own.value, own.label];
  else if (common?.value) [id, label] = [ctx.group ? `${common.value}:${c.exposed}${suffix}` : common.value, common.label];
  else [id, label] = [`${ctx.opts.node}:${ctx.containerName}:${c.exposed}${suffix}`, 'Name'];
  need(validateInstanceId(id), label);
  if (ctx.seenIds.has(id)) throw new SkipService(label, `${label}: id ${JSON.stringify(id)} is already used by another port of this container`);
  return id;
}

/** SERVICE_TAGS, then --tags, then `udp` for udp ports; duplicates dropped. */
function serviceTags(c: Candidate, ctx: Context): string[] {
  const setting = lookup(ctx.settings, c.exposed, 'tags');
  const own = setting ? need(validateTags(splitTags(setting.value)), setting.label) : [];
  const forced = need(validateTags(ctx.opts.tags), '--tags');
  const all = [...new Set([...own, ...forced, ...(c.proto === 'udp' ? ['udp'] : [])])];
  return need(validateTags(all), setting?.label ?? '--tags');
}

/** Every other SERVICE_<key> (per-port ones winning), keys lowercased; not name/id/tags/ignore/check_*. */
function serviceMeta(port: number, settings: Settings): Record<string, string> {
  const merged = new Map<string, Setting>();
  for (const layer of [settings.common, settings.perPort.get(port)]) {
    for (const [key, s] of layer ?? []) {
      if (!NOT_META.has(key) && !key.startsWith('check_') && s.value !== '') merged.set(key, s);
    }
  }
  const entries = [...merged].sort(([a], [b]) => compare(a, b));
  for (const [key, s] of entries) need(validateMeta(Object.fromEntries([[key, s.value]])), s.label);
  return need(validateMeta(Object.fromEntries(entries.map(([key, s]) => [key, s.value]))), 'SERVICE_*');
}

/** The check and its schedule for one port: labels over opts.healthDefaults. */
function healthSettings(port: number, ctx: Context): HealthSettings {
  const get = (key: string): Setting | undefined => lookup(ctx.settings, port, key);
  const defaults = ctx.opts.healthDefaults;
  const check = checkSpec(port, ctx);
  const intervalSetting = get('check_interval');
  const timeoutSetting = get('check_timeout');
  const intervalMs = intervalSetting ? durationMs(intervalSetting) : defaults.intervalMs;
  let timeoutMs = timeoutSetting ? durationMs(timeoutSetting) : defaults.timeoutMs;
  if (timeoutMs > intervalMs) {
    if (timeoutSetting) {
      throw new SkipService(timeoutSetting.label, `${timeoutSetting.label}: timeout ${timeoutMs} ms is longer than the interval ${intervalMs} ms`);
    }
    timeoutMs = intervalMs; // only the default timeout is too long for a short interval set by label: shorten it
  }
  const rise = get('check_rise');
  const fall = get('check_fall');
  return {
    check,
    intervalMs,
    timeoutMs,
    rise: rise ? positiveInt(rise) : defaults.rise,
    fall: fall ? positiveInt(fall) : defaults.fall,
  };
}

/** A positive duration in ms from a label. */
function durationMs(s: Setting): number {
  let ms: number;
  try {
    ms = parseDuration(s.value, s.label);
  } catch (e) {
    throw new SkipService(s.label, (e as Error).message);
  }
  if (ms <= 0) throw new SkipService(s.label, `${s.label}: must be longer than 0, got ${JSON.stringify(s.value)}`);
  // Node fires a timer longer than 2^31-1 ms after 1 ms; a day is already far longer than any sane check interval.
  if (!(ms <= MAX_CHECK_MS)) throw new SkipService(s.label, `${s.label}: must be at most 24h, got ${JSON.stringify(s.value)}`);
  return ms;
}

const MAX_CHECK_MS = 24 * 3_600_000;

/** A positive integer from a label (rise, fall). */
function positiveInt(s: Setting): number {
  const n = Number(s.value.trim());
  if (!/^\s*[1-9]\d*\s*$/.test(s.value) || !Number.isSafeInteger(n)) {
    throw new SkipService(s.label, `${s.label}: expected a positive integer, got ${JSON.stringify(s.value)}`);
  }
  return n;
}

/** The checks: every SERVICE_CHECK_HTTP/HTTPS/TCP/SCRIPT set (per-port ones replacing the container's), else docker/none. */
function checkSpec(port: number, ctx: Context): CheckSpec {
  const checks: ActiveCheckSpec[] = [];
  for (const [key, s] of checkKindSettings(port, ctx.settings)) {
    const spec = parseCheck(key, s);
    if (spec) checks.push(spec.kind === 'http' ? refineHttp(spec, port, ctx.settings) : spec);
  }
  const combined = combineChecks(checks);
  if (combined) return combined;
  return hasDockerHealthcheck(ctx.info) ? { kind: 'docker' } : { kind: 'none' };
}

/** An http(s) check with SERVICE_CHECK_HOST, SERVICE_CHECK_STATUS and (https) SERVICE_CHECK_TLS_SKIP_VERIFY applied. */
function refineHttp(spec: HttpCheckSpec, port: number, settings: Settings): HttpCheckSpec {
  const out: HttpCheckSpec = { ...spec };
  const host = lookup(settings, port, 'check_host');
  if (host) out.host = need(parseCheckHost(host.value), host.label);
  const status = lookup(settings, port, 'check_status');
  if (status) out.status = need(parseStatusRanges(status.value), status.label);
  const skip = lookup(settings, port, 'check_tls_skip_verify');
  if (skip && out.tls) out.tls = { skipVerify: need(parseBoolean(skip.value), skip.label) };
  return out;
}

/** The non-empty SERVICE_<port>_CHECK_<kind> settings if the port has any, else the container's, sorted. */
function checkKindSettings(port: number, settings: Settings): Array<[string, Setting]> {
  const pick = (layer: Map<string, Setting> | undefined): Array<[string, Setting]> =>
    [...(layer ?? [])]
      .filter(([key, s]) => key.startsWith('check_') && !CHECK_SETTINGS.has(key) && s.value !== '')
      .sort(([a], [b]) => compare(a, b));
  const own = pick(settings.perPort.get(port));
  return own.length > 0 ? own : pick(settings.common);
}

/** One check-kind setting: its CheckSpec, undefined for SERVICE_CHECK_TCP=false, SkipService when malformed. */
function parseCheck(key: string, s: Setting): ActiveCheckSpec | undefined {
  const bad = (why: string): SkipService => new SkipService(s.label, `${s.label}: ${why}, got ${JSON.stringify(s.value)}`);
  switch (key) {
    case 'check_http':
    case 'check_https':
      if (!HTTP_PATH_RE.test(s.value)) throw bad('expected a path starting with "/" without spaces or control characters');
      return key === 'check_https' ? { kind: 'http', path: s.value, tls: { skipVerify: false } } : { kind: 'http', path: s.value };
    case 'check_tcp':
      return need(parseBoolean(s.value), s.label) ? { kind: 'tcp' } : undefined;
    case 'check_script': {
      // Run inside the container (never by a host shell): shell syntax goes to the container's /bin/sh -c.
      try {
        return { kind: 'exec', where: 'container', argv: commandArgv(s.value) };
      } catch (err) {
        throw bad(`expected a command line: ${errorMessage(err)}`);
      }
    }
    default:
      throw new SkipService(
        s.label,
        `${s.label}: unknown check kind ${JSON.stringify(key.slice('check_'.length).toUpperCase())}; use CHECK_HTTP, CHECK_HTTPS, CHECK_TCP or CHECK_SCRIPT`,
      );
  }
}

/** A Docker HEALTHCHECK in the config (not disabled with NONE), or a health state already reported. */
function hasDockerHealthcheck(info: InspectedContainer): boolean {
  if (info.State?.Health) return true;
  const test = info.Config?.Healthcheck?.Test;
  return Boolean(test && test.length > 0 && test[0] !== 'NONE');
}

/** One warning per label and message (a container-wide label fails every port the same way). */
function dedupe(problems: Problem[]): Problem[] {
  const seen = new Map(problems.map((p) => [`${p.label}\u0000${p.message}`, p]));
  return [...seen.values()];
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
