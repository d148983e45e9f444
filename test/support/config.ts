// A watch-mode RenderConfig over one etcd, for tests and benches that drive RenderDaemon in-process.
import { join } from 'node:path';
import type { RenderConfig } from '../../src/config/types.js';
import type { ResourceConfig } from '../../src/apply/types.js';

/** Defaults as `sidekick render --watch` would have them, with the given etcd endpoint and resources. */
export function etcdRenderConfig(endpoint: string, confdir: string, resources: ResourceConfig[]): RenderConfig {
  return {
    backend: { kind: 'etcd', nodes: [endpoint] },
    confdir,
    prefix: '',
    onetime: false,
    watch: true,
    intervalMs: 600_000,
    noop: false,
    syncOnly: false,
    keepStageFile: false,
    logLevel: 'debug',
    problems: [],
    resources,
  };
}

/** A resource writing `<dir>/<name>.conf` from a template that is never read (apply-level tests). */
export function applyResource(dir: string, name: string, extra: Partial<ResourceConfig> = {}): ResourceConfig {
  return {
    name,
    origin: `conf.d/${name}`,
    src: '/unused',
    dest: join(dir, `${name}.conf`),
    keys: ['/'],
    prefix: '',
    commandTimeoutMs: 5000,
    minEndpoints: 0,
    ...extra,
  };
}
