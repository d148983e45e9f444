// The etcd connection settings every command shares (render's backend, and the sidecars' --etcd): the default
// node, the node URL check, and the credential fields. Kept free of the config-file loaders, so that
// `register`, `announce`, `ls` and `elb` do not load yaml, zod and the TOML parser at start-up.
import { maskUrlCredentials, type ConfigError } from '../util/errors.js';
import type { EtcdConnectOptions } from '../store/etcd-client.js';

/** The etcd every command talks to when none is given. */
export const DEFAULT_ETCD_NODE = 'http://127.0.0.1:2379';

/** The TLS and auth settings of an etcd connection. */
const CREDENTIALS = ['username', 'password', 'clientCert', 'clientKey', 'clientCaKeys'] as const;
type Credentials = Partial<Record<(typeof CREDENTIALS)[number], string>>;

/** Validates an etcd node URL, adding http:// (https:// with TLS) to a bare host:port; credentials in it are never echoed. */
export function normalizeNode(node: string, tls: boolean, fail: (msg: string) => ConfigError): string {
  return parseNode(node, tls, fail).node;
}

/** A node URL split into the URL etcd is dialled at (no credentials) and the user and password written in it. */
function parseNode(node: string, tls: boolean, fail: (msg: string) => ConfigError): { node: string; username?: string; password?: string } {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(node) ? node : `${tls ? 'https' : 'http'}://${node}`;
  const shown = maskUrlCredentials(withScheme); // never echo credentials embedded in a URL
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw fail(`node: expected a URL like ${DEFAULT_ETCD_NODE}, got "${shown}"`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) throw fail(`node: expected an http(s) URL like ${DEFAULT_ETCD_NODE}, got "${shown}"`);
  const out: { node: string; username?: string; password?: string } = { node: withScheme.replace(/\/\/[^/@]*@/, '//').replace(/\/+$/, '') };
  if (url.username) out.username = decodeURIComponent(url.username);
  if (url.password) out.password = decodeURIComponent(url.password);
  return out;
}

/**
 * The connection for `nodes` (checked, TLS scheme when a client cert or CA is set) with the credentials that are set.
 * A user and password written in a node URL (http://user:pw@host:2379) are taken as username and password and
 * removed from the URL, so they authenticate and never reach a dial error; they must agree with the flags.
 */
export function etcdConnectOptions(nodes: string[], settings: Credentials, fail: (msg: string) => ConfigError): EtcdConnectOptions {
  const tls = Boolean(settings.clientCert || settings.clientCaKeys);
  const parsed = nodes.map((n) => parseNode(n, tls, fail));
  const out: EtcdConnectOptions = { nodes: parsed.map((p) => p.node) };
  for (const key of CREDENTIALS) if (settings[key]) out[key] = settings[key];
  for (const field of ['username', 'password'] as const) {
    const inUrls = [...new Set(parsed.flatMap((p) => (p[field] === undefined ? [] : [p[field]])))];
    if (inUrls.length === 0) continue;
    if (inUrls.length > 1 || (out[field] !== undefined && out[field] !== inUrls[0])) {
      throw fail(`node: the ${field} in the node URLs and the ${field} given otherwise (--${field}, the environment or the config file) differ; give it once`);
    }
    out[field] = inUrls[0];
  }
  return out;
}
