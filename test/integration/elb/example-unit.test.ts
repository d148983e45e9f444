// examples/elb-presence: the unit as shipped — its wiring, `systemd-analyze verify`, and its ExecStart=/ExecStopPost=
// lines run with the real binary and the real AWS SDK against the loopback ELBv2/IMDSv2 server.
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDuration } from '../../../src/util/duration.js';
import { ELB_DEFAULTS } from '../../../src/config/elb-config.js';
import { fakeAwsEnv, sidekickElb, startFakeAws, type FakeAws } from '../../support/aws.js';
import { waitFor } from '../../support/procs.js';
import { tempDir } from '../../support/tmp.js';
import { EXAMPLES, execArgv, parseEnvFile, parseUnit, unitValues, type Unit } from '../examples/support.js';

const DIR = join(EXAMPLES, 'elb-presence');
const SIDEKICK_PATH = '/usr/local/bin/sidekick';
const INSTANCE = 'i-0c0ffee0c0ffee000';

const systemdAnalyze = ((): string | undefined => {
  try {
    return execFileSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
})();
if (!systemdAnalyze) console.warn('examples/elb-presence: systemd-analyze not found (apt-get install systemd); verify skipped');

const unit = async (): Promise<Unit> => parseUnit(await readFile(join(DIR, 'elb-presence@.service'), 'utf8'));
const shippedEnv = async (): Promise<Record<string, string>> => parseEnvFile(await readFile(join(DIR, 'elb.env'), 'utf8'));

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('sidekick-elb-example-'));
});
afterAll(async () => cleanup?.());

describe('examples/elb-presence: the unit file', () => {
  it('ships the unit, elb.env and a README', async () => {
    expect((await readdir(DIR)).sort()).toEqual(['README.md', 'elb-presence@.service', 'elb.env']);
  });

  it('is bound to web@%i (BindsTo, After, MachineOf, WantedBy) and deregisters in ExecStopPost', async () => {
    const u = await unit();
    expect(unitValues(u, 'Unit', 'BindsTo')).toEqual(['web@%i.service']);
    expect(unitValues(u, 'Unit', 'After')[0]?.split(/\s+/)).toContain('web@%i.service');
    expect(unitValues(u, 'X-Fleet', 'MachineOf')).toEqual(['web@%i.service']);
    expect(unitValues(u, 'Install', 'WantedBy')).toEqual(['web@%i.service']);
    expect(unitValues(u, 'Service', 'KillSignal')).toEqual(['SIGTERM']);
    expect(unitValues(u, 'Service', 'EnvironmentFile')).toEqual(['/etc/sidekick/elb.env']);
    const [start] = unitValues(u, 'Service', 'ExecStart');
    expect(start).toMatch(new RegExp(`^${SIDEKICK_PATH} elb --check http://127\\.0\\.0\\.1:%i/ --port %i`));
    expect(unitValues(u, 'Service', 'ExecStopPost')).toEqual([`${SIDEKICK_PATH} elb --deregister --port %i`]);
    // systemd must not SIGKILL sidekick while it is still deregistering or waiting for the drain.
    const stopSec = Number(unitValues(u, 'Service', 'TimeoutStopSec')[0]);
    expect(stopSec * 1000).toBeGreaterThan(parseDuration(ELB_DEFAULTS.stopTimeout) + parseDuration(ELB_DEFAULTS.drainTimeout));
    // No credentials in the unit or its environment file: the SDK's chain finds the instance profile's.
    const text = (await readFile(join(DIR, 'elb-presence@.service'), 'utf8')) + (await readFile(join(DIR, 'elb.env'), 'utf8'));
    expect(text).not.toMatch(/AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AKIA/);
  });

  it('elb.env names a target group; the region comes from its ARN', async () => {
    const env = await shippedEnv();
    expect(Object.keys(env)).toEqual(['SIDEKICK_TARGET_GROUP']);
    expect(env.SIDEKICK_TARGET_GROUP).toMatch(/^arn:aws:elasticloadbalancing:us-east-1:\d{12}:targetgroup\//);
  });

  it.skipIf(!systemdAnalyze)('systemd-analyze verify accepts elb-presence@8080 beside web@8080', async () => {
    const units = join(dir, 'verify');
    const stub = join(dir, 'stub-bin');
    await mkdir(units, { recursive: true });
    await mkdir(stub, { recursive: true });
    for (const name of ['sidekick', 'docker']) {
      await writeFile(join(stub, name), '#!/bin/sh\nexit 0\n');
      await chmod(join(stub, name), 0o755);
    }
    const hasDocker = (await execa('test', ['-x', '/usr/bin/docker'], { reject: false })).exitCode === 0;
    const ours = (await readFile(join(DIR, 'elb-presence@.service'), 'utf8')).replaceAll(SIDEKICK_PATH, join(stub, 'sidekick'));
    let web = await readFile(join(EXAMPLES, 'sidekick-units', 'web@.service'), 'utf8');
    if (!hasDocker) web = web.replaceAll('/usr/bin/docker', join(stub, 'docker'));
    await writeFile(join(units, 'elb-presence@.service'), ours);
    await writeFile(join(units, 'web@.service'), web);
    const run = await execa(systemdAnalyze as string, ['verify', join(units, 'web@8080.service'), join(units, 'elb-presence@8080.service')], {
      reject: false,
      cwd: units,
    });
    expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: '' });
  });
});

