// `sidekick render` configuration: precedence of flags/env/file/defaults, YAML and confd.toml files, conf.d loading.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/util/errors.js';
import { loadConfdDir } from '../../../src/config/confd.js';
import { parseConfigFile } from '../../../src/config/file.js';
import { addRenderOptions, loadRenderConfig, normalizeConfdArgv, type RenderOptions } from '../../../src/config/render-config.js';
import { tempDir } from '../../support/tmp.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir('sidekick-config-')));
afterEach(() => cleanup());

async function put(rel: string, text: string): Promise<string> {
  const path = join(dir, rel);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
  return path;
}

const resourceToml = (name: string) => `[template]\nsrc = "${name}.tmpl"\ndest = "/tmp/${name}.conf"\nkeys = ["/${name}"]\n`;

async function confdir(): Promise<string> {
  await put('conf/conf.d/app.toml', resourceToml('app'));
  await put('conf/templates/app.tmpl', 'x');
  return join(dir, 'conf');
}

async function load(opts: RenderOptions, env: NodeJS.ProcessEnv = {}) {
  return loadRenderConfig(opts, env, { cwd: dir, lookupId: () => undefined });
}

async function configError(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return (err as Error).message;
}

describe('defaults', () => {
  it('are confd\'s: etcd on 127.0.0.1:2379, 600 s interval, info', async () => {
    const cfg = await load({ confdir: await confdir() });
    expect(cfg).toMatchObject({
      backend: { kind: 'etcd', nodes: ['http://127.0.0.1:2379'] },
      confdir: join(dir, 'conf'),
      prefix: '/',
      onetime: false,
      watch: false,
      intervalMs: 600_000,
      noop: false,
      syncOnly: false,
      keepStageFile: false,
      logLevel: 'info',
      problems: [],
    });
    expect(cfg.resources.map((r) => r.name)).toEqual(['app.toml']);
  });

  it('reports a confdir without resources as a problem, not a crash', async () => {
    const cfg = await load({ confdir: join(dir, 'none') });
    expect(cfg.resources).toEqual([]);
    expect(cfg.problems).toEqual([`no template resources: ${join(dir, 'none')}/conf.d does not exist`]);
  });
});

describe('precedence: flags > SIDEKICK_* > CONFD_* > config file > defaults', () => {
  it('applies each layer over the one below, field by field', async () => {
    const conf = await confdir();
    await put('sidekick.yaml', `confdir: ${conf}\ninterval: 10\nlog_level: debug\nprefix: /file\nwatch: true\n`);
    const env = { CONFD_INTERVAL: '20', SIDEKICK_INTERVAL: '30', CONFD_PREFIX: '/confd', CONFD_NOOP: 'true' };
    const flags = { config: 'sidekick.yaml', interval: '40' };
    expect((await load(flags, env)).intervalMs).toBe(40_000);
    expect((await load({ config: 'sidekick.yaml' }, env)).intervalMs).toBe(30_000);
    expect((await load({ config: 'sidekick.yaml' }, { CONFD_INTERVAL: '20' })).intervalMs).toBe(20_000);
    expect((await load({ config: 'sidekick.yaml' })).intervalMs).toBe(10_000);
    expect((await load({ confdir: conf })).intervalMs).toBe(600_000);

    const cfg = await load(flags, env);
    expect(cfg).toMatchObject({ logLevel: 'debug', prefix: '/confd', noop: true, watch: true });
    expect(cfg.resources[0]?.prefix).toBe('/confd');
    expect((await load({ ...flags, prefix: 'flag', watch: false }, { ...env, SIDEKICK_PREFIX: '/sk' })).prefix).toBe('/flag');
    expect((await load({ ...flags, watch: false }, env)).watch).toBe(false);
    // The config file itself can be named in env, SIDEKICK_CONFIG over CONFD_CONFIG_FILE.
    expect((await load({}, { SIDEKICK_CONFIG: 'sidekick.yaml', CONFD_CONFIG_FILE: 'nope.toml' })).intervalMs).toBe(10_000);
  });

  it('takes backend, nodes and TLS from env (CONFD_* accepted, SIDEKICK_* preferred)', async () => {
    const conf = await confdir();
    const cfg = await load(
      { confdir: conf },
      { CONFD_BACKEND: 'etcdv3', CONFD_NODE: 'http://a:2379', SIDEKICK_NODES: '10.0.0.1:2379, 10.0.0.2:2379', CONFD_CLIENT_CAKEYS: 'ca.pem', SIDEKICK_USERNAME: 'root', SIDEKICK_PASSWORD: 's3cret' },
    );
    expect(cfg.backend).toEqual({
      kind: 'etcd',
      nodes: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'],
      clientCaKeys: join(dir, 'ca.pem'),
      username: 'root',
      password: 's3cret',
    });
  });

  it('takes repeated --node and --file flags', async () => {
    const conf = await confdir();
    expect((await load({ confdir: conf, node: ['http://a:2379', 'http://b:2379/'] })).backend).toEqual({ kind: 'etcd', nodes: ['http://a:2379', 'http://b:2379'] });
    expect((await load({ confdir: conf, backend: 'file', file: ['a.yaml', '/data/b.yaml'] })).backend).toEqual({
      kind: 'file',
      files: [join(dir, 'a.yaml'), '/data/b.yaml'],
    });
    expect((await load({ confdir: conf, backend: 'env' })).backend).toEqual({ kind: 'env' });
  });
});

