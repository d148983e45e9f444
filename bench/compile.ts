// Benchmark: loading a template in a fresh process (what `render --onetime`, a restart or SIGHUP pays), for the
// shipped templates and for hand-written-sized ones of 1,000 and 3,000 lines. Each load runs in its own `node`
// (cold JIT, as in production) three ways: without the template cache, on a cache miss (compile + store) and on a
// hit (evaluate the stored spec). Beside them, the floor of a hit: reading the file and hashing it again, warm.
// Run: npm run bench:compile
// (targets: a hit ≤ 10 ms up to 1,000 lines and ≤ 25 ms at 3,000; compile cost linear: 3,000 lines ≤ 3.5× 1,000 lines)
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { tempDir } from '../test/support/tmp.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const ROOT = join(import.meta.dirname, '..');

/** A config a person might write: mostly literal lines, a tag on every third, a block per 30 lines. */
function handWritten(lines: number): string {
  const out: string[] = [];
  for (let i = 0; out.length < lines; i++) {
    out.push(`upstream app${i} {`, `{{#each (service "app${i}")}}`, '  server {{address}} max_fails=3 fail_timeout=10s;', '{{/each}}', '}');
    out.push(`server {`, `  listen 80;`, `  server_name app${i}.{{getenv "DOMAIN" "example.org"}};`);
    for (let j = 0; j < 19; j++) out.push(j % 3 === 0 ? `  # {{getv "/settings/app${i}/note${j}" "none"}}` : `  location /p${j} { proxy_pass http://app${i}; }`);
    out.push('}', '');
  }
  return out.slice(0, lines).join('\n');
}

/** Loads `path` once in a fresh node and prints the milliseconds of the load and of the floor. */
const CHILD = `
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
const { TemplateEngine } = await import(${JSON.stringify(join(ROOT, 'dist/render/engine.js'))});
const [path, cacheDir] = process.argv.slice(1);
const engine = new TemplateEngine({ templatesDir: '/', ...(cacheDir ? { cacheDir } : {}) });
let t = performance.now();
await engine.loadTemplateFile(path);
const load = performance.now() - t;
t = performance.now();
createHash('sha256').update(await readFile(path, 'utf8')).digest('hex');
console.log(JSON.stringify({ load, floor: performance.now() - t }));
`;

async function loadOnce(path: string, cacheDir?: string): Promise<{ load: number; floor: number }> {
  const { stdout } = await execa('node', ['--input-type=module', '-e', CHILD, path, ...(cacheDir ? [cacheDir] : [])]);
  return JSON.parse(stdout) as { load: number; floor: number };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const fmt = (ms: number): string => `${ms.toFixed(1).padStart(7)} ms`;

async function measure(name: string, path: string, dir: string): Promise<{ compile: number; hit: number }> {
  const compile: number[] = [];
  const miss: number[] = [];
  const hit: number[] = [];
  const floor: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    compile.push((await loadOnce(path)).load);
    const cache = join(dir, `cache-${name}-${r}`);
    miss.push((await loadOnce(path, cache)).load);
    const h = await loadOnce(path, cache);
    hit.push(h.load);
    floor.push(h.floor);
  }
  const lines = (await readFile(path, 'utf8')).split('\n').length;
  console.log(
    `${name.padEnd(28)} ${String(lines).padStart(5)} lines  compile ${fmt(median(compile))}  miss ${fmt(median(miss))}  hit ${fmt(median(hit))}  floor ${fmt(median(floor))}`,
  );
  return { compile: median(compile), hit: median(hit) };
}

const { dir, cleanup } = await tempDir('sidekick-bench-compile-');
try {
  await execa('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT });
  const generated = join(dir, 'templates');
  await mkdir(generated);
  for (const n of [1000, 3000]) await writeFile(join(generated, `hand-${n}.tmpl`), handWritten(n));
  console.log(`medians of ${RUNS} fresh processes each; milliseconds of loadTemplateFile (read, limits, compile or cache)`);
  const rows: Record<string, { compile: number; hit: number }> = {};
  for (const [name, path] of [
    ['haproxy/sidekick.cfg.tmpl', join(ROOT, 'templates/haproxy/sidekick.cfg.tmpl')],
    ['nginx/sidekick.conf.tmpl', join(ROOT, 'templates/nginx/sidekick.conf.tmpl')],
    ['hand-written 1,000 lines', join(generated, 'hand-1000.tmpl')],
    ['hand-written 3,000 lines', join(generated, 'hand-3000.tmpl')],
  ] as const) {
    rows[name] = await measure(name, path, dir);
  }
  const big = rows['hand-written 3,000 lines'] as { compile: number; hit: number };
  const small = rows['hand-written 1,000 lines'] as { compile: number };
  const upTo1000 = Math.max(...Object.entries(rows).filter(([n]) => !n.includes('3,000')).map(([, r]) => r.hit));
  console.log(`slowest cache hit up to 1,000 lines: ${upTo1000.toFixed(1)} ms (target ≤ 10 ms: ${upTo1000 <= 10 ? 'met' : 'MISSED'})`);
  console.log(`cache hit at 3,000 lines: ${big.hit.toFixed(1)} ms (target ≤ 25 ms: ${big.hit <= 25 ? 'met' : 'MISSED'})`);
  const growth = big.compile / small.compile;
  console.log(`compile 3,000 / 1,000 lines: ${growth.toFixed(2)}× (linear: ≤ 3.5×: ${growth <= 3.5 ? 'met' : 'MISSED'})`);
} finally {
  await cleanup();
}