describe('examples/elb-presence: its command lines, run as systemd would', () => {
  let fake: FakeAws;
  let app: Server;
  let port: number;
  beforeAll(async () => {
    fake = await startFakeAws({ instanceId: INSTANCE });
    app = createServer((_req, res) => res.writeHead(200, { connection: 'close' }).end('ok'));
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    port = (app.address() as AddressInfo).port;
  });
  afterAll(async () => {
    app?.closeAllConnections();
    app?.close();
    await fake?.close();
  });

  it('ExecStart registers this instance on port %i while web answers, SIGTERM deregisters and waits for the drain; after a SIGKILL ExecStopPost does', { timeout: 120_000 }, async () => {
    const shipped = await shippedEnv();
    const arn = shipped.SIDEKICK_TARGET_GROUP as string;
    const delayMs = 2000;
    fake.addTargetGroup(arn, 80, [], { deregistrationDelayMs: delayMs });
    const u = await unit();
    const spec = { i: String(port) };
    const start = execArgv(unitValues(u, 'Service', 'ExecStart')[0] as string, spec, shipped);
    const stopPost = execArgv(unitValues(u, 'Service', 'ExecStopPost')[0] as string, spec, shipped);
    expect(start.slice(0, 2)).toEqual([SIDEKICK_PATH, 'elb']);
    expect(stopPost.slice(0, 2)).toEqual([SIDEKICK_PATH, 'elb']);
    // The EnvironmentFile as shipped; the endpoints as the AWS SDK reads them from the environment (no flag).
    const env = fakeAwsEnv(fake, { ...shipped, AWS_ENDPOINT_URL: fake.url });
    delete (env as Record<string, string | undefined>).AWS_REGION; // the target group ARN carries it

    const target = `${INSTANCE}:${port}`;
    let run = sidekickElb(start.slice(2), env);
    await waitFor(() => fake.targets(arn).includes(target), 30_000);
    let stopped = Date.now();
    run.kill('SIGTERM');
    expect((await run).exitCode).toBe(0);
    expect(Date.now() - stopped).toBeGreaterThanOrEqual(delayMs);
    expect(fake.targets(arn, true)).toEqual([]);
    // ExecStopPost after a clean stop: nothing to do, and that is fine.
    expect((await sidekickElb(stopPost.slice(2), env)).exitCode).toBe(0);

    run = sidekickElb(start.slice(2), env);
    await waitFor(() => fake.targets(arn).includes(target), 30_000);
    run.kill('SIGKILL');
    await run;
    expect(fake.targets(arn)).toEqual([target]);
    stopped = Date.now();
    const post = await sidekickElb(stopPost.slice(2), env);
    expect(post.exitCode).toBe(0);
    expect(Date.now() - stopped).toBeGreaterThanOrEqual(delayMs);
    expect(fake.targets(arn, true)).toEqual([]);
    expect(fake.callsOf('DeregisterTargets').map((c) => c.params['Targets.member.1.Port'])).toEqual([String(port), String(port), String(port)]);
  });
});
