// Modules a run may well not need, loaded on first use: each costs several MB resident once loaded, and a renderer
// reading etcd with JSON logs needs neither.
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type PinoPretty from 'pino-pretty';

const require = createRequire(import.meta.url);

/** yaml: only a YAML config or data file needs it. */
export const yamlModule = (): typeof Yaml => require('yaml') as typeof Yaml;

/** pino-pretty: only the text log format needs it. */
export const prettyModule = (): typeof PinoPretty => require('pino-pretty') as typeof PinoPretty;
