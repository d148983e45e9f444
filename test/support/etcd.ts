// A real etcd process on free loopback ports for integration tests: start, stop, kill, restart, compact.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { Etcd3 } from 'etcd3';
import { noop } from 'cockatiel';
import { freePort } from './ports.js';
import { makeCa, issueCert } from './tls.js';
import { tempDir } from './tmp.js';

/** Options for {@link startEtcd}. */
export interface StartEtcdOptions {
  /** etcd binary; defaults to $ETCD_BIN or /usr/bin/etcd. */
  bin?: string;
  /** Extra command-line flags (e.g. `--auto-compaction-retention=1`). Auto compaction is off by default. */
  extraArgs?: string[];
  /** How long to wait for the server to answer, in ms. Default 20 s. */
  readyTimeoutMs?: number;
  /** Forward etcd's stderr to ours (debugging). */
  verbose?: boolean;
  /** Serve clients over TLS with these PEM files (see {@link makeTlsFiles}); clients must present a cert. */
  tls?: TlsFiles;
}

/** PEM files for a TLS test setup: a CA, a server cert for 127.0.0.1, and a client cert. */
export interface TlsFiles {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A running (or stopped) etcd that a test controls. */
export interface EtcdHandle {
  /** Client URL, e.g. http://127.0.0.1:23791. */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  /** True while the process runs. */
  readonly running: boolean;
  /** SIGTERM and wait for the process to exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the process to exit. */
  kill(): Promise<void>;
  /** Start again with the same data dir and ports; resolves once it answers. */
  start(): Promise<void>;
  /** Stop, close the helper client and remove the data dir. */
  cleanup(): Promise<void>;
  /** Puts a key (through a real etcd3 client); resolves to the new revision. */
  put(key: string, value: string): Promise<number>;
  /** Deletes a key; resolves to the new revision. */
  del(key: string): Promise<number>;
  /** Deletes every key at or below `prefix` (raw byte prefix); resolves to the new revision. */
  delPrefix(prefix: string): Promise<number>;
  /** Current store revision. */
  revision(): Promise<number>;
  /** Compacts history up to `revision` (default: the current revision), physically. Returns it. */
  compact(revision?: number): Promise<number>;
  /** The helper client, for transactions and other calls a test needs. */
  readonly client: Etcd3;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Builds a client that fails fast (no retries, no circuit breaker): tests want errors, not waits. */
export function testClient(endpoint: string, tls?: TlsFiles): Etcd3 {
  return new Etcd3({
    hosts: endpoint,
    dialTimeout: 2000,
    faultHandling: { host: () => noop, global: noop },
    ...(tls && {
      credentials: {
        rootCertificate: readFileSync(tls.ca),
        privateKey: readFileSync(tls.clientKey),
        certChain: readFileSync(tls.clientCert),
      },
    }),
  });
}

/** Generates a throw-away CA, a server cert valid for 127.0.0.1 and a client cert, with openssl, into `dir`. */
export async function makeTlsFiles(dir: string): Promise<TlsFiles> {
  const ca = await makeCa(dir);
  const names = ['IP:127.0.0.1', 'DNS:localhost'];
  // One after the other: both bump the CA's serial file.
  const server = await issueCert(dir, ca, 'server', names);
  const client = await issueCert(dir, ca, 'client', names);
  return { ca: ca.cert, serverCert: server.cert, serverKey: server.key, clientCert: client.cert, clientKey: client.key };
}

/** Where one etcd member listens and keeps its data, and the cluster it belongs to. */
export interface EtcdMemberSpec {
  name: string;
  dataDir: string;
  endpoint: string;
  peerUrl: string;
  initialCluster: string;
  state: 'new' | 'existing';
  logLevel?: string;
}

/** The command line every test etcd shares: its URLs, data dir, cluster, error-level logs on stderr, no auto-compaction. */
export function etcdMemberArgs(m: EtcdMemberSpec): string[] {
  return [
    '--name', m.name,
    '--data-dir', m.dataDir,
    '--listen-client-urls', m.endpoint,
    '--advertise-client-urls', m.endpoint,
    '--listen-peer-urls', m.peerUrl,
    '--initial-advertise-peer-urls', m.peerUrl,
    '--initial-cluster', m.initialCluster,
    '--initial-cluster-state', m.state,
    '--logger', 'zap',
    '--log-outputs', 'stderr',
    '--log-level', m.logLevel ?? 'error',
    '--auto-compaction-retention', '0',
  ];
}

/** A process that can be signalled and spawned again on the same arguments (an etcd member killed and restarted). */
export interface Restartable {
  readonly running: boolean;
  /** The end of what the current (or last) run wrote to stderr, for error messages. */
  readonly stderrTail: string;
  /** Spawns it unless it is running. */
  spawn(args: string[]): void;
  /** Sends a signal and waits for the exit; nothing when it is not running. */
  signalAndWait(signal: NodeJS.Signals): Promise<void>;
}

/** A {@link Restartable} for `bin`, keeping `tailChars` of stderr; `echo` sees stderr as it comes (verbose runs). */
export function restartable(bin: string, tailChars: number, echo?: (chunk: string) => void): Restartable {
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let tail = '';
  return {
    get running() {
      return child !== undefined;
    },
    get stderrTail() {
      return tail;
    },
    spawn(args) {
      if (child) return;
      tail = '';
      const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      child = proc;
      exited = new Promise<void>((resolve) => {
        proc.once('exit', () => {
          if (child === proc) child = undefined;
          resolve();
        });
      });
      proc.stderr?.on('data', (chunk: Buffer) => {
        tail = (tail + chunk.toString()).slice(-tailChars);
        echo?.(chunk.toString());
      });
    },
    async signalAndWait(signal) {
      if (!child) return;
      const done = exited;
      child.kill(signal);
      await done;
    },
  };
}

/** Starts etcd on free ports with a fresh data dir and waits until it serves reads. */
export async function startEtcd(opts: StartEtcdOptions = {}): Promise<EtcdHandle> {
  const bin = opts.bin ?? process.env.ETCD_BIN ?? '/usr/bin/etcd';
  const readyTimeoutMs = opts.readyTimeoutMs ?? 20_000;
  const tmp = await tempDir('sidekick-etcd-');
  const clientPort = await freePort();
  let peerPort = await freePort();
  while (peerPort === clientPort) peerPort = await freePort();
  const endpoint = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const args = [
    ...etcdMemberArgs({ name: 'default', dataDir: tmp.dir, endpoint, peerUrl, initialCluster: `default=${peerUrl}`, state: 'new' }),
    ...(opts.tls
      ? ['--cert-file', opts.tls.serverCert, '--key-file', opts.tls.serverKey, '--trusted-ca-file', opts.tls.ca,
        '--client-cert-auth']
      : []),
    ...(opts.extraArgs ?? []),
  ];

  const proc = restartable(bin, 4000, opts.verbose ? (chunk) => process.stderr.write(chunk) : undefined);
  const signalAndWait = (signal: NodeJS.Signals): Promise<void> => proc.signalAndWait(signal);
  const client = testClient(endpoint, opts.tls);

  const spawnIt = async (): Promise<void> => {
    if (proc.running) return;
    proc.spawn(args);
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (!proc.running) throw new Error(`etcd exited during start-up:\n${proc.stderrTail}`);
      try {
        await client.get('sidekick-test-ready').options({ deadline: Date.now() + 1000 }).string();
        return;
      } catch (err) {
        if (Date.now() > deadline) {
          await signalAndWait('SIGKILL');
          throw new Error(`etcd at ${endpoint} not ready after ${readyTimeoutMs} ms: ${String(err)}\n${proc.stderrTail}`, {
            cause: err,
          });
        }
        await sleep(100);
      }
    }
  };

