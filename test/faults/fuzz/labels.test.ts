// Fault suite, hostile Docker input: ≥ 10,000 generated `docker inspect` documents (labels and env with odd names
// and values, SERVICE_<port>_* with impossible ports, bad durations and check kinds, huge and multi-byte values,
// broken port maps, hostile flags) through containerServices. Asserted: it never throws; every ServiceSpec's
// record passes the record.ts validators again (formatServiceRecord → parseServiceRecord gives it back) and its
// health settings are usable; every warning names the container and a label/env var (or Docker field, or flag)
// that really is on the input (or 'SERVICE_* labels', the size rule's one synthetic label, only for a record over
// 64 KiB), once; a single bad label skips its service with exactly one warning naming it; records near 64 KiB are
// registered when they fit and skipped with that warning when not; clean containers register every published port
// without a warning.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { containerServices, type InspectedContainer } from '../../../src/docker/services.js';
import type { ContainerMapping } from '../../../src/docker/services.js';
import type { MappingOptions } from '../../../src/docker/types.js';
import {
  checkRecord,
  formatServiceRecord,
  MAX_VALUE_BYTES,
  parseServiceRecord,
  validateHost,
  validateInstanceId,
  validateMeta,
  validatePort,
  validateServiceName,
  validateTags,
  type ServiceRecord,
} from '../../../src/registry/record.js';
import { bind, container, opts } from '../../unit/docker/fixtures.js';
import { fcParams, SEED, STRICT, toleratedSummary } from './support/common.js';
import { containerArb, optsArb, registrableContainerArb } from './support/docker-arbs.js';

/** setTimeout's ceiling: a longer delay becomes 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const RUNS = { chaos: 6000, single: 3000, size: 500, clean: 1000 };
/** The label of the warning for a record larger than the renderer reads: no single label is to blame. */
const SIZE_LABEL = 'SERVICE_* labels';
let mapped = 0;
let specs = 0;
let warnings = 0;
/** 'SERVICE_* labels' warnings seen (records that would have been over 64 KiB). */
let oversize = 0;

