// Fault suite, template helpers vs the file system: fileExists (the only render helper that touches the file
// system) must answer false for anything outside the configured sandbox folder — `..` climbs, absolute paths,
// symlinks (file, folder, parent, loop, dangling) pointing out, a sibling folder sharing the sandbox's name as a
// prefix, %2e%2e, NUL bytes — and must not even ask the file system about a path outside it. Checked on a table
// of cases and on 3,000 generated paths, through the helper and through a rendered template whose path comes
// from the store. A partial name from the store cannot load a file either.
import * as realFs from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TemplateEngine } from '../../../src/render/engine.js';
import { helperSet } from '../../../src/render/helpers.js';
import { fileExistsIn } from '../../../src/render/helpers-sys.js';
import { Mirror } from '../../../src/store/mirror.js';
import { fcParams, SEED, STRICT, toleratedSummary } from './support/common.js';

// Every synchronous fs call the render code makes while `on` is set, by function name.
const spy = vi.hoisted(() => ({ on: false, calls: [] as Array<{ fn: string; path: string }> }));
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  const watched = ['realpathSync', 'existsSync', 'statSync', 'lstatSync', 'readFileSync', 'openSync', 'accessSync', 'readdirSync', 'readlinkSync', 'createReadStream'] as const;
  const wrapped: Record<string, unknown> = {};
  for (const fn of watched) {
    const orig = actual[fn] as (...a: unknown[]) => unknown;
    wrapped[fn] = (...args: unknown[]) => {
      if (spy.on) spy.calls.push({ fn, path: String(args[0]) });
      return orig(...args);
    };
  }
  return { ...actual, ...wrapped, default: { ...actual, ...wrapped } };
});
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const wrapped: Record<string, unknown> = {};
  for (const fn of ['readFile', 'open', 'stat', 'lstat', 'access', 'readdir', 'realpath', 'readlink'] as const) {
    const orig = actual[fn] as (...a: unknown[]) => unknown;
    wrapped[fn] = (...args: unknown[]) => {
      if (spy.on) spy.calls.push({ fn: `promises.${fn}`, path: String(args[0]) });
      return orig(...args);
    };
  }
  return { ...actual, ...wrapped, default: { ...actual, ...wrapped } };
});

let base: string;
let sandbox: string;
let realSandbox: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'sidekick-sbx-'));
  sandbox = join(base, 'conf');
  await mkdir(join(sandbox, 'sub'), { recursive: true });
  await mkdir(join(base, 'outside'));
  await mkdir(join(base, 'conf-evil'));
  await writeFile(join(sandbox, 'inside.txt'), 'in');
  await writeFile(join(sandbox, 'sub/nested.txt'), 'in');
  await writeFile(join(sandbox, '..foo'), 'in');
  await writeFile(join(sandbox, '%2e%2e'), 'in');
  await writeFile(join(base, 'outside/secret.txt'), 'secret');
  await writeFile(join(base, 'conf-evil/secret.txt'), 'secret');
  await symlink(join(base, 'outside/secret.txt'), join(sandbox, 'link-out'));
  await symlink(join(base, 'outside'), join(sandbox, 'dirlink-out'));
  await symlink('../outside/secret.txt', join(sandbox, 'sub/rel-out'));
  await symlink('inside.txt', join(sandbox, 'link-in'));
  await symlink(join(sandbox, 'inside.txt'), join(sandbox, 'link-abs-in'));
  await symlink('loop', join(sandbox, 'loop'));
  await symlink(join(base, 'nonexistent'), join(sandbox, 'dangling'));
  await symlink('..', join(sandbox, 'link-parent'));
  await symlink('/etc', join(sandbox, 'etc'));
  realSandbox = realFs.realpathSync(sandbox);
});

afterAll(async () => {
  console.info(`[fuzz sandbox] seed=${SEED} strict=${STRICT}\n${toleratedSummary()}`);
  await rm(base, { recursive: true, force: true });
});

const under = (dir: string, p: string): boolean => p === dir || p.startsWith(`${dir}/`);

/**
 * The ground truth, computed independently of helpers-sys: true iff the path (relative to the sandbox, or
 * absolute) names an existing file whose lexical and real locations are both in the sandbox.
 */
function truth(p: string): boolean {
  if (p === '' || p.includes('\0')) return false;
  const target = resolve(sandbox, p);
  if (!under(sandbox, target)) return false;
  try {
    return under(realSandbox, realFs.realpathSync(target));
  } catch {
    return false;
  }
}

