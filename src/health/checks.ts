// Checkers: one attempt of an http(s), tcp or exec check, or of several together. Each settles when its signal aborts
// and never throws.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { formatAddress } from '../util/address.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { describeCheck, serverName, statusPasses } from './check-options.js';
import { DEFAULT_STATUS, type ActiveCheckSpec, type CheckResult, type CheckSpec, type CheckTarget, type Checker, type StatusRanges, type TlsCheckOptions } from './types.js';

export type { CheckTarget } from './types.js';

/** What an exec check returns: the exit status and, optionally, what it printed. */
export interface ExecOutcome {
  exitCode: number;
  output?: string;
}

/** Runs a command inside a container (the Docker exec API); must stop the exec when the signal aborts. */
export type ContainerExec = (argv: string[], signal: AbortSignal) => Promise<ExecOutcome>;

/** What {@link checkerFor} needs from the outside; only `exec` checks inside a container use it. */
export interface CheckerDeps {
  execInContainer?: ContainerExec;
}

/** Longest piece of command output quoted in a failure detail. */
const MAX_DETAIL_OUTPUT = 200;
/** A command still running this long after SIGTERM gets SIGKILL (as for check/reload commands). */
const FORCE_KILL_AFTER_MS = 2000;
/** Output a host command may print before it is killed; a health check has no business printing more. */
const MAX_COMMAND_OUTPUT = 1024 * 1024;

const TIMEOUT: CheckResult = { ok: false, detail: 'timeout' };

/** A failing result. */
const fail = (detail: string): CheckResult => ({ ok: false, detail });

/** The errno-style code of a socket error (ECONNREFUSED, ENOTFOUND, ...), else its message. */
function errorDetail(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== '' ? code : errorMessage(err);
}

/** "[::1]" → "::1": sockets want the bare address. */
function bareHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * Resolves with `work`'s result, or with a timeout failure as soon as the signal aborts (whichever comes
 * first). The work keeps running to its own end (a killed process being reaped) but nobody waits for it.
 */
function untilAborted(signal: AbortSignal, work: () => Promise<CheckResult>): Promise<CheckResult> {
  if (signal.aborted) return Promise.resolve(TIMEOUT);
  return new Promise<CheckResult>((resolve) => {
    const onAbort = (): void => resolve(TIMEOUT);
    signal.addEventListener('abort', onAbort, { once: true });
    const settle = (result: CheckResult): void => {
      signal.removeEventListener('abort', onAbort);
      resolve(result);
    };
    Promise.resolve()
      .then(work)
      .then(settle, (err: unknown) => settle(fail(errorMessage(err))));
  });
}

/** The first non-empty line of command output, trimmed and cut to a readable length. */
export function firstLine(output: string | undefined): string {
  const line = (output ?? '').split('\n').find((l) => l.trim() !== '') ?? '';
  const trimmed = line.trim();
  return trimmed.length > MAX_DETAIL_OUTPUT ? `${trimmed.slice(0, MAX_DETAIL_OUTPUT)}…` : trimmed;
}

/** An exit status as a result: 0 passes; otherwise "exit N: first line of output". */
function exitResult(exitCode: number, output: string | undefined): CheckResult {
  if (exitCode === 0) return { ok: true, detail: 'exit 0' };
  const line = firstLine(output);
  return fail(line ? `exit ${exitCode}: ${line}` : `exit ${exitCode}`);
}

/** Longest answer read while looking for the status line; more without a line break is not HTTP. */
const MAX_STATUS_HEAD = 8 * 1024;

/** What refines an http check beyond its path: TLS (https), the Host header, the statuses that pass. */
export interface HttpOptions {
  tls?: TlsCheckOptions;
  /** Host header, and the TLS server name when it is a name; default host:port connected to. */
  host?: string;
  /** Default {@link DEFAULT_STATUS} (2xx and 3xx). */
  status?: StatusRanges;
}

/**
 * GET http(s)://host:port/path; the statuses in `opts.status` pass (2xx and 3xx by default), redirects are not
 * followed.
 *
 * Speaks just enough HTTP/1.1 over a plain or TLS socket: sends one prebuilt request (`Connection: close`), reads up
 * to the status line, then destroys the socket; the body is never read. node:http cost three times the CPU per
 * attempt (its request and parser machinery, per-request header validation), which is most of what an idle
 * `register` with 100 services on 10 s checks does; fetch would also keep an idle pooled socket per service. The
 * request is not half-closed after sending: some servers (Go's net/http) cancel a request whose client sent FIN.
 * An https check resumes the TLS session of its previous attempt, which spares most of a full handshake's CPU.
 */
