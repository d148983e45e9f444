// What sits at dest: only a regular file is read back and replaced; anything else is refused without blocking.
import { execFileSync } from 'node:child_process';
import { chmod, chown, lstat, mkdir, readFile, readdir, readlink, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyBatch } from '../../../src/apply/apply.js';
import { FolderSyncs, MAX_DEST_BYTES, readCurrent } from '../../../src/apply/files.js';
import type { ResourceConfig } from '../../../src/apply/types.js';
import { silentLogger } from '../../../src/util/log.js';
import { applyResource } from '../../support/config.js';
import { tempDir } from '../../support/tmp.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

const resource = (name: string, extra: Partial<ResourceConfig> = {}): ResourceConfig => applyResource(dir, name, extra);

const apply = (...resources: ResourceConfig[]) =>
  applyBatch(
    resources.map((resource) => ({ resource, text: 'rendered\n' })),
    { noop: false, syncOnly: false, keepStageFile: false, log: silentLogger },
  );

describe('dest that is not a regular file', () => {
  it('a FIFO is refused at once, naming it, and the other resources are written', async () => {
    const fifo = resource('fifo');
    execFileSync('mkfifo', [fifo.dest]);
    const other = resource('other');
    const [bad, good] = await apply(fifo, other);
    expect(bad?.status).toBe('failed');
    expect(bad?.error?.message).toBe(`dest ${fifo.dest}: is a FIFO; sidekick only replaces regular files (set dest to the real file's path)`);
    expect((await lstat(fifo.dest)).isFIFO()).toBe(true);
    expect(good?.status).toBe('applied');
    expect(await readFile(other.dest, 'utf8')).toBe('rendered\n');
  });

  it('a device, a directory and a link to /dev/zero are refused without reading them', async () => {
    await expect(readCurrent('/dev/null')).rejects.toThrow('dest /dev/null: is a device;');
    await mkdir(join(dir, 'd.conf'));
    await symlink('/dev/zero', join(dir, 'zero.conf'));
    const [d, zero] = await apply(resource('d'), resource('zero'));
    expect(d?.error?.message).toContain('is a directory;');
    expect(zero?.error?.message).toContain(`dest ${join(dir, 'zero.conf')}: is a symbolic link to /dev/zero;`);
  });

  it('a symlink is neither followed nor replaced: the target keeps its bytes, owner and mode', async () => {
    const target = join(dir, 'attacker-owned');
    await writeFile(target, 'theirs\n');
    await chown(target, 4321, 4321);
    await chmod(target, 0o4777);
    const r = resource('linked');
    await symlink(target, r.dest);
    const [out] = await apply(r);
    expect(out?.status).toBe('failed');
    expect(out?.error?.message).toContain(`is a symbolic link to ${target}`);
    expect(await readlink(r.dest)).toBe(target);
    expect(await readFile(target, 'utf8')).toBe('theirs\n');
    expect(await readdir(dir)).toEqual(['attacker-owned', 'linked.conf']); // no staging file left
  });

  it('a regular file larger than the read-back bound is refused, not read', async () => {
    const r = resource('huge');
    await writeFile(r.dest, '');
    await truncate(r.dest, MAX_DEST_BYTES + 1); // sparse: no disk used
    const [out] = await apply(r);
    expect(out?.error?.message).toBe(`dest ${r.dest}: is ${MAX_DEST_BYTES + 1} bytes, more than the ${MAX_DEST_BYTES} sidekick reads back; not replaced`);
  });
});

describe('attributes taken from the existing file', () => {
  it('never passes on set-user-id, set-group-id or sticky bits', async () => {
    const r = resource('setid');
    await writeFile(r.dest, 'old\n');
    await chmod(r.dest, 0o7750);
    const [out] = await apply(r);
    expect(out?.status).toBe('applied');
    expect((await stat(r.dest)).mode & 0o7777).toBe(0o750);
  });
});

describe('missing dest folder', () => {
  it('names the folder to create and the dest, not the hidden staging file', async () => {
    const r = resource('a', { dest: join(dir, 'no', 'such', 'a.conf') });
    const [out] = await apply(r);
    expect(out?.status).toBe('failed');
    expect(out?.error?.message).toBe(`dest ${r.dest}: folder ${join(dir, 'no')} does not exist (create it, or correct dest)`);
  });
});

describe('the bytes of a render, in reused buffers', () => {
  it('joins the pieces, and never into the buffer that holds what dest holds now, so a rollback puts back its bytes', async () => {
    const r = resource('chunked', { checkCmd: `sh -c 'grep -qv refuse "$0"' {{.src}}` });
    const run = (chunks: string[]) =>
      applyBatch([{ resource: r, text: chunks.join(''), chunks: () => chunks.map((c) => Buffer.from(c)) }], {
        noop: false,
        syncOnly: false,
        keepStageFile: false,
        log: silentLogger,
      });
    expect((await run(['one\n', 'two\n']))[0]?.status).toBe('applied');
    expect(await readFile(r.dest, 'utf8')).toBe('one\ntwo\n');
    // Every later render goes into the other buffer of the pair, the live one stays as dest is.
    for (const [i, text] of ['three\n', 'four\nfive\n', 'six\n'].entries()) {
      expect((await run([`${i}:`, text]))[0]?.status).toBe('applied');
      expect(await readFile(r.dest, 'utf8')).toBe(`${i}:${text}`);
      const live = await readCurrent(r.dest);
      expect(live?.content.toString()).toBe(`${i}:${text}`);
      expect((await run(['refuse\n']))[0]?.status).toBe('failed');
      expect(live?.content.toString()).toBe(`${i}:${text}`);
      expect(await readFile(r.dest, 'utf8')).toBe(`${i}:${text}`);
    }
    // Unchanged bytes in new pieces: nothing written.
    const before = (await stat(r.dest)).mtimeMs;
    expect((await run(['2:', 'six', '\n']))[0]?.status).toBe('unchanged');
    expect((await stat(r.dest)).mtimeMs).toBe(before);
  });
});

describe('folder fsyncs after a batch', () => {
  it('each folder once; one that cannot be opened is reported by path and errno, not thrown', async () => {
    const folders = new FolderSyncs();
    folders.add(dir);
    folders.add(dir);
    folders.add(join(dir, 'gone'));
    expect(await folders.flush()).toEqual([`fsync of folder ${join(dir, 'gone')}: ENOENT`]);
    // Flushed folders are forgotten: the next batch starts empty.
    expect(await folders.flush()).toEqual([]);
  });

  it('a file read once is not read again while its identity holds; a change by someone else is seen', async () => {
    const path = join(dir, 'read.conf');
    await writeFile(path, 'v1\n');
    const first = await readCurrent(path);
    expect((await readCurrent(path))?.content).toBe(first?.content);
    await writeFile(path, 'v2\n');
    expect((await readCurrent(path))?.content.toString()).toBe('v2\n');
  });
});
