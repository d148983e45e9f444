// Reload pacing: runs of one unwatched reload action never start within MIN_RELOAD_GAP_MS of the previous run's end (nginx
// must finish one reconfigure cycle before the next); different actions are not held up by each other.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { MIN_RELOAD_GAP_MS, reloadActionOf, reloadGapMs } from '../../../src/apply/reload.js';
import type { ResourceConfig } from '../../../src/apply/types.js';
import { tempDir } from '../../support/tmp.js';

const fixtures = join(import.meta.dirname, '../../fixtures');
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

/** A resource whose reload command appends the wall-clock ms it ran at to `log`. */
function resource(log: string, tag: string): ResourceConfig {
  return { name: tag, origin: tag, src: '/unused', dest: join(dir, tag), keys: ['/'], prefix: '', commandTimeoutMs: 5000, minEndpoints: 0, reloadCmd: `${fixtures}/record-time.sh ${log} ${tag}` };
}
const times = async (log: string): Promise<Array<[string, number]>> =>
  (await readFile(log, 'utf8')).split('\n').filter(Boolean).map((l) => [l.split(' ')[0] as string, Number(l.split(' ')[1])]);

describe('reload pacing', () => {
  it(`a second run of the same action starts at least ${MIN_RELOAD_GAP_MS} ms after the first ended`, async () => {
    const log = join(dir, 'log');
    const action = reloadActionOf(resource(log, 'a'));
    await action?.run('a', 5000);
    const firstEnded = Date.now();
    await action?.run('a', 5000);
    const [, second] = await times(log);
    expect(second?.[1]).toBeGreaterThanOrEqual(firstEnded + MIN_RELOAD_GAP_MS - 5);
  });

  it('another action runs at once', async () => {
    const log = join(dir, 'log');
    await reloadActionOf(resource(log, 'b'))?.run('b', 5000);
    const before = Date.now();
    await reloadActionOf(resource(log, 'c'))?.run('c', 5000);
    const [, c] = await times(log);
    expect(c?.[1]).toBeLessThan(before + MIN_RELOAD_GAP_MS);
  });

  it('a reload_cmd whose pid file cannot be read still runs, unwatched: the next run is paced', async () => {
    const log = join(dir, 'log');
    const action = reloadActionOf({ ...resource(log, 'd'), pidFile: join(dir, 'missing.pid') });
    expect(await action?.run('d', 5000)).toBe('unknown');
    expect((await times(log)).map(([tag]) => tag)).toEqual(['d']);
    expect(reloadGapMs(action?.key ?? '')).toBeGreaterThan(0);
  });

  it('a reload_cmd whose pid file names a process without workers has nothing to watch: unknown, paced', async () => {
    const log = join(dir, 'log');
    const lone = execa('sleep', ['30']);
    try {
      await writeFile(join(dir, 'lone.pid'), `${lone.pid}\n`);
      const action = reloadActionOf({ ...resource(log, 'e'), pidFile: join(dir, 'lone.pid') });
      expect(await action?.run('e', 5000)).toBe('unknown');
      expect(reloadGapMs(action?.key ?? '')).toBeGreaterThan(0);
    } finally {
      lone.kill();
      await lone.catch(() => undefined);
    }
  });
});
