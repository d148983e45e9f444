// examples/sidekick-units: the unit files as shipped — their fleet wiring, `systemd-analyze verify`, and the
// announce command line of web-announce@.service run with the real binary against a real etcd.
import { execFileSync } from 'node:child_process';
import { chmod, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseServiceRecord } from '../../../src/registry/record.js';
import { sidekick } from '../../support/cli.js';
import { startEtcd, type EtcdHandle } from '../../support/etcd.js';
import { stopProc, waitFor } from '../../support/procs.js';
import { tempDir } from '../../support/tmp.js';
import { EXAMPLES, execArgv, parseEnvFile, parseUnit, startHttpd, unitValues, type Httpd, type Unit } from './support.js';

const UNITS = join(EXAMPLES, 'sidekick-units');
const SIDEKICK_PATH = '/usr/local/bin/sidekick';
const ENV_FILE = '/etc/sidekick/sidekick.env';

const systemdAnalyze = ((): string | undefined => {
  try {
    return execFileSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
})();

if (!systemdAnalyze) {
  console.warn('examples/sidekick-units: systemd-analyze not found (apt-get install systemd); `systemd-analyze verify` skipped, units checked by parsing only');
}

const unit = async (name: string): Promise<Unit> => parseUnit(await readFile(join(UNITS, name), 'utf8'));

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('sidekick-units-'));
});
afterAll(async () => cleanup?.());

describe('examples/sidekick-units: the unit files', () => {
  it('ships the four units, sidekick.env and a README', async () => {
    const files = (await readdir(UNITS)).sort();
    expect(files).toEqual(
      ['README.md', 'sidekick-nginx-endpoint.service', 'sidekick-register.service', 'sidekick.env', 'web-announce@.service', 'web@.service'].sort(),
    );
  });

  it('web-announce@ is bound to web@%i (BindsTo, After, MachineOf) and runs sidekick announce on %i', async () => {
    const u = await unit('web-announce@.service');
    expect(unitValues(u, 'Unit', 'BindsTo')).toEqual(['web@%i.service']);
    expect(unitValues(u, 'Unit', 'After')).toEqual(['web@%i.service']);
    expect(unitValues(u, 'X-Fleet', 'MachineOf')).toEqual(['web@%i.service']);
    expect(unitValues(u, 'Install', 'WantedBy')).toEqual(['web@%i.service']);
    expect(unitValues(u, 'Service', 'EnvironmentFile')).toEqual([`-${ENV_FILE}`]);
    // SIGTERM is what revokes the lease at once; anything else would leave the record until its TTL.
    expect(unitValues(u, 'Service', 'KillSignal')).toEqual(['SIGTERM']);
    const [exec] = unitValues(u, 'Service', 'ExecStart');
    expect(exec).toMatch(new RegExp(`^${SIDEKICK_PATH} announce `));
    expect(exec).toContain('--address ${SIDEKICK_IP}:%i');
    // systemd must not SIGKILL a drain in progress: the stop timeout exceeds the drain timeout.
    const drainS = Number(/--drain-timeout (\d+)s/.exec(exec ?? '')?.[1]);
    expect(Number(/^(\d+)$/.exec(unitValues(u, 'Service', 'TimeoutStopSec')[0] ?? '')?.[1])).toBeGreaterThan(drainS);
  });

  it('web@ runs the container on host port %i, ignored by sidekick register, one per machine', async () => {
    const u = await unit('web@.service');
    const [exec] = unitValues(u, 'Service', 'ExecStart');
    expect(exec).toMatch(/^\/usr\/bin\/docker run .*--name web-%i .*-p %i:80 /);
    expect(exec).toContain('--label SERVICE_IGNORE=true');
    expect(unitValues(u, 'Unit', 'Requires')).toEqual(['docker.service']);
    expect(unitValues(u, 'X-Fleet', 'Conflicts')).toEqual(['web@*.service']);
  });

  it('sidekick-register runs on every machine (Global=true) with the shared environment file', async () => {
    const u = await unit('sidekick-register.service');
    expect(unitValues(u, 'X-Fleet', 'Global')).toEqual(['true']);
    expect(unitValues(u, 'Service', 'ExecStart')).toEqual([`${SIDEKICK_PATH} register`]);
    expect(unitValues(u, 'Service', 'EnvironmentFile')).toEqual([`-${ENV_FILE}`]);
    expect(unitValues(u, 'Service', 'Restart')).toEqual(['always']);
  });

  it('the nginx endpoint runs the sidekick-nginx-endpoint image on machines with role=edge metadata', async () => {
    const u = await unit('sidekick-nginx-endpoint.service');
    expect(unitValues(u, 'X-Fleet', 'MachineMetadata')).toEqual(['role=edge']);
    expect(unitValues(u, 'X-Fleet', 'Global')).toEqual(['true']);
    const [exec] = unitValues(u, 'Service', 'ExecStart');
    expect(exec).toMatch(/^\/usr\/bin\/docker run .*--network host .*sidekick-nginx-endpoint:latest$/);
    expect(exec).toContain('-e SIDEKICK_NODE=${SIDEKICK_NODE}');
  });

  it('sidekick.env sets what the units read: SIDEKICK_NODE, SIDEKICK_IP, SIDEKICK_TTL', async () => {
    const env = parseEnvFile(await readFile(join(UNITS, 'sidekick.env'), 'utf8'));
    expect(Object.keys(env).sort()).toEqual(['SIDEKICK_IP', 'SIDEKICK_NODE', 'SIDEKICK_TTL']);
  });

  // systemd-analyze checks every key, value, specifier and dependency as systemd would load them. It also requires
  // each ExecStart binary to exist: /usr/local/bin/sidekick is not installed here, so the copies verified point it at
  // an empty stub (and docker at one too when /usr/bin/docker is missing); nothing else is changed.
  it.skipIf(!systemdAnalyze)('systemd-analyze verify accepts every unit as instances (skipped where systemd-analyze is missing)', async () => {
    const units = join(dir, 'verify');
    const stub = join(dir, 'stub-bin');
    await execa('mkdir', ['-p', units, stub]);
    for (const name of ['sidekick', 'docker']) {
      await writeFile(join(stub, name), '#!/bin/sh\nexit 0\n');
      await chmod(join(stub, name), 0o755);
    }
    const hasDocker = await execa('test', ['-x', '/usr/bin/docker'], { reject: false });
    for (const name of (await readdir(UNITS)).filter((n) => n.endsWith('.service'))) {
      let text = (await readFile(join(UNITS, name), 'utf8')).replaceAll(SIDEKICK_PATH, join(stub, 'sidekick'));
      if (hasDocker.exitCode !== 0) text = text.replaceAll('/usr/bin/docker', join(stub, 'docker'));
      await writeFile(join(units, name), text);
    }
    const instances = ['web@8080.service', 'web-announce@8080.service', 'sidekick-register.service', 'sidekick-nginx-endpoint.service'];
    const run = await execa(systemdAnalyze as string, ['verify', ...instances.map((i) => join(units, i))], { reject: false, cwd: units });
    expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: '' });
  });
});

