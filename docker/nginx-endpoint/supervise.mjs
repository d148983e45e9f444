#!/usr/bin/env node
// Entry point (PID 1) of the nginx endpoint container: nginx in the foreground and `sidekick render --watch` beside
// it. sidekick rewrites /tmp/nginx-endpoint/nginx.conf from etcd, checks it with `nginx -t`, swaps it in and reloads
// nginx in place with SIGHUP to the master (/etc/sidekick/conf.d/nginx.toml). This process:
//   1. renders the first config (`render --onetime --sync-only`, then `nginx -t`). When the store cannot be read in
//      time or the result fails `nginx -t`, it renders the same template with no services instead (every request
//      gets 503), so nginx starts anyway and serves as soon as the store answers;
//   2. starts nginx (`-g 'daemon off;'`; the template puts its pid file in /tmp/nginx-endpoint), then
//      sidekick render --watch;
//   3. on SIGTERM/SIGINT stops both: sidekick with SIGTERM, nginx with SIGQUIT (graceful: open requests finish),
//      then SIGTERM and SIGKILL if they take too long; exits 0. SIGHUP goes to both (re-read conf.d / nginx.conf);
//   4. when either child dies on its own, stops the other and exits 1, so the container stops and its restart
//      policy decides what comes next (a half-working endpoint is worse than a restarted one).
// Arguments are extra `sidekick render` flags (--node http://etcd:2379, --log-level debug, …); SIDEKICK_* env works
// too. Orphans are not reaped here: run with `docker run --init` if you spawn more than nginx and sidekick.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { clearTimeout, setTimeout } from 'node:timers';

const env = process.env;
const SIDEKICK = env.SIDEKICK_CLI || '/opt/sidekick/dist/cli/main.js';
const NGINX = '/usr/sbin/nginx';
// These paths are also in conf.d/nginx.toml (dest, pid_file) and the template (pid, temp paths).
const RUN_DIR = '/tmp/nginx-endpoint';
const CONF = `${RUN_DIR}/nginx.conf`;
const PID_FILE = `${RUN_DIR}/nginx.pid`;
const FIRST_RENDER_TIMEOUT_MS = seconds(env.NGINX_ENDPOINT_FIRST_RENDER_TIMEOUT, 15) * 1000;
const STOP_GRACE_MS = seconds(env.NGINX_ENDPOINT_STOP_GRACE, 8) * 1000;
const renderArgs = process.argv.slice(2);

function seconds(value, fallback) {
  const n = Number(value);
  return value && Number.isFinite(n) && n > 0 ? n : fallback;
}

const LEVELS = { info: 30, warn: 40, error: 50 };
/** One JSON line on stderr, shaped like sidekick's own (pino) lines. */
function log(level, msg, fields = {}) {
  process.stderr.write(`${JSON.stringify({ level: LEVELS[level], time: Date.now(), name: 'nginx-endpoint', msg, ...fields })}\n`);
}

/** Starts a child sharing our stdout/stderr; `exit` resolves once with its code and signal. */
function start(name, cmd, args) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  const child = { name, proc, running: true, exit: undefined };
  child.exit = new Promise((resolve) => {
    proc.once('error', (err) => {
      child.running = false;
      log('error', `${name}: cannot start`, { err: err.message });
      resolve({ code: 127, signal: null });
    });
    proc.once('exit', (code, signal) => {
      child.running = false;
      resolve({ code, signal });
    });
  });
  return child;
}

function signal(child, sig) {
  if (child?.running) child.proc.kill(sig);
}

let stopSignal;
const running = { nginx: undefined, sidekick: undefined };
// Registered first: without a handler SIGHUP would end this process (unless it is PID 1).
process.on('SIGHUP', () => {
  signal(running.sidekick, 'SIGHUP');
  signal(running.nginx, 'SIGHUP');
});
let current; // the child of the start-up phase, killed if we are stopped meanwhile
const stopped = new Promise((resolve) => {
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => {
      if (stopSignal) return;
      stopSignal = sig;
      log('info', 'stopping', { signal: sig });
      signal(current, 'SIGKILL');
      resolve(sig);
    });
  }
});

