// Real server processes for integration tests: nginx and haproxy from Debian, in temp dirs on loopback.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:net';
import { execa, type ResultPromise } from 'execa';
import { runtimeCommand } from '../../src/apply/haproxy-runtime.js';

/** Resolves when fn stops throwing (or returns true), polling every `everyMs`, failing after `timeoutMs`. */
export async function waitFor<T>(fn: () => Promise<T> | T, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== false) return v;
      last = new Error('condition still false');
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`waitFor timed out after ${timeoutMs} ms: ${String(last)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** An HTTP GET on loopback returning status and body (no keep-alive, so each request sees the current config). */
export async function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { connection: 'close' } });
  return { status: res.status, body: await res.text() };
}

/** The nginx main-config lines that keep every path inside `dir` (temp files, pid, logs). */
export function nginxPreamble(dir: string): string {
  return [
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'daemon on;',
    'worker_processes 1;',
    'events { worker_connections 64; }',
  ].join('\n');
}

/** The nginx http-block lines that keep temp paths inside `dir`. */
export function nginxHttpPaths(dir: string): string {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `${t}_temp_path ${join(dir, `${t}_temp`)};`)
    .concat(`access_log ${join(dir, 'access.log')};`)
    .join('\n  ');
}

/** A running nginx started on a config file under `dir`. */
export interface NginxHandle {
  conf: string;
  reloadCmd: string;
  checkCmd: string;
  pid(): Promise<number>;
  stop(): Promise<void>;
}

const nginxBase = (dir: string): string[] => ['/usr/sbin/nginx', '-p', dir, '-e', join(dir, 'error.log')];

/** The check_cmd and reload_cmd of an nginx run in dir with `conf`, whether it is running yet or not. */
export function nginxCommands(dir: string, conf: string): { checkCmd: string; reloadCmd: string } {
  const base = nginxBase(dir).join(' ');
  return { reloadCmd: `${base} -c ${conf} -s reload`, checkCmd: `${base} -t -q -c {{.src}}` };
}

/** Starts nginx (daemonized, pid file in dir) with `conf`; the config must use nginxPreamble(dir). */
export async function startNginx(dir: string, conf: string): Promise<NginxHandle> {
  const base = nginxBase(dir);
  await execa(base[0] as string, [...base.slice(1), '-c', conf]);
  const pidFile = join(dir, 'nginx.pid');
  const pid = async (): Promise<number> => Number.parseInt((await readFile(pidFile, 'utf8')).trim(), 10);
  await waitFor(pid);
  return {
    conf,
    ...nginxCommands(dir, conf),
    pid,
    stop: async () => {
      await execa(base[0] as string, [...base.slice(1), '-c', conf, '-s', 'stop'], { reject: false });
      await waitFor(async () => {
        try {
          process.kill(await pid(), 0);
          return false;
        } catch {
          return true;
        }
      });
    },
  };
}

/** A running haproxy in master-worker mode; reload is SIGUSR2 to the master's pid file. */
export interface HaproxyHandle {
  pidFile: string;
  checkCmd: string;
  /** The master CLI (`-S`), when started with one. */
  masterSocket?: string;
  stop(): Promise<void>;
}

/** The path a test config puts its `stats socket … level admin` at: haproxyAdminSocket(dir). */
export const haproxyAdminSocket = (dir: string): string => join(dir, 'admin.sock');

/**
 * Starts haproxy -W -D with `conf`, pid file in dir; with `master`, also its master CLI (`-S <dir>/master.sock`),
 * and waits until the admin socket at haproxyAdminSocket(dir) (the config's `stats socket`) answers.
 */
export async function startHaproxy(dir: string, conf: string, opts: { master?: boolean } = {}): Promise<HaproxyHandle> {
  const pidFile = join(dir, 'haproxy.pid');
  const masterSocket = opts.master ? join(dir, 'master.sock') : undefined;
  await execa('/usr/sbin/haproxy', ['-W', '-D', '-p', pidFile, ...(masterSocket ? ['-S', masterSocket] : []), '-f', conf]);
  await waitFor(async () => Number.parseInt(await readFile(pidFile, 'utf8'), 10) > 0);
  if (masterSocket) await waitFor(async () => (await haproxyCli(haproxyAdminSocket(dir), 'show info')).includes('Pid:'));
  return {
    pidFile,
    ...(masterSocket && { masterSocket }),
    checkCmd: '/usr/sbin/haproxy -c -q -f {{.src}}',
    stop: async () => {
      const pid = Number.parseInt(await readFile(pidFile, 'utf8'), 10);
      process.kill(pid, 'SIGTERM');
      await waitFor(() => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      });
    },
  };
}

/** One command to an haproxy CLI socket (a worker's stats socket, or the master CLI), its answer. */
export function haproxyCli(socket: string, command: string): Promise<string> {
  return runtimeCommand({ socket, where: 'test', timeoutMs: 2000 }, command);
}

/** The master's reload count and the current worker's pid: both stay put while nothing reloads. */
export async function haproxyGeneration(masterSocket: string, adminSocket: string): Promise<{ reloads: number; workerPid: number }> {
  const proc = await haproxyCli(masterSocket, 'show proc');
  const master = /^\d+\s+master\s+(\d+)/m.exec(proc);
  const pid = /^Pid: (\d+)$/m.exec(await haproxyCli(adminSocket, 'show info'));
  if (!master || !pid) throw new Error(`unexpected haproxy answers: ${proc}`);
  return { reloads: Number(master[1]), workerPid: Number(pid[1]) };
}

/** Sends `signal` (SIGTERM by default), then SIGKILL after `graceMs`; resolves with the result. */
export async function stopProc(proc: ResultPromise, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000) {
  proc.kill(signal);
  const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  try {
    return await proc;
  } finally {
    clearTimeout(t);
  }
}

/** Resolves true once something accepts TCP connections on 127.0.0.1:port, false if refused. */
export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