/** Runs fileExists with the fs spy on; checks it never looked outside the sandbox. */
function probe(p: string, run: () => boolean = () => fileExistsIn(sandbox, p)): boolean {
  spy.calls.length = 0;
  spy.on = true;
  let answer: boolean;
  try {
    answer = run();
  } finally {
    spy.on = false;
  }
  for (const c of spy.calls) {
    expect(c.fn, `fileExists(${JSON.stringify(p)}) used ${c.fn}`).toBe('realpathSync');
    expect(under(sandbox, c.path), `fileExists(${JSON.stringify(p)}) asked the file system about ${c.path}`).toBe(true);
  }
  return answer;
}

/** The helper's answer must be the truth. */
function check(p: string, answer: boolean): void {
  const want = truth(p);
  if (answer && !want) expect.fail(`fileExists(${JSON.stringify(p)}) is true for a path outside the sandbox`);
  if (!answer && want) expect.fail(`fileExists(${JSON.stringify(p)}) is false for a file in the sandbox`);
}

const OUTSIDE = (): string[] => [
  '../outside/secret.txt', '../../etc/passwd', `${'../'.repeat(20)}etc/passwd`, '/etc/passwd', `${base}/outside/secret.txt`, 'link-out', 'dirlink-out',
  'dirlink-out/secret.txt', 'sub/rel-out', 'loop', 'dangling', 'link-parent', 'link-parent/outside/secret.txt', 'link-parent/conf-evil/secret.txt',
  '../conf-evil/secret.txt', `${sandbox}-evil/secret.txt`, `${sandbox}/../outside/secret.txt`, '%2e%2e/%2e%2e/etc/passwd', '..%2f..%2fetc%2fpasswd',
  '%252e%252e/etc/passwd', 'inside.txt\0', '\0../../etc/passwd', '../../etc/passwd\0.txt', '/proc/self/root/etc/passwd', 'file:///etc/passwd',
  '~/.bashrc', '..\\..\\etc\\passwd', 'sub/../../outside/secret.txt', '/', '//etc/passwd', 'etc/passwd', 'etc', '', 'missing', 'sub/missing',
  '/proc/self/environ', '/dev/null', `${base}`, '..', '../', `../conf/../outside/secret.txt`, '.\u2028./etc',
];
const INSIDE = (): string[] => ['inside.txt', 'sub/nested.txt', './inside.txt', 'sub/../inside.txt', `${sandbox}/inside.txt`, 'link-in', 'link-abs-in', '.', 'sub', '%2e%2e', '../conf/inside.txt', `${sandbox}/sub/../sub/nested.txt`, 'link-parent/conf/inside.txt', '../conf'];

