// Fault suite, hostile store input: ≥ 10,000 generated keys/values (random bytes, 1 MiB values, JSON with wrong
// types, hosts with ; { } # quotes blanks and line separators, bad ports, keys with .. // NUL unicode) through
// Mirror/MapView → TemplateEngine → the nginx and haproxy fixture templates plus two multi-service templates.
// Asserted per run: no throw; the generators' verdicts agree with parseServiceRecord; the rendered text is the
// template's static text plus exactly the expected server lines (accepted records only, in order), each matching
// a strict host:port grammar (IPv6 canonical, no zone id) with no breaker character, ids haproxy identifiers unique
// per backend, records named and keyed after their folder, service names lower case; every refused key read by a
// template is warned exactly once with its key (storeKey), accepted ones never; a second round of edits warns only
// for changed values. Then 20 of the renders (the most hostile ones first) go through the real `nginx -t` and
// `haproxy -c`. The pinned tests at the end replay minimal inputs that break a rendered file unless refused or normalised.
import { mkdir, readFile, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServiceRecord } from '../../../src/registry/record.js';
import { TemplateEngine, type CompiledTemplate } from '../../../src/render/engine.js';
import { Mirror } from '../../../src/store/mirror.js';
import type { KeyView } from '../../../src/store/types.js';
import { captureLog, MapView } from '../../unit/render/fixtures.js';
import { haproxyCheck, inPool, nginxCheck } from './support/binaries.js';
import { fcParams, hasBreaker, SEED, STRICT, toleratedSummary } from './support/common.js';
import { expectFor, folderOf, HAPROXY_IDENT_RE, SERVICE_NAME_RE, strictAddress, type Expectation, type Instance } from './support/oracle.js';
import { storeArb, type GenEntry, type Intent, type StoreInput } from './support/store-arbs.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/templates');
const OWN = join(import.meta.dirname, 'templates');
const FILES = {
  nginx: join(FIXTURES, 'nginx.conf.tmpl'),
  haproxy: join(FIXTURES, 'haproxy.cfg.tmpl'),
  nginxAll: join(OWN, 'nginx-services.conf.tmpl'),
  haproxyAll: join(OWN, 'haproxy-services.cfg.tmpl'),
} as const;
type Tmpl = keyof typeof FILES;
const NAMES = Object.keys(FILES) as Tmpl[];

const RUNS = 200;
const WARN_MSG = 'ignoring invalid service record';
const ANCHOR_KEY = '/services/web/zz-anchor';
const ANCHOR = JSON.stringify({ name: 'web', id: 'zz-anchor', host: '127.0.0.1', port: 8080, tags: [], meta: {} });

let sources: Record<Tmpl, string>;
let work: string;
let baseline: Record<Tmpl, string>;
/** Generated entries of the first rounds (at least 10,000 in all), and second-round changes. */
let generated = 0;
let changed = 0;
let rendered = 0;
let warned = 0;
/** Keys read by a template and accepted (the anchor aside), first rounds: the renders must not be all refusals. */
let accepted = 0;
/** Accepted records (the anchor aside) in the stores that went through a real nginx -t / haproxy -c. */
let checkedRecords = 0;
/** Server lines that went through a real nginx -t / haproxy -c. */
let checkedServers = 0;
/** Stores kept for the real-binary pass: [hostility, run, entries]. */
const samples: Array<{ score: number; run: number; entries: Array<[string, string]> }> = [];

function compileAll(engine: TemplateEngine): Record<Tmpl, CompiledTemplate> {
  return Object.fromEntries(NAMES.map((n) => [n, engine.compileTemplate(FILES[n], sources[n])])) as Record<Tmpl, CompiledTemplate>;
}

async function renderAll(templates: Record<Tmpl, CompiledTemplate>, view: KeyView, log: ReturnType<typeof captureLog>['log']): Promise<Record<Tmpl, string>> {
  const out = {} as Record<Tmpl, string>;
  for (const n of NAMES) out[n] = (await templates[n].render({ view, prefix: '', log })).text;
  rendered += NAMES.length;
  return out;
}