export function httpChecker(host: string, port: number, path: string, opts: HttpOptions = {}): Checker {
  const hostname = bareHost(host);
  const target = requestTarget(path);
  if (target === undefined) {
    const invalid = fail(`invalid path ${JSON.stringify(path)}: spaces and control characters cannot be sent`);
    return () => Promise.resolve(invalid);
  }
  const authority = opts.host ?? formatAddress(hostname, port);
  const request = Buffer.from(
    `GET ${target} HTTP/1.1\r\nHost: ${authority}\r\nUser-Agent: sidekick-health\r\nAccept: */*\r\nConnection: close\r\n\r\n`,
    'latin1',
  );
  const status = opts.status ?? DEFAULT_STATUS;
  const open = opts.tls ? tlsOpener(hostname, port, opts.tls, opts.host) : () => connect({ host: hostname, port });
  return (signal) => (signal.aborted ? Promise.resolve(TIMEOUT) : httpAttempt(open, request, status, signal));
}

/**
 * Opens TLS connections to host:port, verifying the certificate (against `tls.ca` when given) for the name of the
 * Host header if it is one, else for the address; that name is also sent as SNI. Keeps the latest session to
 * resume with.
 */
function tlsOpener(host: string, port: number, tls: TlsCheckOptions, hostHeader: string | undefined): () => Socket {
  const servername = hostHeader === undefined ? serverName(host) : serverName(hostHeader);
  const secureContext = sharedContext(tls.ca);
  let session: Buffer | undefined;
  return () => {
    const socket = tlsConnect({
      host,
      port,
      ...(servername !== undefined && { servername }),
      secureContext,
      rejectUnauthorized: !tls.skipVerify,
      ...(session !== undefined && { session }),
      // Only what a status line needs: no ALPN, so servers answer HTTP/1.1.
    });
    socket.on('session', (s: Buffer) => {
      session = s;
    });
    return socket;
  };
}

/** The request target for a check path: a leading "/" added, non-ASCII percent-encoded; undefined if unsendable. */
function requestTarget(path: string): string | undefined {
  const withSlash = path.startsWith('/') ? path : `/${path}`;
  if (/[^\u0021-\u007e\u0080-\uffff]/.test(withSlash)) return undefined;
  try {
    return withSlash.replace(/[\u0080-\uffff]+/g, (s) => encodeURI(s));
  } catch {
    // A lone surrogate has no UTF-8 form.
    return undefined;
  }
}

/** TLS contexts by CA ('' for Node's bundled roots), shared by every https check that trusts the same CA. */
const contexts = new Map<string, SecureContext>();

/**
 * The TLS context for a CA. Without one, tls.connect builds a context (and loads the root store into it) at every
 * connection, which cost more CPU than the rest of an https attempt.
 */
function sharedContext(ca: string | undefined): SecureContext {
  let context = contexts.get(ca ?? '');
  if (!context) {
    context = createSecureContext(ca === undefined ? {} : { ca });
    contexts.set(ca ?? '', context);
  }
  return context;
}

/** One HTTP attempt; see {@link httpChecker}. */
function httpAttempt(open: () => Socket, request: Buffer, status: StatusRanges, signal: AbortSignal): Promise<CheckResult> {
  return socketAttempt(open, signal, (socket, finish) => {
    let head = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      head += chunk;
      const verdict = statusVerdict(head, status);
      if (verdict === 'more') {
        if (head.length > MAX_STATUS_HEAD) finish(fail('not an HTTP response'));
      } else finish(verdict);
    });
    socket.on('end', () => finish(fail('connection closed before a response')));
    socket.write(request);
  });
}

/**
 * Opens a socket and lets `use` settle the attempt from its events; a socket error fails it and an abort settles it
 * as a timeout. The socket is destroyed however the attempt ends.
 */
function socketAttempt(
  open: () => Socket,
  signal: AbortSignal,
  use: (socket: Socket, finish: (result: CheckResult) => void) => void,
): Promise<CheckResult> {
  return new Promise<CheckResult>((resolve) => {
    const socket = open();
    const finish = (result: CheckResult): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(result);
    };
    const onAbort = (): void => finish(TIMEOUT);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (err) => finish(fail(errorDetail(err))));
    use(socket, finish);
  });
}

/**
 * The verdict on what a server sent so far: its status (interim 1xx responses skipped), a failure if it is not
 * HTTP, or 'more' while the status line is incomplete.
 */
export function statusVerdict(head: string, pass: StatusRanges = DEFAULT_STATUS): CheckResult | 'more' {
  let rest = head;
  for (;;) {
    const eol = rest.indexOf('\n');
    if (eol < 0) return /^H(T(T(P(\/[^\n]*)?)?)?)?$/.test(rest) || rest === '' ? 'more' : fail('not an HTTP response');
    const m = /^HTTP\/\d(?:\.\d)? (\d{3})(?:[ \r]|$)/.exec(rest.slice(0, eol));
    if (!m) return fail('not an HTTP response');
    const status = Number(m[1]);
    if (status >= 200) return { ok: statusPasses(status, pass), detail: `HTTP ${status}` };
    if (status < 100) return fail('not an HTTP response');
    // 1xx (103 Early Hints): its header block ends at an empty line; the real answer follows.
    const blank = /\r?\n\r?\n/.exec(rest);
    if (!blank) return 'more';
    rest = rest.slice(blank.index + blank[0].length);
  }
}

