// A private dockerd per test file (own socket, data and exec roots, own containerd), a busybox image imported
// from the host's static busybox, and helpers to run and remove labelled test containers.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile, copyFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type Dockerode from 'dockerode';
import { dockerFromAddress } from '../../src/docker/address.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The image {@link ensureBusyboxImage} imports by default. */
export const BUSYBOX_IMAGE = 'sidekick-test/busybox:latest';
/** Label put on every container {@link runContainer} creates. */
export const TEST_LABEL = 'sidekick-test';

/** Options for {@link startDockerd}. */
export interface StartDockerdOptions {
  /** dockerd binary; defaults to $DOCKERD_BIN or /usr/sbin/dockerd (else `dockerd` on PATH). */
  bin?: string;
  /**
   * Keep containers running across a dockerd stop/kill (`--live-restore`). Default false, Docker's default: a
   * restarted dockerd stops the containers that were running (they die while its API is still down, so a
   * client sees no events for them — only a resync tells), then starts those with a restart policy.
   */
  liveRestore?: boolean;
  /** `--storage-driver`; default $SIDEKICK_TEST_DOCKER_STORAGE, else dockerd's own choice (overlay2 here, vfs where
   * overlay does not work, e.g. inside another container). */
  storageDriver?: string;
  /** More flags. */
  extraArgs?: string[];
  /** How long to wait for /_ping to answer, ms. Default 30 s. */
  readyTimeoutMs?: number;
}

/** A private dockerd that a test controls. */
export interface DockerdHandle {
  /** The API socket, e.g. /tmp/sk-dk-AbC123/docker.sock. */
  readonly socketPath: string;
  /** `unix://<socketPath>`: what `sidekick register --docker` takes. */
  readonly address: string;
  /** A client for this daemon (from dockerFromAddress). */
  readonly docker: Dockerode;
  /** The temp dir holding everything (socket, data-root, exec-root, pid file, log). */
  readonly dir: string;
  /** dockerd's (and its containerd's) log, appended across restarts. */
  readonly logFile: string;
  /** True while the dockerd process runs. */
  readonly running: boolean;
  /** dockerd's pid while it runs. */
  readonly pid: number | undefined;
  /** SIGTERM and wait for exit (SIGKILL after 20 s). Containers stop too unless liveRestore. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: its containerd dies with it; container shims survive until the next start. */
  kill(): Promise<void>;
  /** Start again on the same dirs; resolves once /_ping answers. */
  start(): Promise<void>;
  /** Removes every container, stops dockerd, kills any leftover shim, unmounts and deletes the dir. Idempotent. */
  cleanup(): Promise<void>;
  /** The last `bytes` of the log. */
  logTail(bytes?: number): string;
}