describe('--log-format', () => {
  it('comes from the flag, SIDEKICK_LOG_FORMAT or the config file; unset by default (text on a terminal, else JSON)', async () => {
    const conf = await confdir();
    expect((await load({ confdir: conf })).logFormat).toBeUndefined();
    expect((await load({ confdir: conf, logFormat: 'text' })).logFormat).toBe('text');
    expect((await load({ confdir: conf }, { SIDEKICK_LOG_FORMAT: 'json' })).logFormat).toBe('json');
  });
});

describe('fatal global errors', () => {
  it('rejects an unknown backend, a bad interval, a bad log level, a file backend without files', async () => {
    const conf = await confdir();
    expect(await configError(load({ confdir: conf, backend: 'consul' }))).toBe('backend: "consul" is not supported; use etcd, etcdv3, file or env (from --backend)');
    expect(await configError(load({ confdir: conf }, { SIDEKICK_INTERVAL: 'often' }))).toBe(
      'interval: expected seconds like 600 or a duration like "10m", got "often" (from SIDEKICK_INTERVAL)',
    );
    expect(await configError(load({ confdir: conf, interval: '0' }))).toContain('(from --interval)');
    expect(await configError(load({ confdir: conf, logLevel: 'loud' }))).toContain('log-level: expected one of');
    expect(await configError(load({ confdir: conf }, { SIDEKICK_LOG_FORMAT: 'xml' }))).toBe('log-format: expected json or text, got "xml" (from SIDEKICK_LOG_FORMAT)');
    expect(await configError(load({ confdir: conf, backend: 'file' }))).toContain('backend file needs at least one --file');
    expect(await configError(load({ confdir: conf }, { CONFD_WATCH: 'maybe' }))).toBe('CONFD_WATCH: expected true or false, got "maybe"');
  });

  it('never puts the password in a message', async () => {
    const conf = await confdir();
    const msg = await configError(load({ confdir: conf, node: ['ftp://root:hunter2@etcd:2379'], password: 'hunter2' }));
    expect(msg).toContain('node: expected an http(s) URL');
    expect(msg).not.toContain('hunter2');
    await put('bad.yaml', 'password: [hunter2]\n');
    expect(await configError(load({ confdir: conf, config: 'bad.yaml' }))).not.toContain('hunter2');
  });
});

