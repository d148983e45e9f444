// Tiny HTTP backends on loopback that answer with their own name: traffic through a proxy shows who served it.
import { createServer, type Server } from 'node:http';

/** A running backend. */
export interface Backend {
  name: string;
  port: number;
  close(): Promise<void>;
}

/** Starts an HTTP server on 127.0.0.1 answering `name\n` to every request. */
export async function startBackend(name: string): Promise<Backend> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
    res.end(`${name}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    name,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
