// File sets: one file per member (service or key) in one folder, applied as a whole: unchanged files untouched,
// changed and new ones swapped in, files of vanished members removed, then one check; a failure puts every file back.
import { createTwoFilesPatch } from 'diff';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileSet, ResourceConfig } from './types.js';
import { runCommand } from './commands.js';
import { discard, type FileAttrs, type FileState, isUnchanged, readCurrent, restore, stageFile, swapIn, targetAttrs } from './files.js';
import { errorMessage } from '../util/errors.js';

/** A member name that can be a file name: letters, digits, ".", "_", "-", not starting with "." (no ".", "..", hidden or staging names). */
const SAFE_MEMBER_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
/** Longer member names are refused: with the pattern around them, a file name must stay under 255 bytes. */
const MAX_MEMBER_LENGTH = 200;

/** Why `name` cannot name a member's file, or undefined when it can. */
export function memberNameProblem(name: string): string | undefined {
  if (name === '') return 'an empty name';
  if (name.length > MAX_MEMBER_LENGTH) return `longer than ${MAX_MEMBER_LENGTH} characters`;
  if (!SAFE_MEMBER_RE.test(name)) return 'not a safe file name (letters, digits, ".", "_", "-", not starting with ".")';
  return undefined;
}

/** The file member `name` is written to. */
export function memberPath(set: FileSet, name: string): string {
  return join(set.dir, `${set.before}${name}${set.after}`);
}

/** The manifest beside a set's files: the member names the resource wrote, one a line. */
export function manifestPath(resource: ResourceConfig & { fileSet: FileSet }): string {
  return join(resource.fileSet.dir, `.sidekick-${resource.name.replace(/[^A-Za-z0-9._-]/g, '_')}.files`);
}

/** What a set resource rendered: the text of each member, and the members whose file stays as it is. */
export interface SetRender {
  resource: ResourceConfig & { fileSet: FileSet };
  files: ReadonlyMap<string, string>;
  /** Members whose render failed or fell short of min_endpoints (not in `files`): their file is neither written nor removed. */
  held?: ReadonlySet<string>;
  /** Members whose file already holds their output (nothing they read changed since it was written): kept as they are. */
  same?: ReadonlySet<string>;
}

/** A set swapped in: how many files changed and were removed, and how to put everything back. */
export interface SetSwap {
  changed: number;
  removed: number;
  /** Every file as before the apply, byte for byte; resolves with what could not be put back. */
  undo(): Promise<string[]>;
  /** Nothing of the set existed before (no manifest, every file new): nothing known good to go back to. */
  first: boolean;
}

/** Options the set apply takes from applyBatch's. */
export interface SetApplyOptions {
  noop: boolean;
  syncOnly: boolean;
  writeDiff?: (patch: string) => void;
}

interface Change {
  path: string;
  content: Buffer;
  attrs: FileAttrs;
  previous: FileState | undefined;
}

interface Removal {
  path: string;
  previous: FileState;
}

/** The members listed in the manifest (none when there is none) and its current bytes. */
async function readManifest(path: string): Promise<{ state: FileState | undefined; names: Set<string> }> {
  const state = await readCurrent(path);
  const names = new Set((state?.content.toString('utf8') ?? '').split('\n').filter((n) => n !== '' && memberNameProblem(n) === undefined));
  return { state, names };
}

const manifestText = (names: Iterable<string>): Buffer => Buffer.from([...names].sort().map((n) => `${n}\n`).join(''), 'utf8');

/**
 * Applies a set: compares every member's text with its file, swaps in the changed and new ones, removes the files
 * of members the manifest lists that are gone, then runs the check once. A failure at any step puts back every file.
 */