/** The container name warnings must carry: Name without "/", else the short id. */
const nameOf = (info: InspectedContainer): string => (info.Name ?? '').replace(/^\//, '') || info.Id.slice(0, 12);

/** Label and env var names present on the input. */
function settingNames(info: InspectedContainer): Set<string> {
  const names = new Set(Object.keys(info.Config?.Labels ?? {}));
  for (const kv of info.Config?.Env ?? []) if (kv.indexOf('=') > 0) names.add(kv.slice(0, kv.indexOf('=')));
  return names;
}

/** UTF-8 bytes of the SERVICE_* labels and env vars (names and values) and the --tags: what a record's meta and tags come from. */
function settingBytes(info: InspectedContainer, o: MappingOptions): number {
  let n = Buffer.byteLength(o.tags.join(','));
  for (const [k, v] of Object.entries(info.Config?.Labels ?? {})) if (/^SERVICE_/i.test(k)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  for (const kv of info.Config?.Env ?? []) if (/^SERVICE_/i.test(kv)) n += Buffer.byteLength(kv);
  return n;
}

/**
 * A 'SERVICE_* labels' warning is the size rule's: it says how large the record would have been, more than
 * MAX_VALUE_BYTES, and no more than the SERVICE_* settings can make it (meta values may double when JSON escapes
 * a backslash; 4 KiB for the name, id, host, node and field names).
 */
function sizeWarningHolds(info: InspectedContainer, o: MappingOptions, message: string): boolean {
  const m = /^SERVICE_\* labels: value is (\d+) bytes, larger than (\d+)$/.exec(message);
  if (!m || Number(m[2]) !== MAX_VALUE_BYTES) return false;
  const bytes = Number(m[1]);
  return bytes > MAX_VALUE_BYTES && bytes <= 2 * settingBytes(info, o) + 4096;
}

/** The port key a "port "X" is not <1-65535>…" message is about. */
const portKeyIn = (message: string): string | undefined => /^port ("(?:[^"\\]|\\.)*") is not/.exec(message)?.[1] && JSON.parse(/^port ("(?:[^"\\]|\\.)*")/.exec(message)?.[1] as string);

/** True when a warning's label is a label/env var, a Docker field or a flag that exists on this input. */
function labelExists(info: InspectedContainer, o: MappingOptions, w: { label: string; message: string }): boolean {
  if (settingNames(info).has(w.label)) return true;
  const ports = info.NetworkSettings?.Ports ?? {};
  const exposed = info.Config?.ExposedPorts ?? {};
  switch (w.label) {
    case 'Config.Image':
      return info.Config?.Image !== undefined;
    case 'Name':
      return info.Name !== undefined;
    case 'Config.ExposedPorts': {
      const key = portKeyIn(w.message);
      return key !== undefined && Object.hasOwn(exposed, key);
    }
    case 'NetworkSettings.Ports': {
      const key = portKeyIn(w.message);
      return key !== undefined && Object.hasOwn(ports, key);
    }
    case 'NetworkSettings.IPAddress':
      return o.internal; // "the container has no IP address to register with --internal"
    case '--network':
      return o.network !== undefined && o.internal;
    case '--ip':
      return !validateHost(o.hostIp).ok;
    case '--node':
      return !validateInstanceId(o.node, 'node').ok;
    case '--tags':
      return !validateTags(o.tags).ok;
    case 'SERVICE_*':
      return [...settingNames(info)].filter((n) => n.startsWith('SERVICE_')).length > 64;
    case SIZE_LABEL:
      return sizeWarningHolds(info, o, w.message);
  }
  const field = /^NetworkSettings\.Ports\[(.*)\]\.(HostIp|HostPort)$/.exec(w.label);
  if (field) return Object.hasOwn(ports, field[1] as string);
  const net = /^NetworkSettings\.Networks\.(.*)\.(?:IPAddress|GlobalIPv6Address)$/.exec(w.label);
  if (net) return Object.hasOwn(info.NetworkSettings?.Networks ?? {}, net[1] as string);
  return false;
}

/** Everything that must hold for any input. */
function checkMapping(info: InspectedContainer, o: MappingOptions, out: ContainerMapping): void {
  mapped++;
  specs += out.services.length;
  warnings += out.warnings.length;
  const name = nameOf(info);
  const ids = out.services.map((s) => s.record.id);
  expect(new Set(ids).size, 'ids unique').toBe(ids.length);
  expect([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(ids);
  for (const s of out.services) {
    const r = s.record;
    expect(s.containerId).toBe(info.Id);
    expect(s.containerName).toBe(name);
    expect([s.checkHost, s.checkPort]).toEqual([r.host, r.port]);
    expect(r.node).toBe(o.node);
    for (const v of [validateServiceName(r.name), validateInstanceId(r.id), validateHost(r.host), validatePort(r.port), validateTags(r.tags), validateMeta(r.meta)]) {
      expect(v.ok, `${JSON.stringify(r).slice(0, 300)}: ${v.ok ? '' : v.reason}`).toBe(true);
    }
    // What the registry writes is what every renderer reads back: never over 64 KiB, the same record.
    const text = formatServiceRecord(r);
    expect(Buffer.byteLength(text), `record of ${Buffer.byteLength(text)} bytes`).toBeLessThanOrEqual(MAX_VALUE_BYTES);
    expect(parseServiceRecord(`/services/${r.name}/${r.id}`, text), JSON.stringify(r).slice(0, 300)).toEqual({ ok: true, record: r });
    expect(checkRecord(r)).toEqual(r);
    const h = s.health;
    for (const [what, ms] of [['intervalMs', h.intervalMs], ['timeoutMs', h.timeoutMs]] as const) {
      expect(ms, what).toBeGreaterThan(0);
      expect(Number.isFinite(ms) && ms <= MAX_TIMER_MS, `${what} ${ms} is not a usable timer delay`).toBe(true);
    }
    expect(h.timeoutMs).toBeLessThanOrEqual(h.intervalMs);
    for (const n of [h.rise, h.fall]) expect(Number.isSafeInteger(n) && n > 0, `rise/fall ${n}`).toBe(true);
    // Several check labels on one service combine into one `all` check: every member must be usable.
    const checks = h.check.kind === 'all' ? h.check.checks : [h.check];
    if (h.check.kind === 'all') expect(checks.length).toBeGreaterThan(1);
    for (const c of checks) {
      // eslint-disable-next-line no-control-regex
      if (c.kind === 'http') expect(c.path).toMatch(/^\/[^\s\u0000-\u001f\u007f]*$/u);
      else if (c.kind === 'exec') {
        expect(c.where).toBe('container');
        expect(c.argv.length).toBeGreaterThan(0);
        expect(c.argv[0]).not.toBe('');
      } else expect(['tcp', 'docker', 'none']).toContain(c.kind);
    }
  }
  const seen = new Set<string>();
  for (const w of out.warnings) {
    if (w.label === SIZE_LABEL) oversize++;
    expect(w.container).toBe(name);
    expect(typeof w.message === 'string' && w.message.length > 0).toBe(true);
    expect(labelExists(info, o, w), `warning names ${JSON.stringify(w.label)}, not on the input: ${w.message.slice(0, 200)}`).toBe(true);
    const id = `${w.label}\u0000${w.message}`;
    expect(seen.has(id), `duplicate warning ${w.label}: ${w.message.slice(0, 200)}`).toBe(false);
    seen.add(id);
  }
}

// ------------------------------------------------------------------------------------------------ single bad label

/** Bad values per SERVICE_ suffix, each one refused; `keeps`: the service still registers (label ignored). */
const BAD: ReadonlyArray<{ suffix: string; values: readonly string[]; keeps?: boolean; perPort?: false }> = [
  { suffix: 'NAME', values: ['we b', 'web;', 'a'.repeat(64), 'wéb', '-x', 'web\n', 'web}'] },
  { suffix: 'ID', values: ['a b', 'x;', 'x/y', 'x'.repeat(513), '\u2028', 'a#b'] },
  { suffix: 'TAGS', values: ['a b', 'x;y', 'é', '{', 'a'.repeat(257), "it's"] },
  { suffix: 'CHECK_INTERVAL', values: ['abc', '-1s', '0', '0s', '1e3', ' ', '10S', '1d', '0.0001ms'] },
  { suffix: 'CHECK_TIMEOUT', values: ['abc', '0', '2h'] },
  { suffix: 'CHECK_RISE', values: ['0', '-1', '1.5', 'abc', '9007199254740993'] },
  { suffix: 'CHECK_FALL', values: ['0', '-1', '1.5', 'abc', ' '] },
  { suffix: 'CHECK_HTTP', values: ['health', '/a b', '/\n', '/\t', 'http://x/'] },
  { suffix: 'CHECK_TCP', values: ['yes', '1', 'maybe'] },
  { suffix: 'CHECK_SCRIPT', values: ["echo 'unbalanced", '"x', '   '] },
  { suffix: 'CHECK_FOO', values: ['x', 'true'] },
  { suffix: 'IP', values: ['', ' ', 'web.internal', '0.0.0.0', '::', '10.0.0.1;', '10.0.0.256', 'fe80::1%eth0', '[fd00::1]', '10.0.0.1 10.0.0.2'] },
  // Published ports: a network has no address to choose, so the label is ignored and the service registers.
  { suffix: 'NETWORK', values: ['', 'backend', 'a;b'], keeps: true },
  { suffix: 'M_BAD', values: ['a;b', 'a\nb', '"', 'x'.repeat(1025), '\u2028', '`', 'a{b', '\u0000'] },
  { suffix: 'a b', values: ['x'] },
  { suffix: 'é', values: ['x'] },
  { suffix: 'K'.repeat(129), values: ['x'] },
  { suffix: '99999_NAME', values: ['x'], keeps: true, perPort: false },
  { suffix: '0_NAME', values: ['x'], keeps: true, perPort: false },
  { suffix: '65536_TAGS', values: ['x'], keeps: true, perPort: false },
];
const GOOD: ReadonlyArray<[string, readonly string[]]> = [
  ['NAME', ['web', 'api-1', 'web.v2']],
  ['TAGS', ['a,b', 'prod', 'x\\,y']],
  ['M_OK', ['v', 'ok value', '#$\\ ok', '€']],
  ['M_TWO', ['2']],
  ['CHECK_RISE', ['2']],
  ['CHECK_FALL', ['3']],
  ['CHECK_INTERVAL', ['10s', '1m']],
  ['CHECK_TIMEOUT', ['1s']],
  ['CHECK_HTTP', ['/health']],
];
const singleBadArb = fc.record({
  bad: fc.constantFrom(...BAD).chain((b) => fc.record({ suffix: fc.constant(b.suffix), value: fc.constantFrom(...b.values), keeps: fc.constant(b.keeps === true), perPortOk: fc.constant(b.perPort !== false) })),
  good: fc.subarray([...GOOD]).chain((gs) => fc.tuple(...gs.map(([k, vs]) => fc.constantFrom(...vs).map((v): [string, string] => [k, v])))),
  placement: fc.constantFrom('label' as const, 'env' as const, 'both' as const, 'per-port' as const),
  twoPorts: fc.boolean(),
});

// ------------------------------------------------------------------------------------------------ tests

describe('labels → records under hostile input', () => {
  it(`${RUNS.chaos} random containers: no throw, valid records, usable health settings, warnings name real labels`, () => {
    fc.assert(
      fc.property(fc.oneof(containerArb, registrableContainerArb), optsArb, (info, o) => {
        checkMapping(info, o, containerServices(info, o));
      }),
      fcParams(RUNS.chaos),
    );
    // The generators do reach the size rule (up to 64 labels of up to 1024 three-byte characters).
    expect(oversize).toBeGreaterThan(0);
  }, 120_000);

  it(`${RUNS.single} containers with exactly one bad label: that service is skipped with one warning naming the label`, () => {
    fc.assert(
      fc.property(singleBadArb, ({ bad, good, placement, twoPorts }) => {
        const where = placement === 'per-port' && bad.perPortOk ? 'per-port' : placement === 'per-port' ? 'label' : placement;
        const badName = where === 'per-port' ? `SERVICE_80_${bad.suffix}` : `SERVICE_${bad.suffix}`;
        const labels: Record<string, string> = Object.fromEntries(good.filter(([k]) => k !== bad.suffix).map(([k, v]) => [`SERVICE_${k}`, v]));
        const env = ['PATH=/usr/bin'];
        if (where !== 'env') labels[badName] = bad.value;
        if (where === 'env' || where === 'both') env.push(`${badName}=${bad.value}`);
        // Two published ports only with a per-port bad label: the other port must still register.
        const two = twoPorts && where === 'per-port';
        const info = container({ labels, env, ...(two && { ports: { '80/tcp': bind(32768), '443/tcp': bind(32769) } }) });
        const o = opts();
        const out = containerServices(info, o);
        checkMapping(info, o, out);
        expect(out.warnings.map((w) => [w.container, w.label])).toEqual([['web-1', badName]]);
        expect(out.services.length).toBe((bad.keeps ? 1 : 0) + (two ? 1 : 0));
        if (two && !bad.keeps) expect(out.services[0]?.record.port).toBe(32769);
      }),
      fcParams(RUNS.single),
    );
  }, 120_000);

  it(`${RUNS.size} containers with records near 64 KiB: registered when the record fits, else skipped with one '${SIZE_LABEL}' warning`, () => {
    const sizeArb = fc.record({
      n: fc.integer({ min: 0, max: 64 }),
      len: fc.integer({ min: 1, max: 1024 }),
      ch: fc.constantFrom('x', 'é', '€', '\\'),
      ports: fc.uniqueArray(fc.constantFrom('80/tcp', '443/tcp', '53/udp', '8080/tcp'), { minLength: 1, maxLength: 3 }),
      where: fc.constantFrom('label' as const, 'env' as const),
    });
    let fit = 0;
    let skipped = 0;
    fc.assert(
      fc.property(sizeArb, ({ n, len, ch, ports, where }) => {
        const big = Array.from({ length: n }, (_, i): [string, string] => [`SERVICE_M${i}`, ch.repeat(len)]);
        const make = (settings: Array<[string, string]>): InspectedContainer =>
          container({
            ports: Object.fromEntries(ports.map((k, i) => [k, bind(32768 + i)])),
            labels: where === 'label' ? Object.fromEntries(settings) : {},
            env: where === 'env' ? settings.map(([k, v]) => `${k}=${v}`) : [],
          });
        const o = opts();
        // The same container without the big labels: the records they would be added to.
        const base = containerServices(make([]), o);
        expect(base.warnings).toEqual([]);
        expect(base.services).toHaveLength(ports.length);
        const meta = Object.fromEntries(big.map(([k, v]) => [k.slice('SERVICE_'.length).toLowerCase(), v]));
        const expected = base.services.map((s): ServiceRecord => ({ ...s.record, meta: { ...s.record.meta, ...meta } }));
        const sizes = expected.map((r) => Buffer.byteLength(formatServiceRecord(r)));
        const info = make(big);
        const out = containerServices(info, o);
        checkMapping(info, o, out);
        expect(out.services.map((s) => s.record)).toEqual(expected.filter((_, i) => (sizes[i] as number) <= MAX_VALUE_BYTES));
        // One warning per distinct size (warnings are deduplicated), in port order: compared sorted.
        const over = [...new Set(sizes.filter((b) => b > MAX_VALUE_BYTES))].sort();
        expect(out.warnings.map((w) => [w.label, w.message]).sort()).toEqual(over.map((b) => [SIZE_LABEL, `${SIZE_LABEL}: value is ${b} bytes, larger than ${MAX_VALUE_BYTES}`]));
        fit += out.services.length;
        skipped += sizes.length - out.services.length;
      }),
      fcParams(RUNS.size),
    );
    // Both sides of the limit are exercised.
    expect(fit).toBeGreaterThan(0);
    expect(skipped).toBeGreaterThan(0);
  }, 120_000);

  it(`${RUNS.clean} clean containers: every published port registers, no warning`, () => {
    const portsArb = fc.uniqueArray(fc.constantFrom('80/tcp', '443/tcp', '53/udp', '8080/tcp', '9000'), { minLength: 1, maxLength: 4 });
    const goodArb = fc.subarray([...GOOD.filter(([k]) => k !== 'NAME')]).chain((gs) => fc.tuple(...gs.map(([k, vs]) => fc.constantFrom(...vs).map((v): [string, string] => [k, v]))));
    fc.assert(
      fc.property(portsArb, goodArb, fc.constantFrom('label', 'env'), (keys, good, where) => {
        const ports = Object.fromEntries(keys.map((k, i) => [k, bind(32768 + i)]));
        const settings = good.map(([k, v]) => [`SERVICE_${k}`, v] as const);
        const info = container({
          ports,
          labels: where === 'label' ? Object.fromEntries(settings) : {},
          env: where === 'env' ? settings.map(([k, v]) => `${k}=${v}`) : [],
        });
        const o = opts();
        const out = containerServices(info, o);
        checkMapping(info, o, out);
        expect(out.warnings).toEqual([]);
        expect(out.services.map((s) => s.record.port).sort()).toEqual(keys.map((_, i) => 32768 + i).sort());
        for (const s of out.services) expect(s.record.host).toBe(o.hostIp);
      }),
      fcParams(RUNS.clean),
    );
    console.info(`[fuzz labels] seed=${SEED} strict=${STRICT} containers=${mapped} services=${specs} warnings=${warnings} oversize=${oversize}\n${toleratedSummary()}`);
    const runs = fcParams(RUNS.chaos).numRuns + fcParams(RUNS.single).numRuns + fcParams(RUNS.size).numRuns + fcParams(RUNS.clean).numRuns;
    expect(mapped).toBeGreaterThanOrEqual(Math.min(10_000, runs));
  }, 120_000);
});

describe('pinned minimal inputs', () => {
  // An interval beyond 24h (597h would overflow Node's timers, 400 nines are Infinity) skips the service with one
  // warning naming the label: such a timer would fire every millisecond.
  it.each(['597h', '9'.repeat(400)])('hugeDuration: SERVICE_CHECK_INTERVAL=%s is refused, never a timer past 2^31-1 ms', (value) => {
    const { services, warnings } = containerServices(container({ labels: { SERVICE_CHECK_INTERVAL: value } }), opts());
    for (const s of services) expect(s.health.intervalMs).toBeLessThanOrEqual(MAX_TIMER_MS);
    expect(services).toEqual([]);
    expect(warnings.map((w) => w.label)).toEqual(['SERVICE_CHECK_INTERVAL']);
  });

  it('(why it matters) Node runs a setTimeout longer than 2^31-1 ms after 1 ms', async () => {
    const warn = process.emitWarning;
    process.emitWarning = () => undefined; // TimeoutOverflowWarning
    try {
      const fired = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(true), 2_149_200_000);
        setTimeout(() => {
          clearTimeout(t);
          resolve(false);
        }, 1000);
      });
      expect(fired).toBe(true);
    } finally {
      process.emitWarning = warn;
    }
  });

  // oversizeRecord: 22 labels of 1024 "€" make a record the renderer refuses (> 64 KiB): the mapper skips it with a warning.
  const euroLabels = (n: number): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`SERVICE_M${i}`, '€'.repeat(1024)]));

  it(`oversizeRecord: 22 labels of 1024 "€" (a record > 64 KiB) skip the service with one '${SIZE_LABEL}' warning`, () => {
    const out = containerServices(container({ labels: euroLabels(22) }), opts());
    expect(out.services).toEqual([]);
    expect(out.warnings.map((w) => [w.container, w.label])).toEqual([['web-1', SIZE_LABEL]]);
    expect(out.warnings[0]?.message).toMatch(new RegExp(`^SERVICE_\\* labels: value is \\d+ bytes, larger than ${MAX_VALUE_BYTES}$`));
  });

  it('oversizeRecord: 21 such labels still fit, and the record reads back', () => {
    const out = containerServices(container({ labels: euroLabels(21) }), opts());
    expect(out.warnings).toEqual([]);
    const r = out.services[0]?.record as ServiceRecord;
    expect(out.services).toHaveLength(1);
    expect(parseServiceRecord(`/services/${r.name}/${r.id}`, formatServiceRecord(r))).toEqual({ ok: true, record: r });
  });

  it('oversizeRecord: the registry refuses to write a record over 64 KiB (checkRecord)', () => {
    const meta = Object.fromEntries(Object.entries(euroLabels(22)).map(([k, v]) => [k.toLowerCase(), v]));
    const record: ServiceRecord = { name: 'web', id: 'host1:web-1:80', host: '10.0.0.1', port: 80, tags: [], meta };
    expect(() => checkRecord(record)).toThrow(`larger than ${MAX_VALUE_BYTES}`);
    expect(checkRecord({ ...record, meta: Object.fromEntries(Object.entries(meta).slice(0, 21)) }).meta).toEqual(Object.fromEntries(Object.entries(meta).slice(0, 21)));
  });

  it('exposedPortsLabel: with --internal a bad key only in NetworkSettings.Ports is blamed on NetworkSettings.Ports', () => {
    const info = container({ ports: { abc: null }, exposed: [], ip: '172.17.0.2' });
    delete (info.Config as { ExposedPorts?: unknown }).ExposedPorts;
    const out = containerServices(info, opts({ internal: true }));
    expect(out.warnings.map((w) => w.label)).toEqual(['NetworkSettings.Ports']);
  });
});
