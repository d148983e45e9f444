// Network addresses as nginx, haproxy and log lines write them.
import { isIP } from 'node:net';

/** `host:port` as nginx/haproxy expect it: IPv6 literals in brackets. */
export function formatAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
