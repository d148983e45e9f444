// File sets: one file per member (service or key) in one folder, applied as a whole: unchanged files untouched,
// changed and new ones swapped in, files of vanished members removed, then one check; a failure puts every file back.
import { join } from 'node:path';
import type { FileSet, ResourceConfig } from './types.js';
import { runCommand } from './commands.js';
import { discard, type FileAttrs, type FileState, type FolderSyncs, isUnchanged, readCurrent, removeFile, restore, stageFile, swapIn, targetAttrs } from './files.js';
import { mapLimit } from '../util/parallel.js';
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
  /** The members rendered, with their text. */
  files: ReadonlyMap<string, string>;
  /** Members whose render failed or fell short of min_endpoints (not in `files`): their file is neither written nor removed. */
  held?: ReadonlySet<string>;
  /**
   * Every member: those in `files` and `held`, and those not rendered because nothing they read changed since their
   * file was written (kept as they are). Without it, `files` and `held` are all of them. Pass the same set object
   * while membership stays the same: the manifest is then known to list them without reading it.
   */
  members?: ReadonlySet<string>;
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
  /** Where the renames' folders go to be fsynced after the batch; without it, each rename's folder at once. */
  folders?: FolderSyncs;
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

/**
 * Files read, written or removed at once. Each is a chain of small system calls (open, write, fsync, rename…) that
 * libuv's threads run; enough in flight keeps them busy and lets the file system commit several fsyncs together.
 */
export const FILES_IN_FLIGHT = 16;

/**
 * Per manifest, the bytes this process last wrote there and the member set they list. While the manifest on disk is
 * still those bytes and a pass gives the same set object, it lists exactly the members: nothing to parse, compare or
 * remove, whatever the number of members.
 */
const written = new Map<string, { content: Buffer; members: ReadonlySet<string> }>();

/** The member names a manifest lists. */
const manifestNames = (state: FileState | undefined): Set<string> =>
  new Set((state?.content.toString('utf8') ?? '').split('\n').filter((n) => n !== '' && memberNameProblem(n) === undefined));

const manifestText = (names: Iterable<string>): Buffer => Buffer.from([...names].sort().map((n) => `${n}\n`).join(''), 'utf8');

/** What the manifest lists, what it must list during and after the apply, and the files of vanished members. */
interface ManifestPlan {
  state: FileState | undefined;
  /** Listed while files are swapped in: every member written before any file is (a crash in between leaves none unknown). */
  union: Buffer;
  /** Listed after the apply. */
  final: Buffer;
  removals: Removal[];
}

/**
 * Reads the manifest and plans it: without a read of its names when it is the file last written for this very member
 * set (see `written`); else from what it lists, with the files of the members gone from the set to remove.
 */
async function planManifest(item: SetRender, held: ReadonlySet<string>, file: string): Promise<ManifestPlan> {
  const state = await readCurrent(file);
  const known = written.get(file);
  if (item.members && held.size === 0 && known && known.members === item.members && state?.content === known.content) {
    return { state, union: state.content, final: state.content, removals: [] };
  }
  const listed = manifestNames(state);
  const members = item.members ?? new Set([...item.files.keys(), ...held]);
  // Ours from now on: every member but the held ones never written (a file someone else puts there is not ours).
  const kept = new Set([...members].filter((n) => !held.has(n) || listed.has(n)));
  const vanished = [...listed].filter((n) => !members.has(n));
  const removals = (
    await mapLimit(vanished, FILES_IN_FLIGHT, async (name) => {
      const path = memberPath(item.resource.fileSet, name);
      const previous = await readCurrent(path);
      return previous && { path, previous };
    })
  ).filter((r): r is Removal => r !== undefined);
  // The same names as listed (the usual change: one member's file): the manifest stays as it is.
  const same = state !== undefined && kept.size === listed.size && [...kept].every((n) => listed.has(n));
  const final = same ? state.content : manifestText(kept);
  const union = same ? state.content : manifestText(new Set([...listed, ...kept]));
  return { state, union, final, removals };
}

