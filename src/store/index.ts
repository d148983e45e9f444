// The store: sources (etcd, file, env) feeding an in-memory mirror; the factory picks one from the config.
import type { Logger } from '../util/log.js';
import { EnvSource } from './env.js';
import { EtcdSource } from './etcd.js';
import { FileSource } from './file.js';
import type { Source, BackendConfig } from './types.js';

export { Mirror } from './mirror.js';
export { EtcdSource, type EtcdSourceOptions } from './etcd.js';
export { FileSource, flattenData, readDataFile, type FileSourceOptions } from './file.js';
export { EnvSource, envEntries, envKey, envName, type EnvSourceOptions } from './env.js';
export { collapsePrefixes, keyUnder, normalizePrefix } from '../util/key-path.js';
export type { Entry, KeyView, Source, SourceEvents, SourceState } from './types.js';

/** Builds the source for a backend; `prefixes` are the absolute keys the resources read (overlaps are fine). */
export function createSource(backend: BackendConfig, prefixes: string[], log: Logger): Source {
  switch (backend.kind) {
    case 'etcd':
      return new EtcdSource({
        nodes: backend.nodes,
        username: backend.username,
        password: backend.password,
        clientCert: backend.clientCert,
        clientKey: backend.clientKey,
        clientCaKeys: backend.clientCaKeys,
        prefixes,
        log,
      });
    case 'file':
      return new FileSource({ files: backend.files, prefixes, log });
    case 'env':
      return new EnvSource({ prefixes, log });
  }
}
