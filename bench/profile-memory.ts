// Where a render daemon's memory goes (no etcd): heap and RSS after the records exist as strings, after they are
// loaded into a Mirror, after a first render of the bench template and after renders following single changes.
// Run: node --expose-gc --import tsx bench/profile-memory.ts   (BENCH_SERVICES, BENCH_INSTANCES)
import { Mirror } from '../src/store/mirror.js';
import { TemplateEngine } from '../src/render/engine.js';
import type { Entry } from '../src/store/types.js';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 1000);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 10);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
let last = process.memoryUsage();
function report(stage: string): void {
  gc();
  gc();
  const m = process.memoryUsage();
  const mb = (n: number): string => (n / 1024 / 1024).toFixed(1).padStart(7);
  console.log(
    `${stage.padEnd(34)} rss ${mb(m.rss)} MB  heapUsed ${mb(m.heapUsed)} MB (+${mb(m.heapUsed - last.heapUsed)})  external ${mb(m.external + m.arrayBuffers)} MB`,
  );
  last = m;
}

report('baseline');
const entries: Entry[] = [];
for (let s = 0; s < SERVICES; s++)
  for (let i = 0; i < INSTANCES; i++)
    entries.push([
      `/services/svc${s}/i${i}`,
      JSON.stringify({ name: `svc${s}`, id: `i${i}`, host: `10.0.${s % 250}.${i + 1}`, port: 8000 + i, tags: ['v1'], meta: {} }),
    ]);
report(`${entries.length} entries as strings`);
const mirror = new Mirror();
mirror.replacePrefix('/services', entries);
report('loaded into a Mirror');
entries.length = 0;
report('entries array dropped');
const tmpl = new TemplateEngine().compileTemplate(
  'bench.tmpl',
  `{{#each (services)}}
upstream {{this}} {
{{#each (service this)}}
  server {{address}};
{{/each}}
}
{{/each}}
`,
);
let t = performance.now();
let r = await tmpl.render({ view: mirror, prefix: '' });
console.log(`first render: ${(performance.now() - t).toFixed(0)} ms, ${r.text.length} bytes`);
report('after the first render (text held)');
for (let round = 0; round < 5; round++) {
  mirror.set('/services/svc1/i1', JSON.stringify({ name: 'svc1', id: 'i1', host: '10.0.1.2', port: 9000 + round, tags: [], meta: {} }));
  t = performance.now();
  r = await tmpl.render({ view: mirror, prefix: '' });
}
console.log(`render after a change: ${(performance.now() - t).toFixed(0)} ms, ${r.text.length} bytes`);
report('after 5 changes and renders');
