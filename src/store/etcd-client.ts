// Builds the etcd3 client the store uses: hosts, auth, TLS files, and fault handling tuned to fail fast.
import { readFile } from 'node:fs/promises';
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, retry, type IBackoff } from 'cockatiel';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import type { BackendConfig } from './types.js';
import { StoreError } from '../util/errors.js';

/** Connection settings for an etcd source: the etcd arm of BackendConfig (nodes, auth, TLS file paths) plus timeouts. */
export type EtcdConnectOptions = Omit<Extract<BackendConfig, { kind: 'etcd' }>, 'kind'> & {
  /** Deadline for each unary request (reads), in ms. Default 5000. */
  requestTimeoutMs?: number;
  /** Upper bound of the watch reconnect backoff, in ms. Default 2000 (etcd3's own default is 30 s). */
  maxBackoffMs?: number;
};

/** Default per-request deadline: long enough for a large read, short enough to report a down etcd quickly. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

/**
 * Call options (plus `extra`, e.g. a lease's autoKeepAlive) whose deadline is `ms` from the start of each attempt.
 * etcd3 reads a call's options again for every attempt of its retry on the next member; an absolute deadline
 * computed once leaves those retries no time at all ("Deadline exceeded after 0.000s") once the first attempt has
 * waited on a dead leader, and their instant failures count against healthy members' circuit breakers.
 */
export function perAttemptDeadline<T extends object>(ms: number, extra?: T): T & { readonly deadline: number } {
  return Object.defineProperty({ ...extra }, 'deadline', { enumerable: true, get: () => Date.now() + ms }) as T & { readonly deadline: number };
}

/** Adds http:// to bare host:port nodes (confd accepts both; etcd3 needs the scheme to choose TLS). */
export function normalizeNode(node: string): string {
  return /^[a-z]+:\/\//i.test(node) ? node : `http://${node}`;
}

async function readPem(path: string | undefined, what: string): Promise<Buffer | undefined> {
  if (!path) return undefined;
  try {
    return await readFile(path);
  } catch (err) {
    throw new StoreError(`cannot read ${what}: ${(err as Error).message}`, { cause: err, where: path });
  }
}

/** Creates the client; reads TLS files (rejects with StoreError naming the file when one is unreadable). */
export async function createEtcdClient(opts: EtcdConnectOptions): Promise<Etcd3> {
  if (opts.nodes.length === 0) throw new StoreError('no etcd nodes configured');
  const hosts = opts.nodes.map(normalizeNode);
  const timeout = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const [ca, key, cert] = await Promise.all([
    readPem(opts.clientCaKeys, 'client CA keys'),
    readPem(opts.clientKey, 'client key'),
    readPem(opts.clientCert, 'client certificate'),
  ]);
  const options: IOptions = {
    hosts,
    // etcd3 1.1.2 ignores dialTimeout; the per-call deadline below is what bounds a dial to a dead host.
    dialTimeout: timeout,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    // A full read of a large prefix easily exceeds gRPC's 4 MiB default.
    grpcOptions: { 'grpc.max_receive_message_length': -1 },
    faultHandling: {
      // One attempt per node, then fail: our callers retry with their own backoff and report state.
      global: retry(handleWhen(isRecoverableError), { maxAttempts: hosts.length }),
      // Skip a failing node briefly, but come back fast once it answers again (default: 5 s).
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
      // etcd3 calls .next() on this itself (as on its own default, a factory); its d.ts says IBackoff.
      watchBackoff: new ExponentialBackoff({
        initialDelay: 100,
        maxDelay: opts.maxBackoffMs ?? 2000,
      }) as unknown as IBackoff<unknown>,
    },
  };
  if (opts.username) options.auth = { username: opts.username, password: opts.password ?? '' };
  if (ca || key || cert) {
    // grpc's createSsl takes a null root certificate to mean "system roots"; etcd3's type insists on a Buffer.
    options.credentials = { rootCertificate: ca as Buffer, privateKey: key, certChain: cert };
  }
  try {
    return new Etcd3(options);
  } catch (err) {
    // grpc rejects a key without a certificate and the like, synchronously.
    throw new StoreError(`cannot create etcd client: ${(err as Error).message}`, { cause: err });
  }
}

/** "etcd:http://a:2379,http://b:2379": the id a source reports, never containing credentials. */
export function etcdSourceId(nodes: string[]): string {
  return `etcd:${nodes.map((n) => normalizeNode(n).replace(/\/\/[^@/]*@/, '//')).join(',')}`;
}