/** Runs a start-up command to its end (killed after timeoutMs); true on exit 0. */
async function runOnce(name, cmd, args, timeoutMs) {
  const child = start(name, cmd, args);
  current = child;
  const timer = setTimeout(() => {
    log('warn', `${name}: no result after ${timeoutMs / 1000} s; killing it`);
    signal(child, 'SIGKILL');
  }, timeoutMs);
  const { code, signal: sig } = await child.exit;
  clearTimeout(timer);
  current = undefined;
  if (code !== 0 && !stopSignal) log('warn', `${name} failed`, { code, signal: sig });
  return code === 0;
}

const nginxTest = () => runOnce('nginx -t', NGINX, ['-t', '-q', '-c', CONF], 30_000);
const render = (what, extra, timeoutMs) =>
  runOnce(what, process.execPath, [SIDEKICK, 'render', ...renderArgs, '--onetime', '--sync-only', ...extra], timeoutMs);

/** Writes the first nginx.conf: from the store, else from an empty store. Returns false when neither works. */
async function firstConfig() {
  mkdirSync(RUN_DIR, { recursive: true });
  if ((await render('first render', [], FIRST_RENDER_TIMEOUT_MS)) && (await nginxTest())) return true;
  if (stopSignal) return false;
  log('warn', 'no usable config from the store yet: starting nginx with no services (503) until it answers');
  // No network involved: only a broken template makes this fail, and a slow machine makes it slow.
  return (await render('render with no services', ['--backend', 'file', '--file', '/dev/null'], 120_000)) && (await nginxTest());
}

/** Resolves once nginx has written its pid file (so sidekick's first reload finds the master), or it exited. */
async function nginxReady(nginx) {
  const deadline = Date.now() + 10_000;
  while (nginx.running && Date.now() < deadline) {
    try {
      if (Number.parseInt(readFileSync(PID_FILE, 'utf8'), 10) === nginx.proc.pid) return;
    } catch {
      // not written yet
    }
    await sleep(20);
  }
}

/** Stops both children: sidekick with SIGTERM, nginx with a graceful SIGQUIT; escalates after the grace time. */
async function stopAll(children) {
  const [sidekick, nginx] = children;
  signal(sidekick, 'SIGTERM');
  signal(nginx, 'SIGQUIT');
  const all = Promise.all(children.filter(Boolean).map((c) => c.exit));
  const escalate = setTimeout(() => {
    log('warn', `still stopping after ${STOP_GRACE_MS / 1000} s: SIGTERM, then SIGKILL`);
    signal(nginx, 'SIGTERM');
    signal(sidekick, 'SIGKILL');
    setTimeout(() => children.forEach((c) => signal(c, 'SIGKILL')), 2000).unref();
  }, STOP_GRACE_MS);
  await all;
  clearTimeout(escalate);
}

async function main() {
  if (!(await firstConfig())) {
    if (stopSignal) return 0;
    log('error', `cannot render a valid ${CONF}, not even with no services: check the template`);
    return 1;
  }
  if (stopSignal) return 0;
  const nginx = start('nginx', NGINX, ['-c', CONF, '-g', 'daemon off;']);
  running.nginx = nginx;
  await Promise.race([nginxReady(nginx), stopped]);
  let sidekick;
  if (nginx.running && !stopSignal) {
    sidekick = start('sidekick render', process.execPath, [SIDEKICK, 'render', ...renderArgs, '--watch', '--no-onetime', '--no-sync-only']);
    running.sidekick = sidekick;
    log('info', 'started', { nginx: nginx.proc.pid, sidekick: sidekick.proc.pid, args: renderArgs });
  }
  const died = await Promise.race([
    stopped.then(() => undefined),
    nginx.exit.then((r) => ({ name: 'nginx', ...r })),
    ...(sidekick ? [sidekick.exit.then((r) => ({ name: 'sidekick render', ...r }))] : []),
  ]);
  if (died && !stopSignal) log('error', `${died.name} exited; stopping the endpoint`, { code: died.code, signal: died.signal });
  await stopAll([sidekick, nginx]);
  return stopSignal ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log('error', 'supervisor failed', { err: err instanceof Error ? err.stack : String(err) });
    process.exit(1);
  },
);