/** A TCP connect to host:port; passes once connected, and the socket is destroyed at once. */
export function tcpChecker(host: string, port: number): Checker {
  const bare = bareHost(host);
  return (signal) =>
    signal.aborted
      ? Promise.resolve(TIMEOUT)
      : socketAttempt(() => connect({ host: bare, port }), signal, (socket, finish) => socket.once('connect', () => finish({ ok: true, detail: 'connected' })));
}

/** execa, imported only by a process that runs host check commands: `register` never does, and it is ~4 MB of RSS. */
let execaModule: Promise<typeof import('execa')> | undefined;
const loadExeca = (): Promise<typeof import('execa')> => (execaModule ??= import('execa'));

/**
 * A host command (announce's `--check exec:CMD`), run without a shell; exit 0 passes. When the signal
 * aborts the command gets SIGTERM (SIGKILL 2 s later) and the attempt settles at once as a timeout.
 */
export function commandChecker(argv: string[]): Checker {
  const [file, ...args] = argv;
  if (file === undefined || file === '') throw new ConfigError('an exec check needs a command');
  // Start loading now, so the first attempt does not wait for it.
  loadExeca().catch(() => undefined);
  return (signal) => untilAborted(signal, () => runHostCommand(file, args, signal));
}

/** Runs one host check command; see {@link commandChecker}. */
async function runHostCommand(file: string, args: string[], signal: AbortSignal): Promise<CheckResult> {
  const { execa } = await loadExeca();
  const result = await execa(file, args, {
    cancelSignal: signal,
    forceKillAfterDelay: FORCE_KILL_AFTER_MS,
    reject: false,
    all: true,
    stdin: 'ignore',
    maxBuffer: MAX_COMMAND_OUTPUT,
    stripFinalNewline: true,
  });
  const output = String(result.all ?? '');
  if (result.isCanceled) return TIMEOUT;
  if (result.isMaxBuffer) return fail('output too large');
  if (result.exitCode !== undefined) return exitResult(result.exitCode, output);
  if (result.signal) return fail(`killed by ${result.signal}`);
  // Could not start: ENOENT, EACCES.
  return fail(errorDetail(result.cause ?? result.originalMessage ?? result.shortMessage));
}

/** An exec check run by someone else (Docker exec in a container); exit 0 passes, errors fail the attempt. */
export function execChecker(run: (signal: AbortSignal) => Promise<ExecOutcome>): Checker {
  return (signal) =>
    untilAborted(signal, async () => {
      const { exitCode, output } = await run(signal);
      return exitResult(exitCode, output);
    });
}

/**
 * The active checker for a spec: http(s)/tcp against the spec's own target or `target`, exec on the host or (with
 * `deps.execInContainer`) in the container, `all` running its checks together. `docker` and `none` have none: the
 * monitor gets their state from Docker's health_status, or starts healthy.
 */
export function checkerFor(spec: CheckSpec, target: CheckTarget, deps: CheckerDeps = {}): Checker | undefined {
  switch (spec.kind) {
    case 'all':
      return allChecker(spec.checks.map((check) => ({ name: describeCheck(check), checker: activeChecker(check, target, deps) })));
    case 'docker':
    case 'none':
      return undefined;
    default:
      return activeChecker(spec, target, deps);
  }
}

/** The checker of one http(s), tcp or exec check. */
function activeChecker(spec: ActiveCheckSpec, fallback: CheckTarget, deps: CheckerDeps): Checker {
  if (spec.kind === 'exec') return spec.where === 'host' ? commandChecker(spec.argv) : containerChecker(spec.argv, deps);
  const { host, port } = spec.target ?? fallback;
  if (spec.kind === 'tcp') return tcpChecker(host, port);
  const opts: HttpOptions = {
    ...(spec.tls && { tls: spec.tls }),
    ...(spec.host !== undefined && { host: spec.host }),
    ...(spec.status && { status: spec.status }),
  };
  return httpChecker(host, port, spec.path, opts);
}

/**
 * Several checks as one: each attempt runs them all at once and passes when every one passes. A failure names the
 * checks that failed ("https /health: HTTP 503; tcp: ECONNREFUSED"); a pass names each check's outcome.
 */
export function allChecker(checks: ReadonlyArray<{ name: string; checker: Checker }>): Checker {
  return async (signal) => {
    const results = await Promise.all(checks.map(async ({ name, checker }) => ({ name, result: await checker(signal) })));
    const failed = results.filter((r) => !r.result.ok);
    const shown = failed.length > 0 ? failed : results;
    return { ok: failed.length === 0, detail: shown.map((r) => `${r.name}: ${r.result.detail}`).join('; ') };
  };
}

/** An exec check inside the container; needs the Docker side's exec function. */
function containerChecker(argv: string[], deps: CheckerDeps): Checker {
  const exec = deps.execInContainer;
  if (!exec) throw new ConfigError('exec checks inside a container need the Docker API (no exec function given)');
  if (argv.length === 0 || argv[0] === '') throw new ConfigError('an exec check needs a command');
  return execChecker((signal) => exec(argv, signal));
}
