// The fault suite's own harness: a 3-member etcd cluster elects a leader, survives losing it, loses quorum with a
// second member gone, and takes a killed member back on its data dir. Also the leader-election figure the other
// scenarios build on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdCluster, type EtcdCluster } from '../support/cluster.js';
import { figure } from '../support/figures.js';

let cluster: EtcdCluster;

beforeAll(async () => {
  cluster = await startEtcdCluster(3);
}, 60_000);

afterAll(async () => {
  await cluster?.cleanup();
});

describe('startEtcdCluster', () => {
  it('three members, one leader, a write visible through every member', async () => {
    expect(cluster.members).toHaveLength(3);
    expect(new Set(cluster.members.map((m) => m.id)).size).toBe(3);
    const leader = await cluster.leader();
    expect(leader).toBeDefined();
    await cluster.put('/faults/hello', 'world');
    for (const m of cluster.members) {
      expect(await m.client.get('/faults/hello').string()).toBe('world');
    }
  });

  it('SIGKILL of the leader: a new one is elected; a second kill loses quorum; a restart on the same data dir restores it', async () => {
    const first = await cluster.waitForLeader();
    const killedAt = Date.now();
    await first.member.kill();
    const second = await cluster.waitForLeader({ not: first.member, afterTerm: first.term });
    expect(second.member).not.toBe(first.member);
    const electionMs = second.at - killedAt;
    figure('cluster-election', { electionMs, note: 'SIGKILL of the leader → a survivor reports itself leader (20 ms polls)' });

    // Still writable with two of three.
    await cluster.put('/faults/after-failover', '1');

    await second.member.kill();
    const survivor = cluster.members.find((m) => m.running);
    expect(survivor).toBeDefined();
    // No quorum: a linearizable read cannot be served.
    await expect(survivor?.client.get('/faults/hello').options({ deadline: Date.now() + 1500 }).string()).rejects.toThrow();
    expect(await cluster.leader()).toBeUndefined();

    const restartAt = Date.now();
    await first.member.start();
    const third = await cluster.waitForLeader({ afterTerm: second.term });
    figure('cluster-quorum-restore', { quorumMs: third.at - restartAt, note: 'restart of a killed member (no quorum) → a leader again' });
    expect(await first.member.client.get('/faults/after-failover').string()).toBe('1');
    await second.member.start();
    await cluster.waitForLeader();
    for (const m of cluster.members) expect(m.running).toBe(true);
  }, 60_000);
});