beforeAll(async () => {
  sources = Object.fromEntries(await Promise.all(NAMES.map(async (n) => [n, await readFile(FILES[n], 'utf8')]))) as Record<Tmpl, string>;
  work = await mkdtemp(join(tmpdir(), 'sidekick-fuzz-'));
  process.env.NGINX_DIR = work;
  process.env.NGINX_PORT = '18080';
  process.env.HAPROXY_PORT = '18081';
  const engine = new TemplateEngine();
  baseline = await renderAll(compileAll(engine), new Mirror(), captureLog().log);
});

afterAll(async () => {
  console.info(
    `[fuzz store→render] seed=${SEED} strict=${STRICT} entries=${generated} changes=${changed} renders=${rendered} warnings=${warned} accepted=${accepted} samples=${samples.length} records-through-checkers=${checkedRecords} server-lines-through-checkers=${checkedServers}\n${toleratedSummary()}`,
  );
  await rm(work, { recursive: true, force: true });
});

// ------------------------------------------------------------------------------------------------ the checks

const DYNAMIC: Record<'nginx' | 'haproxy', RegExp> = { nginx: /^ {4}server /, haproxy: /^ {2}server / };

/** Fixture output = baseline text with the dynamic lines inserted; returns the dynamic lines. */
function dynamicLines(name: 'nginx' | 'haproxy', text: string): string[] {
  const lines = text.split('\n');
  expect(lines.filter((l) => !DYNAMIC[name].test(l)), `${name}: static text changed`).toEqual(baseline[name].split('\n'));
  return lines.filter((l) => DYNAMIC[name].test(l));
}

/** Multi-service output = baseline outside the markers; returns the lines between them. */
function markedLines(name: 'nginxAll' | 'haproxyAll', text: string): string[] {
  const [start, end] = name === 'nginxAll' ? ['  # -- dynamic --\n', '  # -- end --\n'] : ['# -- dynamic --\n', '# -- end --\n'];
  const cut = (t: string): [string, string, string] => {
    const a = t.indexOf(start);
    const b = t.indexOf(end);
    expect(a, `${name}: start marker`).toBeGreaterThanOrEqual(0);
    expect(b, `${name}: end marker`).toBeGreaterThan(a);
    return [t.slice(0, a), t.slice(a + start.length, b), t.slice(b)];
  };
  const [pre, mid, post] = cut(text);
  const [bpre, bmid, bpost] = cut(baseline[name]);
  expect(bmid).toBe('');
  expect(pre, `${name}: static text changed`).toBe(bpre);
  expect(post, `${name}: static text changed`).toBe(bpost);
  return mid === '' ? [] : mid.replace(/\n$/, '').split('\n');
}

/** A server name / record id token: never a breaker, always a haproxy identifier (`server {{id}}` as is). */
function checkId(id: string): void {
  expect(id.length).toBeGreaterThan(0);
  expect(hasBreaker(id), `id ${JSON.stringify(id)} has a breaker`).toBe(false);
  expect(HAPROXY_IDENT_RE.test(id), `id ${JSON.stringify(id)} is not a haproxy identifier`).toBe(true);
}

/** Unique ids per backend: haproxy refuses duplicate server names. */
function checkUnique(ids: string[], where: string): void {
  const dup = ids.filter((id, i) => ids.indexOf(id) !== i);
  expect(dup, `${where}: duplicate server names`).toEqual([]);
}

/** An instance read from folder `folder` is a record of that service, stored at its own id (`<folder>/<id>`). */
function checkName(i: Instance, folder: string): void {
  expect(i.record.name, `${i.key}: record name in ${folder}`).toBe(folder);
  expect(i.key, `${i.key}: record id ${i.record.id}`).toBe(`/services/${folder}/${i.record.id}`);
}

