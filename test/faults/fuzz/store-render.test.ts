// Fault suite, hostile store input: ≥ 10,000 generated keys/values (random bytes, 1 MiB values, JSON with wrong
// types, hosts with ; { } # quotes blanks and line separators, bad ports, keys with .. // NUL unicode) through
// Mirror/MapView → TemplateEngine → the nginx and haproxy fixture templates plus two multi-service templates.
// Asserted per run: no throw; the rendered text is the template's static text plus exactly the expected server
// lines (accepted records only, in order), each matching a strict host:port grammar with no breaker character;
// every refused key read by a template is warned exactly once with its key (storeKey), accepted ones never; a
// second round of edits warns only for changed values. Then 20 of the renders (the most hostile ones first) go
// through the real `nginx -t` and `haproxy -c`.
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
import { fcParams, hasBreaker, SEED, STRICT, tolerate, toleratedSummary } from './support/common.js';
import { cmp, expectFor, folderOf, HAPROXY_IDENT_RE, NGINX_BAD_V6, strictAddress, type Expectation, type Instance } from './support/oracle.js';
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
/** Generated entries of the first rounds (the ≥ 10,000 of the issue), and second-round changes. */
let generated = 0;
let changed = 0;
let rendered = 0;
let warned = 0;
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
    `[fuzz store→render] seed=${SEED} strict=${STRICT} entries=${generated} changes=${changed} renders=${rendered} warnings=${warned} samples=${samples.length} server-lines-through-checkers=${checkedServers}\n${toleratedSummary()}`,
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

/** A server name / record id token: never a breaker; outside haproxy's charset only as the known bug idCharset. */
function checkId(id: string): void {
  expect(id.length).toBeGreaterThan(0);
  expect(hasBreaker(id), `id ${JSON.stringify(id)} has a breaker`).toBe(false);
  if (!HAPROXY_IDENT_RE.test(id)) expect(tolerate('idCharset'), `id ${JSON.stringify(id)} is not a haproxy identifier`).toBe(true);
}

/** Unique ids per backend (haproxy refuses duplicate server names), else the known bug duplicateIds. */
function checkUnique(ids: string[], where: string): void {
  const dup = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (dup.length > 0) expect(tolerate('duplicateIds'), `${where}: duplicate server names ${JSON.stringify(dup)}`).toBe(true);
}

/** The record name of an instance in folder `folder` (only key /services/<folder>/ breaks it: trailingSlash). */
function checkName(i: Instance, folder: string): void {
  if (i.record.name !== folder) expect(i.key.endsWith('/') && tolerate('trailingSlash'), `${i.key}: record name ${i.record.name} in ${folder}`).toBe(true);
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
    expect(s.name).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/);
    const other = folded.get(s.name.toLowerCase());
    if (other !== undefined) expect(tolerate('caseFoldNames'), `nginx upstreams ${other} and ${s.name} collide`).toBe(true);
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
  }, 120_000);
});

/**
 * The sample without what cannot pass a checker for reasons outside the record path: host names that do not
 * resolve in this sandbox (anything but IP literals and "localhost"), and, outside strict mode, the records
 * hitting a known bug (zone ids, ids outside haproxy's charset, duplicate ids, case-folding service names).
 */
function checkable(store: Map<string, string>): { store: Map<string, string>; removed: string[] } {
  const removed: string[] = [];
  const drop = (k: string): void => {
    if (store.delete(k)) removed.push(k);
  };
  const byFolder = new Map<string, Array<{ key: string; id: string }>>();
  for (const [key, value] of [...store].sort(([a], [b]) => cmp(a, b))) {
    const folder = folderOf(key);
    if (folder === undefined) continue;
    const r = parseServiceRecord(key, value);
    if (!r.ok) continue;
    const { host, id } = r.record;
    if (isIP(host) === 0 && host !== 'localhost') drop(key);
    else if (host.includes('%') && tolerate('zoneId')) drop(key);
    else if (NGINX_BAD_V6.test(host) && tolerate('nginxIpv6')) drop(key);
    else if (!HAPROXY_IDENT_RE.test(id) && tolerate('idCharset')) drop(key);
    else byFolder.set(folder, [...(byFolder.get(folder) ?? []), { key, id }]);
  }
  const folded = new Map<string, string>();
  // "web" first: it holds the anchor, and the nginx server block proxies to it.
  for (const [folder, list] of [...byFolder].sort(([a], [b]) => Number(b === 'web') - Number(a === 'web') || cmp(a, b))) {
    const lower = folder.toLowerCase();
    if (/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(folder) && folded.has(lower) && tolerate('caseFoldNames')) {
      for (const { key } of list) drop(key);
      continue;
    }
    folded.set(lower, folder);
    const ids = new Set<string>();
    for (const { key, id } of list) {
      if (ids.has(id) && tolerate('duplicateIds')) drop(key);
      ids.add(id);
    }
  }
  return { store, removed };
}

