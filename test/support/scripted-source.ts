// In-process render daemon tests: a store source the test drives (puts emit change events, states move when told)
// and a one-resource app.tmpl fixture.
import { EventEmitter } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import type { RenderConfig } from '../../src/config/types.js';
import type { ResourceConfig } from '../../src/apply/types.js';
import { Mirror } from '../../src/store/mirror.js';
import type { Source, SourceEvents, SourceState } from '../../src/store/types.js';
import { tempDir } from './tmp.js';

/** A source the test drives: puts emit change events, states move when told. */
export class ScriptedSource extends EventEmitter<SourceEvents> implements Source {
  readonly id = 'scripted';
  state: SourceState = 'connecting';
  readonly view = new Mirror();
  async start(): Promise<void> {
    this.state = 'synced';
  }
  async close(): Promise<void> {}
  put(key: string, value: string): void {
    this.view.set(key, value);
    this.emit('change', [key]);
  }
  move(state: SourceState, error?: Error): void {
    this.state = state;
    this.emit('state', state, error);
  }
}

/** Per test: a temp dir holding app.tmpl (`value = {{getv "/app/x"}}`); `dir` is valid inside each test. */
export function useAppTemplateDir(): { readonly dir: string } {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    await writeFile(join(dir, 'app.tmpl'), 'value = {{getv "/app/x"}}\n');
  });
  afterEach(async () => cleanup());
  return {
    get dir() {
      return dir;
    },
  };
}

/** The app.toml resource over `dir`'s app.tmpl, rendering app.conf from the keys under /app. */
export function appResource(dir: string, extra: Partial<ResourceConfig> = {}): ResourceConfig {
  return { name: 'app.toml', origin: join(dir, 'conf.d/app.toml'), src: join(dir, 'app.tmpl'), dest: join(dir, 'app.conf'), keys: ['/app'], prefix: '', commandTimeoutMs: 5000, minEndpoints: 0, ...extra };
}

/** A render config with that one resource: watch mode (the default) or onetime. */
export function appConfig(dir: string, resource: ResourceConfig, watch = true): RenderConfig {
  return { backend: { kind: 'etcd', nodes: ['http://127.0.0.1:1'] }, confdir: dir, prefix: '', onetime: !watch, watch, intervalMs: 600_000, noop: false, syncOnly: false, keepStageFile: false, logLevel: 'silent', resources: [resource], problems: [] };
}
