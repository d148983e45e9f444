// Security part of the fault suite: `sidekick register`, `announce` and `render --watch` against an etcd that wants
// TLS client certificates (a throwaway CA made with openssl), and against one with user/password auth (`etcdctl user
// add`, `auth enable`) where sidekick's user may only touch /services/. Each run registers a container and an
// announced service, renders them, and deregisters them on SIGTERM; nothing a process prints (stderr and stdout)
// may contain the password or any private key material.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBusyboxImage, removeAllTestContainers, runContainer, startDockerd, type DockerdHandle } from '../../support/docker.js';
import { makeTlsFiles, startEtcd, type EtcdHandle, type TlsFiles } from '../../support/etcd.js';
import { freePort } from '../../support/ports.js';
import { waitFor } from '../../support/procs.js';
import { tempDir } from '../../support/tmp.js';
import { ACCESS_DENIED_MSG } from '../../../src/util/errors.js';
import { renderArgs, renderFixture, sameSet } from '../support/render.js';
import { startSidekick, type Sidekick } from '../support/sidekick.js';

const PASSWORD = 'pw-Zq8-not-for-logs';
const ROOT_PASSWORD = 'root-pw-Kx3-not-for-logs';
/** etcd's simple auth tokens live this long; the run outlasts it, so sidekick must re-authenticate. */
const TOKEN_TTL_S = 2;

let dockerd: DockerdHandle;
let dir: string;
let cleanupDir: () => Promise<void>;
let tls: TlsFiles;
let tlsEtcd: EtcdHandle;
let authEtcd: EtcdHandle;
let authClient: Etcd3;
const procs: Sidekick[] = [];

const ctl = (endpoint: string, ...args: string[]) =>
  promisify(execFile)('etcdctl', [`--endpoints=${endpoint}`, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });

beforeAll(async () => {
  ({ dir, cleanup: cleanupDir } = await tempDir('sidekick-faults-security-'));
  tls = await makeTlsFiles(dir);
  [dockerd, tlsEtcd, authEtcd] = await Promise.all([startDockerd(), startEtcd({ tls }), startEtcd({ extraArgs: [`--auth-token-ttl=${TOKEN_TTL_S}`] })]);
  await ensureBusyboxImage(dockerd.docker);
  // root (required before auth enable) and a user whose role covers /services/ only.
  const e = authEtcd.endpoint;
  await ctl(e, 'user', 'add', `root:${ROOT_PASSWORD}`);
  await ctl(e, 'user', 'grant-role', 'root', 'root');
  await ctl(e, 'role', 'add', 'sidekick');
  await ctl(e, 'role', 'grant-permission', 'sidekick', '--prefix=true', 'readwrite', '/services/');
  await ctl(e, 'user', 'add', `sidekick:${PASSWORD}`);
  await ctl(e, 'user', 'grant-role', 'sidekick', 'sidekick');
  await ctl(e, 'auth', 'enable');
  authClient = new Etcd3({ hosts: e, auth: { username: 'root', password: ROOT_PASSWORD } });
}, 120_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop('SIGKILL')));
  authClient?.close();
  await dockerd?.cleanup();
  await Promise.all([tlsEtcd?.cleanup(), authEtcd?.cleanup()]);
  await cleanupDir?.();
});

/** Everything a process printed: stderr as collected, plus its stdout once it exited. */
async function printed(p: Sidekick): Promise<string> {
  const result = await p.proc;
  return `${p.stderr()}\n${String(result.stdout ?? '')}`;
}

/** Every secret a log must never show: the passwords and each private key file's base64 body lines. */
async function secrets(): Promise<string[]> {
  const keyLines = async (file: string): Promise<string[]> =>
    (await readFile(file, 'utf8')).split('\n').filter((l) => l.length > 40 && !l.startsWith('-----'));
  return [PASSWORD, ROOT_PASSWORD, 'PRIVATE KEY', ...(await keyLines(tls.clientKey)).slice(0, 5), ...(await keyLines(tls.serverKey)).slice(0, 5)];
}