  await spawnIt();

  const handle: EtcdHandle = {
    endpoint,
    clientPort,
    peerPort,
    dataDir: tmp.dir,
    get running() {
      return proc.running;
    },
    client,
    stop: () => signalAndWait('SIGTERM'),
    kill: () => signalAndWait('SIGKILL'),
    start: spawnIt,
    async cleanup() {
      await signalAndWait('SIGTERM');
      client.close();
      await tmp.cleanup();
    },
    async put(key, value) {
      const res = await client.put(key).value(value).exec();
      return Number(res.header.revision);
    },
    async del(key) {
      const res = await client.delete().key(key).exec();
      return Number(res.header.revision);
    },
    async delPrefix(prefix) {
      const res = await client.delete().prefix(prefix).exec();
      return Number(res.header.revision);
    },
    async revision() {
      const res = await client.kv.range({ key: Buffer.from('\0'), limit: '1' });
      return Number(res.header.revision);
    },
    async compact(revision) {
      const rev = revision ?? (await handle.revision());
      await client.kv.compact({ revision: String(rev), physical: true });
      return rev;
    },
  };
  return handle;
}

/** A loopback TCP proxy a test can cut: lets a client lose its etcd without etcd going away. */
export interface TcpProxy {
  /** URL clients use instead of the target, e.g. http://127.0.0.1:P. */
  readonly endpoint: string;
  readonly port: number;
  /** Drops every open connection and refuses (closes at once) new ones until {@link TcpProxy.resume}. */
  pause(): void;
  /** Accepts and forwards connections again. */
  resume(): void;
  close(): Promise<void>;
}

/** Starts a TCP proxy on a free loopback port forwarding to `targetPort` on 127.0.0.1. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let paused = false;
  const server = createServer((inbound) => {
    if (paused) {
      inbound.destroy();
      return;
    }
    const outbound = connect(targetPort, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const dropAll = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    pause() {
      paused = true;
      dropAll();
    },
    resume() {
      paused = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        dropAll();
        server.close(() => resolve());
      }),
  };
}
