// The native service record (docs/records.md): schema, strict validation and formatting.
// Values read from the store end up verbatim in nginx/haproxy configs, so every field is checked
// against a character set that cannot break out of a config statement (`;`, `{`, `}`, quotes, `#`,
// whitespace, newlines). The same validators are reused by the registry before it writes a record.
import { isIP } from 'node:net';
import { SidekickError } from '../util/errors.js';
import type { Validation } from '../util/validation.js';

/** One instance of a service as stored at `<prefix>/<name>/<id>`: what templates and the registry exchange. */
export interface ServiceRecord {
  name: string;
  id: string;
  host: string;
  port: number;
  tags: string[];
  meta: Record<string, string>;
  node?: string;
}

/** Outcome of parsing a stored value: the record, or why it was refused (for a log line naming the key). */
export type ParseResult = { ok: true; record: ServiceRecord } | { ok: false; reason: string };

/**
 * Service names: they become key segments and nginx upstream names, so a conservative charset. Lower case only:
 * nginx compares upstream names case-insensitively, so "Web" beside "web" would be a duplicate upstream.
 */
export const SERVICE_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** Tags: registrator-style free words (a comma comes from an escaped `\,` in SERVICE_TAGS), but nothing that can end a config statement. */
export const TAG_RE = /^[A-Za-z0-9._:=/@+,-]+$/;
/** Meta keys: they become `meta.<key>` in templates and field paths. */
export const META_KEY_RE = /^[A-Za-z0-9._-]{1,128}$/;
/**
 * Instance ids (and node names): registrator's `host:container:port[:udp]` charset, which is also what haproxy
 * accepts in a server name (templates write `server {{id}} …`), and a key segment with no `/`.
 */
const ID_RE = /^[A-Za-z0-9._:-]+$/;
// eslint-disable-next-line no-control-regex
const META_VALUE_UNSAFE_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029;{}"'`]/u;
const LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** The largest stored value the renderer reads; the registry refuses to write a larger one. */
export const MAX_VALUE_BYTES = 64 * 1024;
const MAX_ID_LENGTH = 512;
const MAX_TAGS = 64;
const MAX_META = 64;

const ok = <T>(value: T): Validation<T> => ({ ok: true, value });
const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });
const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v) : typeof v);

/** Checks a service name (key segment, upstream name); reused by the registry before writing. */
export function validateServiceName(name: unknown): Validation<string> {
  if (typeof name !== 'string') return fail(`name must be a string, got ${show(name)}`);
  if (!SERVICE_NAME_RE.test(name)) {
    return fail(`name ${show(name)} must match ${SERVICE_NAME_RE.source} (lower-case letters, digits, ".", "_", "-"; at most 63)`);
  }
  return ok(name);
}

/**
 * Checks a host: an IPv4 or IPv6 literal (unbracketed) or an RFC 1123 host name (optional trailing dot);
 * reused by the registry before writing. Anything that could break a config line is refused. An IPv6 literal
 * comes back in its canonical text (RFC 5952), the one form nginx and haproxy both parse ("1:2:3:4:5:6:7::"
 * is valid but nginx refuses it); zone ids ("fe80::1%eth0") are refused: neither nginx nor haproxy takes one.
 */
export function validateHost(host: unknown): Validation<string> {
  if (typeof host !== 'string') return fail(`host must be a string, got ${show(host)}`);
  if (host === '') return fail('host must not be empty');
  const family = isIP(host);
  if (family === 4) return ok(host);
  if (family === 6) {
    if (host.includes('%')) return fail(`host ${show(host)} has a zone id, which nginx and haproxy refuse`);
    return ok(canonicalIpv6(host));
  }
  if (host.startsWith('[')) return fail(`host ${show(host)} must be written without brackets`);
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253) return fail(`host ${show(host)} is not a valid host name (1-253 characters)`);
  const labels = name.split('.');
  if (!labels.every((l) => LABEL_RE.test(l))) {
    return fail(`host ${show(host)} is neither an IP address nor an RFC 1123 host name`);
  }
  if (/^\d+$/.test(labels[labels.length - 1] as string)) return fail(`host ${show(host)} is not a valid IPv4 address`);
  return ok(host);
}

/** The RFC 5952 text of an IPv6 literal (lower case, longest zero run as "::", IPv4-mapped tail in hex). */
function canonicalIpv6(host: string): string {
  return new URL(`http://[${host}]/`).hostname.slice(1, -1);
}

/** Checks a port: an integer 1-65535, or its canonical decimal text (labels, flags); reused by the registry. */
export function validatePort(port: unknown): Validation<number> {
  let n: number;
  if (typeof port === 'number') n = port;
  else if (typeof port === 'string' && /^[1-9]\d{0,4}$/.test(port)) n = Number(port);
  else return fail(`port must be an integer 1-65535, got ${show(port)}`);
  if (!Number.isInteger(n) || n < 1 || n > 65535) return fail(`port must be an integer 1-65535, got ${String(port)}`);
  return ok(n);
}