function checkOutputs(out: Record<Tmpl, string>, exp: Expectation): void {
  // Fixture nginx: "    server <addr>;".
  const ng = dynamicLines('nginx', out.nginx);
  expect(ng).toEqual(exp.web.map((i) => `    server ${i.address};`));
  for (const l of ng) {
    const m = /^ {4}server (\S+);$/.exec(l);
    expect(m && strictAddress(m[1] as string), `nginx line ${JSON.stringify(l)}`).toBeTruthy();
  }
  // Fixture haproxy: "  server <id> <addr> check inter 1s".
  const hx = dynamicLines('haproxy', out.haproxy);
  expect(hx).toEqual(exp.web.map((i) => `  server ${i.record.id} ${i.address} check inter 1s`));
  for (const l of hx) {
    const m = /^ {2}server (\S+) (\S+) check inter 1s$/u.exec(l);
    expect(m, `haproxy line ${JSON.stringify(l)}`).toBeTruthy();
    checkId((m as RegExpExecArray)[1] as string);
    expect(strictAddress((m as RegExpExecArray)[2] as string), `haproxy address in ${JSON.stringify(l)}`).toBe(true);
  }
  checkUnique(exp.web.map((i) => i.record.id), 'web');
  for (const i of exp.web) checkName(i, 'web');

  // Multi-service: upstream/backend per service, names from keys.
  expect(markedLines('nginxAll', out.nginxAll)).toEqual(
    exp.services.flatMap((s) => [
      `  upstream ${s.name} {`,
      ...s.instances.map((i) => `    server ${i.address}; # ${i.record.name} ${i.record.id} ${i.record.tags.join(',')}`),
      '  }',
    ]),
  );
  expect(markedLines('haproxyAll', out.haproxyAll)).toEqual(
    exp.services.flatMap((s) => [`backend be_${s.name}`, '  balance roundrobin', ...s.instances.map((i) => `  server ${i.record.id} ${i.address} check`)]),
  );
  const folded = new Map<string, string>();
  for (const s of exp.services) {
    expect(s.name).toMatch(SERVICE_NAME_RE);
    // nginx compares upstream names case-insensitively ("duplicate upstream").
    expect(folded.get(s.name.toLowerCase()), `nginx upstreams collide with ${s.name}`).toBeUndefined();
    folded.set(s.name.toLowerCase(), s.name);
    checkUnique(s.instances.map((i) => i.record.id), s.name);
    for (const i of s.instances) {
      checkName(i, s.name);
      checkId(i.record.id);
      expect(strictAddress(i.address), i.address).toBe(true);
      for (const t of i.record.tags) expect(hasBreaker(t), `tag ${JSON.stringify(t)}`).toBe(false);
    }
  }
}

/** The generators' verdicts agree with parseServiceRecord. */
function checkIntents(store: ReadonlyMap<string, string>, intents: ReadonlyMap<string, GenEntry>, exp: Expectation): void {
  for (const [key, e] of intents) {
    if (e.intent === 'unknown' || store.get(key) !== e.value) continue;
    const r = exp.parse(key);
    expect(r.ok, `${e.why} at ${JSON.stringify(key.slice(0, 120))}: ${JSON.stringify(e.value.slice(0, 200))} → ${r.ok ? 'accepted' : r.reason}`).toBe(
      e.intent === 'valid',
    );
  }
}

/** Warnings of this round: exactly one per key in `expected`, none for others, key in storeKey (not redacted). */
function checkWarnings(lines: Array<Record<string, unknown>>, expected: Set<string>): void {
  const counts = new Map<string, number>();
  for (const l of lines) {
    expect(l.level, `unexpected log line ${JSON.stringify(l).slice(0, 300)}`).toBeLessThanOrEqual(40);
    if (l.msg !== WARN_MSG) continue;
    expect(typeof l.storeKey).toBe('string');
    expect(typeof l.reason).toBe('string');
    expect(l.template).toBeTruthy();
    counts.set(l.storeKey as string, (counts.get(l.storeKey as string) ?? 0) + 1);
  }
  warned += [...counts.values()].reduce((a, b) => a + b, 0);
  const extra = [...counts.keys()].filter((k) => !expected.has(k));
  const missing = [...expected].filter((k) => !counts.has(k));
  const twice = [...counts].filter(([, n]) => n > 1).map(([k]) => k);
  expect({ extra, missing, twice }).toEqual({ extra: [], missing: [], twice: [] });
}

/** How hostile a store is, to pick the samples worth a real nginx -t / haproxy -c. */
function hostility(entries: GenEntry[]): number {
  let s = 0;
  for (const e of entries) {
    if (e.intent !== 'valid') s += 1;
    if (hasBreaker(e.value) || hasBreaker(e.key)) s += 2;
    if (e.value.length > 65_536) s += 10;
  }
  return s;
}