interface Mode {
  name: string;
  /** Folder name of this run's confdir. */
  tag: string;
  endpoint: () => string;
  /** Flags every sidekick command takes for this etcd. */
  flags: () => string[];
  /** Environment for every sidekick command. */
  env: Record<string, string>;
  /** Keys under a prefix, as the test's own client sees them. */
  keys: (prefix: string) => Promise<string[]>;
}

const modes: Mode[] = [
  {
    name: 'TLS with client certificates',
    tag: 'tls',
    endpoint: () => tlsEtcd.endpoint,
    flags: () => ['--client-cert', tls.clientCert, '--client-key', tls.clientKey, '--client-ca-keys', tls.ca],
    env: {},
    keys: async (prefix) => Object.keys(await tlsEtcd.client.getAll().prefix(prefix).strings()),
  },
  {
    name: `user/password auth (role limited to /services/, token TTL ${TOKEN_TTL_S} s)`,
    tag: 'auth',
    endpoint: () => authEtcd.endpoint,
    flags: () => ['--username', 'sidekick'],
    // The password through the environment, as the help text advises (flags show in ps).
    env: { SIDEKICK_PASSWORD: PASSWORD },
    keys: async (prefix) => Object.keys(await authClient.getAll().prefix(prefix).strings()),
  },
];

describe.each(modes)('etcd with $name', (mode) => {
  it('register, announce and render --watch work, deregister on SIGTERM, and never print a secret', async () => {
    const sub = join(dir, mode.tag);
    const fx = await renderFixture(sub);
    const etcd = ['--etcd', mode.endpoint(), ...mode.flags()];
    const port = await freePort();
    const name = `sec-${Math.random().toString(36).slice(2, 8)}`;
    await runContainer(dockerd.docker, { name, cmd: ['sleep', '600'], labels: { [`SERVICE_${port}_NAME`]: 'svc' } });
    const announce = startSidekick('announce', ['announce', ...etcd, '--node-name', 'n1', '--name', 'svc', '--id', 'a1', '--address', '127.0.0.1:7400', '--check', 'exec:true', '--interval', '200ms', '--timeout', '200ms', '--ttl', '5s'], mode.env);
    const register = startSidekick('register', ['register', '--docker', dockerd.address, ...etcd, '--ip', '127.0.0.1', '--node-name', 'h1', '--ttl', '5s'], mode.env);
    const render = startSidekick('render', [...renderArgs(fx, [mode.endpoint()]), ...mode.flags()], mode.env);
    procs.push(announce, register, render);
    const want = ['a1', `h1:${name}:${port}`];

    const fail = (what: string) => async (err: unknown) => {
      throw new Error(`${what}: ${String(err)}\n${[announce, register, render].map((p) => `--- ${p.label}\n${p.stderr().slice(-2000)}`).join('\n')}`);
    };
    await waitFor(async () => sameSet(await fx.ids(), want), 30_000).catch(fail('rendered set'));
    expect(sameSet((await mode.keys('/services/svc/')).map((k) => k.slice('/services/svc/'.length)), want)).toBe(true);

    // Outlive the auth token (and a few lease renewals); a new registration still gets through and is rendered.
    await new Promise((r) => setTimeout(r, (TOKEN_TTL_S + 2) * 1000));
    const port2 = await freePort();
    const name2 = `${name}-2`;
    await runContainer(dockerd.docker, { name: name2, cmd: ['sleep', '600'], labels: { [`SERVICE_${port2}_NAME`]: 'svc' } });
    const want2 = [...want, `h1:${name2}:${port2}`];
    await waitFor(async () => sameSet(await fx.ids(), want2), 15_000).catch(fail('after the token TTL'));

    const stoppedAt = Date.now();
    await Promise.all([announce.stop('SIGTERM'), register.stop('SIGTERM')]);
    await waitFor(async () => sameSet(await fx.ids(), []), 5000).catch(fail('after SIGTERM'));
    expect(Date.now() - stoppedAt).toBeLessThan(3000);
    expect(await mode.keys('/services/')).toEqual([]);
    await render.stop('SIGTERM');
    await removeAllTestContainers(dockerd.docker);
    expect([announce, register, render].map((p) => p.exit?.code)).toEqual([0, 0, 0]);

    const secret = await secrets();
    for (const p of [announce, register, render]) {
      const out = await printed(p);
      expect(p.logs().length, `${p.label} logged`).toBeGreaterThan(2);
      for (const s of secret) expect(out.includes(s), `${p.label} printed a secret (${s.slice(0, 12)}…)`).toBe(false);
    }
  }, 90_000);
});

