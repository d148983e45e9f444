// File sets against a temp folder: one file per member, unchanged files untouched, vanished members' files removed
// (only those the manifest lists), one check and one reload for the set, and every file put back when either fails.
import { chmod, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyBatch, type ApplyOptions, type Rendered } from '../../../src/apply/apply.js';
import { manifestPath, memberNameProblem, memberPath } from '../../../src/apply/file-set.js';
import type { FileSet, ResourceConfig } from '../../../src/apply/types.js';
import { silentLogger } from '../../../src/util/log.js';
import { applyResource } from '../../support/config.js';
import { captureLogger } from '../../support/logs.js';
import { tempDir } from '../../support/tmp.js';

const fixtures = join(import.meta.dirname, '../../fixtures');

let dir: string;
let upstreams: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  upstreams = join(dir, 'upstreams');
  await mkdir(upstreams);
});
afterEach(async () => cleanup());

type SetResource = ResourceConfig & { fileSet: FileSet };
const setResource = (extra: Partial<ResourceConfig> = {}): SetResource => ({
  ...applyResource(dir, 'up.toml', extra),
  dest: join(upstreams, '{{service}}.conf'),
  fileSet: { member: 'service', dir: upstreams, before: '', after: '.conf' },
});
const item = (resource: ResourceConfig, files: Record<string, string>, extra: Partial<Rendered> = {}): Rendered => ({
  resource,
  text: '',
  files: new Map(Object.entries(files)),
  ...extra,
});
const opts = (extra: Partial<ApplyOptions> = {}): ApplyOptions => ({ noop: false, syncOnly: false, keepStageFile: false, log: silentLogger, ...extra });
const lines = async (file: string): Promise<string[]> => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
const file = (name: string): string => join(upstreams, `${name}.conf`);
const mtime = async (path: string): Promise<bigint> => (await stat(path, { bigint: true })).mtimeNs;
/** Every file of the folder with its bytes and mode, staging leftovers included. */
async function snapshot(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(upstreams)).sort()) {
    const path = join(upstreams, name);
    out[name] = `${((await stat(path)).mode & 0o777).toString(8)} ${await readFile(path, 'utf8')}`;
  }
  return out;
}

describe('member names', () => {
  it('accepts what can name a file, refuses the rest', () => {
    for (const ok of ['web', 'web-1', 'v2.web', 'A_b', '0']) expect(memberNameProblem(ok)).toBeUndefined();
    for (const bad of ['', '.', '..', '.hidden', 'a/b', 'a b', 'a\nb', 'é', 'x'.repeat(201)]) expect(memberNameProblem(bad)).toBeDefined();
  });

  it('a member file is the folder, the name around the placeholder and the member; the manifest a hidden file beside', () => {
    const r = setResource();
    expect(memberPath({ ...r.fileSet, before: 'up-', after: '' }, 'web')).toBe(join(upstreams, 'up-web'));
    expect(manifestPath({ ...r, name: 'sub/up.toml' })).toBe(join(upstreams, '.sidekick-sub_up.toml.files'));
  });
});