/** Checks an instance id (registrator's `host:container:port[:udp]`); it is also the last key segment. */
export function validateInstanceId(id: unknown, field = 'id'): Validation<string> {
  if (typeof id !== 'string') return fail(`${field} must be a string, got ${show(id)}`);
  if (id === '') return fail(`${field} must not be empty`);
  if (id.length > MAX_ID_LENGTH) return fail(`${field} is longer than ${MAX_ID_LENGTH} characters`);
  if (!ID_RE.test(id)) return fail(`${field} ${show(id)} may only hold letters, digits, ".", "_", ":" and "-"`);
  return ok(id);
}

/** Checks the tag list: strings of {@link TAG_RE}. */
export function validateTags(tags: unknown): Validation<string[]> {
  if (tags === undefined) return ok([]);
  if (!Array.isArray(tags)) return fail('tags must be an array of strings');
  if (tags.length > MAX_TAGS) return fail(`tags: more than ${MAX_TAGS} tags`);
  for (const t of tags) {
    if (typeof t !== 'string' || t.length > 256 || !TAG_RE.test(t)) return fail(`tag ${show(t)} must match ${TAG_RE.source}`);
  }
  return ok([...(tags as string[])]);
}

/** Checks meta: an object of string values without control characters, `;{}` or quotes. */
export function validateMeta(meta: unknown): Validation<Record<string, string>> {
  if (meta === undefined) return ok({});
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return fail('meta must be an object of strings');
  const entries = Object.entries(meta);
  if (entries.length > MAX_META) return fail(`meta: more than ${MAX_META} entries`);
  for (const [k, v] of entries) {
    if (!META_KEY_RE.test(k)) return fail(`meta key ${show(k)} must match ${META_KEY_RE.source}`);
    if (typeof v !== 'string') return fail(`meta.${k} must be a string, got ${show(v)}`);
    if (v.length > 1024) return fail(`meta.${k} is longer than 1024 characters`);
    if (META_VALUE_UNSAFE_RE.test(v)) return fail(`meta.${k} has a control character or one of ;{}"'\``);
  }
  return ok(Object.fromEntries(entries) as Record<string, string>);
}

/**
 * The last two segments of a key: `<name>/<id>`, or undefined when the key is too short or either is empty
 * (`/services/web/` is not an instance of "services" with id "web").
 */
function keySegments(key: string): { name: string; id: string } | undefined {
  const parts = key.split('/');
  const name = parts[parts.length - 2];
  const id = parts[parts.length - 1];
  return name && id ? { name, id } : undefined;
}

/** Refuses a value the renderer would refuse for its size; the registry and the label mapper check before writing. */
export function validateRecordSize(value: string): Validation<string> {
  const bytes = Buffer.byteLength(value);
  return bytes > MAX_VALUE_BYTES ? fail(`value is ${bytes} bytes, larger than ${MAX_VALUE_BYTES}`) : ok(value);
}

/** host:port or [host]:port in shape; the parts are validated after. */
const HOST_PORT_RE = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/;

/**
 * `host:port` or `[ipv6]:port`, host and port validated; brackets only around an IPv6 address. Used for registrator's
 * plain values and announce's --address alike.
 */
export function parseHostPort(text: string): Validation<{ host: string; port: number }> {
  const m = HOST_PORT_RE.exec(text);
  if (!m) return fail(`expected host:port or [ipv6]:port, got ${show(text)}`);
  const bracketed = m[1];
  if (bracketed !== undefined && isIP(bracketed) !== 6) return fail(`host ${show(bracketed)} in brackets is not an IPv6 address`);
  const host = validateHost(bracketed ?? m[2]);
  if (!host.ok) return host;
  const port = validatePort(m[3]);
  if (!port.ok) return port;
  return { ok: true, value: { host: host.value, port: port.value } };
}

/** registrator's plain-text value `host:port` (IPv6 bracketed), name and id taken from the key. */
function parsePlain(key: string, value: string): ParseResult {
  const seg = keySegments(key);
  if (!seg) return fail(`key ${show(key)} is not <prefix>/<name>/<id>`);
  const address = parseHostPort(value);
  // The shape is tested again only to word a refusal: a valid value runs the pattern once.
  if (!address.ok) return HOST_PORT_RE.test(value) ? address : fail(`value is neither a JSON object nor host:port`);
  const { host, port } = address.value;
  const name = keySegment(validateServiceName(seg.name));
  if (!name.ok) return name;
  const id = keySegment(validateInstanceId(seg.id));
  if (!id.ok) return id;
  return { ok: true, record: { name: name.value, id: id.value, host, port, tags: [], meta: {} } };
}

/**
 * Parses a value read at `key`: the native JSON record, or registrator's plain `host:port`.
 * Strict: a value that fails any check is refused with a reason, never half-used. A JSON refusal ends with the
 * whole accepted shape, so one message is enough to write the value right.
 */
