// Apply a batch of rendered resources: stage → skip if unchanged → check → swap, all of them first;
// then one reload per distinct reload action, rolling the whole group back if it fails.
import type { ResourceConfig } from './types.js';
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import { runCommand } from './commands.js';
import { startAtRuntime, type RuntimeApply } from './haproxy-runtime.js';
import { assemble, discard, type FileState, FolderSyncs, isUnchanged, readCurrent, restore, stageFile, swapIn, targetAttrs } from './files.js';
import { reloadActionOf, type ReloadAction } from './reload.js';
import { applyFileSet, type SetSwap } from './file-set.js';

/** A resource with the text its template produced. */
export interface Rendered {
  resource: ResourceConfig;
  /** The file's text; unused for a file set, which gives `files`. */
  text: string;
  /** The text's bytes in pieces (see RenderResult.chunks): used instead of encoding `text` when present. */
  chunks?: () => Buffer[];
  /** A file set (resource.fileSet): each member's text, by member name. */
  files?: ReadonlyMap<string, string>;
  /** A file set's members whose file stays as it is (their render failed or fell short of min_endpoints). */
  held?: ReadonlySet<string>;
  /** A file set's members: those in `files` and `held`, and those whose file already holds their output (see SetRender.members). */
  members?: ReadonlySet<string>;
  /** A reload of this resource failed with no previous file to put back: reload even if the bytes are unchanged. */
  reloadOwed?: boolean;
}

/** Modes that change what apply does (confd's flags). */
export interface ApplyOptions {
  /** Print a unified diff of what would change and touch nothing. */
  noop: boolean;
  /** Write files but run neither check nor reload commands. */
  syncOnly: boolean;
  /** Keep a staged file that failed its check, for inspection. */
  keepStageFile: boolean;
  /** Say "destination unchanged" at info (a one-off run, where it is the whole answer); debug otherwise. */
  reportUnchanged?: boolean;
  log: Logger;
  /** Where --noop diffs go; defaults to stdout. */
  writeDiff?: (patch: string) => void;
  /** Told about each distinct reload the batch ran: ok, or failed (its group was rolled back and reloaded again). */
  onReload?: (reload: ReloadResult) => void;
}

/** One distinct reload action of a batch and the resources it covered. */
export interface ReloadResult {
  resources: string[];
  ok: boolean;
}

/** What happened to one resource. */
export type ApplyStatus = 'unchanged' | 'noop' | 'applied' | 'rolled-back' | 'failed';

/** One resource's result; `error` is set for failed and rolled-back. */
export interface ApplyOutcome {
  resource: string;
  status: ApplyStatus;
  error?: Error;
  /** The reload failed and dest had no previous file: the checked file stays in place, its reload still owed. */
  reloadOwed?: boolean;
  /** A resource with haproxy_socket whose change was membership only: applied through the runtime API, or reloaded after it failed. */
  runtime?: 'applied' | 'fallback';
}

interface Swapped {
  resource: ResourceConfig;
  /** What dest held before; undefined when there was nothing (a first render, or only an owed reload). */
  previous: FileState | undefined;
  /** A file set: puts every file of the set back (undefined when nothing of it existed before). */
  undo?: SetSwap['undo'];
  /** A membership change already live on haproxy through its runtime API, to finish instead of a reload. */
  runtime?: RuntimeApply;
}

/**
 * Stages, checks and swaps one resource; returns the previous state when it swapped. A membership-only change of a
 * resource with `haproxy_socket` goes live through the runtime API first, and is undone when the check fails.
 */
async function stageCheckSwap(
  item: Rendered,
  opts: ApplyOptions,
  folders: FolderSyncs,
): Promise<{ status: 'unchanged' | 'noop' } | { status: 'swapped'; previous: FileState | undefined; runtime?: RuntimeApply }> {
  const { resource } = item;
  const content = assemble(resource.dest, item.chunks ? item.chunks() : item.text);
  const current = await readCurrent(resource.dest);
  const attrs = targetAttrs(current, resource);
  if (isUnchanged(current, content, attrs)) return { status: 'unchanged' };
  if (opts.noop) {
    const before = current?.content.toString('utf8') ?? '';
    const { createTwoFilesPatch } = await import('diff'); // --noop only
    const patch = createTwoFilesPatch(resource.dest, resource.dest, before, item.text, 'current', 'rendered');
    (opts.writeDiff ?? ((p: string) => process.stdout.write(p)))(patch);
    return { status: 'noop' };
  }
  // Without a file that haproxy is known to run (a first render, a reload still owed), there is nothing to diff.
  const runtime =
    resource.haproxySocket && current && !item.reloadOwed && !opts.syncOnly ? await startAtRuntime(resource, current.content.toString('utf8'), item.text, opts.log) : undefined;
  let staged: string | undefined;
  let keep = false;
  let swapped = false;
  try {
    staged = await stageFile(resource.dest, content, attrs);
    if (resource.checkCmd && !opts.syncOnly) {
      try {
        await runCommand(resource.checkCmd, {
          src: staged,
          timeoutMs: resource.commandTimeoutMs,
          where: resource.name,
          purpose: 'check',
        });
      } catch (err) {
        keep = opts.keepStageFile;
        if (keep) opts.log.info({ resource: resource.name, staged }, 'kept the staged file that failed its check');
        throw err;
      }
    }
    await swapIn(staged, resource.dest, content, folders);
    swapped = true; // the staged name is dest now: nothing left to remove
    return { status: 'swapped', previous: current, ...(runtime && { runtime }) };
  } catch (err) {
    if (runtime) await putBack(resource, runtime, opts.log);
    throw err;
  } finally {
    if (staged !== undefined && !keep && !swapped) await discard(staged);
  }
}