export async function applyFileSet(item: SetRender, opts: SetApplyOptions): Promise<{ status: 'unchanged' | 'noop' } | { status: 'swapped'; swap: SetSwap }> {
  const { resource } = item;
  const set = resource.fileSet;
  const held = item.held ?? new Set<string>();
  const same = item.same ?? new Set<string>();
  const manifestFile = manifestPath(resource);
  const manifest = await readManifest(manifestFile);
  const changes: Change[] = [];
  for (const [name, text] of item.files) {
    const problem = memberNameProblem(name);
    if (problem) throw new Error(`member ${JSON.stringify(name)} is ${problem}`);
    if (held.has(name)) continue;
    const path = memberPath(set, name);
    const content = Buffer.from(text, 'utf8');
    const previous = await readCurrent(path);
    const attrs = targetAttrs(previous, resource);
    if (!isUnchanged(previous, content, attrs)) changes.push({ path, content, attrs, previous });
  }
  const removals: Removal[] = [];
  for (const name of manifest.names) {
    if (item.files.has(name) || held.has(name) || same.has(name)) continue;
    const path = memberPath(set, name);
    const previous = await readCurrent(path);
    if (previous) removals.push({ path, previous });
  }
  // Ours from now on: every member rendered, and the held ones the manifest listed (a held member never written has no file of ours).
  const kept = [...[...item.files.keys()].filter((n) => !held.has(n)), ...same, ...[...held].filter((n) => manifest.names.has(n))];
  // The same names as the manifest lists (the usual change: one member's file): no need to build it again.
  const listed = kept.length === manifest.names.size && kept.every((n) => manifest.names.has(n));
  const final = listed && manifest.state ? manifest.state.content : manifestText(kept);
  if (changes.length === 0 && removals.length === 0) {
    if (!opts.noop && !manifest.state?.content.equals(final)) await writeFile(manifestFile, final);
    return { status: 'unchanged' };
  }
  if (opts.noop) {
    const write = opts.writeDiff ?? ((p: string) => process.stdout.write(p));
    for (const c of changes) write(createTwoFilesPatch(c.path, c.path, c.previous?.content.toString('utf8') ?? '', c.content.toString('utf8'), 'current', 'rendered'));
    for (const r of removals) write(createTwoFilesPatch(r.path, r.path, r.previous.content.toString('utf8'), '', 'current', 'removed'));
    return { status: 'noop' };
  }
  const undoSteps: (() => Promise<void>)[] = [];
  const undo = async (): Promise<string[]> => {
    const problems: string[] = [];
    for (const step of undoSteps.reverse()) {
      try {
        await step();
      } catch (err) {
        problems.push(errorMessage(err));
      }
    }
    undoSteps.length = 0;
    return problems;
  };
  const putBackManifest = async (): Promise<void> => {
    if (manifest.state) await restore(manifestFile, manifest.state);
    else await removeFile(manifestFile);
  };
  try {
    // The manifest lists every member written before a file is: a crash in between leaves no file unknown to it.
    const union = listed && manifest.state ? manifest.state.content : manifestText(new Set([...manifest.names, ...kept]));
    if (!manifest.state?.content.equals(union)) {
      await writeFile(manifestFile, union);
      undoSteps.push(putBackManifest);
    }
    for (const c of changes) {
      await writeStaged(c.path, c.content, c.attrs);
      const { previous } = c;
      undoSteps.push(async () => (previous ? restore(c.path, previous) : removeFile(c.path)));
    }
    for (const r of removals) {
      await removeFile(r.path);
      undoSteps.push(() => restore(r.path, r.previous));
    }
    if (!final.equals(union)) {
      await writeFile(manifestFile, final);
      if (!undoSteps.includes(putBackManifest)) undoSteps.push(putBackManifest);
    }
    if (resource.checkCmd && !opts.syncOnly) {
      await runCommand(resource.checkCmd, { timeoutMs: resource.commandTimeoutMs, where: resource.name, purpose: 'check' });
    }
  } catch (err) {
    const problems = await undo();
    if (problems.length === 0) throw err;
    throw new Error(`${errorMessage(err)}; putting the previous files back failed: ${problems.join('; ')}`, { cause: err });
  }
  const first = manifest.state === undefined && removals.length === 0 && changes.every((c) => c.previous === undefined);
  return { status: 'swapped', swap: { changed: changes.length, removed: removals.length, undo, first } };
}

/** Writes a whole file atomically: staged beside it, then renamed over it. */
async function writeStaged(path: string, content: Buffer, attrs: FileAttrs): Promise<void> {
  const staged = await stageFile(path, content, attrs);
  try {
    await swapIn(staged, path, content);
  } catch (err) {
    await discard(staged);
    throw err;
  }
}

/** Writes the manifest: 0644, our own owner. */
const writeFile = (path: string, content: Buffer): Promise<void> => writeStaged(path, content, { mode: 0o644 });

/** Removes a file, ignoring one that is already gone. */
async function removeFile(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
