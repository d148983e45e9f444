// Profiles one render of the bench template over an in-memory mirror (no etcd): where does a render's time go?
import { Mirror } from '../src/store/mirror.js';
import { TemplateEngine } from '../src/render/engine.js';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 1000);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 10);
const mirror = new Mirror();
for (let s = 0; s < SERVICES; s++)
  for (let i = 0; i < INSTANCES; i++)
    mirror.set(`/services/svc${s}/i${i}`, JSON.stringify({ name: `svc${s}`, id: `i${i}`, host: `10.0.${s % 250}.${i + 1}`, port: 8000 + i, tags: ['v1'], meta: {} }));
const tmpl = new TemplateEngine().compileTemplate('bench.tmpl', `{{#each (services)}}
upstream {{this}} {
{{#each (service this)}}
  server {{address}};
{{/each}}
}
{{/each}}
`);
for (let round = 0; round < Number(process.env.ROUNDS ?? 8); round++) {
  const t = performance.now();
  const r = await tmpl.render({ view: mirror, prefix: '' });
  console.log(`render ${round}: ${(performance.now() - t).toFixed(1)} ms, ${r.text.length} bytes`);
  mirror.set('/services/svc1/i1', JSON.stringify({ name: 'svc1', id: 'i1', host: '10.0.1.2', port: 9000 + round, tags: [], meta: {} }));
}
