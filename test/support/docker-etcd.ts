// One private dockerd and one etcd per test file, with the sidekick processes a test starts: every test begins with
// no containers, no keys and no leftover processes.
import type { ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { ensureBusyboxImage, removeAllTestContainers, startDockerd, type DockerdHandle } from './docker.js';
import { startEtcd, type EtcdHandle } from './etcd.js';

/** The handles, valid inside tests; `track` registers a process to SIGKILL after the test. */
export interface DockerEtcd {
  readonly dockerd: DockerdHandle;
  readonly etcd: EtcdHandle;
  track<T extends ResultPromise>(proc: T): T;
}

/** Declares the file's beforeAll/afterEach/afterAll hooks; call it at the top level of a test file. */
export function useDockerEtcd(): DockerEtcd {
  let dockerd: DockerdHandle | undefined;
  let etcd: EtcdHandle | undefined;
  const procs: ResultPromise[] = [];
  const need = <T>(v: T | undefined, what: string): T => {
    if (!v) throw new Error(`${what} did not start`);
    return v;
  };

  beforeAll(async () => {
    [dockerd, etcd] = await Promise.all([startDockerd(), startEtcd()]);
    await ensureBusyboxImage(dockerd.docker);
  }, 60_000);

  afterEach(async () => {
    for (const p of procs.splice(0)) {
      p.kill('SIGKILL');
      await p.catch(() => undefined);
    }
    if (dockerd) {
      if (!dockerd.running) await dockerd.start();
      await removeAllTestContainers(dockerd.docker);
    }
    if (etcd) {
      if (!etcd.running) await etcd.start();
      await etcd.delPrefix('/');
    }
  });

  afterAll(async () => {
    await dockerd?.cleanup();
    await etcd?.cleanup();
  });

  return {
    get dockerd() {
      return need(dockerd, 'dockerd');
    },
    get etcd() {
      return need(etcd, 'etcd');
    },
    track(proc) {
      procs.push(proc);
      return proc;
    },
  };
}
