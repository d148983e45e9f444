// Staging, comparison and the atomic swap of destination files.
import { randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { chmod, chown, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

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
 * What this process last swapped in at each dest, with the file's identity right after: while a stat of dest
 * still gives the same inode, size, mtime and ctime (ns), it holds those bytes and they need not be read again
 * (a 270 KiB config is re-read on every change otherwise). Any write, chmod, chown or replacement by someone
 * else changes the ctime at least, and the file is read as before.
 */
const swappedIn = new Map<string, { id: string; state: FileState }>();

const identity = (st: BigIntStats): string => `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.mode}:${st.uid}:${st.gid}`;
const fileState = (content: Buffer, st: BigIntStats): FileState => ({ content, mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid) });

/** Reads dest, or undefined when it does not exist yet. */
export async function readCurrent(dest: string): Promise<FileState | undefined> {
  try {
    const st = await stat(dest, { bigint: true });
    const known = swappedIn.get(dest);
    if (known?.id === identity(st)) return known.state;
    return fileState(await readFile(dest), st);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The attributes to write: the resource's, else the existing file's, else 0644 and our own owner. */
export function targetAttrs(current: FileState | undefined, wanted: { mode?: number; uid?: number; gid?: number }): FileAttrs {
  return {
    mode: wanted.mode ?? current?.mode ?? 0o644,
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
  const fh = await open(staged, 'wx', 0o600);
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

/** Renames staged (holding `content`) over dest and fsyncs the folder so the swap survives a crash. */
export async function swapIn(staged: string, dest: string, content: Buffer): Promise<void> {
  swappedIn.delete(dest);
  await rename(staged, dest);
  const dir = await open(dirname(dest), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  const st = await stat(dest, { bigint: true });
  // Remembered only when dest is plausibly still our file (a writer racing the rename would show in the size).
  if (st.size !== BigInt(content.length)) return;
  swappedIn.set(dest, { id: identity(st), state: fileState(content, st) });
}

/** Puts back what dest held before, byte for byte, with the same mode and owner. */
export async function restore(dest: string, previous: FileState): Promise<void> {
  const staged = await stageFile(dest, previous.content, previous);
  await swapIn(staged, dest, previous.content);
}

/** Removes a staging file, ignoring one that is already gone. */
export async function discard(staged: string): Promise<void> {
  await unlink(staged).catch(() => undefined);
}
