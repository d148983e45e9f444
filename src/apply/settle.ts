// When has a reload taken effect? For a master/worker server named by a pid file (nginx, haproxy -W), signalled
// directly or through a reload command (`nginx -s reload`), the reload is in place once the master has started a
// new worker and every worker of the previous generation has stopped taking new connections: exited, or (nginx)
// retitled "… is shutting down". Read from /proc, Linux only; anywhere else, or for a process without workers,
// nothing can be told and nothing is waited for.
import { readdir, readFile } from 'node:fs/promises';
import { sleep } from '../util/backoff.js';

/** How often the process tree is read while a reload settles. */
const POLL_MS = 5;
/** After the switch, how long old workers get to finish the requests they carry before the reload counts as done. */
const FINISH_GRACE_MS = 1000;

/** The pids whose parent is `pid`, from /proc/<pid>/task/<tid>/children; none when the kernel does not offer it. */
export async function childrenOf(pid: number): Promise<number[]> {
  try {
    const tasks = await readdir(`/proc/${pid}/task`);
    const lists = await Promise.all(tasks.map((t) => readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '')));
    return lists.flatMap((l) => l.split(' ').filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

/** The process title (argv joined by spaces), or undefined once it has exited. */
async function titleOf(pid: number): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0+$/, '').replace(/\0/g, ' ');
  } catch {
    return undefined;
  }
}

/** True while a process `pid` runs: it exists and is not a zombie waiting to be reaped (whose cmdline is empty). */
async function alive(pid: number): Promise<boolean> {
  return Boolean(await titleOf(pid));
}

/** True while `pid` exists and still takes new connections (not retitled as shutting down). */
async function stillServing(pid: number, current: Set<number>): Promise<boolean> {
  if (!current.has(pid)) return false;
  const title = await titleOf(pid);
  return title !== undefined && !title.includes('shutting down');
}


/**
 * How a reload ended: `settled` (the new generation took over), `unknown` (nothing to watch: no workers, or the
 * master itself went away, as when a reload command restarts the server), `timeout`.
 */
export type SettleResult = 'settled' | 'unknown' | 'timeout';

/**
 * Waits until the workers in `before` (the master's children before the signal) have been replaced: a new child
 * exists and none of the old ones still takes connections (or the new one has run for a second: an old worker that
 * never retitles may carry a long connection for minutes); then gives the old ones up to a second to finish
 * their requests. `unknown` when there were no workers to watch or the master exited.
 */
export async function awaitReload(master: number, before: readonly number[], timeoutMs: number): Promise<SettleResult> {
  if (before.length === 0) return 'unknown';
  const deadline = performance.now() + timeoutMs;
  const old = new Set(before);
  let freshSince: number | undefined;
  for (;;) {
    const now = new Set(await childrenOf(master));
    const fresh = [...now].some((p) => !old.has(p));
    freshSince = fresh ? (freshSince ?? performance.now()) : undefined;
    const serving = await Promise.all(before.map((p) => stillServing(p, now)));
    if (fresh && !serving.includes(true)) break;
    // haproxy's old workers keep their title and live on while a long connection lasts: a new generation that has
    // run for the grace period has taken over, whatever the old one still carries.
    if (freshSince !== undefined && performance.now() - freshSince >= FINISH_GRACE_MS) break;
    if (now.size === 0 && !(await alive(master))) return 'unknown';
    if (performance.now() > deadline) return 'timeout';
    await sleep(POLL_MS);
  }
  const graceEnd = Math.min(deadline, performance.now() + FINISH_GRACE_MS);
  while (performance.now() < graceEnd) {
    const now = new Set(await childrenOf(master));
    if (!before.some((p) => now.has(p))) break;
    await sleep(POLL_MS * 4);
  }
  return 'settled';
}