describe('fileExists stays in its sandbox', () => {
  it('the fs spy sees the helper (so "no call" below means something)', () => {
    expect(probe('inside.txt')).toBe(true);
    expect(spy.calls.map((c) => c.fn)).toContain('realpathSync');
  });

  it('the table: outside paths (.., absolute, symlinks out, sibling prefix, %2e%2e, NUL) are false; inside ones true', () => {
    for (const p of OUTSIDE()) {
      expect(probe(p), JSON.stringify(p)).toBe(false);
      check(p, false);
    }
    for (const p of INSIDE()) {
      const answer = probe(p);
      expect(answer, JSON.stringify(p)).toBe(true);
      check(p, answer);
    }
  });

  it('3,000 generated paths: never true outside, never a look outside, true for what is really inside', () => {
    const seg = fc.constantFrom(
      '..', '.', '', 'sub', 'inside.txt', 'nested.txt', 'link-out', 'dirlink-out', 'link-in', 'link-parent', 'secret.txt', 'outside', 'conf', 'conf-evil',
      'etc', 'passwd', '%2e%2e', '..%2f', '\0', '~', '..foo', 'loop', 'dangling', 'rel-out', '...', '.. ', ' ..', '..\\', 'é',
    );
    const pathArb = fc.oneof(
      { weight: 6, arbitrary: fc.tuple(fc.constantFrom('', '/', './', '//'), fc.array(seg, { minLength: 1, maxLength: 8 })).map(([lead, s]) => lead + s.join('/')) },
      { weight: 2, arbitrary: fc.tuple(fc.constantFrom('base', 'sandbox'), fc.array(seg, { maxLength: 6 })).map(([root, s]) => [root === 'base' ? base : sandbox, ...s].join('/')) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
      { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('.', '/', '%', '2', 'e', 'f', '\\', '\0', 'a'), maxLength: 30 }) },
    );
    fc.assert(
      fc.property(pathArb, (p) => check(p, probe(p))),
      fcParams(3000),
    );
  });

  it('through a template: the path comes from the store, the answer is the same, nothing outside is touched', async () => {
    const engine = new TemplateEngine({ sandboxDir: sandbox });
    const tmpl = engine.compileTemplate('fx.tmpl', '{{#if (fileExists (getv "/p"))}}Y{{else}}N{{/if}}');
    const mirror = new Mirror();
    for (const p of [...OUTSIDE(), ...INSIDE()].filter((x) => x !== '')) {
      mirror.set('/p', p);
      spy.calls.length = 0;
      spy.on = true;
      let text: string;
      try {
        text = (await tmpl.render({ view: mirror, prefix: '' })).text;
      } finally {
        spy.on = false;
      }
      for (const c of spy.calls) expect(under(sandbox, c.path) && c.fn === 'realpathSync', `${c.fn}(${c.path}) for ${JSON.stringify(p)}`).toBe(true);
      expect(text, JSON.stringify(p)).toBe(truth(p) ? 'Y' : 'N');
    }
  });

  it('without a sandbox fileExists is always false and touches nothing', async () => {
    const engine = new TemplateEngine();
    const tmpl = engine.compileTemplate('fx.tmpl', '{{#if (fileExists (getv "/p"))}}Y{{else}}N{{/if}}');
    const mirror = new Mirror();
    for (const p of [...INSIDE(), '/etc/passwd', join(sandbox, 'inside.txt')]) {
      mirror.set('/p', p);
      spy.calls.length = 0;
      spy.on = true;
      try {
        expect((await tmpl.render({ view: mirror, prefix: '' })).text).toBe('N');
        expect(fileExistsIn(undefined, p)).toBe(false);
      } finally {
        spy.on = false;
      }
      expect(spy.calls).toEqual([]);
    }
  });

  it('a partial named by the store is never loaded from disk', async () => {
    const engine = new TemplateEngine({ sandboxDir: sandbox });
    const tmpl = engine.compileTemplate('partial.tmpl', '[{{> (getv "/p")}}]');
    const mirror = new Mirror();
    for (const p of ['/etc/passwd', join(sandbox, 'inside.txt'), 'inside.txt', '../outside/secret.txt']) {
      mirror.set('/p', p);
      spy.calls.length = 0;
      spy.on = true;
      let text: string | undefined;
      try {
        text = (await tmpl.render({ view: mirror, prefix: '' }).catch(() => ({ text: undefined }))).text;
      } finally {
        spy.on = false;
      }
      expect(text ?? '', p).not.toMatch(/secret|root:|^\[in\]$/);
      expect(spy.calls, p).toEqual([]);
    }
  });

  it('fileExists is the only render helper that touches the file system', async () => {
    // No other module of src/render imports node:fs: limits.ts reads template files only (readTemplateSource, for
    // loadTemplateFile), compile-cache.ts its own cache folder (never named by a template), and fileExists confines
    // its realpath through src/util/paths.ts.
    const dir = join(import.meta.dirname, '../../../src/render');
    const users: string[] = [];
    for (const f of await readdir(dir)) {
      const src = await readFile(join(dir, f), 'utf8');
      for (const m of src.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'node:fs(\/promises)?'/g)) users.push(`${f}:${(m[1] as string).trim()}`);
      if (/\brequire\(|import\(/.test(src)) users.push(`${f}:dynamic import/require`);
    }
    expect(users.sort()).toEqual(['compile-cache.ts:constants', 'compile-cache.ts:lstat, mkdir, open, rename, rm', 'limits.ts:constants', 'limits.ts:open']);
    expect(Object.keys(helperSet()).filter((n) => /file|read|include|load|open|stat/i.test(n))).toEqual(['fileExists']);
    // The path-looking helpers work on strings and on the store, never on the disk.
    const engine = new TemplateEngine({ sandboxDir: sandbox });
    const tmpl = engine.compileTemplate(
      'paths.tmpl',
      '{{dir "/etc/passwd"}} {{base "/etc/passwd"}} {{#each (lsdir "/etc")}}{{this}}{{/each}} {{#each (ls "/etc")}}{{this}}{{/each}} {{getv "/etc/passwd" "-"}} {{exists "/etc/passwd"}} {{getv (printf "%s" "/etc/passwd") "-"}}',
    );
    spy.calls.length = 0;
    spy.on = true;
    let text: string;
    try {
      text = (await tmpl.render({ view: new Mirror(), prefix: '' })).text;
    } finally {
      spy.on = false;
    }
    expect(text).toBe('/etc passwd   - false -');
    expect(spy.calls).toEqual([]);
  });
});

describe('pinned minimal inputs', () => {
  it('dotdotName: a file named "..foo" inside the sandbox is found', () => {
    expect(fileExistsIn(sandbox, '..foo')).toBe(true);
  });
});
