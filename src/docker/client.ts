// The Docker Engine API as `sidekick register` uses it: a watcher that streams container events (reconnecting
// across dockerd restarts), lists and inspects containers, and runs exec checks. The client comes from address.ts,
// the events' shape and parser from events.ts.
import { EventEmitter } from 'node:events';
import { Writable, type Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type Dockerode from 'dockerode';
import type { ContainerInspectInfo } from 'dockerode';
import { nextDelay, sleep } from '../util/backoff.js';
import { CommandError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { NETWORK_ACTIONS, WATCHED_ACTIONS, parseEvent, type DockerEvent } from './events.js';
import { deadlineSignal } from '../util/deadline.js';

/** What {@link DockerWatcher} emits. It never emits 'error': failures are logged and retried. */
export interface DockerWatcherEvents {
  /** A container event from the stream. */
  event: [DockerEvent];
  /**
   * The event stream is open (first connect and every reconnect). Listeners should list and converge: events
   * from before this moment (including everything that happened while dockerd was away) are not replayed.
   */
  connected: [];
  /** The stream was lost (dockerd stopped or restarted, connection reset); the watcher is reconnecting. */
  disconnected: [{ error: string }];
}

/** Options for {@link DockerWatcher}. */
export interface DockerWatcherOptions {
  docker: Dockerode;
  log: Logger;
  /** First reconnect delay, ms (doubled with jitter up to retryMaxMs). Default 500. */
  retryInitialMs?: number;
  /** Longest reconnect delay, ms. Default 30 s. */
  retryMaxMs?: number;
  /** Deadline of one list/inspect/exec-setup request, ms. Default 30 s. */
  requestTimeoutMs?: number;
  /** Parallel inspects while listing. Default 8. */
  inspectConcurrency?: number;
}

/** The result of {@link DockerWatcher.exec}. */
export interface ExecResult {
  exitCode: number;
  /** stdout and stderr interleaved, at most {@link MAX_EXEC_OUTPUT} bytes (the rest is dropped). */
  output: string;
}

/** Output kept from an exec, bytes; Docker keeps 4 KB of HEALTHCHECK output too. */
export const MAX_EXEC_OUTPUT = 4096;

/** Longest unterminated event line kept while waiting for its newline (a broken stream, not a real event). */
const MAX_LINE = 1024 * 1024;

/**
 * Docker for `sidekick register`: a container event stream that survives dockerd restarts, plus list, inspect
 * and exec.
 *
 * Reconnects do not use `since`. dockerd keeps only a small in-memory event buffer that a restart loses, so
 * replaying could never cover the case that matters; instead every (re)connect emits 'connected' and the daemon
 * lists and converges. 'connected' is emitted once dockerd has answered the events request, i.e. after it has
 * subscribed the stream, so a list started from the listener cannot miss an event that follows it.
 */
export class DockerWatcher extends EventEmitter<DockerWatcherEvents> {
  private readonly docker: Dockerode;
  private readonly log: Logger;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly requestTimeoutMs: number;
  private readonly inspectConcurrency: number;
  private closed = false;
  private loop: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private stream: Readable | undefined;

  constructor(opts: DockerWatcherOptions) {
    super();
    this.docker = opts.docker;
    this.log = opts.log;
    this.retryInitialMs = opts.retryInitialMs ?? 500;
    this.retryMaxMs = opts.retryMaxMs ?? 30_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.inspectConcurrency = Math.max(1, opts.inspectConcurrency ?? 8);
  }

  /** True while the event stream is open. */
  get connected(): boolean {
    return this.stream !== undefined;
  }

  /** Starts streaming events in the background; retries forever (with backoff) until {@link close}. */
  start(): void {
    if (this.loop || this.closed) return;
    this.loop = this.run().catch((err: unknown) => {
      // run() handles its own errors; this is a bug guard so the daemon never sees an unhandled rejection.
      this.log.error({ err: errorMessage(err) }, 'docker event watcher stopped unexpectedly');
    });
  }

  /** Stops reconnecting and closes the stream. */
  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    this.stream?.destroy();
    await this.loop;
  }

  /**
   * Running containers (paused ones included: check State.Paused), each inspected, at most
   * `inspectConcurrency` at a time. A container removed between the list and its inspect is skipped.
   */
  async listRunning(): Promise<ContainerInspectInfo[]> {
    const list = await this.docker.listContainers({ abortSignal: AbortSignal.timeout(this.requestTimeoutMs) });
    const ids = list.map((c) => c.Id);
    const out: (ContainerInspectInfo | undefined)[] = new Array<ContainerInspectInfo | undefined>(ids.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const i = next++;
        out[i] = await this.inspect(ids[i] as string);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.inspectConcurrency, ids.length) }, worker));
    return out.filter((c): c is ContainerInspectInfo => c !== undefined);
  }

  /** A container's inspect data, or undefined when there is no such container (404). */
  async inspect(id: string): Promise<ContainerInspectInfo | undefined> {
    try {
      return await this.docker.getContainer(id).inspect({ abortSignal: AbortSignal.timeout(this.requestTimeoutMs) });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  /** Sends `signal` (e.g. "SIGTERM") to a container's main process; a container no longer running is fine. */
  async kill(id: string, signal: string): Promise<void> {
    try {
      await this.docker.getContainer(id).kill({ signal, abortSignal: AbortSignal.timeout(this.requestTimeoutMs) });
    } catch (err) {
      // 404: removed meanwhile; 409: not running (it stopped by itself or was SIGKILLed).
      const code = statusCode(err);
      if (code !== 404 && code !== 409) throw err;
    }
  }

  /**
   * Runs argv inside a running container (Docker exec API, no TTY, no stdin) and resolves with its exit code
   * and up to {@link MAX_EXEC_OUTPUT} bytes of stdout+stderr. Rejects with a CommandError when the exec cannot
   * be created or started (container gone or stopped, dockerd unreachable) or when `signal` aborts: then the
   * attached stream is destroyed and the promise rejects at once (`timedOut` is true when the signal's reason
   * is a TimeoutError). The Engine API cannot kill an exec, so an aborted command may keep running inside the
   * container until it exits by itself.
   */
  async exec(id: string, argv: string[], signal: AbortSignal): Promise<ExecResult> {
    const where = `container ${id.slice(0, 12)}`;
    const chunks: Buffer[] = [];
    let kept = 0;
    const aborted = (): CommandError => {
      const reason: unknown = signal.reason;
      const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
      return new CommandError(`exec ${JSON.stringify(argv)} ${timedOut ? 'timed out' : 'aborted'}`, {
        where,
        cause: reason,
        timedOut,
        output: Buffer.concat(chunks).toString('utf8'),
      });
    };
    if (signal.aborted) throw aborted();
    // Requests stop at the caller's abort or our own request deadline, whichever comes first.
    const setup = deadlineSignal(this.requestTimeoutMs, signal);
    let stream: NodeJS.ReadWriteStream;
    const container = this.docker.getContainer(id);
    let execution: Dockerode.Exec;
    try {
      execution = await container.exec({ Cmd: argv, AttachStdout: true, AttachStderr: true, Tty: false,
        abortSignal: setup.signal }).finally(setup.dispose);
      // Only the caller's signal here: the attached stream lasts as long as the command, not one request.
      stream = await execution.start({ hijack: true, stdin: false, abortSignal: signal });
    } catch (err) {
      if (signal.aborted) throw aborted();
      throw new CommandError(`cannot exec ${JSON.stringify(argv)}: ${errorMessage(err)}`, { where, cause: err });
    }
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (kept < MAX_EXEC_OUTPUT) {
          const piece = chunk.subarray(0, MAX_EXEC_OUTPUT - kept);
          chunks.push(piece);
          kept += piece.length;
        }
        cb();
      },
    });
    await new Promise<void>((resolve, reject) => {
      const socket = stream as unknown as Readable;
      const onAbort = (): void => {
        socket.destroy();
        reject(aborted());
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      const done = (err?: Error): void => {
        signal.removeEventListener('abort', onAbort);
        if (err && !signal.aborted) reject(new CommandError(`exec stream failed: ${err.message}`, { where, cause: err }));
        else resolve();
      };
      socket.once('end', () => done());
      socket.once('close', () => done());
      // `on`, not `once`: a socket may emit a second error, and an unhandled one would crash the daemon.
      socket.on('error', (err) => done(err));
      this.docker.modem.demuxStream(socket, sink, sink);
      // The hijacked socket stays half-open for writing; we never send stdin.
      socket.resume();
    });
    if (signal.aborted) throw aborted();
    // The stream ends when the process exits; dockerd may record the exit code a moment later.
    for (let attempt = 0; ; attempt++) {
      let info: Dockerode.ExecInspectInfo;
      const request = deadlineSignal(this.requestTimeoutMs, signal);
      try {
        info = await execution.inspect({ abortSignal: request.signal }).finally(request.dispose);
      } catch (err) {
        if (signal.aborted) throw aborted();
        throw new CommandError(`cannot read the exit code of ${JSON.stringify(argv)}: ${errorMessage(err)}`, { where, cause: err });
      }
      if (!info.Running && info.ExitCode !== null) {
        return { exitCode: info.ExitCode, output: Buffer.concat(chunks).toString('utf8') };
      }
      if (attempt >= 50) {
        throw new CommandError(`exec ${JSON.stringify(argv)} output ended but Docker reports no exit code`, { where });
      }
      await sleep(20, signal);
      if (signal.aborted) throw aborted();
    }
  }

  /** Connect, stream until the stream ends, back off, again; until closed. Logs once per lost/back. */
  private async run(): Promise<void> {
    let delay = this.retryInitialMs;
    let failing = false;
    let everConnected = false;
    while (!this.closed) {
      let lost: string | undefined;
      let opened = false;
      try {
        const stream = (await this.docker.getEvents({
          filters: { type: ['container', 'network'], event: [...WATCHED_ACTIONS, ...NETWORK_ACTIONS] },
          abortSignal: this.abort.signal,
        })) as Readable;
        stream.on('error', () => undefined); // consume() reports errors; this only keeps late ones handled
        if (this.closed) {
          stream.destroy();
          break;
        }
        this.stream = stream;
        opened = true;
        if (failing) this.log.info('docker reachable again; watching container events');
        else if (!everConnected) this.log.info('watching docker container events');
        failing = false;
        everConnected = true;
        delay = this.retryInitialMs;
        this.safeEmit('connected');
        lost = await this.consume(stream);
      } catch (err) {
        lost = errorMessage(err);
      } finally {
        this.stream = undefined;
      }
      if (this.closed) break;
      if (opened) this.safeEmit('disconnected', { error: lost ?? 'event stream ended' });
      if (!failing) {
        const msg = everConnected ? 'docker event stream lost; reconnecting with backoff' : 'docker unreachable; retrying with backoff';
        this.log.warn({ err: lost }, msg);
      } else {
        this.log.debug({ err: lost, delayMs: delay }, 'docker still unreachable');
      }
      failing = true;
      await sleep(delay, this.abort.signal);
      delay = nextDelay(delay, this.retryMaxMs);
    }
  }

  /** Reads newline-delimited JSON until the stream ends; resolves with why it ended. */
  private consume(stream: Readable): Promise<string> {
    return new Promise<string>((resolve) => {
      const decoder = new StringDecoder('utf8');
      let buffer = '';
      let settled = false;
      const finish = (why: string): void => {
        if (settled) return;
        settled = true;
        stream.removeAllListeners('data');
        stream.destroy();
        resolve(why);
      };
      stream.on('data', (chunk: Buffer | string) => {
        buffer += typeof chunk === 'string' ? chunk : decoder.write(chunk);
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line !== '') this.onLine(line);
        }
        if (buffer.length > MAX_LINE) {
          this.log.warn({ bytes: buffer.length }, 'docker event stream sent an overlong line; dropping it');
          buffer = '';
        }
      });
      stream.once('end', () => finish('event stream ended'));
      stream.once('close', () => finish('event stream closed'));
      stream.on('error', (err: Error) => finish(err.message));
    });
  }

  private onLine(line: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      this.log.warn({ line: line.slice(0, 200) }, 'ignoring an unparsable docker event');
      return;
    }
    const event = parseEvent(raw);
    if (event) this.safeEmit('event', event);
  }

  /** Emits without letting a throwing listener break the stream (or the process). */
  private safeEmit<K extends keyof DockerWatcherEvents>(name: K, ...args: DockerWatcherEvents[K]): void {
    try {
      (this.emit as (n: K, ...a: DockerWatcherEvents[K]) => boolean)(name, ...args);
    } catch (err) {
      this.log.error({ err: errorMessage(err), event: name }, 'a docker watcher listener threw');
    }
  }
}

/** The HTTP status of a dockerode error, if it has one. */
function statusCode(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}
