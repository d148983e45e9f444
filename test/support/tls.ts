// Throw-away certificates made with openssl, and an HTTPS server on loopback that shows what a TLS client sent
// (its SNI name, Host header, whether it resumed a session): for etcd's TLS and for https health checks.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ssl = (...args: string[]) => run('openssl', args);

/** A CA: its certificate and key files. */
export interface CaFiles {
  cert: string;
  key: string;
}

/** A certificate and its key, as files. */
export interface CertFiles {
  cert: string;
  key: string;
}

/** A self-signed CA, `<name>.pem` and `<name>.key` in `dir`, valid two days. */
export async function makeCa(dir: string, name = 'ca', cn = 'sidekick-test-ca'): Promise<CaFiles> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  await ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${cn}`, '-keyout', key, '-out', cert);
  return { cert, key };
}

/**
 * A certificate `<name>.pem`/`<name>.key` in `dir` signed by `ca`, for the subject alternative names given
 * (`IP:127.0.0.1`, `DNS:svc.test`), usable by servers and clients.
 */
export async function issueCert(dir: string, ca: CaFiles, name: string, altNames: string[]): Promise<CertFiles> {
  const f = (ext: string) => join(dir, `${name}.${ext}`);
  await ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', f('key'), '-out', f('csr'));
  await writeFile(f('ext'), `subjectAltName=${altNames.join(',')}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  await ssl('x509', '-req', '-in', f('csr'), '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-extfile', f('ext'), '-out', f('pem'));
  return { cert: f('pem'), key: f('key') };
}

/** What an {@link HttpsProbe} saw of one request. */
export interface SeenRequest {
  servername: string | undefined;
  host: string | undefined;
  path: string;
  resumed: boolean;
}

/** An HTTPS server on 127.0.0.1 answering `/<status>` with that status, remembering each request. */
export interface HttpsProbe {
  readonly port: number;
  readonly seen: SeenRequest[];
  close(): Promise<void>;
}

/**
 * Starts an {@link HttpsProbe}: `fallback` is served when the client sends no SNI name or one not in `byName`;
 * `/204` answers 204, `/302` answers 302, anything else 200.
 */
export async function startHttpsProbe(fallback: CertFiles, byName: Record<string, CertFiles> = {}): Promise<HttpsProbe> {
  const load = async (c: CertFiles) => ({ cert: await readFile(c.cert), key: await readFile(c.key) });
  const contexts = new Map<string, SecureContext>();
  for (const [name, files] of Object.entries(byName)) contexts.set(name, createSecureContext(await load(files)));
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer(
    { ...(await load(fallback)), SNICallback: (name, cb) => cb(null, contexts.get(name)) },
    (req, res) => {
      const tls = req.socket as TLSSocket;
      const sni = (tls as TLSSocket & { servername?: string | false }).servername;
      seen.push({ servername: sni || undefined, host: req.headers.host, path: req.url ?? '', resumed: tls.isSessionReused() });
      const status = Number(/^\/(\d{3})$/.exec(req.url ?? '')?.[1] ?? 200);
      res.writeHead(status).end('probe');
    },
  );
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // Clients that give up on a bad certificate reset the connection: not the server's business.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('https probe has no address');
  return {
    port: address.port,
    seen,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
