import { chmod, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyBatch, type ApplyOptions } from '../../../src/apply/apply.js';
import type { ResourceConfig } from '../../../src/apply/types.js';
import { silentLogger } from '../../../src/util/log.js';
import { applyResource } from '../../support/config.js';
import { tempDir } from '../../support/tmp.js';

const fixtures = join(import.meta.dirname, '../../fixtures');

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

const resource = (name: string, extra: Partial<ResourceConfig> = {}): ResourceConfig => applyResource(dir, name, extra);

const opts = (extra: Partial<ApplyOptions> = {}): ApplyOptions => ({
  noop: false,
  syncOnly: false,
  keepStageFile: false,
  log: silentLogger,
  ...extra,
});

const lines = async (file: string): Promise<string[]> =>
  (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);

describe('applyBatch', () => {
  it('writes a new file with mode 0644 and reloads once', async () => {
    const log = join(dir, 'reloads');
    const r = resource('a', { reloadCmd: `${fixtures}/record.sh ${log} reload` });
    const [out] = await applyBatch([{ resource: r, text: 'v1\n' }], opts());
    expect(out?.status).toBe('applied');
    expect(await readFile(r.dest, 'utf8')).toBe('v1\n');
    expect((await stat(r.dest)).mode & 0o777).toBe(0o644);
    expect(await lines(log)).toEqual(['reload']);
  });

  it('skips identical bytes: no write, no reload', async () => {
    const log = join(dir, 'reloads');
    const r = resource('a', { reloadCmd: `${fixtures}/record.sh ${log} reload` });
    await applyBatch([{ resource: r, text: 'same\n' }], opts());
    const before = (await stat(r.dest)).mtimeMs;
    const [out] = await applyBatch([{ resource: r, text: 'same\n' }], opts());
    expect(out?.status).toBe('unchanged');
    expect((await stat(r.dest)).mtimeMs).toBe(before);
    expect(await lines(log)).toEqual(['reload']);
  });

  it('notices a change made behind its back, even one of the same size within the same second: rewrites it', async () => {
    const r = resource('a');
    await applyBatch([{ resource: r, text: 'ours\n' }], opts());
    await writeFile(r.dest, 'them\n');
    const [out] = await applyBatch([{ resource: r, text: 'ours\n' }], opts());
    expect(out?.status).toBe('applied');
    expect(await readFile(r.dest, 'utf8')).toBe('ours\n');
    // And the bytes it just wrote are known again: the same text is unchanged.
    expect((await applyBatch([{ resource: r, text: 'ours\n' }], opts()))[0]?.status).toBe('unchanged');
  });

  it('rewrites when only the mode differs', async () => {
    const r = resource('a', { mode: 0o600 });
    await writeFile(r.dest, 'x');
    await chmod(r.dest, 0o644);
    const [out] = await applyBatch([{ resource: r, text: 'x' }], opts());
    expect(out?.status).toBe('applied');
    expect((await stat(r.dest)).mode & 0o777).toBe(0o600);
  });

  it('keeps the existing mode when the resource names none', async () => {
    const r = resource('a');
    await writeFile(r.dest, 'old');
    await chmod(r.dest, 0o640);
    await applyBatch([{ resource: r, text: 'new' }], opts());
    expect((await stat(r.dest)).mode & 0o777).toBe(0o640);
  });

  it('the staged file already has the configured mode (0640, never world-readable) when the check reads it', async () => {
    const seen = join(dir, 'seen');
    const r = resource('a', { mode: 0o640, checkCmd: `${fixtures}/stat-check.sh ${seen} {{.src}}` });
    const [out] = await applyBatch([{ resource: r, text: 'secret = 1\n' }], opts());
    expect(out?.status).toBe('applied');
    const [mode] = (await lines(seen))[0]?.split(' ') ?? [];
    expect(mode).toBe('640');
    expect((await stat(r.dest)).mode & 0o777).toBe(0o640);
  });

  it('with no mode configured, the staged file takes the existing destination\'s (0600), not a wider default', async () => {
    const seen = join(dir, 'seen');
    const r = resource('a', { checkCmd: `${fixtures}/stat-check.sh ${seen} {{.src}}` });
    await writeFile(r.dest, 'old\n');
    await chmod(r.dest, 0o600);
    await applyBatch([{ resource: r, text: 'new\n' }], opts());
    expect((await lines(seen))[0]?.split(' ')[0]).toBe('600');
    expect((await stat(r.dest)).mode & 0o777).toBe(0o600);
  });

  it.runIf(process.getuid?.() === 0)('as root, the staged file and the destination get the configured owner and group', async () => {
    const seen = join(dir, 'seen');
    const r = resource('a', { mode: 0o640, uid: 65534, gid: 65534, checkCmd: `${fixtures}/stat-check.sh ${seen} {{.src}}` });
    const [out] = await applyBatch([{ resource: r, text: 'x\n' }], opts());
    expect(out?.status).toBe('applied');
    expect(await lines(seen)).toEqual(['640 65534:65534']);
    const st = await stat(r.dest);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([65534, 65534, 0o640]);
  });

  it('a failing check leaves dest untouched, removes the stage file and does not stop the others', async () => {
    const bad = resource('bad', { checkCmd: `${fixtures}/grep-check.sh BROKEN {{.src}}` });
    const good = resource('good', { checkCmd: `${fixtures}/grep-check.sh BROKEN {{.src}}` });
    await writeFile(bad.dest, 'last good\n');
    const out = await applyBatch(
      [
        { resource: bad, text: 'BROKEN config\n' },
        { resource: good, text: 'fine\n' },
      ],
      opts(),
    );
    expect(out.map((o) => o.status)).toEqual(['failed', 'applied']);
    expect(out[0]?.error?.message).toMatch(/^bad: check command exited with code 1: rejected: found BROKEN/);
    expect(await readFile(bad.dest, 'utf8')).toBe('last good\n');
    expect(await readFile(good.dest, 'utf8')).toBe('fine\n');
    expect((await readdir(dir)).filter((f) => f.includes('sidekick-'))).toEqual([]);
  });

  it('--keep-stage-file keeps the staged file that failed its check', async () => {
    const bad = resource('bad', { checkCmd: `${fixtures}/fail.sh 1` });
    await applyBatch([{ resource: bad, text: 'x' }], opts({ keepStageFile: true }));
    expect((await readdir(dir)).filter((f) => f.startsWith('.bad.conf.sidekick-'))).toHaveLength(1);
  });

  it('a failing reload restores the previous file byte for byte and reloads again', async () => {
    const marker = join(dir, 'marker');
    const r = resource('a', { reloadCmd: `${fixtures}/fail-once.sh ${marker}` });
    await writeFile(r.dest, Buffer.from([0x6f, 0x6c, 0x64, 0x0a, 0xff]));
    await chmod(r.dest, 0o640);
    const [out] = await applyBatch([{ resource: r, text: 'new\n' }], opts());
    expect(out?.status).toBe('rolled-back');
    expect(out?.error?.message).toMatch(/reload failed: .*exited with code 1.*previous files restored and reloaded/);
    expect(await readFile(r.dest)).toEqual(Buffer.from([0x6f, 0x6c, 0x64, 0x0a, 0xff]));
    expect((await stat(r.dest)).mode & 0o777).toBe(0o640);
    expect(await lines(`${marker}.log`)).toEqual(['fail', 'ok']);
  });

  it('a reload that fails for a brand-new file keeps the checked file and reports the reload as owed', async () => {
    const marker = join(dir, 'service-up');
    const r = resource('a', { checkCmd: `${fixtures}/grep-check.sh bad {{.src}}`, reloadCmd: `${fixtures}/fail-until.sh ${marker}` });
    const [out] = await applyBatch([{ resource: r, text: 'new\n' }], opts());
    expect(out?.status).toBe('failed');
    expect(out?.reloadOwed).toBe(true);
    expect(out?.error?.message).toMatch(/reload failed: .*exited with code 1.*no previous file to put back/);
    expect(await readFile(r.dest, 'utf8')).toBe('new\n');
    expect(await lines(`${marker}.log`)).toEqual(['fail']); // nothing was put back, so no second reload
  });

  it('an owed reload runs even when the bytes are unchanged, and replaces nothing when it fails again', async () => {
    const marker = join(dir, 'service-up');
    const r = resource('a', { reloadCmd: `${fixtures}/fail-until.sh ${marker}` });
    await applyBatch([{ resource: r, text: 'v1\n' }], opts());
    const again = await applyBatch([{ resource: r, text: 'v2\n', reloadOwed: true }], opts());
    expect(again[0]).toMatchObject({ status: 'failed', reloadOwed: true });
    expect(await readFile(r.dest, 'utf8')).toBe('v2\n'); // v1 was never loaded: nothing known good to put back
    await writeFile(marker, '');
    const [done] = await applyBatch([{ resource: r, text: 'v2\n', reloadOwed: true }], opts());
    expect(done?.status).toBe('applied');
    expect(done?.reloadOwed).toBeUndefined();
    expect(await lines(`${marker}.log`)).toEqual(['fail', 'fail', 'ok']);
  });

  it('a shared reload that fails puts back the files that existed and keeps the brand-new one', async () => {
    const marker = join(dir, 'marker');
    const cmd = `${fixtures}/fail-once.sh ${marker}`;
    const old = resource('old', { reloadCmd: cmd });
    const fresh = resource('fresh', { reloadCmd: cmd });
    await writeFile(old.dest, 'old\n');
    const out = await applyBatch([{ resource: old, text: 'old2\n' }, { resource: fresh, text: 'fresh\n' }], opts());
    expect(out.map((o) => o.status)).toEqual(['rolled-back', 'applied']);
    expect(await readFile(old.dest, 'utf8')).toBe('old\n');
    expect(await readFile(fresh.dest, 'utf8')).toBe('fresh\n');
    expect(await lines(`${marker}.log`)).toEqual(['fail', 'ok']);
  });

  it('a hung reload is killed at command_timeout and rolled back', async () => {
    const r = resource('a', { reloadCmd: `${fixtures}/hang.sh`, commandTimeoutMs: 200 });
    await writeFile(r.dest, 'old');
    const [out] = await applyBatch([{ resource: r, text: 'new' }], opts());
    expect(out?.status).toBe('rolled-back');
    expect(out?.error?.message).toMatch(/timed out after 200 ms/);
    expect(await readFile(r.dest, 'utf8')).toBe('old');
  });

  it('renders every file first, then runs a shared reload command once', async () => {
    const log = join(dir, 'reloads');
    const cmd = `${fixtures}/record.sh ${log} nginx-reload`;
    const a = resource('a', { reloadCmd: cmd });
    const b = resource('b', { reloadCmd: cmd });
    const c = resource('c', { reloadCmd: `${fixtures}/record.sh ${log} other` });
    await applyBatch(
      [
        { resource: a, text: '1' },
        { resource: b, text: '2' },
        { resource: c, text: '3' },
      ],
      opts(),
    );
    expect(await lines(log)).toEqual(['nginx-reload', 'other']);
  });

  it('--noop prints a unified diff and touches nothing', async () => {
    const log = join(dir, 'reloads');
    const r = resource('a', { reloadCmd: `${fixtures}/record.sh ${log} reload` });
    await writeFile(r.dest, 'server 10.0.0.1:80;\n');
    const diffs: string[] = [];
    const [out] = await applyBatch(
      [{ resource: r, text: 'server 10.0.0.2:80;\n' }],
      opts({ noop: true, writeDiff: (p) => diffs.push(p) }),
    );
    expect(out?.status).toBe('noop');
    expect(diffs.join('')).toContain('-server 10.0.0.1:80;\n+server 10.0.0.2:80;');
    expect(await readFile(r.dest, 'utf8')).toBe('server 10.0.0.1:80;\n');
    expect(await lines(log)).toEqual([]);
  });

  it('--sync-only writes without check or reload', async () => {
    const log = join(dir, 'reloads');
    const r = resource('a', { checkCmd: `${fixtures}/fail.sh 1`, reloadCmd: `${fixtures}/record.sh ${log} reload` });
    const [out] = await applyBatch([{ resource: r, text: 'x' }], opts({ syncOnly: true }));
    expect(out?.status).toBe('applied');
    expect(await lines(log)).toEqual([]);
  });

  it('reload by signal to a pid file', async () => {
    const pidFile = join(dir, 'pid');
    let got = 0;
    const onHup = (): void => {
      got++;
    };
    process.on('SIGHUP', onHup);
    try {
      await writeFile(pidFile, `${process.pid}\n`);
      const r = resource('a', { reloadSignal: { signal: 'SIGHUP', pidFile } });
      await applyBatch([{ resource: r, text: 'x' }], opts());
      await new Promise((res) => setTimeout(res, 50));
      expect(got).toBe(1);
    } finally {
      process.off('SIGHUP', onHup);
    }
  });
});