function keepSample(score: number, run: number, store: Map<string, string>): void {
  const entries = [...store];
  if (run % 40 === 7 && samples.filter((s) => s.score < 0).length < 5) {
    samples.push({ score: -1, run, entries }); // a few ordinary ones
    return;
  }
  const hostile = samples.filter((s) => s.score >= 0);
  if (hostile.length < 15) {
    samples.push({ score, run, entries });
    return;
  }
  const weakest = hostile.reduce((a, b) => (b.score < a.score ? b : a));
  if (score > weakest.score) samples.splice(samples.indexOf(weakest), 1, { score, run, entries });
}

/**
 * Re-throws a failure as a plain Error with a bounded message: an assertion error carrying 1 MiB values in its
 * fields makes the runner's error serialization crawl for minutes.
 */
async function small(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // eslint-disable-next-line preserve-caught-error -- on purpose: the original carries the megabyte values
    throw new Error(message.length > 4000 ? `${message.slice(0, 4000)}…` : message);
  }
}

function makeView(kind: 'mirror-set' | 'mirror-bulk' | 'mapview', store: Map<string, string>, mirror?: Mirror): KeyView {
  if (kind === 'mapview') return new MapView(Object.fromEntries(store));
  const m = mirror ?? new Mirror();
  if (kind === 'mirror-bulk') m.replacePrefix('/', store);
  else {
    for (const k of m.list('/').map(([k]) => k)) if (!store.has(k)) m.delete(k);
    for (const [k, v] of store) m.set(k, v);
  }
  return m;
}

// ------------------------------------------------------------------------------------------------ tests

describe('store → render under hostile input', () => {
  it(`${RUNS} runs × 50-70 entries (≥ 10,000 values) + a change round: no throw, nothing invalid rendered, one warning per refused key`, async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(storeArb, (input) => small(fuzzRun(input))),
      fcParams(RUNS),
    );
    expect(generated).toBeGreaterThanOrEqual(Math.min(10_000, 50 * fcParams(RUNS).numRuns));
    // Most generated values are valid: on average at least 10 accepted instances per store get rendered.
    expect(accepted).toBeGreaterThanOrEqual(10 * fcParams(RUNS).numRuns);

    async function fuzzRun({ entries, changes, view: kind }: StoreInput): Promise<void> {
      run++;
      const t0 = performance.now();
      const tick = (what: string): void => {
        if (process.env.FUZZ_DEBUG) process.stderr.write(`run ${run} ${what} ${(performance.now() - t0).toFixed(0)}ms\n`);
      };
      generated += entries.length;
      changed += changes.length;
      const store = new Map<string, string>();
      const intents = new Map<string, GenEntry>();
      for (const e of entries) {
        store.set(e.key, e.value);
        intents.set(e.key, e);
      }
      store.set(ANCHOR_KEY, ANCHOR);
      intents.delete(ANCHOR_KEY);

      const { log, lines } = captureLog();
      const templates = compileAll(new TemplateEngine({ log }));
      const mirror = kind === 'mapview' ? undefined : new Mirror();
      const view1 = makeView(kind, store, mirror);
      const exp1 = expectFor(store, kind !== 'mapview');
      checkIntents(store, intents, exp1);
      tick('oracle');
      const out1 = await renderAll(templates, view1, log);
      tick('render');
      checkOutputs(out1, exp1);
      tick('check');
      // A second render of the same view: answered from the caches, no new warning.
      await renderAll(templates, view1, log);
      const visited1 = new Set([...exp1.webKeys, ...exp1.allKeys]);
      accepted += [...visited1].filter((k) => k !== ANCHOR_KEY && exp1.parse(k).ok).length;
      checkWarnings(lines, new Set([...visited1].filter((k) => !exp1.parse(k).ok)));
      keepSample(hostility(entries), run, store);

      // Round 2: edits, deletes and additions; only keys whose value changed may warn again.
      const seen = new Map([...visited1].map((k) => [k, store.get(k) as string]));
      const keys = [...store.keys()].filter((k) => k !== ANCHOR_KEY);
      for (const c of changes) {
        const target = keys.length > 0 ? (keys[c.at % keys.length] as string) : undefined;
        if (c.op === 'add' || target === undefined) {
          store.set(c.entry.key, c.entry.value);
          intents.set(c.entry.key, c.entry);
        } else if (c.op === 'edit') {
          store.set(target, c.entry.value);
          intents.set(target, { ...c.entry, key: target, intent: 'unknown' as Intent });
        } else {
          store.delete(target);
        }
      }
      store.set(ANCHOR_KEY, ANCHOR);
      lines.length = 0;
      const view2 = makeView(kind, store, mirror);
      const exp2 = expectFor(store, kind !== 'mapview');
      checkIntents(store, intents, exp2);
      checkOutputs(await renderAll(templates, view2, log), exp2);
      const visited2 = [...new Set([...exp2.webKeys, ...exp2.allKeys])];
      checkWarnings(lines, new Set(visited2.filter((k) => !exp2.parse(k).ok && seen.get(k) !== store.get(k))));
      tick('done');
    }
  }, 120_000);

  it('20 sampled renders (most hostile first) pass the real nginx -t and haproxy -c', async () => {
    expect(samples.length).toBeGreaterThanOrEqual(Math.min(20, fcParams(RUNS).numRuns));
    samples.sort((a, b) => b.score - a.score);
    const jobs: Array<{ file: string; dir: string; kind: 'nginx' | 'haproxy'; run: number; removed: string[] }> = [];
    for (const [n, sample] of samples.entries()) {
      const dir = join(work, `sample-${n}`);
      await mkdir(dir, { recursive: true });
      const { store, removed } = checkable(new Map(sample.entries));
      expect(store.get(ANCHOR_KEY)).toBe(ANCHOR);
      checkedRecords += [...store].filter(([k, v]) => k !== ANCHOR_KEY && folderOf(k) !== undefined && parseServiceRecord(k, v).ok).length;
      process.env.NGINX_DIR = dir;
      const { log, lines } = captureLog();
      const mirror = new Mirror();
      mirror.replacePrefix('/', store);
      const out = await renderAll(compileAll(new TemplateEngine({ log })), mirror, log);
      expect(lines.filter((l) => (l.level as number) > 40)).toEqual([]);
      for (const t of NAMES) {
        const file = join(dir, `${t}.${t.startsWith('nginx') ? 'conf' : 'cfg'}`);
        await writeFile(file, out[t]);
        checkedServers += out[t].split('\n').filter((l) => /^\s+server \S+ /.test(l) || /^\s+server \S+;/.test(l)).length;
        jobs.push({ file, dir, kind: t.startsWith('nginx') ? 'nginx' : 'haproxy', run: sample.run, removed });
      }
    }
    process.env.NGINX_DIR = work;
    const results = await inPool(jobs, 2, async (j) => ({ ...j, ...(j.kind === 'nginx' ? await nginxCheck(j.dir, j.file) : await haproxyCheck(j.file)) }));
    const failed = results.filter((r) => !r.ok).map((r) => `${r.file} (run ${r.run}): ${r.output.trim().slice(0, 400)}`);
    expect(failed).toEqual([]);
    expect(results.length).toBe(samples.length * NAMES.length);
    // The checkers see real records, not just the anchor: on average at least 5 accepted ones per sample.
    expect(checkedRecords).toBeGreaterThanOrEqual(5 * samples.length);
  }, 120_000);
});