describe('YAML config file', () => {
  it('holds the settings and resources', async () => {
    await put('templates/web.tmpl', 'x');
    await put(
      'etc/sidekick.yaml',
      `# sidekick render --config etc/sidekick.yaml
backend: file
file: [../data.yaml]
confdir: ..
prefix: /production
onetime: true
resources:
  - name: web
    src: web.tmpl
    dest: /etc/nginx/conf.d/web.conf
    prefix: /web
    keys: [/upstream]
    mode: 0644
    check_cmd: nginx -t -c {{.src}}
    reload_signal: HUP
    pid_file: /run/nginx.pid
    wait: 1s:5s
`,
    );
    const cfg = await load({ config: 'etc/sidekick.yaml' });
    expect(cfg).toMatchObject({ backend: { kind: 'file', files: [join(dir, 'data.yaml')] }, confdir: dir, prefix: '/production', onetime: true, problems: [] });
    expect(cfg.resources).toEqual([
      {
        name: 'web',
        origin: join(dir, 'etc/sidekick.yaml'),
        src: join(dir, 'templates/web.tmpl'),
        dest: '/etc/nginx/conf.d/web.conf',
        keys: ['/upstream'],
        prefix: '/production/web',
        mode: 0o644,
        checkCmd: 'nginx -t -c {{.src}}',
        reloadSignal: { signal: 'SIGHUP', pidFile: '/run/nginx.pid' },
        wait: { minMs: 1000, maxMs: 5000 },
        commandTimeoutMs: 30_000,
        minEndpoints: 0,
      },
    ]);
  });

  it('skips a resource that may write a file a file set writes, or a file set overlapping another', async () => {
    await put('templates/a.tmpl', 'x');
    await put(
      'sidekick.yaml',
      `confdir: .
resources:
  - { src: a.tmpl, dest: "/etc/nginx/up/{{service}}.conf", keys: [/services] }
  - { src: a.tmpl, dest: /etc/nginx/up/web.conf, keys: [/a] }
  - { src: a.tmpl, dest: /etc/nginx/up/.conf, keys: [/a] }
  - { src: a.tmpl, dest: /etc/nginx/up/web.cfg, keys: [/a] }
  - { src: a.tmpl, dest: "/etc/nginx/up/x-{{key}}.conf", keys: [/hosts] }
  - { src: a.tmpl, dest: "/etc/nginx/up/{{key}}.cfg", keys: [/hosts] }
  - { src: a.tmpl, dest: "/etc/nginx/other/{{key}}.conf", keys: [/hosts] }
`,
    );
    const cfg = await load({ config: 'sidekick.yaml' });
    expect(cfg.resources.map((r) => r.dest)).toEqual(['/etc/nginx/up/{{service}}.conf', '/etc/nginx/up/.conf', '/etc/nginx/up/web.cfg', '/etc/nginx/other/{{key}}.conf']);
    expect(cfg.problems).toEqual([
      "sidekick.yaml[1]: dest: /etc/nginx/up/web.conf may name the same files as sidekick.yaml[0]'s /etc/nginx/up/{{service}}.conf; skipped",
      "sidekick.yaml[4]: dest: /etc/nginx/up/x-{{key}}.conf may name the same files as sidekick.yaml[0]'s /etc/nginx/up/{{service}}.conf; skipped",
      "sidekick.yaml[5]: dest: /etc/nginx/up/{{key}}.cfg may name the same files as sidekick.yaml[3]'s /etc/nginx/up/web.cfg; skipped",
    ]);
  });

  it('reports a YAML syntax error with file:line:col', async () => {
    await put('sidekick.yaml', 'backend: etcd\nnodes: [http://a:2379\nprefix: /x\n');
    expect(await configError(load({ config: 'sidekick.yaml' }))).toMatch(/^sidekick\.yaml:3:1: invalid YAML: /);
  });

  it('reports unknown settings at their line, fatally', async () => {
    await put('sidekick.yaml', 'backend: etcd\nintervall: 10\nwatch: yes\n');
    expect(await configError(load({ config: 'sidekick.yaml' }))).toBe(
      'sidekick.yaml:2: unknown field "intervall" (did you mean "interval"?)\nsidekick.yaml:3: watch: expected boolean, got "yes"',
    );
  });

  it('skips a bad resource item with file:line, and loads the others', async () => {
    await put('templates/a.tmpl', 'x');
    await put(
      'sidekick.yaml',
      `confdir: .
resources:
  - src: a.tmpl
    dest: /tmp/a.conf
    keys: [/a]
  - src: a.tmpl
    dest: /tmp/b.conf
    keys: [/b]
    chek_cmd: true
  - src: missing.tmpl
    dest: /tmp/c.conf
    keys: [/c]
  - src: a.tmpl
    dest: /tmp/a.conf
    keys: [/d]
`,
    );
    const cfg = await load({ config: 'sidekick.yaml' });
    expect(cfg.resources.map((r) => r.name)).toEqual(['sidekick.yaml[0]']);
    expect(cfg.problems).toEqual([
      'sidekick.yaml:9: resources[1]: unknown field "chek_cmd" (did you mean "check_cmd"?)',
      `sidekick.yaml:10: resources[2]: src: template not found: ${join(dir, 'templates/missing.tmpl')}`,
      'sidekick.yaml[3]: dest: /tmp/a.conf is already written by sidekick.yaml[0]; skipped',
    ]);
  });

  it('refuses other extensions', async () => {
    await put('sidekick.conf', 'x');
    expect(await configError(load({ config: 'sidekick.conf' }))).toContain('config file must end in .toml');
  });

  it('refuses a missing file and two different --config/--config-file', async () => {
    expect(await configError(load({ config: 'nope.yaml' }))).toBe('nope.yaml: config file not found');
    expect(await configError(load({ config: 'a.yaml', configFile: 'b.yaml' }))).toContain('--config and --config-file');
  });
});

