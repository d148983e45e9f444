// Long-running `sidekick` processes for the fault suite: the built binary, its JSON log lines collected as they come
// (with the time each arrived), and a clean SIGTERM/SIGKILL stop.
import type { ResultPromise } from 'execa';
import { sidekick } from '../../support/cli.js';
import { waitFor } from '../../support/procs.js';

/** A parsed log line plus when the test received it (Date.now()). */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number; receivedAt: number };

/** A running sidekick process. */
export interface Sidekick {
  readonly label: string;
  readonly proc: ResultPromise;
  readonly pid: number | undefined;
  /** True until the process exits. */
  readonly running: boolean;
  /** Exit code / signal once it exited. */
  readonly exit: { code: number | undefined; signal: string | undefined } | undefined;
  /** Every complete JSON log line so far. */
  logs(): LogLine[];
  /** Lines whose msg equals `msg` (or matches it). */
  lines(msg: string | RegExp): LogLine[];
  count(msg: string | RegExp): number;
  /** Waits until `count(msg) >= n`; resolves with the n-th such line. */
  waitLine(msg: string | RegExp, timeoutMs?: number, n?: number): Promise<LogLine>;
  /** Sends `signal`; SIGKILL after graceMs if it is still running; resolves once it exited. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
  /** Waits for the process to exit by itself (no signal sent); SIGKILL after timeoutMs. */
  exited(timeoutMs?: number): Promise<void>;
  /** The raw stderr so far (for failure messages). */
  stderr(): string;
}

const matches = (line: LogLine, msg: string | RegExp): boolean =>
  typeof msg === 'string' ? line.msg === msg : msg.test(String(line.msg ?? ''));

/** Starts `sidekick ...args` (JSON logs at info unless env says otherwise). */
export function startSidekick(label: string, args: string[], env: Record<string, string> = {}): Sidekick {
  const proc = sidekick(args, env);
  let text = '';
  let pending = '';
  const parsed: LogLine[] = [];
  let running = true;
  let exit: Sidekick['exit'];
  proc.stderr?.on('data', (chunk: Buffer) => {
    const now = Date.now();
    const s = chunk.toString('utf8');
    text += s;
    pending += s;
    const end = pending.lastIndexOf('\n');
    if (end < 0) return;
    const complete = pending.slice(0, end);
    pending = pending.slice(end + 1);
    for (const l of complete.split('\n')) {
      if (!l.startsWith('{')) continue;
      try {
        parsed.push({ ...(JSON.parse(l) as Record<string, unknown>), receivedAt: now });
      } catch {
        // not a log line
      }
    }
  });
  const done = proc.then(
    (r) => {
      running = false;
      exit = { code: r.exitCode, signal: r.signal };
    },
    () => {
      running = false;
    },
  );
  const self: Sidekick = {
    label,
    proc,
    pid: proc.pid,
    get running() {
      return running;
    },
    get exit() {
      return exit;
    },
    logs: () => [...parsed],
    lines: (msg) => parsed.filter((l) => matches(l, msg)),
    count: (msg) => parsed.filter((l) => matches(l, msg)).length,
    waitLine: (msg, timeoutMs = 15_000, n = 1) =>
      waitFor(() => {
        const found = parsed.filter((l) => matches(l, msg));
        if (found.length < n) {
          if (!running) throw new Error(`${label} exited (${JSON.stringify(exit)}) before logging "${String(msg)}":\n${text.slice(-3000)}`);
          return false;
        }
        return found[n - 1] as LogLine;
      }, timeoutMs).then((line) => line as LogLine).catch((err: unknown) => {
        throw new Error(`${label}: ${String(err)}; waiting for "${String(msg)}"\n${text.slice(-3000)}`);
      }),
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (!running) return;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      try {
        await done;
      } finally {
        clearTimeout(t);
      }
    },
    async exited(timeoutMs = 10_000) {
      if (!running) return;
      const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      try {
        await done;
      } finally {
        clearTimeout(t);
      }
    },
    stderr: () => text,
  };
  return self;
}
