// Staging, comparison and the atomic swap of destination files.
import { randomBytes } from 'node:crypto';
import { constants, type BigIntStats } from 'node:fs';
import { chmod, chown, lstat, open, readlink, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ConfigError } from '../util/errors.js';

/** What a destination holds now: bytes plus mode and owner, kept for comparison and rollback. */
export interface FileState {
  content: Buffer;
  mode: number;
  uid: number;
  gid: number;
}

/** Mode and owner a rendered file should get. */
export interface FileAttrs {
  mode: number;
  uid?: number;
  gid?: number;
}

/**
 * What this process last swapped in or read at each dest, with the file's identity then: while a stat of dest
 * still gives the same inode, size, mtime and ctime (ns), it holds those bytes and they need not be read again
 * (a 270 KiB config is re-read on every change otherwise). Any write, chmod, chown or replacement by someone
 * else changes the ctime at least, and the file is read as before.
 */
const known = new Map<string, { id: string; state: FileState }>();

const identity = (st: BigIntStats): string => `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.mode}:${st.uid}:${st.gid}`;
const fileState = (content: Buffer, st: BigIntStats): FileState => ({ content, mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid) });

/**
 * Two buffers per dest, used in turn for the bytes of each new render: one may hold what dest holds now (kept for
 * comparison and rollback), the other takes the next render. Fresh memory costs a page fault per 4 KiB on first touch
 * (about 7 ms for a 2.7 MB config on a small VM, more than writing it); reused memory is already mapped.
 */
const spare = new Map<string, Buffer[]>();

/**
 * The bytes of `content` (a text, or its bytes in pieces) in one buffer of dest's pair that no kept file state
 * uses. Valid until the next call for the same dest.
 */
export function assemble(dest: string, content: string | readonly Buffer[]): Buffer {
  const size = typeof content === 'string' ? Buffer.byteLength(content, 'utf8') : content.reduce((n, b) => n + b.length, 0);
  const live = known.get(dest)?.state.content.buffer;
  const pair = spare.get(dest) ?? [];
  spare.set(dest, pair);
  const free = pair.filter((b) => b.buffer !== live);
  let target = free.find((b) => b.length >= size);
  if (!target) {
    // An eighth more than asked, so a config that grows by a few lines does not need a new one every render.
    target = Buffer.allocUnsafeSlow(Math.max(size + (size >> 3), 4096));
    const old = free[0];
    if (old) pair[pair.indexOf(old)] = target;
    else pair.push(target);
  }
  if (typeof content === 'string') target.write(content, 0, 'utf8');
  else {
    let at = 0;
    for (const b of content) at += b.copy(target, at);
  }
  return target.subarray(0, size);
}

/** The largest destination read back for comparison and rollback: generated configs are far smaller. */
export const MAX_DEST_BYTES = 64 * 1024 * 1024;
/** How long reading the current destination may take (a regular file; a hung mount must not stall the others). */
const READ_DEADLINE_MS = 10_000;
/** Set-user-id, set-group-id and sticky: never handed from whatever sits at dest to a rendered file. */
const SPECIAL_BITS = 0o7000;

/** What sits at dest when it is not a regular file, in an operator's words. */
function kindOf(st: BigIntStats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'a device';
}

/**
 * Refuses anything but a regular file at dest. A link is neither followed (its target's owner and mode would
 * pass to the rendered file) nor replaced (a sites-enabled link would silently become a copy): dest names the file.
 */
async function refuseUnlessRegular(dest: string, st: BigIntStats): Promise<void> {
  const kind = kindOf(st);
  if (!kind) return;
  const target = st.isSymbolicLink() ? ` to ${await readlink(dest).catch(() => '?')}` : '';
  throw new ConfigError(`is ${kind}${target}; sidekick only replaces regular files (set dest to the real file's path)`, { where: `dest ${dest}` });
}

/** Reads a regular file without following a link or blocking on a FIFO swapped in after the lstat, bounded in size and time. */
async function readRegular(dest: string): Promise<FileState> {
  const fh = await open(dest, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await fh.stat({ bigint: true });
    await refuseUnlessRegular(dest, st);
    if (st.size > MAX_DEST_BYTES) throw new ConfigError(`is ${st.size} bytes, more than the ${MAX_DEST_BYTES} sidekick reads back; not replaced`, { where: `dest ${dest}` });
    const state = fileState(await fh.readFile({ signal: AbortSignal.timeout(READ_DEADLINE_MS) }), st);
    // Identified by the stat taken before the read: a write racing it changes the mtime, and the file is read again.
    known.set(dest, { id: identity(st), state });
    return state;
  } finally {
    await fh.close();
  }
}