describe('wrong credentials', () => {
  it('a wrong password is reported as an auth failure by each command, without the password', async () => {
    const fx = await renderFixture(join(dir, 'wrong'));
    const badPw = 'bad-pw-Yv7-not-for-logs';
    const env = { SIDEKICK_PASSWORD: badPw };
    const etcd = ['--etcd', authEtcd.endpoint, '--username', 'sidekick'];
    const runs = [
      startSidekick('announce', ['announce', ...etcd, '--name', 'svc', '--id', 'bad', '--address', '127.0.0.1:7401', '--check', 'exec:true', '--interval', '200ms', '--timeout', '200ms'], env),
      startSidekick('render', [...renderArgs(fx, [authEtcd.endpoint]), '--username', 'sidekick'], env),
      // The flag form, too: nothing derived from argv may be logged either.
      startSidekick('register', ['register', '--docker', dockerd.address, ...etcd, '--password', badPw]),
    ];
    procs.push(...runs);
    // One error line each, naming the cause; they keep retrying (an operator may fix the user live).
    await waitFor(() => runs.every((p) => p.count(ACCESS_DENIED_MSG) === 1), 20_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${runs.map((p) => `--- ${p.label}\n${p.stderr().slice(-1500)}`).join('\n')}`);
    });
    await new Promise((r) => setTimeout(r, 2000));
    for (const p of runs) {
      const [line] = p.lines(ACCESS_DENIED_MSG);
      expect(p.running, `${p.label} keeps retrying`).toBe(true);
      expect(line?.level, p.label).toBe(50);
      expect(String(line?.err)).toMatch(/authentication failed/);
      expect(p.count(ACCESS_DENIED_MSG), `${p.label}: once, not once per attempt`).toBe(1);
    }
    await Promise.all(runs.map((p) => p.stop('SIGTERM')));
    for (const p of runs) {
      const out = await printed(p);
      expect(out.includes(badPw), `${p.label} printed the password`).toBe(false);
    }
    expect(await fx.ids()).toBeUndefined();
  }, 60_000);
});

describe('credentials written in the node URL', () => {
  it('authenticate as --username and --password do (announce writes, ls reads) and are never printed', async () => {
    const url = authEtcd.endpoint.replace('://', `://sidekick:${PASSWORD}@`);
    const announce = startSidekick('announce', ['announce', '--etcd', url, '--node-name', 'n1', '--name', 'urlsvc', '--id', 'u1', '--address', '127.0.0.1:7402', '--check', 'none', '--ttl', '5s']);
    procs.push(announce);
    await waitFor(async () => (await authClient.get('/services/urlsvc/u1').string()) !== null, 15_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${announce.stderr().slice(-1500)}`);
    });
    const ls = startSidekick('ls', ['ls', '--etcd', url, '--json']);
    const listed = await ls.proc;
    expect(ls.exit?.code ?? listed.exitCode, ls.stderr()).toBe(0);
    expect((JSON.parse(String(listed.stdout)) as Array<{ id: string }>).map((s) => s.id)).toEqual(['u1']);
    await announce.stop('SIGTERM');
    expect(await authClient.get('/services/urlsvc/u1').string()).toBeNull();
    for (const p of [announce, ls]) expect((await printed(p)).includes(PASSWORD), `${p.label} printed the password`).toBe(false);
  }, 60_000);
});
