// What one template resource is: where it renders, how it is checked and reloaded, how changes are coalesced.

/** Quiescence: coalesce changes arriving within `minMs` of each other, but render at most `maxMs` after the first. */
export interface WaitConfig {
  minMs: number;
  maxMs: number;
}

/** Send a signal instead of running a reload command. */
export interface ReloadSignal {
  signal: NodeJS.Signals;
  /** Read the pid from this file. */
  pidFile?: string;
  /** Or signal this Docker container (name or id) through the Docker API. */
  container?: string;
}

/**
 * A resource rendering one file per member: `dest`'s file name holds `{{service}}` or `{{key}}`, and member `m`
 * is written to `dir/before + m + after` (see apply/file-set.ts).
 */
export interface FileSet {
  /** `service`: the services the `services` helper lists; `key`: the child names under the resource's one key. */
  member: 'service' | 'key';
  /** The folder of every member's file (dest's directory part). */
  dir: string;
  /** The file name around the placeholder. */
  before: string;
  after: string;
}

/** One template resource: confd's [template] plus sidekick's additions. */
export interface ResourceConfig {
  /** Name for logs and errors: the TOML/YAML file name plus index, e.g. "nginx.toml". */
  name: string;
  /** Where this resource was defined (file path), for error messages. */
  origin: string;
  /** Absolute path of the template file. */
  src: string;
  /** Absolute path of the destination file; for a file set, the pattern as written (`/etc/nginx/upstreams/{{service}}.conf`). */
  dest: string;
  /** Set when dest names one file per member. */
  fileSet?: FileSet;
  /** Keys (prefixes) the template reads, relative to `prefix`. */
  keys: string[];
  /** Prefix prepended to every key, both for watching and in template helpers (global prefix + resource prefix). */
  prefix: string;
  /** File mode for dest; undefined keeps the existing file's mode (0644 for a new file). */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Command to validate the staged file; `{{.src}}` / `{{src}}` is replaced with the staged path. */
  checkCmd?: string;
  /** Command to reload the consumer after the swap. */
  reloadCmd?: string;
  /** With reloadCmd: the pid file of the server it reloads, whose reload is then waited for (apply/settle.ts). */
  pidFile?: string;
  reloadSignal?: ReloadSignal;
  /**
   * haproxy's runtime API socket (a worker `stats socket … level admin`): membership-only changes are applied
   * through it instead of a reload (see apply/haproxy-runtime.ts).
   */
  haproxySocket?: string;
  /** Timeout for each check/reload command. Default 30 s. */
  commandTimeoutMs: number;
  /** Quiescence; undefined renders on every change batch. */
  wait?: WaitConfig;
  /**
   * Refuse a render in which any service/list lookup the template makes (`service`, `getvs`, `gets`)
   * returns fewer than this many entries. 0 (the default) disables the guard.
   */
  minEndpoints: number;
}