/** Reads dest, or undefined when it does not exist yet; refuses a link, FIFO, device, directory or oversized file. */
export async function readCurrent(dest: string): Promise<FileState | undefined> {
  let st: BigIntStats;
  try {
    st = await lstat(dest, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  await refuseUnlessRegular(dest, st);
  const last = known.get(dest);
  if (last?.id === identity(st)) return last.state;
  return readRegular(dest);
}

/** The attributes to write: the resource's, else the existing file's (without set-id or sticky bits), else 0644 and our own owner. */
export function targetAttrs(current: FileState | undefined, wanted: { mode?: number; uid?: number; gid?: number }): FileAttrs {
  return {
    mode: wanted.mode ?? (current ? current.mode & ~SPECIAL_BITS : 0o644),
    uid: wanted.uid ?? current?.uid,
    gid: wanted.gid ?? current?.gid,
  };
}

/** True when dest already holds exactly these bytes with this mode and owner: nothing to do. */
export function isUnchanged(current: FileState | undefined, content: Buffer, attrs: FileAttrs): boolean {
  if (!current) return false;
  return (
    current.mode === attrs.mode &&
    (attrs.uid === undefined || attrs.uid === current.uid) &&
    (attrs.gid === undefined || attrs.gid === current.gid) &&
    current.content.equals(content)
  );
}

/**
 * Writes content to a staging file beside dest (same filesystem, so the rename is atomic), fsynced.
 * The file is created 0600 and only then given its final mode, so it is never more readable than dest.
 */
export async function stageFile(dest: string, content: Buffer, attrs: FileAttrs): Promise<string> {
  const staged = join(dirname(dest), `.${basename(dest)}.sidekick-${randomBytes(4).toString('hex')}`);
  const fh = await open(staged, 'wx', 0o600).catch(async (err: NodeJS.ErrnoException) => {
    throw err.code === 'ENOENT' ? await missingFolder(dest, err) : err;
  });
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    if (attrs.uid !== undefined || attrs.gid !== undefined) {
      const needChown = process.getuid?.() === 0 || attrs.uid === process.getuid?.();
      if (needChown) await chown(staged, attrs.uid ?? -1, attrs.gid ?? -1);
    }
    await chmod(staged, attrs.mode);
  } catch (err) {
    await unlink(staged).catch(() => undefined);
    throw err;
  }
  return staged;
}

/** The error for a staging file that cannot be created because dest's folder (or one above it) is missing. */
async function missingFolder(dest: string, cause: Error): Promise<Error> {
  let dir = dirname(dest);
  if (await stat(dir).catch(() => undefined)) return cause;
  // Name the topmost missing folder: that is the one to create (or the typo to fix).
  while (dirname(dir) !== dir && (await stat(dirname(dir)).catch(() => undefined)) === undefined) dir = dirname(dir);
  return new ConfigError(`folder ${dir} does not exist (create it, or correct dest)`, { where: `dest ${dest}`, cause });
}

/**
 * Folders whose entries a rename changed, each fsynced once so the renames survive a crash. Apply defers them: a
 * file is in place (and loadable) from its rename; a crash before the folder's fsync leaves the previous complete
 * file, which the next start renders over. A batch of files in one folder then costs one folder fsync.
 */
export class FolderSyncs {
  private readonly folders = new Set<string>();

  add(folder: string): void {
    this.folders.add(folder);
  }

  /** Fsyncs every folder added since the last call; resolves with what failed, in words (nothing is thrown). */
  async flush(): Promise<string[]> {
    const folders = [...this.folders];
    this.folders.clear();
    const problems: string[] = [];
    await Promise.all(
      folders.map((folder) =>
        syncFolder(folder).catch((err: NodeJS.ErrnoException) => {
          problems.push(`fsync of folder ${folder}: ${err.code ?? err.message}`);
        }),
      ),
    );
    return problems;
  }
}

async function syncFolder(folder: string): Promise<void> {
  const dir = await open(folder, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * Renames staged (holding `content`) over dest, then fsyncs its folder so the swap survives a crash: at once, or
 * with `folders` when the caller flushes them after its batch.
 */
export async function swapIn(staged: string, dest: string, content: Buffer, folders?: FolderSyncs): Promise<void> {
  known.delete(dest);
  await rename(staged, dest);
  if (folders) folders.add(dirname(dest));
  else await syncFolder(dirname(dest));
  const st = await lstat(dest, { bigint: true });
  // Remembered only when dest is plausibly still our file (a writer racing the rename would show in the size).
  if (st.size !== BigInt(content.length)) return;
  known.set(dest, { id: identity(st), state: fileState(content, st) });
}

/** Puts back what dest held before, byte for byte, with the same mode and owner. */
export async function restore(dest: string, previous: FileState): Promise<void> {
  const staged = await stageFile(dest, previous.content, previous);
  await swapIn(staged, dest, previous.content);
}

/** Removes a file (a vanished file set member's), ignoring one that is already gone, and forgets what it held. */
export async function removeFile(path: string): Promise<void> {
  known.delete(path);
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Removes a staging file, ignoring one that is already gone. */
export async function discard(staged: string): Promise<void> {
  await unlink(staged).catch(() => undefined);
}