/** A short temp base: unix socket paths (containerd's included) must stay under ~107 bytes. */
function shortTmp(): string {
  const base = tmpdir();
  return base.length <= 32 ? base : '/tmp';
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function dockerdBin(opts: StartDockerdOptions): string {
  if (opts.bin) return opts.bin;
  if (process.env.DOCKERD_BIN) return process.env.DOCKERD_BIN;
  return executable('/usr/sbin/dockerd') ? '/usr/sbin/dockerd' : 'dockerd';
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** True when pid exists and is not a zombie. */
function isLive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** GET /_ping on a unix socket, no keep-alive; true on 200 "OK". */
function ping(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * Starts a private dockerd in a fresh /tmp/sk-dk-XXXXXX and waits until it answers /_ping. It has its own
 * socket, data-root, exec-root, pid file and managed containerd (under its exec-root, in its own containerd
 * namespaces, so it shares nothing with a system dockerd even when a system containerd is running), no
 * default bridge, no iptables, no userland proxy: containers use `--network host`, none, or internal bridge
 * networks made with {@link createNetwork}.
 */
export async function startDockerd(opts: StartDockerdOptions = {}): Promise<DockerdHandle> {
  if (process.getuid?.() !== 0) throw new Error('startDockerd needs root (dockerd mounts filesystems and namespaces)');
  const bin = dockerdBin(opts);
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const dir = await mkdtemp(join(shortTmp(), 'sk-dk-'));
  const tag = dir.slice(dir.lastIndexOf('-') + 1).toLowerCase();
  const socketPath = join(dir, 'docker.sock');
  const logFile = join(dir, 'dockerd.log');
  const configFile = join(dir, 'daemon.json');
  // An empty config file: /etc/docker/daemon.json (hosts, registries, ...) must not leak into the test daemon.
  await writeFile(configFile, '{}\n');
  const storage = opts.storageDriver ?? process.env.SIDEKICK_TEST_DOCKER_STORAGE;
  const args = [
    '--config-file', configFile,
    '--host', `unix://${socketPath}`,
    '--data-root', join(dir, 'data'),
    '--exec-root', join(dir, 'x'),
    '--pidfile', join(dir, 'dockerd.pid'),
    // Never the system containerd (dockerd would use /run/containerd/containerd.sock if present): separate namespaces.
    '--containerd-namespace', `sk-${tag}`,
    '--containerd-plugins-namespace', `sk-${tag}-plugins`,
    '--bridge', 'none',
    '--iptables=false',
    '--ip6tables=false',
    '--ip-forward=false',
    '--ip-masq=false',
    '--userland-proxy=false',
    '--log-level', 'info',
    ...(opts.liveRestore ? ['--live-restore'] : []),
    ...(storage ? ['--storage-driver', storage] : []),
    ...(opts.extraArgs ?? []),
  ];
  const docker = dockerFromAddress(`unix://${socketPath}`);

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let cleaned = false;

  const logTail = (bytes = 4000): string => {
    try {
      const text = readFileSync(logFile, 'utf8');
      return text.slice(-bytes);
    } catch {
      return '';
    }
  };

  const containerdPidFile = join(dir, 'x', 'containerd', 'containerd.pid');
  const containerdPid = (): number | undefined => {
    try {
      const pid = Number.parseInt(readFileSync(containerdPidFile, 'utf8').trim(), 10);
      return pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };

  const signalAndWait = async (signal: NodeJS.Signals, graceMs = 20_000): Promise<void> => {
    const proc = child;
    if (!proc) return;
    const managed = containerdPid();
    const done = exited;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await done;
    clearTimeout(timer);
    // dockerd's containerd gets SIGKILL when dockerd dies (pdeathsig) but may take a moment: a dockerd started
    // before it is gone finds it "still running" and times out waiting for its socket.
    if (managed !== undefined) {
      const deadline = Date.now() + 5000;
      while (isLive(managed) && Date.now() < deadline) await sleep(20);
    }
  };

  const spawnIt = async (): Promise<void> => {
    if (child) return;
    // A dead (or zombie: our init may reap orphans late) containerd in the pid file would make dockerd wait for it.
    const stale = containerdPid();
    if (stale !== undefined && !isLive(stale)) await rm(containerdPidFile, { force: true });
    const fd = openSync(logFile, 'a');
    let proc: ChildProcess;
    try {
      proc = spawn(bin, args, { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    child = proc;
    let spawnError: Error | undefined;
    exited = new Promise<void>((resolve) => {
      proc.once('error', (err) => {
        spawnError = err;
        if (child === proc) child = undefined;
        resolve();
      });
      proc.once('exit', () => {
        if (child === proc) child = undefined;
        resolve();
      });
    });
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (child !== proc) {
        throw new Error(`dockerd (${bin}) exited during start-up${spawnError ? `: ${spawnError.message}` : ''}; log ${logFile}:\n${logTail()}`);
      }
      if (await ping(socketPath)) return;
      if (Date.now() > deadline) {
        await signalAndWait('SIGKILL');
        throw new Error(`dockerd at ${socketPath} not ready after ${readyTimeoutMs} ms; log ${logFile}:\n${logTail()}`);
      }
      await sleep(50);
    }
  };

  const handle: DockerdHandle = {
    socketPath,
    address: `unix://${socketPath}`,
    docker,
    dir,
    logFile,
    get running() {
      return child !== undefined;
    },
    get pid() {
      return child?.pid;
    },
    stop: () => signalAndWait('SIGTERM'),
    kill: () => signalAndWait('SIGKILL'),
    start: spawnIt,
    logTail,
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      // Containers are removed through the API; after a kill, start once more so dockerd can do it.
      if (!child) await spawnIt().catch(() => undefined);
      if (child) {
        await removeAllContainers(docker).catch(() => undefined);
        // A bridge network is a link in the host's namespace: only dockerd removes it.
        await removeAllNetworks(docker).catch(() => undefined);
        await signalAndWait('SIGTERM');
      }
      await killStrays(dir);
      await unmountUnder(dir);
      await rm(dir, { recursive: true, force: true });
    },
  };

  try {
    await spawnIt();
  } catch (err) {
    await killStrays(dir);
    await unmountUnder(dir);
    if (process.env.SIDEKICK_TEST_KEEP_DOCKERD) throw err;
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${errorText(err)}\n(${dir} removed; set SIDEKICK_TEST_KEEP_DOCKERD=1 to keep it)`, { cause: err });
  }
  return handle;
}

/** Force-removes every container of a daemon (with anonymous volumes). */
async function removeAllContainers(docker: Dockerode): Promise<void> {
  const all = await docker.listContainers({ all: true });
  await Promise.all(all.map((c) => removeContainer(docker, c.Id)));
}

/** Removes every network created on a daemon (not bridge, host, none). */
async function removeAllNetworks(docker: Dockerode): Promise<void> {
  const all = await docker.listNetworks({ filters: { type: ['custom'] } });
  await Promise.all(all.map((n) => docker.getNetwork(n.Id).remove()));
}

/**
 * Creates an internal bridge network (no gateway to the outside, no NAT) on a /24 of 198.18.0.0/15, the range set
 * aside for benchmarks, so it meets no real address; `octets` picks the /24 ("18.7" → 198.18.7.0/24). The
 * daemon's cleanup removes it. Resolves to the network's id.
 */
export async function createNetwork(docker: Dockerode, name: string, octets: string): Promise<string> {
  const network = await docker.createNetwork({
    Name: name,
    Driver: 'bridge',
    Internal: true,
    EnableIPv6: false,
    IPAM: { Config: [{ Subnet: `198.${octets}.0/24` }] },
    Labels: { [TEST_LABEL]: '1' },
  });
  return network.id;
}

/** Pids of processes whose argv[0] is a dockerd/containerd binary and whose command line mentions `dir`. */
async function daemonPidsUnder(dir: string): Promise<number[]> {
  const names = new Set(['dockerd', 'containerd', 'containerd-shim', 'containerd-shim-runc-v2', 'docker-proxy']);
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      const exe = (argv[0] ?? '').split('/').pop() ?? '';
      if (names.has(exe) && argv.some((a) => a.includes(`${dir}/`))) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** All descendants of `roots` (from /proc/<pid>/stat ppid). */
async function descendants(roots: number[]): Promise<number[]> {
  const parent = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(entry), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const found = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parent) {
      if (!found.has(pid) && found.has(ppid)) {
        found.add(pid);
        grew = true;
      }
    }
  }
  return [...found].filter((p) => !roots.includes(p));
}

/** SIGKILLs what our dockerd left behind (its containerd, container shims and their containers' processes). */
async function killStrays(dir: string): Promise<void> {
  const roots = await daemonPidsUnder(dir);
  if (roots.length === 0) return;
  for (const pid of [...(await descendants(roots)), ...roots]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await sleep(200);
}

/** Lazily unmounts everything mounted at or below `dir` (dockerd's data-root bind, netns files, overlays). */
async function unmountUnder(dir: string): Promise<void> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\(\d{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await run('umount', ['-l', p]).catch(() => undefined);
}

/** Path of a statically linked busybox: $BUSYBOX_BIN, /usr/bin/busybox or /bin/busybox. */
function busyboxPath(): string {
  const candidates = [process.env.BUSYBOX_BIN, '/usr/bin/busybox', '/bin/busybox'].filter((p): p is string => !!p);
  const found = candidates.find(executable);
  if (found) return found;
  throw new Error('no busybox found (apt-get install busybox-static)');
}

/** True when an ELF file asks for a program interpreter (dynamically linked). */
function isDynamicElf(bytes: Buffer): boolean {
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46 || bytes[4] !== 2) return false;
  const phoff = Number(bytes.readBigUInt64LE(0x20));
  const phentsize = bytes.readUInt16LE(0x36);
  const phnum = bytes.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const off = phoff + i * phentsize;
    if (off + 4 <= bytes.length && bytes.readUInt32LE(off) === 3) return true; // PT_INTERP
  }
  return false;
}

let tarball: Promise<Buffer> | undefined;

/** A rootfs tar: /bin/busybox, a link for every applet at its usual path, /etc/passwd, /tmp, /var/www. Memoized. */
function busyboxTar(): Promise<Buffer> {
  tarball ??= (async () => {
    const bin = busyboxPath();
    const bytes = await readFile(bin);
    if (isDynamicElf(bytes)) throw new Error(`${bin} is dynamically linked; the test image needs busybox-static`);
    const tmp = await mkdtemp(join(shortTmp(), 'sk-bb-'));
    try {
      const root = join(tmp, 'rootfs');
      for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'tmp', 'root', 'var/www', 'proc', 'sys', 'dev']) {
        await mkdir(join(root, d), { recursive: true });
      }
      await copyFile(bin, join(root, 'bin/busybox'));
      const { stdout } = await run(bin, ['--list-full']);
      for (const applet of stdout.split('\n').map((l) => l.trim()).filter(Boolean)) {
        if (applet === 'bin/busybox' || applet.includes('..')) continue;
        await mkdir(dirname(join(root, applet)), { recursive: true });
        await symlink('/bin/busybox', join(root, applet)).catch(() => undefined);
      }
      await symlink('/bin/busybox', join(root, 'bin/sh')).catch(() => undefined);
      await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
      await writeFile(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
      const { stdout: tar } = await run('tar', ['-C', root, '--numeric-owner', '--owner=0', '--group=0', '-cf', '-', '.'], {
        encoding: 'buffer',
        maxBuffer: 64 * 1024 * 1024,
      });
      return tar;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  })();
  tarball.catch(() => {
    tarball = undefined;
  });
  return tarball;
}

/** Imports the busybox image into `docker` unless `tag` is there already; resolves to the tag. */
export async function ensureBusyboxImage(docker: Dockerode, tag = BUSYBOX_IMAGE): Promise<string> {
  try {
    await docker.getImage(tag).inspect();
    return tag;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  const colon = tag.lastIndexOf(':');
  const [repo, version] = colon > tag.lastIndexOf('/') ? [tag.slice(0, colon), tag.slice(colon + 1)] : [tag, 'latest'];
  const tar = await busyboxTar();
  const progress = await docker.importImage(Readable.from([tar]), { repo, tag: version });
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(progress, (err: Error | null, out: { error?: string }[]) => {
      const failed = err ?? out.find((o) => o.error);
      if (failed) reject(new Error(`importing ${tag} failed: ${failed instanceof Error ? failed.message : failed.error}`));
      else resolve();
    });
  });
  await docker.getImage(tag).inspect();
  return tag;
}

/** Options for {@link runContainer}. */
export interface RunContainerOptions {
  name?: string;
  /** Default {@link BUSYBOX_IMAGE}. */
  image?: string;
  cmd: string[];
  labels?: Record<string, string>;
  /** Environment: `{ SERVICE_NAME: 'web' }` or `['SERVICE_NAME=web']`. */
  env?: Record<string, string> | string[];
  /** A HEALTHCHECK in exec form, e.g. `['sh', '-c', 'test -f /tmp/ok']`. */
  healthCmd?: string[];
  /** HEALTHCHECK interval, ms. Default 250. */
  healthIntervalMs?: number;
  /** HEALTHCHECK timeout, ms. Default 2000. */
  healthTimeoutMs?: number;
  /** Failures before unhealthy. Default 1. */
  healthRetries?: number;
  /** `--network host`. Default true; false means network none (there is no bridge). */
  networkHost?: boolean;
  /** User networks (see {@link createNetwork}) to attach before the start, instead of host or none. */
  networks?: string[];
  /** Exposed ports, e.g. `['80/tcp', '8080']` (registrator reads these on host-network containers). */
  exposedPorts?: string[];
  /**
   * Port bindings, container port → host port, e.g. `{ '80/tcp': 18080 }` (also exposes the port). With no bridge
   * and no proxy nothing forwards, and Docker refuses bindings on the host network: only for inspect data.
   */
  publish?: Record<string, number | { hostIp?: string; hostPort: number }>;
  /** docker-init as PID 1 so SIGTERM stops busybox at once. Default true. */
  init?: boolean;
  /** Seconds between SIGTERM and SIGKILL on stop. Default 1. */
  stopTimeoutS?: number;
  /** The signal `docker stop` sends first (`--stop-signal`). Default SIGTERM. */
  stopSignal?: string;
  /** Restart policy. Default "no". */
  restart?: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  /** Start it (default true); false only creates it. */
  start?: boolean;
}

const ms = (n: number): number => Math.round(n * 1e6);

/** Creates and starts a container labelled `sidekick-test=1`; resolves to its full id and name. */
export async function runContainer(docker: Dockerode, opts: RunContainerOptions): Promise<{ id: string; name: string }> {
  const networkHost = opts.networkHost ?? true;
  const env = Array.isArray(opts.env) ? opts.env : Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const exposed: Record<string, object> = {};
  const norm = (p: string): string => (p.includes('/') ? p : `${p}/tcp`);
  for (const p of opts.exposedPorts ?? []) exposed[norm(p)] = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const [p, b] of Object.entries(opts.publish ?? {})) {
    exposed[norm(p)] = {};
    const hostPort = typeof b === 'number' ? b : b.hostPort;
    const hostIp = typeof b === 'number' ? '' : (b.hostIp ?? '');
    bindings[norm(p)] = [{ HostIp: hostIp, HostPort: String(hostPort) }];
  }
  const container = await docker.createContainer({
    ...(opts.name ? { name: opts.name } : {}),
    Image: opts.image ?? BUSYBOX_IMAGE,
    Cmd: opts.cmd,
    Env: env,
    Labels: { [TEST_LABEL]: '1', ...(opts.labels ?? {}) },
    ExposedPorts: exposed,
    StopTimeout: opts.stopTimeoutS ?? 1,
    ...(opts.stopSignal ? { StopSignal: opts.stopSignal } : {}),
    ...(opts.healthCmd
      ? {
          Healthcheck: {
            Test: ['CMD', ...opts.healthCmd],
            Interval: ms(opts.healthIntervalMs ?? 250),
            Timeout: ms(opts.healthTimeoutMs ?? 2000),
            Retries: opts.healthRetries ?? 1,
            StartPeriod: 0,
          },
        }
      : {}),
    HostConfig: {
      NetworkMode: opts.networks?.[0] ?? (networkHost ? 'host' : 'none'),
      Init: opts.init ?? true,
      PortBindings: bindings,
      RestartPolicy: { Name: opts.restart ?? 'no' },
    },
  });
  for (const network of opts.networks?.slice(1) ?? []) await docker.getNetwork(network).connect({ Container: container.id });
  if (opts.start ?? true) await container.start();
  const info = await container.inspect();
  return { id: info.Id, name: info.Name.replace(/^\//, '') };
}

/** Force-removes a container (and its anonymous volumes); a missing one is fine. */
export async function removeContainer(docker: Dockerode, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: true });
  } catch (err) {
    const code = (err as { statusCode?: number }).statusCode;
    if (code !== 404 && code !== 409) throw err; // 409: removal already in progress
  }
}

/** Force-removes every container labelled `sidekick-test=1`. */
export async function removeAllTestContainers(docker: Dockerode): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${TEST_LABEL}=1`] } });
  await Promise.all(list.map((c) => removeContainer(docker, c.Id)));
}