describe('examples/sidekick-units: web-announce@.service ExecStart, run as systemd would', () => {
  let etcd: EtcdHandle;
  let web: Httpd | undefined;
  beforeAll(async () => {
    etcd = await startEtcd();
  }, 60_000);
  afterEach(async () => {
    await web?.stop();
    web = undefined;
  });
  afterAll(async () => etcd?.cleanup());

  it('keeps /services/web/<host>:web:<port> while the instance answers, drops it when not, SIGTERM revokes it at once', async () => {
    // web@%i's container stands in as a busybox httpd on a loopback port; %i is that port.
    const www = join(dir, 'www');
    web = await startHttpd(www, { 'index.html': 'web\n' });
    const port = web.port;
    const u = await unit('web-announce@.service');
    const shipped = parseEnvFile(await readFile(join(UNITS, 'sidekick.env'), 'utf8'));
    // The EnvironmentFile as an operator fills it in: this etcd, this host's address.
    const env = { ...shipped, SIDEKICK_NODE: etcd.endpoint, SIDEKICK_IP: '127.0.0.1' };
    const argv = execArgv(unitValues(u, 'Service', 'ExecStart')[0] as string, { i: String(port), H: 'unit-host' }, env);
    expect(argv[0]).toBe(SIDEKICK_PATH);
    const proc = sidekick(argv.slice(1), env);
    try {
      const key = `/services/web/unit-host:web:${port}`;
      const kv = await waitFor(async () => {
        const res = await etcd.client.get(key).exec();
        if (!res.kvs[0]) throw new Error(`${key} not there yet`);
        return res.kvs[0];
      }, 15_000);
      expect(parseServiceRecord(key, kv.value.toString())).toEqual({
        ok: true,
        record: { name: 'web', id: `unit-host:web:${port}`, host: '127.0.0.1', port, tags: [`port-${port}`], meta: {}, node: expect.any(String) },
      });
      const lease = await etcd.client.leaseClient.leaseTimeToLive({ ID: kv.lease });
      expect(`${lease.grantedTTL}s`).toBe(shipped.SIDEKICK_TTL);

      // The instance stops answering: the record goes after `fall` (2) failed checks, 5 s apart.
      await web.stop();
      web = undefined;
      await waitFor(async () => (await etcd.client.get(key).string()) === null, 20_000, 200);
      // It answers again: the record is back.
      web = await startHttpd(www, {}, port);
      await waitFor(async () => (await etcd.client.get(key).string()) !== null, 15_000);

      // systemctl stop (or web@%i stopping, through BindsTo) sends SIGTERM: the key goes at once, not after the TTL.
      const t0 = Date.now();
      const result = await stopProc(proc);
      expect(result.exitCode).toBe(0);
      expect(await etcd.client.get(key).string()).toBeNull();
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      proc.kill('SIGKILL');
      await proc.catch(() => undefined);
    }
  }, 90_000);
});