/**
 * The sample without what cannot pass a checker for reasons outside the record path: host names that do not
 * resolve in this sandbox (anything but IP literals and "localhost"). Every other accepted record stays in.
 */
function checkable(store: Map<string, string>): { store: Map<string, string>; removed: string[] } {
  const removed: string[] = [];
  for (const [key, value] of [...store]) {
    if (folderOf(key) === undefined) continue;
    const r = parseServiceRecord(key, value);
    if (r.ok && isIP(r.record.host) === 0 && r.record.host !== 'localhost') {
      store.delete(key);
      removed.push(key);
    }
  }
  return { store, removed };
}

// --------------------------------------------------------------------------------------- pinned minimal inputs

interface Checked {
  ok: boolean;
  output: string;
  text: string;
  /** storeKey → reason of every "ignoring invalid service record" warning. */
  warnings: Record<string, string>;
}

/** Renders `entries` (plus the anchor) with one template into a temp dir and runs its checker. */
async function renderAndCheck(name: Tmpl, entries: Record<string, string>): Promise<Checked> {
  const dir = await mkdtemp(join(work, 'pin-'));
  process.env.NGINX_DIR = dir;
  try {
    const mirror = new Mirror();
    mirror.replacePrefix('/', Object.entries({ [ANCHOR_KEY]: ANCHOR, ...entries }));
    const { log, lines } = captureLog();
    const engine = new TemplateEngine({ log });
    const { text } = await engine.compileTemplate(FILES[name], sources[name]).render({ view: mirror, prefix: '', log });
    const warnings = Object.fromEntries(lines.filter((l) => l.msg === WARN_MSG).map((l) => [l.storeKey as string, l.reason as string]));
    expect(lines.filter((l) => l.msg !== WARN_MSG && (l.level as number) >= 40)).toEqual([]);
    const file = join(dir, name.startsWith('nginx') ? 'nginx.conf' : 'haproxy.cfg');
    await writeFile(file, text);
    return { ...(name.startsWith('nginx') ? await nginxCheck(dir, file) : await haproxyCheck(file)), text, warnings };
  } finally {
    process.env.NGINX_DIR = work;
  }
}

