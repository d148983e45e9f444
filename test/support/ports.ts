// Free loopback ports for the real services tests start. They are taken below the kernel's ephemeral range, from a
// slice of its own per test worker, and never handed out twice by one process: a service stopped for a restart
// (etcd through an outage) comes back on its port. A port from the ephemeral range can be taken in that window as
// the local end of any outgoing connection on the machine, and the restart then fails with "address in use".
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Ports per worker, and where the first worker's slice starts. */
const SLICE = 1000;
const FIRST = 10_000;
/** Workers whose slices fit below the ephemeral range; a worker past them (or a range starting lower) falls back to the kernel's choice. */
const SLICES = 16;

/** The first port of the kernel's ephemeral range (32768 on Linux by default). */
function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32_768;
  } catch {
    return 32_768;
  }
}

/** This process's slice: by vitest's worker number (1…maxWorkers), 0 outside vitest (benches, scripts). */
const worker = Number(process.env.VITEST_POOL_ID ?? 0);
const base = FIRST + (worker % SLICES) * SLICE;
const ownRange = FIRST + SLICES * SLICE <= ephemeralLow();
const handedOut = new Set<number>();
let next = Math.floor(Math.random() * SLICE);

/** Listens on `port` (0: any) on 127.0.0.1 and closes again; resolves with the port, or undefined when it is taken. */
function probe(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      const bound = typeof addr === 'object' && addr ? addr.port : undefined;
      srv.close(() => resolve(bound));
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago and that this process has not handed out before. */
export async function freePort(): Promise<number> {
  for (let tries = 0; ownRange && tries < SLICE; tries++) {
    const port = base + (next++ % SLICE);
    if (handedOut.has(port)) continue;
    if ((await probe(port)) === port) {
      handedOut.add(port);
      return port;
    }
  }
  const port = await probe(0);
  if (port === undefined) throw new Error('no free loopback port');
  return port;
}
