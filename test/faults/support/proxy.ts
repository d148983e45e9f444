// A loopback TCP proxy that can partition its clients from the target in two ways:
// - 'reset': every open connection is dropped and new ones are closed at once (what test/support/etcd.ts's
//   startTcpProxy does) — the client sees errors immediately, like a crashed peer or a firewall sending RSTs;
// - 'blackhole': connections stay open but no byte moves either way, and new connections are accepted but go
//   nowhere — the client sees nothing at all until its own timeouts fire, like a cable pulled or packets dropped.
//   On heal, what was held back is delivered, as TCP retransmission would.
import { connect, createServer, type Socket } from 'node:net';

export type PartitionMode = 'reset' | 'blackhole';

export interface PartitionProxy {
  /** URL clients use instead of the target, e.g. http://127.0.0.1:P. */
  readonly endpoint: string;
  readonly port: number;
  /** Current partition, or undefined while forwarding. */
  readonly partition: PartitionMode | undefined;
  /** Open connections. */
  readonly connections: number;
  cut(mode: PartitionMode): void;
  heal(): void;
  close(): Promise<void>;
}

interface Pair {
  inbound: Socket;
  outbound: Socket | undefined;
  /** Bytes from the client not yet sent on (held during a blackhole before the outbound side exists). */
  held: Buffer[];
}

/** Starts the proxy on a free loopback port, forwarding to 127.0.0.1:targetPort. */
export async function startPartitionProxy(targetPort: number): Promise<PartitionProxy> {
  const pairs = new Set<Pair>();
  let partition: PartitionMode | undefined;

  const destroy = (pair: Pair): void => {
    pairs.delete(pair);
    pair.inbound.destroy();
    pair.outbound?.destroy();
  };

  const link = (pair: Pair): void => {
    const outbound = connect(targetPort, '127.0.0.1');
    pair.outbound = outbound;
    outbound.on('error', () => destroy(pair));
    outbound.on('close', () => destroy(pair));
    for (const chunk of pair.held.splice(0)) outbound.write(chunk);
    outbound.on('data', (chunk: Buffer) => {
      if (!pair.inbound.write(chunk)) outbound.pause();
    });
    pair.inbound.on('drain', () => {
      if (partition !== 'blackhole') outbound.resume();
    });
    outbound.on('drain', () => {
      if (partition !== 'blackhole') pair.inbound.resume();
    });
    if (partition === 'blackhole') outbound.pause();
  };

  const server = createServer((inbound) => {
    if (partition === 'reset') {
      inbound.destroy();
      return;
    }
    const pair: Pair = { inbound, outbound: undefined, held: [] };
    pairs.add(pair);
    inbound.on('error', () => destroy(pair));
    inbound.on('close', () => destroy(pair));
    inbound.on('data', (chunk: Buffer) => {
      if (!pair.outbound) pair.held.push(chunk);
      else if (!pair.outbound.write(chunk)) inbound.pause();
    });
    if (partition === 'blackhole') inbound.pause();
    else link(pair);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    get partition() {
      return partition;
    },
    get connections() {
      return pairs.size;
    },
    cut(mode) {
      partition = mode;
      for (const pair of [...pairs]) {
        if (mode === 'reset') destroy(pair);
        else {
          pair.inbound.pause();
          pair.outbound?.pause();
        }
      }
    },
    heal() {
      partition = undefined;
      for (const pair of [...pairs]) {
        if (!pair.outbound) link(pair);
        pair.inbound.resume();
        pair.outbound?.resume();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of [...pairs]) destroy(pair);
        server.close(() => resolve());
      }),
  };
}