describe('confd.toml config file', () => {
  it('reads confd\'s keys (log-level, nodes, client_cakeys…), relative paths from its folder', async () => {
    // confd's docs/configuration-guide.md example, less srv_domain (not supported), plus sync-only and client_cakeys.
    const conf = await confdir();
    await put(
      'confd/confd.toml',
      `backend = "etcd"
client_cert = "/etc/confd/ssl/client.crt"
client_key = "/etc/confd/ssl/client.key"
confdir = "${conf}"
log-level = "debug"
interval = 600
nodes = [
  "http://127.0.0.1:4001",
]
noop = false
prefix = "/production"
scheme = "https"
sync-only = true
client_cakeys = "ca.pem"
`,
    );
    const cfg = await load({ configFile: 'confd/confd.toml' });
    expect(cfg).toMatchObject({
      backend: { kind: 'etcd', nodes: ['http://127.0.0.1:4001'], clientCert: '/etc/confd/ssl/client.crt', clientCaKeys: join(dir, 'confd/ca.pem') },
      logLevel: 'debug',
      prefix: '/production',
      syncOnly: true,
    });
    expect(cfg.resources[0]?.prefix).toBe('/production');
    // A node without a scheme gets https when TLS files are given (confd's etcdv3 default is a bare host:port).
    expect((await load({ configFile: 'confd/confd.toml', node: ['127.0.0.1:2379'] })).backend).toMatchObject({ nodes: ['https://127.0.0.1:2379'] });
  });

  it('refuses confd features sidekick lacks, but only when set', async () => {
    await put('confd.toml', 'backend = "etcd"\nsrv_domain = "etcd.example.com"\ntable = ""\n');
    expect(await configError(load({ config: 'confd.toml' }))).toBe('confd.toml:2: srv_domain: not supported by sidekick (DNS SRV discovery; list the etcd URLs in nodes)');
    expect(() => parseConfigFile('c.toml', 'interval = "x"\n[template]\n', dir)).toThrow('c.toml:2: unknown field "template"');
    expect(() => parseConfigFile('c.toml', 'nodes = [\n', dir)).toThrow(/^c\.toml:2:1: invalid TOML/);
  });
});

