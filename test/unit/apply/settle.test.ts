// Settling a reload: a master that goes away (a reload command that restarts the server) ends the wait as
// "nothing to watch" instead of holding the pass until command_timeout.
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { awaitReload, childrenOf } from '../../../src/apply/settle.js';
import { waitFor } from '../../support/procs.js';

describe('awaitReload', () => {
  it('a master that exits ends the wait as unknown, not as a timeout', async () => {
    // A shell with one child stands in for a master and its worker.
    const master = execa('/bin/sh', ['-c', 'sleep 30 & wait']);
    const pid = master.pid as number;
    let workers: number[] = [];
    await waitFor(async () => (workers = await childrenOf(pid)).length === 1);
    try {
      const waiting = awaitReload(pid, workers, 20_000);
      process.kill(pid, 'SIGKILL');
      expect(await waiting).toBe('unknown');
    } finally {
      for (const w of workers) process.kill(w, 'SIGKILL');
      await master.catch(() => undefined);
    }
  });

  it('an old worker that lives on (a long connection, no new title) does not hold the wait until the timeout', async () => {
    // A node master: one worker, and a second one started on SIGHUP, as haproxy -W does on a reload (USR2). The
    // handler is in place before the first worker exists, so the test's SIGHUP never meets the default action.
    const script =
      "const { spawn } = require('node:child_process'); process.on('SIGHUP', () => spawn('sleep', ['31'])); spawn('sleep', ['30']); setInterval(() => {}, 1000);";
    const master = execa('node', ['-e', script]);
    const pid = master.pid as number;
    let workers: number[] = [];
    await waitFor(async () => (workers = await childrenOf(pid)).length === 1);
    try {
      process.kill(pid, 'SIGHUP');
      expect(await awaitReload(pid, workers, 20_000)).toBe('settled');
    } finally {
      for (const w of await childrenOf(pid)) process.kill(w, 'SIGKILL');
      master.kill('SIGKILL');
      await master.catch(() => undefined);
    }
  });

  it('a master without workers has nothing to watch', async () => {
    expect(await awaitReload(process.pid, [], 20_000)).toBe('unknown');
  });
});