/** The new file was refused and dest keeps the live one: the running servers go back to it, by a reload if need be. */
async function putBack(resource: ResourceConfig, runtime: RuntimeApply, log: Logger): Promise<void> {
  if (await runtime.undo()) return;
  const action = reloadActionOf(resource);
  try {
    await action?.run(resource.name, resource.commandTimeoutMs);
  } catch (err) {
    log.error({ resource: resource.name, err: errorMessage(err) }, 'reloading the live file after an undone runtime apply failed');
  }
}

/** Applies a batch: every file first, then the reloads, so one reload covers several changed files. */
export async function applyBatch(items: Rendered[], opts: ApplyOptions): Promise<ApplyOutcome[]> {
  const outcomes = new Map<string, ApplyOutcome>();
  const swapped: Swapped[] = [];
  const folders = new FolderSyncs();
  for (const item of items) {
    const name = item.resource.name;
    if (item.files !== undefined || item.resource.fileSet !== undefined) {
      await applySetItem(item, swapped, outcomes, { ...opts, folders });
      continue;
    }
    try {
      const r = await stageCheckSwap(item, opts, folders);
      if (r.status === 'swapped') {
        // While a reload is owed, dest's file was never loaded: nothing known good to put back.
        swapped.push({ resource: item.resource, previous: item.reloadOwed ? undefined : r.previous, ...(r.runtime && { runtime: r.runtime }) });
        outcomes.set(name, { resource: name, status: 'applied' });
        opts.log.info({ resource: name, dest: item.resource.dest }, 'destination updated');
      } else if (r.status === 'unchanged' && item.reloadOwed) {
        swapped.push({ resource: item.resource, previous: undefined });
        outcomes.set(name, { resource: name, status: 'applied' });
      } else {
        outcomes.set(name, { resource: name, status: r.status });
        // Said, so a render that changed nothing is not mistaken for one that did not run.
        if (r.status === 'unchanged') opts.log[opts.reportUnchanged ? 'info' : 'debug']({ resource: name, dest: item.resource.dest }, 'destination unchanged');
      }
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      outcomes.set(name, { resource: name, status: 'failed', error });
      opts.log.error({ resource: name, dest: item.resource.dest, err: error.message }, 'resource not applied; destination left as it was');
    }
  }
  // The renames' folders are made durable while the reloads run: the files are in place already.
  const synced = folders.flush();
  if (!opts.syncOnly) await reloadSwapped(await finishRuntime(swapped, outcomes), outcomes, opts);
  for (const problem of await synced) opts.log.warn({ problem }, 'files in place, but a crash may still bring back their previous version');
  return items.map((i) => outcomes.get(i.resource.name) as ApplyOutcome);
}

/** Applies one file set (see file-set.ts) into the batch: its swap joins the reloads like a single file's. */
async function applySetItem(item: Rendered, swapped: Swapped[], outcomes: Map<string, ApplyOutcome>, opts: ApplyOptions & { folders: FolderSyncs }): Promise<void> {
  const { resource, files } = item;
  const name = resource.name;
  const fileSet = resource.fileSet;
  try {
    if (!fileSet || !files) throw new Error(fileSet ? 'a file set rendered without its member files' : 'member files given for a resource that is not a file set');
    const r = await applyFileSet({ resource: { ...resource, fileSet }, files, ...(item.held && { held: item.held }), ...(item.members && { members: item.members }) }, opts);
    if (r.status === 'swapped') {
      // As for a single file: a set never loaded (first render, reload owed) has nothing known good to put back.
      const undo = item.reloadOwed || r.swap.first ? undefined : r.swap.undo;
      swapped.push({ resource, previous: undefined, ...(undo && { undo }) });
      outcomes.set(name, { resource: name, status: 'applied' });
      opts.log.info({ resource: name, dest: resource.dest, changed: r.swap.changed, removed: r.swap.removed }, 'destination updated');
    } else if (r.status === 'unchanged' && item.reloadOwed) {
      swapped.push({ resource, previous: undefined });
      outcomes.set(name, { resource: name, status: 'applied' });
    } else {
      outcomes.set(name, { resource: name, status: r.status });
      if (r.status === 'unchanged') opts.log[opts.reportUnchanged ? 'info' : 'debug']({ resource: name, dest: resource.dest }, 'destination unchanged');
    }
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    outcomes.set(name, { resource: name, status: 'failed', error });
    opts.log.error({ resource: name, dest: resource.dest, err: error.message }, 'resource not applied; destination left as it was');
  }
}

