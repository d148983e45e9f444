// The validated shape of a render configuration; loaders (flags, env, YAML, confd TOML) produce these.
import type { ResourceConfig } from '../apply/types.js';
import type { BackendConfig } from '../store/types.js';
import type { LogFormat } from '../util/log.js';

/** Everything `sidekick render` needs. */
export interface RenderConfig {
  backend: BackendConfig;
  confdir: string;
  /** Global prefix (confd's --prefix), already folded into each resource's `prefix`. */
  prefix: string;
  onetime: boolean;
  watch: boolean;
  /** Polling interval when neither watching nor onetime (confd's --interval). */
  intervalMs: number;
  noop: boolean;
  syncOnly: boolean;
  keepStageFile: boolean;
  logLevel: string;
  /** --log-format; undefined: text on a terminal, else JSON. */
  logFormat?: LogFormat;
  resources: ResourceConfig[];
  /** Config problems found while loading (a bad TOML file): reported, the other resources still run. */
  problems: string[];
}
