// A watch-mode RenderConfig over one etcd, for tests and benches that drive RenderDaemon in-process.
import type { RenderConfig, ResourceConfig } from '../../src/config/types.js';

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