export function parseServiceRecord(key: string, value: string): ParseResult {
  const size = validateRecordSize(value);
  if (!size.ok) return size;
  if (!value.startsWith('{')) return parsePlain(key, value);
  const seg = keySegments(key);
  if (!seg) return fail(`key ${show(key)} is not <prefix>/<name>/<id>`);
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    return withShape(fail('value is not valid JSON'), seg);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return withShape(fail('value is not a JSON object'), seg);
  return withShape(parseJsonRecord(raw as Record<string, unknown>, seg), seg);
}

/** Appends the accepted shape (for this key) to a refusal. */
function withShape(r: ParseResult, seg: { name: string; id: string }): ParseResult {
  if (r.ok) return r;
  const shape =
    `{"host":"<IP or host name>","port":<1-65535>}, optional "name":${show(seg.name)} and "id":${show(seg.id)} ` +
    '(the key\'s last two segments), "tags":["<tag>",…], "meta":{"<key>":"<value>",…}, "node":"<node>"; or plain host:port';
  return fail(`${r.reason}; expected ${shape}`);
}

/**
 * The fields of a JSON record at `<name>/<id>`. Name and id default to the key's segments (a hand-written
 * `{"host":…,"port":…}`); when present they must equal them.
 */
function parseJsonRecord(o: Record<string, unknown>, seg: { name: string; id: string }): ParseResult {
  const name = o.name === undefined ? keySegment(validateServiceName(seg.name)) : validateServiceName(o.name);
  if (!name.ok) return name;
  if (seg.name !== name.value) return fail(`name ${show(name.value)} does not match the key's service segment ${show(seg.name)}`);
  const id = o.id === undefined ? keySegment(validateInstanceId(seg.id)) : validateInstanceId(o.id);
  if (!id.ok) return id;
  // Two keys carrying one id would render two servers of one name (haproxy -c refuses): the key's segment rules.
  if (seg.id !== id.value) return fail(`id ${show(id.value)} does not match the key's last segment ${show(seg.id)}`);
  const host = validateHost(o.host);
  if (!host.ok) return host;
  if (typeof o.port !== 'number') return fail(`port must be a JSON number, got ${show(o.port)}`);
  const port = validatePort(o.port);
  if (!port.ok) return port;
  const tags = validateTags(o.tags);
  if (!tags.ok) return tags;
  const meta = validateMeta(o.meta);
  if (!meta.ok) return meta;
  const record: ServiceRecord = { name: name.value, id: id.value, host: host.value, port: port.value, tags: tags.value, meta: meta.value };
  if (o.node !== undefined) {
    const node = validateInstanceId(o.node, 'node');
    if (!node.ok) return node;
    record.node = node.value;
  }
  return { ok: true, record };
}

/** A key segment's refusal says it came from the key. */
function keySegment<T>(v: Validation<T>): Validation<T> {
  return v.ok ? v : fail(`key segment ${v.reason}`);
}

/** Serializes a record with a fixed field order and sorted meta, so equal records give equal bytes (no churn). */
export function formatServiceRecord(record: ServiceRecord): string {
  const meta = Object.fromEntries(Object.entries(record.meta).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const out: Record<string, unknown> = {
    name: record.name,
    id: record.id,
    host: record.host,
    port: record.port,
    tags: record.tags,
    meta,
  };
  if (record.node !== undefined) out.node = record.node;
  return JSON.stringify(out);
}

/** A record refused at set(): a field fails its validator, or its keys are taken by another instance. */
export class InvalidRecordError extends SidekickError {}

function must<T>(v: Validation<T>, where: string | undefined): T {
  if (!v.ok) throw new InvalidRecordError(`invalid service record: ${v.reason}`, where === undefined ? {} : { where });
  return v.value;
}

/** What the registry writes: every field checked with the validators above; returns a private, normalised copy. */
export function checkRecord(record: ServiceRecord): ServiceRecord {
  if (typeof record !== 'object' || record === null) throw new InvalidRecordError('invalid service record: not an object');
  const where = typeof record.id === 'string' ? `instance ${record.id.slice(0, 120)}` : undefined;
  const name = must(validateServiceName(record.name), where);
  const id = must(validateInstanceId(record.id), where);
  const host = must(validateHost(record.host), where);
  // validatePort also takes decimal text (flags, labels); a record carries a number.
  const port = must(typeof record.port === 'number' ? validatePort(record.port) : { ok: false, reason: `port must be a number, got ${typeof record.port}` }, where);
  const tags = must(validateTags(record.tags), where);
  const meta = must(validateMeta(record.meta), where);
  const out: ServiceRecord = { name, id, host, port, tags, meta };
  if (record.node !== undefined) out.node = must(validateInstanceId(record.node, 'node'), where);
  // A value the renderer would refuse for its size is refused here, before it is written.
  must(validateRecordSize(formatServiceRecord(out)), where);
  return out;
}

/** A copy of a record whose tags and meta can be changed without touching the original. */
export const copyRecord = (r: ServiceRecord): ServiceRecord => ({ ...r, tags: [...r.tags], meta: { ...r.meta } });
