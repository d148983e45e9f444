// Reload actions: a command, or a signal to a pid file's process or to a container.
import { readFile } from 'node:fs/promises';
import type { ResourceConfig } from './types.js';
import { sleep } from '../util/backoff.js';
import { CommandError, errorMessage } from '../util/errors.js';
import { runCommand } from './commands.js';
import { awaitReload, childrenOf, type SettleResult } from './settle.js';

/** What reloading a resource means; resources with equal keys share one reload per batch. */
export interface ReloadAction {
  /** Identity for de-duplication: three nginx resources with the same reload_cmd reload nginx once. */
  key: string;
  describe: string;
  /** Reloads; resolves with whether the reload was seen to take effect (see settle.ts). */
  run(where: string, timeoutMs: number): Promise<SettleResult>;
}

/**
 * Runs of one reload action whose effect cannot be watched start at least this long after the previous one ended.
 * nginx starts new workers on a reload and tells the old ones to quit about 100 ms later; a second reload inside
 * that window has left an old worker running, serving the previous upstreams (seen in render-nginx.test.ts with
 * reloads 32 ms apart). Changes that arrive meanwhile are rendered into the next pass, so a burst still ends in one
 * file and one reload. A reload seen to settle (a pid file names the server: `reload_signal`, or `reload_cmd` with
 * `pid_file`) needs no gap: it is over. Only a container signal, or a reload command without a pid file, is paced.
 */
export const MIN_RELOAD_GAP_MS = 250;
const lastReloadEnd = new Map<string, number>();

/** How long a run of the action with this key would wait now: 0 after a settled run, or once the gap has passed. */
export function reloadGapMs(key: string): number {
  return Math.max(0, (lastReloadEnd.get(key) ?? -Infinity) + MIN_RELOAD_GAP_MS - performance.now());
}

/** Waits out MIN_RELOAD_GAP_MS since this action's last unsettled run, then runs it. */
async function paced(key: string, run: () => Promise<SettleResult>): Promise<SettleResult> {
  const wait = reloadGapMs(key);
  if (wait > 0) await sleep(wait);
  let result: SettleResult = 'unknown';
  try {
    result = await run();
    return result;
  } finally {
    if (result === 'settled') lastReloadEnd.delete(key);
    else lastReloadEnd.set(key, performance.now());
  }
}

/** Builds the reload action of a resource, or undefined when it has none; runs of one action are paced. */
export function reloadActionOf(resource: ResourceConfig): ReloadAction | undefined {
  const action = unpacedActionOf(resource);
  return action && { ...action, run: (where, timeoutMs) => paced(action.key, () => action.run(where, timeoutMs)) };
}

function unpacedActionOf(resource: ResourceConfig): ReloadAction | undefined {
  const cmd = resource.reloadCmd;
  if (cmd) {
    const pidFile = resource.pidFile;
    return {
      key: `cmd:${cmd}`,
      describe: cmd,
      run: async (where, timeoutMs) => (pidFile ? runWatched(cmd, pidFile, where, timeoutMs) : runCommand(cmd, { timeoutMs, where, purpose: 'reload' }).then(() => 'unknown')),
    };
  }
  const sig = resource.reloadSignal;
  if (sig?.pidFile) {
    const pidFile = sig.pidFile;
    return {
      key: `pid:${pidFile}:${sig.signal}`,
      describe: `kill -${sig.signal} $(cat ${pidFile})`,
      run: async (where, timeoutMs) => signalPidFile(pidFile, sig.signal, where, timeoutMs),
    };
  }
  if (sig?.container) {
    const container = sig.container;
    return {
      key: `container:${container}:${sig.signal}`,
      describe: `docker kill -s ${sig.signal} ${container}`,
      run: async (where, timeoutMs) => {
        await signalContainer(container, sig.signal, where, timeoutMs);
        return 'unknown';
      },
    };
  }
  return undefined;
}

/** The pid a pid file holds; throws naming the file when it cannot be read or holds none. */
async function readPid(pidFile: string, where: string): Promise<number> {
  let pid: number;
  try {
    pid = Number.parseInt((await readFile(pidFile, 'utf8')).trim(), 10);
  } catch (err) {
    throw new CommandError(`reload: cannot read pid file ${pidFile}: ${errorMessage(err)}`, { where, cause: err });
  }
  if (!Number.isInteger(pid) || pid <= 1) throw new CommandError(`reload: pid file ${pidFile} holds no valid pid`, { where });
  return pid;
}

/**
 * Runs a reload command and waits until the pid file's server took the reload in (see settle.ts). A pid file that
 * cannot be read before the command (the server is not running yet, and the command may be what starts it) leaves
 * the reload unwatched: the command still runs, and the next reload is paced.
 */
async function runWatched(cmd: string, pidFile: string, where: string, timeoutMs: number): Promise<SettleResult> {
  const started = performance.now();
  const master = await readPid(pidFile, where).catch(() => undefined);
  const workers = master === undefined ? [] : await childrenOf(master);
  await runCommand(cmd, { timeoutMs, where, purpose: 'reload' });
  if (master === undefined) return 'unknown';
  return awaitReload(master, workers, Math.max(0, timeoutMs - (performance.now() - started)));
}

/** Signals the pid file's process; when it is a master with workers, waits until a new generation took over. */
async function signalPidFile(pidFile: string, signal: NodeJS.Signals, where: string, timeoutMs: number): Promise<SettleResult> {
  const pid = await readPid(pidFile, where);
  const workers = await childrenOf(pid);
  try {
    process.kill(pid, signal);
  } catch (err) {
    throw new CommandError(`reload: kill -${signal} ${pid} (from ${pidFile}) failed: ${errorMessage(err)}`, { where, cause: err });
  }
  return awaitReload(pid, workers, timeoutMs);
}

async function signalContainer(container: string, signal: NodeJS.Signals, where: string, timeoutMs: number): Promise<void> {
  // Loaded here, not at start-up: dockerode and its SSH client cost a render daemon ~25 MB of RSS it rarely needs.
  const { default: Docker } = await import('dockerode');
  const docker = new Docker({ timeout: timeoutMs });
  try {
    await docker.getContainer(container).kill({ signal });
  } catch (err) {
    throw new CommandError(`reload: signalling container ${container} with ${signal} failed: ${errorMessage(err)}`, {
      where,
      cause: err,
    });
  }
}
