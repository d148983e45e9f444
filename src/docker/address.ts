// `--docker ADDRESS` (or DOCKER_HOST) → a Dockerode client.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// Before dockerode: see the file.
import './without-ssh.js';
import Dockerode from 'dockerode';
import type { DockerOptions } from 'dockerode';
import { ConfigError, errorMessage } from '../util/errors.js';

/** Where Docker listens when neither `--docker` nor DOCKER_HOST says otherwise. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/**
 * A Dockerode client for `--docker ADDRESS`: `unix:///path/docker.sock`, a bare absolute socket path,
 * `tcp://host:port` (plain HTTP; HTTPS with client certs from DOCKER_CERT_PATH when DOCKER_TLS_VERIFY=1 or the
 * port is 2376), `http://` or `https://`. Without an address, DOCKER_HOST, then {@link DEFAULT_DOCKER_SOCKET}.
 * Throws a ConfigError naming the bad address. No request timeout is set (the event stream is long-lived);
 * {@link DockerWatcher} bounds its own requests.
 */
export function dockerFromAddress(address?: string): Dockerode {
  const fromEnv = address === undefined || address === '';
  const raw = (fromEnv ? process.env.DOCKER_HOST : address) ?? '';
  const where = fromEnv ? 'DOCKER_HOST' : '--docker';
  let options: DockerOptions;
  try {
    options = dockerOptions(raw === '' ? `unix://${DEFAULT_DOCKER_SOCKET}` : raw);
  } catch (err) {
    throw new ConfigError(`bad Docker address ${JSON.stringify(raw)}: ${errorMessage(err)}`, { cause: err, where });
  }
  try {
    // Every field is given explicitly: docker-modem otherwise merges in its own reading of DOCKER_HOST.
    return new Dockerode(options);
  } catch (err) {
    // docker-modem parses DOCKER_HOST even when told where to connect; a malformed one throws here.
    throw new ConfigError(`cannot create a Docker client for ${JSON.stringify(raw)}: ${errorMessage(err)}`, {
      cause: err,
      where,
    });
  }
}

/** Parses one Docker address into client options; throws with a reason on anything else. */
function dockerOptions(address: string): DockerOptions {
  const cleared: DockerOptions = { socketPath: undefined, host: undefined, port: undefined, protocol: undefined,
    timeout: undefined, ca: undefined, cert: undefined, key: undefined };
  if (address.startsWith('/')) return { ...cleared, socketPath: address };
  const match = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(address);
  if (!match) throw new Error('expected unix:///path/to/docker.sock or tcp://host:port');
  const scheme = (match[1] as string).toLowerCase();
  const rest = match[2] as string;
  if (scheme === 'unix') {
    if (!rest.startsWith('/')) throw new Error('a unix socket address needs an absolute path (unix:///var/run/docker.sock)');
    return { ...cleared, socketPath: rest };
  }
  if (scheme !== 'tcp' && scheme !== 'http' && scheme !== 'https') {
    throw new Error(`unsupported scheme "${scheme}" (use unix://, tcp://, http:// or https://)`);
  }
  let url: URL;
  try {
    url = new URL(`http://${rest}`);
  } catch {
    throw new Error('expected tcp://host:port');
  }
  if (url.hostname === '') throw new Error('no host');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '') throw new Error('unexpected path after host:port');
  const port = url.port === '' ? (scheme === 'https' ? 2376 : 2375) : Number(url.port);
  const tls = scheme === 'https' || (scheme === 'tcp' && (process.env.DOCKER_TLS_VERIFY === '1' || port === 2376));
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const options: DockerOptions = { ...cleared, host, port, protocol: tls ? 'https' : 'http' };
  const certPath = process.env.DOCKER_CERT_PATH;
  if (tls && certPath) {
    options.ca = readFileSync(join(certPath, 'ca.pem'));
    options.cert = readFileSync(join(certPath, 'cert.pem'));
    options.key = readFileSync(join(certPath, 'key.pem'));
  }
  return options;
}
