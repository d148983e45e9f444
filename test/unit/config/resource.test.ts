// Template resources: confd's own TOML examples load unchanged; mistakes give one file:line message each.
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/tmp.js';
import { ConfigError } from '../../../src/util/errors.js';
import { joinPrefix, parseMode, parseResourceObject, parseTomlResource, parseWait, type ResourceContext } from '../../../src/config/resource.js';
import type { Locator } from '../../../src/config/diagnostics.js';

const ids: Record<string, number> = { root: 0, nginx: 101 };
const ctx: ResourceContext = { confdir: '/etc/sidekick', globalPrefix: '', lookupId: (_kind, name) => ids[name] };
const file = (name: string) => `/etc/sidekick/conf.d/${name}`;

function tomlError(name: string, text: string, c: ResourceContext = ctx): string {
  try {
    parseTomlResource(file(name), text, c);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('confd TOML examples, unchanged', () => {
  it('reads the quick-start myconfig.toml', () => {
    // docs/quick-start-guide.md, /etc/confd/conf.d/myconfig.toml
    const text = `[template]
src = "myconfig.conf.tmpl"
dest = "/tmp/myconfig.conf"
keys = [
    "/myapp/database/url",
    "/myapp/database/user",
]
`;
    expect(parseTomlResource(file('myconfig.toml'), text, ctx)).toEqual({
      name: 'myconfig.toml',
      origin: '/etc/sidekick/conf.d/myconfig.toml',
      src: '/etc/sidekick/templates/myconfig.conf.tmpl',
      dest: '/tmp/myconfig.conf',
      keys: ['/myapp/database/url', '/myapp/database/user'],
      prefix: '/',
      commandTimeoutMs: 30_000,
      minEndpoints: 0,
    });
  });

  it('reads the template-resources.md nginx example (owner/group honoured)', () => {
    // docs/template-resources.md
    const text = `[template]
src = "nginx.conf.tmpl"
dest = "/etc/nginx/nginx.conf"
owner = "root"
group = "root"
mode = "0644"
keys = [
  "/nginx",
]
check_cmd = "/usr/sbin/nginx -t -c {{.src}}"
reload_cmd = "/usr/sbin/service nginx restart"
`;
    const r = parseTomlResource(file('nginx.toml'), text, ctx);
    expect(r).toMatchObject({
      src: '/etc/sidekick/templates/nginx.conf.tmpl',
      dest: '/etc/nginx/nginx.conf',
      uid: 0,
      gid: 0,
      mode: 0o644,
      keys: ['/nginx'],
      checkCmd: '/usr/sbin/nginx -t -c {{.src}}',
      reloadCmd: '/usr/sbin/service nginx restart',
    });
  });

  it('reads the quick-start advanced myapp-nginx.toml with its prefix', () => {
    // docs/quick-start-guide.md, /etc/confd/conf.d/myapp-nginx.toml
    const text = `[template]
prefix = "/myapp"
src = "nginx.tmpl"
dest = "/tmp/myapp.conf"
owner = "nginx"
mode = "0644"
keys = [
  "/subdomain",
  "/upstream",
]
check_cmd = "/usr/sbin/nginx -t -c {{.src}}"
reload_cmd = "/usr/sbin/service nginx reload"
`;
    const r = parseTomlResource(file('myapp-nginx.toml'), text, { ...ctx, globalPrefix: '/production' });
    expect(r).toMatchObject({ prefix: '/production/myapp', keys: ['/subdomain', '/upstream'], uid: 101, mode: 0o644 });
    expect(r.gid).toBeUndefined();
  });

  it('reads sidekick additions in the same table', () => {
    const text = `[template]
src = "haproxy.cfg.tmpl"
dest = "/etc/haproxy/haproxy.cfg"
keys = ["/services/web"]
check_cmd = "/usr/sbin/haproxy -c -f {{.src}}"
reload_signal = "USR2"
pid_file = "/run/haproxy.pid"
wait = "2s:10s"
command_timeout = "5s"
min_endpoints = 1
`;
    expect(parseTomlResource(file('haproxy.toml'), text, ctx)).toMatchObject({
      reloadSignal: { signal: 'SIGUSR2', pidFile: '/run/haproxy.pid' },
      wait: { minMs: 2000, maxMs: 10_000 },
      commandTimeoutMs: 5000,
      minEndpoints: 1,
    });
  });
});

describe('mistakes name the file and line', () => {
  const base = '[template]\nsrc = "nginx.tmpl"\ndest = "/etc/nginx/nginx.conf"\n';

  it('reports an unknown field at its line, with a hint', () => {
    const msg = tomlError('nginx.toml', `${base}chek_cmd = "nginx -t"\nkeys = ["/nginx"]\n`);
    expect(msg).toBe('conf.d/nginx.toml:4: unknown field "chek_cmd" (did you mean "check_cmd"?)');
  });

  it('reports a bad mode at its line', () => {
    const msg = tomlError('nginx.toml', `${base}keys = [\n  "/nginx",\n]\nmode = "rw"\n`);
    expect(msg).toBe('conf.d/nginx.toml:7: mode: expected an octal string like "0644", got "rw"');
  });

  it('reports a TOML syntax error with line and column', () => {
    expect(tomlError('bad.toml', '[template]\nsrc = "a"\ndest = \n')).toBe('conf.d/bad.toml:3:8: invalid TOML: invalid value');
  });

  it('reports missing required fields at the [template] line', () => {
    expect(tomlError('x.toml', '# comment\n[template]\nsrc = "x.tmpl"\n')).toBe(
      'conf.d/x.toml:2: missing required field "dest"\nconf.d/x.toml:2: missing required field "keys"',
    );
  });

  it('reports a file without [template], empty keys, a relative dest', () => {
    expect(tomlError('x.toml', 'src = "a"\n')).toContain('conf.d/x.toml:1: "src" is outside the [template] table: move it below the [template] line');
    expect(tomlError('x.toml', '[templates]\nsrc = "a"\n')).toContain('conf.d/x.toml:1: unknown table "templates": a template resource file holds one [template] table (did you mean [template]?)');
    expect(tomlError('x.toml', '[templates]\nsrc = "a"\n')).toContain('missing [template] table');
    expect(tomlError('x.toml', `${base}keys = []\n`)).toBe('conf.d/x.toml:4: keys: must list at least one entry');
    expect(tomlError('x.toml', '[template]\nsrc = "a"\ndest = "out.conf"\nkeys = ["/a"]\n')).toBe('conf.d/x.toml:3: dest: must be an absolute path, got "out.conf"');
  });

  it('lists every problem of one file in one message', () => {
    const msg = tomlError('x.toml', `${base}keys = ["/a"]\nmode = "rw"\nwait = "10s:2s"\nuid = -1\n`);
    // Shape errors (wrong types, unknown fields) come first; value checks follow once the shape is right.
    expect(msg).toBe('conf.d/x.toml:7: uid: expected a number ≥ 0, got -1');
    const msg2 = tomlError('x.toml', `${base}keys = ["/a"]\nmode = "rw"\nwait = "10s:2s"\n`);
    expect(msg2.split('\n')).toEqual([
      'conf.d/x.toml:5: mode: expected an octal string like "0644", got "rw"',
      'conf.d/x.toml:6: wait: min must be less than max, got "10s:2s"',
    ]);
  });

  it('reports an unknown owner instead of silently ignoring it like confd', () => {
    expect(tomlError('x.toml', `${base}keys = ["/a"]\nowner = "www"\n`)).toContain('conf.d/x.toml:5: owner: no user "www" on this host');
  });

  it('reads haproxy_socket, an absolute path, and names file, line and key when it is not one', () => {
    const r = parseTomlResource(file('x.toml'), `${base}keys = ["/a"]\nhaproxy_socket = "/run/haproxy//admin.sock"\n`, ctx);
    expect(r.haproxySocket).toBe('/run/haproxy/admin.sock');
    expect(tomlError('x.toml', `${base}keys = ["/a"]\nhaproxy_socket = "admin.sock"\n`)).toBe(
      'conf.d/x.toml:5: haproxy_socket: must be the absolute path of haproxy\'s admin stats socket (e.g. "/run/haproxy/admin.sock"), got "admin.sock"',
    );
    expect(tomlError('x.toml', `${base}keys = ["/a"]\nhaproxy_socket = 7\n`)).toContain('conf.d/x.toml:5: haproxy_socket');
  });

  it('checks reload_signal and its target', () => {
    expect(tomlError('x.toml', `${base}keys = ["/a"]\npid_file = "/run/x.pid"\n`)).toBe(
      'conf.d/x.toml:5: pid_file: names the server a reload reaches; needs reload_signal (e.g. reload_signal = "HUP") or reload_cmd (its reload is then watched)',
    );
    expect(tomlError('x.toml', `${base}keys = ["/a"]\nreload_signal = "HUPP"\npid_file = "/run/x.pid"\n`)).toContain('unknown signal "HUPP"');
    expect(tomlError('x.toml', `${base}keys = ["/a"]\nreload_signal = "HUP"\n`)).toContain('needs exactly one of pid_file or reload_container');
    const r = parseTomlResource(file('x.toml'), `${base}keys = ["/a"]\nreload_signal = "sighup"\nreload_container = "lb"\n`, ctx);
    expect(r.reloadSignal).toEqual({ signal: 'SIGHUP', container: 'lb' });
  });

  it('takes pid_file beside reload_cmd as the server whose reload is watched; refuses a command and a signal together', () => {
    const r = parseTomlResource(file('x.toml'), `${base}keys = ["/a"]\nreload_cmd = "nginx -s reload"\npid_file = "/run/nginx.pid"\n`, ctx);
    expect([r.reloadCmd, r.pidFile, r.reloadSignal]).toEqual(['nginx -s reload', '/run/nginx.pid', undefined]);
    expect(parseTomlResource(file('x.toml'), `${base}keys = ["/a"]\nreload_cmd = "nginx -s reload"\n`, ctx).pidFile).toBeUndefined();
    expect(tomlError('x.toml', `${base}keys = ["/a"]\nreload_cmd = "nginx -s reload"\npid_file = "run/nginx.pid"\n`)).toBe(
      'conf.d/x.toml:6: pid_file: must be an absolute path, got "run/nginx.pid"',
    );
    expect(tomlError('x.toml', `${base}keys = ["/a"]\nreload_cmd = "nginx -s reload"\nreload_signal = "HUP"\npid_file = "/run/nginx.pid"\n`)).toBe(
      'conf.d/x.toml:6: reload_signal: reload_cmd already reloads; keep one of them (with pid_file, a reload_cmd such as "nginx -s reload" is watched like a signal)',
    );
  });

  it('rejects a zero command_timeout', () => {
    expect(tomlError('x.toml', `${base}keys = ["/a"]\ncommand_timeout = 0\n`)).toBe('conf.d/x.toml:5: command_timeout: must be more than 0, got 0');
  });
});

describe('mode', () => {
  it('reads strings and numbers as the octal the operator meant', () => {
    expect(parseMode('0644')).toBe(0o644);
    expect(parseMode('644')).toBe(0o644);
    expect(parseMode('0o600')).toBe(0o600);
    expect(parseMode('0777')).toBe(0o777);
    expect(parseMode(644)).toBe(0o644); // TOML `mode = 644`, YAML `mode: 0644` (which YAML 1.2 reads as 644)
    expect(parseMode(0o644, '0o644')).toBe(0o644); // TOML/YAML `0o644`
    expect(() => parseMode(648)).toThrow('mode: expected an octal string like "0644", got 648');
    expect(() => parseMode('rwxr--r--')).toThrow('got "rwxr--r--"');
  });

  it('accepts TOML integers', () => {
    const base = '[template]\nsrc = "a"\ndest = "/x"\nkeys = ["/a"]\n';
    expect(parseTomlResource(file('a.toml'), `${base}mode = 644\n`, ctx).mode).toBe(0o644);
    expect(parseTomlResource(file('a.toml'), `${base}mode = 0o600 # owner only\n`, ctx).mode).toBe(0o600);
  });
});

describe('wait', () => {
  it('parses "min:max", "min" (max = 4 × min), seconds and tables', () => {
    expect(parseWait('2s:10s')).toEqual({ minMs: 2000, maxMs: 10_000 });
    expect(parseWait('2s')).toEqual({ minMs: 2000, maxMs: 8000 });
    expect(parseWait('500ms:1m')).toEqual({ minMs: 500, maxMs: 60_000 });
    expect(parseWait(1)).toEqual({ minMs: 1000, maxMs: 4000 });
    expect(parseWait({ min: '1s', max: '3s' })).toEqual({ minMs: 1000, maxMs: 3000 });
    expect(parseWait('2s:2s')).toEqual({ minMs: 2000, maxMs: 2000 });
  });

  it('names the field in errors', () => {
    expect(() => parseWait('10s:2s')).toThrow(/^wait: min must be less than max/);
    expect(() => parseWait('soon')).toThrow(/^wait: expected a duration/);
    expect(() => parseWait(['2s'])).toThrow(/^wait: expected "min:max"/);
    expect(() => parseWait({ min: '1s', maximum: '2s' })).toThrow(/^wait: /);
  });
});

describe('prefix and keys', () => {
  it('joins the global prefix and the resource prefix, normalizing slashes', () => {
    expect(joinPrefix()).toBe('/');
    expect(joinPrefix('', '')).toBe('/');
    expect(joinPrefix('/production', '/myapp')).toBe('/production/myapp');
    expect(joinPrefix('production/', 'myapp/')).toBe('/production/myapp');
    expect(joinPrefix('//a//b/', undefined)).toBe('/a/b');
    expect(joinPrefix('/', '/')).toBe('/');
  });

  it('normalizes keys and resolves src against <confdir>/templates', () => {
    const r = parseResourceObject({ src: 'sub/a.tmpl', dest: '/x//y', keys: ['upstream/', '//a'], prefix: 'app' }, 'inline', undefined, {
      ...ctx,
      globalPrefix: '/prod/',
    });
    expect(r).toMatchObject({ src: '/etc/sidekick/templates/sub/a.tmpl', dest: '/x/y', keys: ['/upstream', '/a'], prefix: '/prod/app', name: 'inline' });
    expect(parseResourceObject({ src: '/etc/sidekick/templates/b.tmpl', dest: '/x', keys: ['/'] }, 'inline', undefined, ctx).src).toBe('/etc/sidekick/templates/b.tmpl');
  });
});

describe('parseResourceObject with a locator (as YAML uses it)', () => {
  const locator: Locator = {
    line: (path) => ({ mode: 12, dest: 11 })[String(path[0])] ?? 10,
    literal: (path) => (path[0] === 'mode' ? '0644' : undefined),
  };

  it('reads a YAML 0644 (parsed as 644) as octal via its literal', () => {
    const r = parseResourceObject({ name: 'web', src: 'a', dest: '/a', keys: ['/a'], mode: 644 }, 'sidekick.yaml', locator, ctx);
    expect(r).toMatchObject({ name: 'web', mode: 0o644 });
  });

  it('labels messages with the item', () => {
    try {
      parseResourceObject({ src: 'a', dest: 'a', keys: ['/a'] }, 'sidekick.yaml', locator, { ...ctx, label: 'resources[0]' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toBe('sidekick.yaml:11: resources[0]: dest: must be an absolute path, got "a"');
    }
    expect(() => parseResourceObject('nope', 'sidekick.yaml', locator, { ...ctx, label: 'resources[1]' })).toThrow(
      'sidekick.yaml:10: resources[1]: expected a table of resource fields',
    );
  });
});

describe('hostile or mistyped resources are refused at load, naming the file and line', () => {
  const base = '[template]\ndest = "/x"\nkeys = ["/a"]\n';

  it('src outside the templates folder: absolute, climbing with .., or through a symlink', async () => {
    expect(tomlError('x.toml', `${base}src = "/etc/shadow"\n`)).toBe('conf.d/x.toml:4: src: must name a file inside /etc/sidekick/templates, got "/etc/shadow"');
    expect(tomlError('x.toml', `${base}src = "../../../etc/shadow"\n`)).toBe(
      'conf.d/x.toml:4: src: must name a file inside /etc/sidekick/templates, got "../../../etc/shadow"',
    );
    const { dir, cleanup } = await tempDir();
    try {
      await mkdir(join(dir, 'templates', 'sub'), { recursive: true });
      await writeFile(join(dir, 'templates', 'sub', 'real.tmpl'), 'x');
      await symlink('/etc/passwd', join(dir, 'templates', 'leak.tmpl'));
      await symlink('sub/real.tmpl', join(dir, 'templates', 'inside.tmpl'));
      const c = { ...ctx, confdir: dir };
      expect(() => parseResourceObject({ src: 'leak.tmpl', dest: '/x', keys: ['/'] }, 'y.yaml', undefined, c)).toThrow(
        `y.yaml: src: must name a file inside ${join(dir, 'templates')}, got "leak.tmpl"`,
      );
      expect(parseResourceObject({ src: 'inside.tmpl', dest: '/x', keys: ['/'] }, 'y.yaml', undefined, c).src).toBe(join(dir, 'templates', 'inside.tmpl'));
    } finally {
      await cleanup();
    }
  });

  it('set-user-id, set-group-id and sticky bits in mode', () => {
    expect(tomlError('x.toml', `${base}src = "a"\nmode = "4777"\n`)).toBe(
      'conf.d/x.toml:5: mode: set-user-id, set-group-id and sticky bits are refused for a rendered file, got "4777" (e.g. "0777")',
    );
    expect(() => parseMode('2644')).toThrow('set-user-id, set-group-id and sticky bits are refused');
    expect(() => parseMode('1777')).toThrow('set-user-id, set-group-id and sticky bits are refused');
  });

  it('a uid or gid no system can have', () => {
    expect(tomlError('x.toml', `${base}src = "a"\nuid = 99999999999\n`)).toBe('conf.d/x.toml:5: uid: expected a number ≤ 4294967294, got 99999999999');
    expect(tomlError('x.toml', `${base}src = "a"\ngroup = "99999999999"\n`)).toBe('conf.d/x.toml:5: group: 99999999999 is not a valid gid (at most 4294967294)');
    expect(parseTomlResource(file('x.toml'), `${base}src = "a"\nuid = 4294967294\n`, ctx).uid).toBe(4294967294);
  });

  it('an empty check_cmd or reload_cmd (silently no check, no reload)', () => {
    expect(tomlError('x.toml', `${base}src = "a"\ncheck_cmd = ""\nreload_cmd = " "\n`).split('\n')).toEqual([
      'conf.d/x.toml:5: check_cmd: must not be empty (remove the line to go without one)',
      'conf.d/x.toml:6: reload_cmd: must not be empty (remove the line to go without one)',
    ]);
  });

  it('did you mean: other spellings, longer forms, and fields written above [template]', () => {
    expect(tomlError('x.toml', `${base}src = "a"\ncheck_command = "nginx -t"\n`)).toBe('conf.d/x.toml:5: unknown field "check_command" (did you mean "check_cmd"?)');
    expect(tomlError('x.toml', `${base}src = "a"\nreloadCmd = "x"\n`)).toBe('conf.d/x.toml:5: unknown field "reloadCmd" (did you mean "reload_cmd"?)');
    expect(tomlError('x.toml', `${base}src = "a"\ndestination = "/y"\n`)).toBe('conf.d/x.toml:5: unknown field "destination" (did you mean "dest"?)');
    expect(tomlError('x.toml', `chek_cmd = "x"\n${base}src = "a"\n`)).toBe(
      'conf.d/x.toml:1: unknown field "chek_cmd" outside the [template] table (did you mean "check_cmd", below the [template] line?)',
    );
  });
});

describe('file sets: one file per member', () => {
  const set = (dest: string, rest = 'keys = ["/services"]\n'): string => `[template]\nsrc = "upstream.tmpl"\ndest = "${dest}"\n${rest}`;

  it('reads {{service}} and {{key}} in the file name: the folder and the name around the placeholder', () => {
    const r = parseTomlResource(file('up.toml'), set('/etc/nginx/upstreams/{{service}}.conf', 'keys = ["/services"]\ncheck_cmd = "nginx -t"\n'), ctx);
    expect(r.dest).toBe('/etc/nginx/upstreams/{{service}}.conf');
    expect(r.fileSet).toEqual({ member: 'service', dir: '/etc/nginx/upstreams', before: '', after: '.conf' });
    expect(r.checkCmd).toBe('nginx -t');
    expect(parseTomlResource(file('h.toml'), set('/etc/app//hosts/host-{{ key }}', 'keys = ["/hosts"]\n'), ctx).fileSet).toEqual({
      member: 'key',
      dir: '/etc/app/hosts',
      before: 'host-',
      after: '',
    });
    expect(parseTomlResource(file('r.toml'), set('/{{service}}.conf'), ctx).fileSet).toEqual({ member: 'service', dir: '/', before: '', after: '.conf' });
  });

  it('a dest without "{{" or "}}" is one file, braces or not', () => {
    const r = parseTomlResource(file('x.toml'), set('/etc/app/{a}.conf'), ctx);
    expect(r.fileSet).toBeUndefined();
    expect(r.dest).toBe('/etc/app/{a}.conf');
  });

  it('refuses any other placeholder, two of them, one in the folder, stray braces: at dest\'s line', () => {
    expect(tomlError('x.toml', set('/etc/nginx/{{name}}.conf'))).toBe(
      'conf.d/x.toml:3: dest: unknown placeholder "{{name}}"; a file set\'s file name holds {{service}} (one file per service) or {{key}} (one per child of its key)',
    );
    expect(tomlError('x.toml', set('/etc/nginx/{{service}}-{{key}}.conf'))).toBe(
      'conf.d/x.toml:3: dest: "{{service}}-{{key}}.conf" has 2 placeholders; a file set\'s file name holds exactly one, {{service}} or {{key}}',
    );
    expect(tomlError('x.toml', set('/etc/{{service}}/upstream.conf'))).toBe(
      'conf.d/x.toml:3: dest: a placeholder may stand only in the file name, not in the folder "/etc/{{service}}/" (e.g. "/etc/nginx/upstreams/{{service}}.conf")',
    );
    expect(tomlError('x.toml', set('/etc/nginx/{{service}}.conf}'))).toBe(
      'conf.d/x.toml:3: dest: "{{service}}.conf}" has braces besides its placeholder; a file set\'s file name holds one {{service}} or {{key}}',
    );
    expect(tomlError('x.toml', set('/etc/nginx/{{service.conf'))).toBe(
      'conf.d/x.toml:3: dest: "{{service.conf" has "{{" or "}}" but no placeholder; a file set\'s file name holds one {{service}} or {{key}}',
    );
  });

  it('refuses haproxy_socket, a check_cmd with {{.src}}, and {{key}} without exactly one key: at their lines', () => {
    expect(tomlError('x.toml', set('/etc/haproxy/{{service}}.cfg', 'keys = ["/services"]\nhaproxy_socket = "/run/haproxy.sock"\n'))).toBe(
      'conf.d/x.toml:5: haproxy_socket: not with a file set (a dest with {{service}} or {{key}}): the runtime API follows one haproxy file; remove haproxy_socket',
    );
    const noSrc =
      'check_cmd: a file set has no single staged file for {{.src}}: its check runs once with every file in place, so check the whole configuration (e.g. "nginx -t")';
    expect(tomlError('x.toml', set('/etc/nginx/{{service}}.conf', 'keys = ["/services"]\ncheck_cmd = "nginx -t -c {{.src}}"\n'))).toBe(`conf.d/x.toml:5: ${noSrc}`);
    expect(tomlError('x.toml', set('/etc/nginx/{{service}}.conf', 'keys = ["/services"]\ncheck_cmd = "check {{ src }}"\n'))).toBe(`conf.d/x.toml:5: ${noSrc}`);
    expect(tomlError('x.toml', set('/etc/app/{{key}}.conf', 'keys = ["/a", "/b"]\n'))).toBe(
      'conf.d/x.toml:4: keys: a {{key}} file set writes one file per child of its one key; got 2 keys',
    );
    // {{service}} may read other keys besides /services.
    expect(parseTomlResource(file('x.toml'), set('/etc/nginx/{{service}}.conf', 'keys = ["/services", "/vhosts"]\n'), ctx).keys).toEqual(['/services', '/vhosts']);
  });
});