describe('conf.d', () => {
  it('loads the good files and reports the bad ones with file:line', async () => {
    await put('conf.d/a-good.toml', resourceToml('a'));
    await put('conf.d/b-bad.toml', '[template]\nsrc = "b.tmpl"\ndest = "/tmp/b.conf"\nchek_cmd = "x"\nkeys = ["/b"]\n');
    await put('conf.d/c-syntax.toml', '[template\n');
    await put('conf.d/d-missing.toml', resourceToml('d'));
    await put('conf.d/sub/e.toml', resourceToml('e'));
    await put('conf.d/.#a-good.toml', 'editor lock');
    await put('conf.d/README.md', 'not a resource');
    await put('templates/a.tmpl', 'x');
    await put('templates/e.tmpl', 'x');
    const { resources, problems, found } = await loadConfdDir(dir, '/');
    expect(found).toBe(true);
    expect(resources.map((r) => r.name)).toEqual(['a-good.toml', 'sub/e.toml']);
    expect(problems).toEqual([
      'conf.d/b-bad.toml:4: unknown field "chek_cmd" (did you mean "check_cmd"?)',
      expect.stringMatching(/^conf\.d\/c-syntax\.toml:1:\d+: invalid TOML: /),
      `conf.d/d-missing.toml:2: src: template not found: ${join(dir, 'templates/d.tmpl')}`,
    ]);
  });

  it('feeds problems into the render config without stopping the other resources', async () => {
    const conf = await confdir();
    await put('conf/conf.d/bad.toml', '[template]\nmode = "rw"\n');
    const cfg = await load({ confdir: conf });
    expect(cfg.resources.map((r) => r.name)).toEqual(['app.toml']);
    expect(cfg.problems).toHaveLength(1);
    expect(cfg.problems[0]).toMatch(/^conf\.d\/bad\.toml:1: missing required field "src"/);
  });
});

describe('command line', () => {
  const parse = (argv: string[]) => addRenderOptions(new Command('render').exitOverride()).parse(normalizeConfdArgv(argv), { from: 'user' }).opts<RenderOptions>();

  it('declares confd\'s options, repeatable --node/--file', () => {
    expect(parse(['--backend', 'etcd', '--node', 'http://a:2379', '--node', 'http://b:2379', '--onetime', '--sync-only', '--client-ca-keys', 'ca.pem'])).toEqual({
      backend: 'etcd',
      node: ['http://a:2379', 'http://b:2379'],
      onetime: true,
      syncOnly: true,
      clientCaKeys: 'ca.pem',
    });
    expect(parse(['--config-file', '/etc/confd/confd.toml', '--keep-stage-file', '--log-level', 'debug'])).toEqual({
      configFile: '/etc/confd/confd.toml',
      keepStageFile: true,
      logLevel: 'debug',
    });
  });

  it('accepts confd\'s single-dash Go flags unchanged', () => {
    expect(normalizeConfdArgv(['-onetime', '-backend', 'file', '-file=a.yaml', '-watch=false', '-prefix', '-x', '--', '-noop'])).toEqual([
      '--onetime',
      '--backend',
      'file',
      '--file=a.yaml',
      '--no-watch',
      '--prefix',
      '-x',
      '--',
      '-noop',
    ]);
    expect(parse(['-onetime', '-backend', 'file', '-file', 'a.yaml', '-file=b.yaml', '-watch=false', '-interval', '30'])).toEqual({
      onetime: true,
      backend: 'file',
      file: ['a.yaml', 'b.yaml'],
      watch: false,
      interval: '30',
    });
  });

  it('documents every option and the environment in --help', () => {
    const help = addRenderOptions(new Command('render')).helpInformation() + '';
    for (const flag of ['--backend', '--node', '--confdir', '--config ', '--config-file', '--onetime', '--watch', '--interval', '--noop', '--prefix', '--sync-only', '--keep-stage-file', '--log-level', '--client-cert', '--client-key', '--client-ca-keys', '--username', '--password', '--file']) {
      expect(help).toContain(flag);
    }
    expect(help).not.toContain('--no-watch');
  });
});