/**
 * Finishes the membership changes started through haproxy's runtime API; returns the resources still to reload (all
 * others, and those whose runtime apply failed).
 */
async function finishRuntime(swapped: Swapped[], outcomes: Map<string, ApplyOutcome>): Promise<Swapped[]> {
  const toReload: Swapped[] = [];
  for (const s of swapped) {
    const name = s.resource.name;
    const how = s.runtime ? await s.runtime.finish() : undefined;
    if (how) outcomes.set(name, { resource: name, status: 'applied', runtime: how === 'runtime' ? 'applied' : 'fallback' });
    if (how !== 'runtime') toReload.push(s);
  }
  return toReload;
}

/** Runs each distinct reload once; on failure restores the group's previous files and reloads again. */
async function reloadSwapped(swapped: Swapped[], outcomes: Map<string, ApplyOutcome>, opts: ApplyOptions): Promise<void> {
  const { log } = opts;
  const groups = new Map<string, { action: ReloadAction; group: Swapped[] }>();
  for (const s of swapped) {
    const action = reloadActionOf(s.resource);
    if (!action) continue;
    const entry = groups.get(action.key) ?? { action, group: [] };
    entry.group.push(s);
    groups.set(action.key, entry);
  }
  for (const { action, group } of groups.values()) {
    const names = group.map((g) => g.resource.name).join(', ');
    const timeout = Math.max(...group.map((g) => g.resource.commandTimeoutMs));
    try {
      const effect = await action.run(names, timeout);
      if (effect === 'timeout') log.warn({ resources: names, reload: action.describe }, `reloaded, but no new worker generation took over within ${timeout} ms`);
      else log.info({ resources: names, reload: action.describe, ...(effect === 'settled' && { settled: true }) }, 'reloaded');
      opts.onReload?.({ resources: group.map((g) => g.resource.name), ok: true });
      continue;
    } catch (err) {
      await rollBack(action, names, timeout, group, err, outcomes, log);
      opts.onReload?.({ resources: group.map((g) => g.resource.name), ok: false });
    }
  }
}

/**
 * After a failed reload: puts back the previous files of the group and reloads again. A file that had no previous
 * version stays: removing a checked first render would leave the service nothing to start with (its reload
 * usually fails only because the service is not running yet); its reload is owed and retried in watch mode.
 */
async function rollBack(
  action: ReloadAction,
  names: string,
  timeout: number,
  group: Swapped[],
  err: unknown,
  outcomes: Map<string, ApplyOutcome>,
  log: Logger,
): Promise<void> {
  const restorable = group.filter((g) => g.previous !== undefined || g.undo !== undefined);
  const report = [`reload failed: ${errorMessage(err)}`];
  let reloadedAgain = false;
  if (restorable.length === 0) {
    report.push('no previous file to put back: the checked file stays in place and its reload is owed');
    log.error({ resources: names, err: errorMessage(err) }, 'reload failed; no previous file to put back, keeping the checked file');
  } else {
    log.error({ resources: names, err: errorMessage(err) }, 'reload failed; restoring the previous files');
    for (const g of restorable) {
      if (g.undo) {
        for (const problem of await g.undo()) report.push(`restoring ${g.resource.dest} failed: ${problem}`);
        continue;
      }
      try {
        if (g.previous) await restore(g.resource.dest, g.previous);
      } catch (restoreErr) {
        report.push(`restoring ${g.resource.dest} failed: ${errorMessage(restoreErr)}`);
      }
    }
    try {
      await action.run(names, timeout);
      reloadedAgain = true;
      report.push('previous files restored and reloaded');
      log.warn({ resources: names }, 'previous files restored and reloaded');
    } catch (again) {
      report.push(`reload after restoring also failed: ${errorMessage(again)}`);
      log.error({ resources: names, err: errorMessage(again) }, 'reload after restoring also failed');
    }
  }
  for (const g of group) {
    const name = g.resource.name;
    const error = new Error(`${name}: ${report.join('; ')}`, { cause: err });
    if (g.previous !== undefined || g.undo !== undefined) outcomes.set(name, { resource: name, status: 'rolled-back', error });
    else if (reloadedAgain) outcomes.set(name, { resource: name, status: 'applied' }); // the second reload loaded it too
    else outcomes.set(name, { resource: name, status: 'failed', error, reloadOwed: true });
  }
}