const rec = (o: Record<string, unknown>): string => JSON.stringify({ name: 'web', port: 80, tags: [], meta: {}, ...o });
/** The checker passed: exit 0 and nothing said. */
const passed = (r: Checked): void => {
  expect(r.output).toBe('');
  expect(r.ok).toBe(true);
};

describe('pinned minimal inputs', () => {
  it('sanity: the anchor-only renders pass both checkers', async () => {
    for (const n of NAMES) expect((await renderAndCheck(n, {})).ok, n).toBe(true);
  });

  // zoneId: nginx -t ("invalid IPv6 address in upstream") and haproxy -c ("could not resolve address") refuse a
  // host with a zone id such as fe80::1%eth0, so validateHost refuses it.
  it.each(['nginx', 'haproxy'] as const)('zoneId: a record with host fe80::1%%eth0 is refused with a warning; the %s render passes its checker', async (t) => {
    expect(parseServiceRecord('/services/web/z', rec({ id: 'z', host: 'fe80::1%eth0' }))).toEqual({ ok: false, reason: expect.stringContaining('zone id') });
    const r = await renderAndCheck(t, { '/services/web/z': rec({ id: 'z', host: 'fe80::1%eth0' }) });
    expect(r.warnings).toEqual({ '/services/web/z': expect.stringContaining('zone id') });
    expect(r.text).not.toContain('fe80');
    passed(r);
  });

  // nginxIpv6: 1:2:3:4:5:6:7:: is valid IPv6, but nginx 1.22 refuses it ("invalid IPv6 address in upstream").
  it('nginxIpv6: host 1:2:3:4:5:6:7:: is written in its canonical form 1:2:3:4:5:6:7:0; nginx -t and haproxy -c pass', async () => {
    const entries = { '/services/web/v6': rec({ id: 'v6', host: '1:2:3:4:5:6:7::' }) };
    const ng = await renderAndCheck('nginx', entries);
    expect(ng.text).toContain('    server [1:2:3:4:5:6:7:0]:80;\n');
    expect(ng.warnings).toEqual({});
    passed(ng);
    const hx = await renderAndCheck('haproxy', entries);
    expect(hx.text).toContain('  server v6 [1:2:3:4:5:6:7:0]:80 check inter 1s\n');
    passed(hx);
  });

  it('nginxIpv6: every IPv6 host comes back canonical (lower case, IPv4-mapped tail in hex, longest zero run)', () => {
    const host = (h: string): string | undefined => {
      const r = parseServiceRecord('/services/web/a', rec({ id: 'a', host: h }));
      return r.ok ? r.record.host : undefined;
    };
    expect(host('1:2:3:4:5:6:7::')).toBe('1:2:3:4:5:6:7:0');
    expect(host('::ffff:10.0.0.1')).toBe('::ffff:a00:1');
    expect(host('FE80:0:0:0:0:0:0:1')).toBe('fe80::1');
    expect(parseServiceRecord('/services/web/a', '[2001:DB8::0:1]:80')).toMatchObject({ ok: true, record: { host: '2001:db8::1' } });
  });

  // idCharset: haproxy -c refuses "a(b" as a server name, so validateInstanceId refuses it.
  it('idCharset: id "a(b" is refused (JSON field and key segment); the haproxy render passes haproxy -c', async () => {
    expect(parseServiceRecord('/services/web/a(b', '127.0.0.1:80')).toEqual({ ok: false, reason: expect.stringContaining('may only hold') });
    const r = await renderAndCheck('haproxy', { '/services/web/x': rec({ id: 'a(b', host: '127.0.0.1' }), '/services/web/a(b': '127.0.0.2:80' });
    expect(Object.keys(r.warnings).sort()).toEqual(['/services/web/a(b', '/services/web/x']);
    expect(r.warnings['/services/web/x']).toContain('may only hold');
    expect(r.text).not.toContain('a(b');
    passed(r);
  });

  // duplicateIds: two keys whose JSON records share an id would render duplicate server names, which haproxy -c refuses.
  it('duplicateIds: a JSON id must be its key segment: of two keys carrying id "same" neither /a nor /b is accepted', async () => {
    const r = await renderAndCheck('haproxy', {
      '/services/web/a': rec({ id: 'same', host: '127.0.0.1' }),
      '/services/web/b': rec({ id: 'same', host: '127.0.0.2' }),
    });
    expect(r.warnings).toEqual({
      '/services/web/a': expect.stringContaining("does not match the key's last segment"),
      '/services/web/b': expect.stringContaining("does not match the key's last segment"),
    });
    expect(r.text).not.toContain('server same');
    passed(r);
  });

  it('duplicateIds: with one of them at /services/web/same, that one renders and the other is refused; haproxy -c passes', async () => {
    for (const t of ['haproxy', 'haproxyAll'] as const) {
      const r = await renderAndCheck(t, {
        '/services/web/same': rec({ id: 'same', host: '127.0.0.1' }),
        '/services/web/b': rec({ id: 'same', host: '127.0.0.2' }),
      });
      expect(r.warnings, t).toEqual({ '/services/web/b': expect.stringContaining("does not match the key's last segment") });
      expect(r.text.match(/server same /g), t).toHaveLength(1);
      expect(r.text, t).toContain('server same 127.0.0.1:80 ');
      passed(r);
    }
  });

  // caseFoldNames: "Web" beside "web" would be two upstreams nginx calls duplicates.
  it('caseFoldNames: service "Web" is refused (folder not listed, record name refused); the nginxAll render passes nginx -t', async () => {
    expect(parseServiceRecord('/services/Web/a', rec({ name: 'Web', id: 'a', host: '127.0.0.1' }))).toEqual({
      ok: false,
      reason: expect.stringContaining('must match'),
    });
    expect(parseServiceRecord('/services/Web/a', '127.0.0.1:80')).toEqual({ ok: false, reason: expect.stringContaining('must match') });
    const r = await renderAndCheck('nginxAll', { '/services/Web/a': rec({ name: 'Web', id: 'a', host: '127.0.0.1' }) });
    // `services` does not list the folder; its record is refused with the one warning any refused key gets.
    expect(Object.keys(r.warnings)).toEqual(['/services/Web/a']);
    expect(r.text).not.toContain('upstream Web ');
    expect(r.text.match(/upstream web /gi)).toHaveLength(1);
    passed(r);
  });

  it('childrenLeaf: a leaf key /services/web does not hide /services/web-api from `services` (Mirror.children)', async () => {
    const mirror = new Mirror();
    for (const [k, v] of [
      ['/services/web', 'x'],
      ['/services/web-api/1', '10.0.0.1:80'],
      ['/services/web/1', '10.0.0.2:80'],
    ] as const)
      mirror.set(k, v);
    expect(mirror.children('/services')).toEqual(['web', 'web-api']);
  });

  // trailingSlash: /services/web/ is no instance: dropping its empty segment would read it as service "services", id "web".
  it('trailingSlash: key /services/web/ is refused (plain and JSON), and warned when `service "web"` reads it', async () => {
    expect(parseServiceRecord('/services/web/', '1.2.3.4:80')).toEqual({ ok: false, reason: expect.stringContaining('is not <prefix>/<name>/<id>') });
    expect(parseServiceRecord('/services/web/', rec({ id: 'web', host: '1.2.3.4' }))).toEqual({ ok: false, reason: expect.stringContaining('is not <prefix>/<name>/<id>') });
    expect(parseServiceRecord('/services//a', '1.2.3.4:80')).toMatchObject({ ok: false });
    const r = await renderAndCheck('haproxy', { '/services/web/': '127.0.0.1:80' });
    expect(r.warnings).toEqual({ '/services/web/': expect.stringContaining('is not <prefix>/<name>/<id>') });
    passed(r);
  });
});
