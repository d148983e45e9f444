// A real multi-member etcd cluster on loopback for the fault suite: n `etcd` processes joined by --initial-cluster,
// each one killable and restartable on its own data dir, and the leader as the members themselves report it.
import type { Etcd3, IKeyValue } from 'etcd3';
import { etcdMemberArgs, restartable, testClient } from '../../support/etcd.js';
import { freePort } from '../../support/ports.js';
import { tempDir } from '../../support/tmp.js';

/** Options for {@link startEtcdCluster}. */
export interface StartClusterOptions {
  /** etcd binary; defaults to $ETCD_BIN or /usr/bin/etcd. */
  bin?: string;
  /** Raft heartbeat, ms (etcd's default 100). */
  heartbeatMs?: number;
  /** Raft election timeout, ms (etcd's default 1000). */
  electionMs?: number;
  /** How long to wait for the cluster to elect its first leader and serve reads, ms. Default 30 s. */
  readyTimeoutMs?: number;
  /** Forward every member's stderr to ours (debugging). */
  verbose?: boolean;
  /** etcd's --log-level for the members. Default error. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

/** One member of the cluster. */
export interface ClusterMember {
  /** etcd --name: m0, m1, … */
  readonly name: string;
  /** Client URL, e.g. http://127.0.0.1:23791. */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  /** True while the process runs. */
  readonly running: boolean;
  /** The member id etcd assigned (decimal), known once the member answered a status call. */
  readonly id: string | undefined;
  /** A fail-fast client talking to this member only. */
  readonly client: Etcd3;
  /** SIGKILL and wait for the process to exit. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the process to exit. */
  stop(): Promise<void>;
  /**
   * Starts the process again on the same data dir and ports (`--initial-cluster-state existing`); resolves once it
   * answers a status call. It serves reads only once the cluster has a leader: see {@link EtcdCluster.waitForLeader}.
   */
  start(): Promise<void>;
  /** The last few KB of its stderr. */
  stderrTail(): string;
}

/** What {@link EtcdCluster.waitForLeader} found. */
export interface LeaderInfo {
  member: ClusterMember;
  /** Date.now() when a poll first saw it lead. */
  at: number;
  /** Raft term it leads in. */
  term: number;
}

/** A running cluster a test controls. */
export interface EtcdCluster {
  readonly members: ClusterMember[];
  /** Every member's client URL, in member order (what `--etcd`/`--node` take, repeated). */
  readonly endpoints: string[];
  /** The member that currently says it leads, among the running ones (a status call to each), or undefined. */
  leader(): Promise<ClusterMember | undefined>;
  /**
   * Polls every `everyMs` until a running member reports itself leader (and, with `not`, is not that member or
   * leads in a newer term than `afterTerm`); resolves with it and when it was first seen.
   */
  waitForLeader(opts?: { not?: ClusterMember; afterTerm?: number; timeoutMs?: number; everyMs?: number }): Promise<LeaderInfo>;
  /** A linearizable read of every key under `prefix` through the first running member that answers. */
  getPrefix(prefix: string, deadlineMs?: number): Promise<IKeyValue[]>;
  /** A put through the first running member that answers; resolves to the new revision. */
  put(key: string, value: string): Promise<number>;
  /** Kills every member, closes the clients and removes the data dirs. Idempotent. */
  cleanup(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** n free, distinct loopback ports. */
async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** Starts an n-member etcd cluster (default 3) on free loopback ports and waits for a leader and a linearizable read. */
export async function startEtcdCluster(n = 3, opts: StartClusterOptions = {}): Promise<EtcdCluster> {
  const bin = opts.bin ?? process.env.ETCD_BIN ?? '/usr/bin/etcd';
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const ports = await freePorts(2 * n);
  const token = `sidekick-faults-${process.pid}-${Date.now()}`;
  const specs = Array.from({ length: n }, (_, i) => ({
    name: `m${i}`,
    clientPort: ports[2 * i] as number,
    peerPort: ports[2 * i + 1] as number,
  }));
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
  const dirs = await Promise.all(specs.map(() => tempDir('sidekick-etcd-cluster-')));

  const members: Array<ClusterMember & { spawnIt(state: 'new' | 'existing'): void; waitStatus(deadline: number): Promise<void> }> = specs.map(
    (spec, i) => {
      const dir = dirs[i]?.dir as string;
      const endpoint = `http://127.0.0.1:${spec.clientPort}`;
      const peerUrl = `http://127.0.0.1:${spec.peerPort}`;
      const client = testClient(endpoint);
      const proc = restartable(bin, 6000, opts.verbose ? (chunk) => process.stderr.write(`[${spec.name}] ${chunk}`) : undefined);
      let id: string | undefined;
      const args = (state: 'new' | 'existing'): string[] => [
        ...etcdMemberArgs({ name: spec.name, dataDir: dir, endpoint, peerUrl, initialCluster, state, logLevel: opts.logLevel }),
        '--initial-cluster-token', token,
        '--heartbeat-interval', String(opts.heartbeatMs ?? 100),
        '--election-timeout', String(opts.electionMs ?? 1000),
      ];
      const member = {
        name: spec.name,
        endpoint,
        clientPort: spec.clientPort,
        peerPort: spec.peerPort,
        dataDir: dir,
        client,
        get running() {
          return proc.running;
        },
        get id() {
          return id;
        },
        stderrTail: () => proc.stderrTail,
        kill: () => proc.signalAndWait('SIGKILL'),
        stop: () => proc.signalAndWait('SIGTERM'),
        spawnIt: (state: 'new' | 'existing') => proc.spawn(args(state)),
        /** Status is answered locally, leader or not: the process is up and serving its client port. */
        async waitStatus(deadline: number) {
          for (;;) {
            if (!proc.running) throw new Error(`etcd ${spec.name} exited during start-up:\n${proc.stderrTail}`);
            try {
              const st = await client.maintenance.status({ deadline: Date.now() + 1000 });
              id = String(st.header.member_id);
              return;
            } catch (err) {
              if (Date.now() > deadline) {
                throw new Error(`etcd ${spec.name} at ${endpoint} not answering after ${readyTimeoutMs} ms: ${String(err)}\n${proc.stderrTail}`, { cause: err });
              }
              await sleep(50);
            }
          }
        },
        async start() {
          if (proc.running) return;
          member.spawnIt('existing');
          await member.waitStatus(Date.now() + readyTimeoutMs);
        },
      };
      return member;
    },
  );

  let cleaned = false;
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.endpoint),
    async leader() {
      const reports = await Promise.all(
        members.filter((m) => m.running).map(async (m) => {
          try {
            const st = await m.client.maintenance.status({ deadline: Date.now() + 500 });
            return { m, self: String(st.header.member_id), leader: String(st.leader), term: Number(st.raftTerm) };
          } catch {
            return undefined;
          }
        }),
      );
      const self = reports.filter((r) => r !== undefined && r.leader !== '0' && r.leader === r.self);
      // Two members believing they lead (an old leader cut off): the higher term wins.
      self.sort((a, b) => (b?.term ?? 0) - (a?.term ?? 0));
      return self[0]?.m;
    },
    async waitForLeader(o = {}) {
      const timeoutMs = o.timeoutMs ?? 30_000;
      const everyMs = o.everyMs ?? 20;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const reports = await Promise.all(
          members.filter((m) => m.running && m !== o.not).map(async (m) => {
            try {
              const st = await m.client.maintenance.status({ deadline: Date.now() + 500 });
              return { m, self: String(st.header.member_id), leader: String(st.leader), term: Number(st.raftTerm) };
            } catch {
              return undefined;
            }
          }),
        );
        const now = Date.now();
        const found = reports
          .filter((r): r is NonNullable<typeof r> => r !== undefined && r.leader !== '0' && r.leader === r.self)
          .filter((r) => o.afterTerm === undefined || r.term > o.afterTerm)
          .sort((a, b) => b.term - a.term)[0];
        if (found) return { member: found.m, at: now, term: found.term };
        if (now > deadline) {
          throw new Error(`no leader within ${timeoutMs} ms; members: ${members.map((m) => `${m.name}:${m.running ? 'up' : 'down'}`).join(' ')}`);
        }
        await sleep(everyMs);
      }
    },
    async getPrefix(prefix, deadlineMs = 3000) {
      let last: unknown = new Error('no member running');
      for (const m of members.filter((x) => x.running)) {
        try {
          const res = await m.client.getAll().prefix(prefix).options({ deadline: Date.now() + deadlineMs }).exec();
          return res.kvs;
        } catch (err) {
          last = err;
        }
      }
      throw last;
    },
    async put(key, value) {
      let last: unknown = new Error('no member running');
      for (const m of members.filter((x) => x.running)) {
        try {
          const res = await m.client.put(key).value(value).options({ deadline: Date.now() + 3000 }).exec();
          return Number(res.header.revision);
        } catch (err) {
          last = err;
        }
      }
      throw last;
    },
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      await Promise.all(members.map((m) => m.kill()));
      for (const m of members) m.client.close();
      await Promise.all(dirs.map((d) => d.cleanup()));
    },
  };

  try {
    // All at once: a member of a new cluster waits for its peers before it can elect anyone.
    for (const m of members) m.spawnIt('new');
    const deadline = Date.now() + readyTimeoutMs;
    await Promise.all(members.map((m) => m.waitStatus(deadline)));
    await cluster.waitForLeader({ timeoutMs: Math.max(1000, deadline - Date.now()) });
    // A linearizable read through every member: each has joined and applied the leader's first entries.
    for (const m of members) {
      for (;;) {
        try {
          await m.client.get('sidekick-faults-ready').options({ deadline: Date.now() + 1000 }).string();
          break;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`etcd ${m.name} serves no reads: ${String(err)}\n${m.stderrTail()}`, { cause: err });
          await sleep(50);
        }
      }
    }
  } catch (err) {
    await cluster.cleanup();
    throw err;
  }
  return cluster;
}