/**
 * Applies a set: compares every rendered member's text with its file, swaps in the changed and new ones, removes the
 * files of members the manifest lists that are gone, then runs the check once. A failure at any step puts back
 * every file.
 */
export async function applyFileSet(item: SetRender, opts: SetApplyOptions): Promise<{ status: 'unchanged' | 'noop' } | { status: 'swapped'; swap: SetSwap }> {
  const { resource } = item;
  const set = resource.fileSet;
  const held = item.held ?? new Set<string>();
  const manifestFile = manifestPath(resource);
  const rendered = [...item.files].filter(([name]) => !held.has(name));
  for (const [name] of rendered) {
    const problem = memberNameProblem(name);
    if (problem) throw new Error(`member ${JSON.stringify(name)} is ${problem}`);
  }
  const manifest = await planManifest(item, held, manifestFile);
  const compared = await mapLimit(rendered, FILES_IN_FLIGHT, async ([name, text]): Promise<Change | undefined> => {
    const path = memberPath(set, name);
    const content = Buffer.from(text, 'utf8');
    const previous = await readCurrent(path);
    const attrs = targetAttrs(previous, resource);
    return isUnchanged(previous, content, attrs) ? undefined : { path, content, attrs, previous };
  });
  const changes = compared.filter((c): c is Change => c !== undefined);
  const { removals, union, final } = manifest;
  // The manifest's bytes on disk, as the buffer last read or written (see `written`).
  let onDisk = manifest.state?.content;
  const writeManifest = async (content: Buffer): Promise<void> => {
    await writeStaged(manifestFile, content, { mode: 0o644 }, opts.folders);
    onDisk = content;
  };
  if (changes.length === 0 && removals.length === 0) {
    if (opts.noop) return { status: 'unchanged' };
    if (!onDisk?.equals(final)) await writeManifest(final);
    remember(manifestFile, onDisk, item, held);
    return { status: 'unchanged' };
  }
  if (opts.noop) {
    const write = opts.writeDiff ?? ((p: string) => process.stdout.write(p));
    const { createTwoFilesPatch } = await import('diff'); // --noop only
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
    written.delete(manifestFile);
    if (manifest.state) await restore(manifestFile, manifest.state);
    else await removeFile(manifestFile);
  };
  try {
    // The manifest lists every member written before a file is: a crash in between leaves no file unknown to it.
    if (!manifest.state?.content.equals(union)) {
      await writeManifest(union);
      undoSteps.push(putBackManifest);
    }
    await mapLimit(changes, FILES_IN_FLIGHT, async (c) => {
      await writeStaged(c.path, c.content, c.attrs, opts.folders);
      const { previous } = c;
      undoSteps.push(async () => (previous ? restore(c.path, previous) : removeFile(c.path)));
    });
    await mapLimit(removals, FILES_IN_FLIGHT, async (r) => {
      await removeFile(r.path);
      undoSteps.push(() => restore(r.path, r.previous));
    });
    if (!final.equals(union)) {
      await writeManifest(final);
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
  remember(manifestFile, onDisk, item, held);
  const first = manifest.state === undefined && removals.length === 0 && changes.every((c) => c.previous === undefined);
  return { status: 'swapped', swap: { changed: changes.length, removed: removals.length, undo, first } };
}

/** Remembers the manifest's bytes with the member set when that set is all it lists (no held member): see `written`. */
function remember(file: string, onDisk: Buffer | undefined, item: SetRender, held: ReadonlySet<string>): void {
  if (onDisk && item.members && held.size === 0) written.set(file, { content: onDisk, members: item.members });
  else written.delete(file);
}

/** Writes a whole file atomically: staged beside it, then renamed over it. */
async function writeStaged(path: string, content: Buffer, attrs: FileAttrs, folders: FolderSyncs | undefined): Promise<void> {
  const staged = await stageFile(path, content, attrs);
  try {
    await swapIn(staged, path, content, folders);
  } catch (err) {
    await discard(staged);
    throw err;
  }
}