// ------------------------------------------------------------------------------------------------ known bugs

/** Renders `entries` (plus the anchor) with one template into a temp dir and runs its checker. */
async function renderAndCheck(name: Tmpl, entries: Record<string, string>): Promise<{ ok: boolean; output: string; text: string }> {
  const dir = await mkdtemp(join(work, 'pin-'));
  process.env.NGINX_DIR = dir;
  try {
    const mirror = new Mirror();
    mirror.replacePrefix('/', Object.entries({ [ANCHOR_KEY]: ANCHOR, ...entries }));
    const engine = new TemplateEngine();
    const { text } = await engine.compileTemplate(FILES[name], sources[name]).render({ view: mirror, prefix: '' });
    const file = join(dir, name.startsWith('nginx') ? 'nginx.conf' : 'haproxy.cfg');
    await writeFile(file, text);
    return { ...(name.startsWith('nginx') ? await nginxCheck(dir, file) : await haproxyCheck(file)), text };
  } finally {
    process.env.NGINX_DIR = work;
  }
}

const rec = (o: Record<string, unknown>): string => JSON.stringify({ name: 'web', port: 80, tags: [], meta: {}, ...o });

describe('known bugs, pinned with their minimal input (it.fails: flips to a failure once fixed)', () => {
  it('sanity: the anchor-only renders pass both checkers', async () => {
    for (const n of NAMES) expect((await renderAndCheck(n, {})).ok, n).toBe(true);
  });

  it.fails('zoneId: a record with host fe80::1%eth0 is accepted, and nginx -t refuses the rendered upstream', async () => {
    const r = await renderAndCheck('nginx', { '/services/web/z': rec({ id: 'z', host: 'fe80::1%eth0' }) });
    expect(r.text).toContain('server [fe80::1%eth0]:80;');
    expect(r.output).toBe('');
    expect(r.ok).toBe(true);
  });

  it.fails('zoneId: the same record makes haproxy -c fail ("could not resolve address")', async () => {
    const r = await renderAndCheck('haproxy', { '/services/web/z': rec({ id: 'z', host: 'fe80::1%eth0' }) });
    expect(r.output).toBe('');
    expect(r.ok).toBe(true);
  });

  it.fails('nginxIpv6: host 1:2:3:4:5:6:7:: is a valid IPv6 literal, accepted, and nginx -t refuses it', async () => {
    const r = await renderAndCheck('nginx', { '/services/web/v6': rec({ id: 'v6', host: '1:2:3:4:5:6:7::' }) });
    expect(r.text).toContain('server [1:2:3:4:5:6:7::]:80;');
    expect(r.output).toBe('');
    expect(r.ok).toBe(true);
  });

  it.fails('idCharset: id "a(b" passes validateInstanceId; a template using {{id}} as the server name fails haproxy -c', async () => {
    const r = await renderAndCheck('haproxy', { '/services/web/x': rec({ id: 'a(b', host: '127.0.0.1' }) });
    expect(r.output).toBe('');
    expect(r.ok).toBe(true);
  });

  it.fails('duplicateIds: two keys whose JSON records share an id render duplicate server names; haproxy -c fails', async () => {
    const r = await renderAndCheck('haproxy', {
      '/services/web/a': rec({ id: 'same', host: '127.0.0.1' }),
      '/services/web/b': rec({ id: 'same', host: '127.0.0.2' }),
    });
    expect(r.output).toBe('');
    expect(r.ok).toBe(true);
  });

  it.fails('caseFoldNames: services "Web" and "web" become upstreams nginx calls duplicates', async () => {
    const r = await renderAndCheck('nginxAll', { '/services/Web/a': rec({ name: 'Web', id: 'a', host: '127.0.0.1' }) });
    expect(r.output).toBe('');
    expect(r.ok).toBe(true);
  });

  it('childrenLeaf: a leaf key /services/web hides /services/web-api from `services` (Mirror.children)', async () => {
    const mirror = new Mirror();
    for (const [k, v] of [
      ['/services/web', 'x'],
      ['/services/web-api/1', '10.0.0.1:80'],
      ['/services/web/1', '10.0.0.2:80'],
    ] as const)
      mirror.set(k, v);
    expect(mirror.children('/services')).toEqual(['web', 'web-api']);
  });

  it.fails('trailingSlash: key /services/web/ with value 1.2.3.4:80 is accepted as service "services", id "web"', () => {
    const r = parseServiceRecord('/services/web/', '1.2.3.4:80');
    expect(r.ok && r.record.name === 'services').toBe(false);
  });
});
