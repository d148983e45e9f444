// The runtime API client: one command (or one batch) per connection, bounded by the resource's timeout, errors naming the
// resource and the command; a command that the CLI would split (newline, ";") is never sent.
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { parseServerLine } from '../../../src/apply/haproxy-config.js';
import { applyChanges, runtimeCommand } from '../../../src/apply/haproxy-runtime.js';
import { tempDir } from '../../support/tmp.js';

let dir: string;
let cleanup: () => Promise<void>;
let server: Server | undefined;
const received: string[] = [];
const open: Socket[] = [];
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  open.splice(0).forEach((c) => c.destroy());
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
  received.length = 0;
  await cleanup();
});

/** A unix socket at dir/s.sock that records each command and answers with `answer` (or never, when undefined). */
async function cli(answer: ((cmd: string) => string) | undefined, allowHalfOpen = false): Promise<string> {
  const path = join(dir, 's.sock');
  server = createServer({ allowHalfOpen }, (c) => {
    open.push(c);
    c.on('data', (d: Buffer) => {
      const cmd = d.toString('utf8').trim();
      received.push(cmd);
      if (answer) c.end(`${answer(cmd)}\n\n`);
    });
  });
  await new Promise<void>((r) => server?.listen(path, r));
  return path;
}

it('sends one command and returns the answer, trimmed', async () => {
  const socket = await cli((cmd) => (cmd === 'show servers state' ? '1\n# be_id' : '?'));
  expect(await runtimeCommand({ socket, where: 'haproxy.toml', timeoutMs: 1000 }, 'show servers state')).toBe('1\n# be_id');
  expect(received).toEqual(['show servers state']);
});

it.each(['set server be/a weight 1; shutdown sessions server be/b', 'set server be/a weight 1\nshow info'])('never sends %j', async (command) => {
  const socket = await cli(() => '');
  await expect(runtimeCommand({ socket, where: 'haproxy.toml', timeoutMs: 1000 }, command)).rejects.toThrow(/^haproxy\.toml: haproxy runtime API [^]* holds a newline or ";"; not sent/);
  expect(received).toEqual([]);
});

it('sends several commands as one line, in order, on one connection; one of them holding ";" keeps all unsent', async () => {
  const socket = await cli(() => 'New server registered.\n\n\n');
  const target = { socket, where: 'haproxy.toml', timeoutMs: 1000 };
  expect(await runtimeCommand(target, 'add server be/a 10.0.0.1:80', 'enable server be/a')).toBe('New server registered.');
  expect(received).toEqual(['add server be/a 10.0.0.1:80; enable server be/a']);
  await expect(runtimeCommand(target, 'add server be/b 10.0.0.2:80', 'enable server be/b; shutdown sessions server be/c')).rejects.toThrow(/holds a newline or ";"; not sent/);
  expect(received).toHaveLength(1);
});

it('gives up after the timeout, naming the resource, the socket and the command', async () => {
  const socket = await cli(undefined, true);
  const started = performance.now();
  await expect(runtimeCommand({ socket, where: 'haproxy.toml', timeoutMs: 200 }, 'show info')).rejects.toThrow(`haproxy.toml: haproxy runtime API ${socket}: "show info" got no complete answer within 200 ms`);
  expect(performance.now() - started).toBeLessThan(2000);
});

it('reports a peer that closes without answering', async () => {
  const socket = await cli(undefined);
  await expect(runtimeCommand({ socket, where: 'haproxy.toml', timeoutMs: 1000 }, 'enable server be/a')).rejects.toThrow(/"enable server be\/a" closed the connection without answering/);
});

it('reports a socket nobody listens on', async () => {
  await expect(runtimeCommand({ socket: join(dir, 'none.sock'), where: 'haproxy.toml', timeoutMs: 1000 }, 'show info')).rejects.toThrow(/haproxy\.toml: .*"show info" failed: .*ENOENT/);
});

it('names the master CLI when the socket answers like one (it knows none of the commands)', async () => {
  const socket = await cli(() => 'Unknown command, but maybe one of the following ones is a better match:\n  show proc : show processes status');
  const server = parseServerLine('server a 10.0.0.1:80 check'.split(' '));
  await expect(applyChanges({ socket, where: 'haproxy.toml', timeoutMs: 1000 }, [{ op: 'add', backend: 'be', server }])).rejects.toThrow(
    /^haproxy\.toml: haproxy runtime API .*: "add server be\/a 10\.0\.0\.1:80 check; enable health be\/a; enable server be\/a" answered: Unknown command, but maybe one of the following ones is a better match: \(haproxy_socket must be a worker's stats socket with level admin, not the master CLI\)$/,
  );
  expect(received).toEqual(['add server be/a 10.0.0.1:80 check; enable health be/a; enable server be/a']);
});