describe('applyBatch with a file set', () => {
  it('writes one file per member and the manifest, checks and reloads once', async () => {
    const reloads = join(dir, 'reloads');
    const checks = join(dir, 'checks');
    const r = setResource({ checkCmd: `${fixtures}/record.sh ${checks} check`, reloadCmd: `${fixtures}/record.sh ${reloads} reload` });
    const [out] = await applyBatch([item(r, { web: 'upstream web;\n', api: 'upstream api;\n' })], opts());
    expect(out?.status).toBe('applied');
    expect(await readFile(file('web'), 'utf8')).toBe('upstream web;\n');
    expect(await readFile(file('api'), 'utf8')).toBe('upstream api;\n');
    expect((await stat(file('web'))).mode & 0o777).toBe(0o644);
    expect(await readFile(manifestPath(r), 'utf8')).toBe('api\nweb\n');
    expect(await lines(checks)).toEqual(['check']);
    expect(await lines(reloads)).toEqual(['reload']);
  });

  it('a change rewrites only its member\'s file: the others keep their mtime; one "destination updated" with the counts', async () => {
    const reloads = join(dir, 'reloads');
    const r = setResource({ reloadCmd: `${fixtures}/record.sh ${reloads} reload` });
    await applyBatch([item(r, { web: 'w1\n', api: 'a1\n', db: 'd1\n' })], opts());
    const before = { web: await mtime(file('web')), api: await mtime(file('api')), db: await mtime(file('db')), manifest: await mtime(manifestPath(r)) };
    await new Promise((res) => setTimeout(res, 20));
    const logs = captureLogger();
    const [out] = await applyBatch([item(r, { web: 'w1\n', api: 'a2\n', db: 'd1\n' })], opts({ log: logs.log }));
    expect(out?.status).toBe('applied');
    expect(await readFile(file('api'), 'utf8')).toBe('a2\n');
    expect(await mtime(file('api'))).not.toBe(before.api);
    expect(await mtime(file('web'))).toBe(before.web);
    expect(await mtime(file('db'))).toBe(before.db);
    expect(await mtime(manifestPath(r))).toBe(before.manifest);
    const updated = logs.lines.filter((l) => l.msg === 'destination updated');
    expect(updated).toHaveLength(1);
    expect(updated[0]).toMatchObject({ resource: 'up.toml', changed: 1, removed: 0 });
    expect(await lines(reloads)).toEqual(['reload', 'reload']);
    // Nothing changed: nothing written, no reload.
    const [same] = await applyBatch([item(r, { web: 'w1\n', api: 'a2\n', db: 'd1\n' })], opts());
    expect(same?.status).toBe('unchanged');
    expect(await lines(reloads)).toHaveLength(2);
  });

  it('removes the file of a vanished member, and leaves alone a file of the pattern it did not write', async () => {
    const r = setResource();
    await writeFile(file('mine-not'), 'written by hand\n');
    await applyBatch([item(r, { web: 'w\n', api: 'a\n' })], opts());
    const logs = captureLogger();
    const [out] = await applyBatch([item(r, { web: 'w\n' })], opts({ log: logs.log }));
    expect(out?.status).toBe('applied');
    expect(await snapshot()).toEqual({ '.sidekick-up.toml.files': '644 web\n', 'mine-not.conf': '644 written by hand\n', 'web.conf': '644 w\n' });
    expect(logs.lines.find((l) => l.msg === 'destination updated')).toMatchObject({ changed: 0, removed: 1 });
    // With no member at all, every file it wrote goes; the hand-written one stays.
    await applyBatch([item(r, {})], opts());
    expect(await snapshot()).toEqual({ '.sidekick-up.toml.files': '644 ', 'mine-not.conf': '644 written by hand\n' });
  });

  it('held members (render failed, min_endpoints) keep their file: neither rewritten nor removed, still listed', async () => {
    const r = setResource();
    await applyBatch([item(r, { web: 'w1\n', api: 'a1\n' })], opts());
    const [out] = await applyBatch([item(r, { web: 'w2\n' }, { held: new Set(['api', 'new']) })], opts());
    expect(out?.status).toBe('applied');
    // "new" was never written: not listed, so a file someone else puts there is never taken for ours.
    expect(await snapshot()).toEqual({ '.sidekick-up.toml.files': '644 api\nweb\n', 'api.conf': '644 a1\n', 'web.conf': '644 w2\n' });
  });

  it('members not rendered keep their file and stay listed; the same member set again leaves the manifest unread and untouched', async () => {
    const r = setResource();
    const members = new Set(['web', 'api']);
    await applyBatch([item(r, { web: 'w1\n', api: 'a1\n' }, { members })], opts());
    const before = { web: await mtime(file('web')), manifest: await mtime(manifestPath(r)) };
    // Only api rendered: web's file already holds its output.
    const [out] = await applyBatch([item(r, { api: 'a2\n' }, { members })], opts());
    expect(out?.status).toBe('applied');
    expect(await snapshot()).toEqual({ '.sidekick-up.toml.files': '644 api\nweb\n', 'api.conf': '644 a2\n', 'web.conf': '644 w1\n' });
    expect(await mtime(file('web'))).toBe(before.web);
    expect(await mtime(manifestPath(r))).toBe(before.manifest);
  });

  it('a manifest changed by someone else is read again even for the same member set: the files it lists that are gone from the set go', async () => {
    const r = setResource();
    const members = new Set(['web']);
    await applyBatch([item(r, { web: 'w1\n' }, { members })], opts());
    await writeFile(file('old'), 'an earlier member\n');
    await writeFile(manifestPath(r), 'old\nweb\n');
    const [out] = await applyBatch([item(r, {}, { members })], opts());
    expect(out?.status).toBe('applied');
    expect(await snapshot()).toEqual({ '.sidekick-up.toml.files': '644 web\n', 'web.conf': '644 w1\n' });
  });

  it('many files written and removed at once are all put back when the check fails', async () => {
    const r = setResource();
    const names = Array.from({ length: 60 }, (_, i) => `svc${i}`);
    await applyBatch([item(r, Object.fromEntries(names.map((n) => [n, `${n} v1\n`])))], opts());
    const before = await snapshot();
    expect(Object.keys(before)).toHaveLength(61);
    // 40 rewritten, 10 new, 20 removed: all of it in flight together, then the check refuses it.
    const next = Object.fromEntries([...names.slice(0, 40).map((n) => [n, `${n} v2\n`]), ...Array.from({ length: 10 }, (_, i) => [`new${i}`, 'new\n'])]);
    const [out] = await applyBatch([item({ ...r, checkCmd: `${fixtures}/fail.sh 3` }, next)], opts());
    expect(out?.status).toBe('failed');
    expect(await snapshot()).toEqual(before);
  });

  it('a failed check puts every file back byte for byte: changed restored, new removed, removed re-created', async () => {
    const reloads = join(dir, 'reloads');
    const r = setResource({ reloadCmd: `${fixtures}/record.sh ${reloads} reload` });
    await applyBatch([item(r, { web: 'w1\n', api: 'a1\n', db: 'd1\n' })], opts());
    await chmod(file('web'), 0o640);
    await writeFile(file('other'), 'not ours\n');
    const before = await snapshot();
    const failing = { ...r, checkCmd: `${fixtures}/fail.sh 4` };
    const [out] = await applyBatch([item(failing, { web: 'w2\n', db: 'd1\n', cache: 'c1\n' })], opts());
    expect(out?.status).toBe('failed');
    expect(out?.error?.message).toMatch(/check command exited with code 4: fixture failure: 4/);
    expect(await snapshot()).toEqual(before);
    expect(await lines(reloads)).toEqual(['reload']);
  });

  it('a failed reload rolls the set back and reloads again; a set and a single file sharing the reload reload once', async () => {
    const reloads = join(dir, 'reloads');
    const marker = join(dir, 'fails-once');
    const reloadCmd = `${fixtures}/fail-once.sh ${marker}`;
    const r = setResource({ reloadCmd: `${fixtures}/record.sh ${reloads} reload` });
    await applyBatch([item(r, { web: 'w1\n', api: 'a1\n' })], opts());
    const before = await snapshot();
    const single = applyResource(dir, 'main', { reloadCmd });
    await writeFile(single.dest, 'main v1\n');
    const outs = await applyBatch([item({ ...r, reloadCmd }, { web: 'w2\n', db: 'd1\n' }), { resource: single, text: 'main v2\n' }], opts());
    expect(outs.map((o) => o?.status)).toEqual(['rolled-back', 'rolled-back']);
    expect(outs[0]?.error?.message).toMatch(/reload failed: .*previous files restored and reloaded/);
    expect(await snapshot()).toEqual(before);
    expect(await readFile(single.dest, 'utf8')).toBe('main v1\n');
    // One failed reload for both, then the one after restoring.
    expect(await lines(`${marker}.log`)).toEqual(['fail', 'ok']);
  });

  it('a first render whose reload fails keeps its files and owes the reload', async () => {
    const r = setResource({ reloadCmd: `${fixtures}/fail.sh 1` });
    const [out] = await applyBatch([item(r, { web: 'w1\n' })], opts());
    expect(out).toMatchObject({ status: 'failed', reloadOwed: true });
    expect(await readFile(file('web'), 'utf8')).toBe('w1\n');
  });

  it('--noop prints a diff per changed file and per removal, and touches nothing', async () => {
    const r = setResource();
    await applyBatch([item(r, { web: 'w1\n', api: 'a1\n', db: 'd1\n' })], opts());
    const before = await snapshot();
    const patches: string[] = [];
    const [out] = await applyBatch([item(r, { web: 'w1\n', api: 'a2\n', cache: 'c1\n' })], opts({ noop: true, writeDiff: (p) => patches.push(p) }));
    expect(out?.status).toBe('noop');
    expect(await snapshot()).toEqual(before);
    expect(patches).toHaveLength(3);
    expect(patches[0]).toContain(`${file('api')}\t`);
    expect(patches[0]).toMatch(/-a1\n\+a2/);
    expect(patches[1]).toMatch(/\+c1/);
    expect(patches[2]).toContain(`${file('db')}\tremoved`);
    expect(patches[2]).toMatch(/-d1/);
  });

  it('syncOnly writes and removes files without check or reload', async () => {
    const reloads = join(dir, 'reloads');
    const r = setResource({ checkCmd: `${fixtures}/fail.sh`, reloadCmd: `${fixtures}/record.sh ${reloads} reload` });
    const [out] = await applyBatch([item(r, { web: 'w1\n' })], opts({ syncOnly: true }));
    expect(out?.status).toBe('applied');
    expect(await readFile(file('web'), 'utf8')).toBe('w1\n');
    expect(await lines(reloads)).toEqual([]);
  });
});
