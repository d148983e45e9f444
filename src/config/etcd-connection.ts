// The etcd connection settings every command shares (render's backend, and the sidecars' --etcd): the default
// node, the node URL check, and the credential fields. Kept free of the config-file loaders, so that
// `register`, `announce`, `ls` and `elb` do not load yaml, zod and the TOML parser at start-up.
import type { ConfigError } from '../util/errors.js';
import type { EtcdConnectOptions } from '../store/etcd-client.js';

/** The etcd every command talks to when none is given. */
export const DEFAULT_ETCD_NODE = 'http://127.0.0.1:2379';

/** The TLS and auth settings of an etcd connection. */
const CREDENTIALS = ['username', 'password', 'clientCert', 'clientKey', 'clientCaKeys'] as const;
type Credentials = Partial<Record<(typeof CREDENTIALS)[number], string>>;

/** Validates an etcd node URL, adding http:// (https:// with TLS) to a bare host:port; credentials in it are never echoed. */
export function normalizeNode(node: string, tls: boolean, fail: (msg: string) => ConfigError): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(node) ? node : `${tls ? 'https' : 'http'}://${node}`;
  const shown = withScheme.replace(/\/\/[^/@]*@/, '//***@'); // never echo credentials embedded in a URL
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw fail(`node: expected a URL like ${DEFAULT_ETCD_NODE}, got "${shown}"`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) throw fail(`node: expected an http(s) URL like ${DEFAULT_ETCD_NODE}, got "${shown}"`);
  return withScheme.replace(/\/+$/, '');
}

/** The connection for `nodes` (checked, TLS scheme when a client cert or CA is set) with the credentials that are set. */
export function etcdConnectOptions(nodes: string[], settings: Credentials, fail: (msg: string) => ConfigError): EtcdConnectOptions {
  const tls = Boolean(settings.clientCert || settings.clientCaKeys);
  const out: EtcdConnectOptions = { nodes: nodes.map((n) => normalizeNode(n, tls, fail)) };
  for (const key of CREDENTIALS) if (settings[key]) out[key] = settings[key];
  return out;
}
