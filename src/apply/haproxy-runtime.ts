// haproxy's runtime API (a `stats socket … level admin`): membership changes applied to the running workers
// without a reload, then read back and compared with the file's servers.
import { connect } from 'node:net';
import type { ResourceConfig } from './types.js';
import { sleep } from '../util/backoff.js';
import { CommandError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { diffConfigs, parseAddress, parseHaproxyConfig, type ServerChange, type ServerLine } from './haproxy-config.js';

/** Where and how long: the socket, the resource named in errors, the bound of each command and of a drain. */
export interface RuntimeTarget {
  socket: string;
  where: string;
  timeoutMs: number;
}

/** How often a draining server's sessions are read. */
const DRAIN_POLL_MS = 10;

/**
 * Sends one command, or several run in order (`a; b; c`), on its own connection and returns the answer (the worker
 * closes the connection after it). A command holding a newline or `;` (which the CLI would read as several) is
 * refused before anything is sent.
 */
export function runtimeCommand(target: RuntimeTarget, ...commands: [string, ...string[]]): Promise<string> {
  const command = commands.join('; ');
  const fail = (message: string, cause?: unknown): CommandError =>
    new CommandError(`haproxy runtime API ${target.socket}: "${command}" ${message}`, { where: target.where, cause });
  if (commands.some((c) => /[\n\r;]/.test(c))) return Promise.reject(fail('holds a newline or ";"; not sent'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(target.socket);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(fail(`got no complete answer within ${target.timeoutMs} ms`));
    }, target.timeoutMs);
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(fail(`failed: ${err.message}`, err));
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const answer = Buffer.concat(chunks).toString('utf8');
      // haproxy ends every answer with a newline, an empty one included: nothing at all is no answer.
      if (answer === '') reject(fail('closed the connection without answering'));
      else resolve(answer.trim());
    });
  });
}

/**
 * Sends a command whose success answer is known (`ok` matches it); any other answer is an error carrying it. Several
 * commands go together when all but the first answer nothing on success (the answers of a batch run together).
 */
async function expectAnswer(target: RuntimeTarget, commands: string | [string, ...string[]], ok: (answer: string) => boolean): Promise<void> {
  const batch: [string, ...string[]] = typeof commands === 'string' ? [commands] : commands;
  const command = batch.join('; ');
  const answer = await runtimeCommand(target, ...batch);
  if (!ok(answer)) {
    // The master CLI (and a socket below level admin) knows none of these commands.
    const hint = answer.startsWith('Unknown command') ? ' (haproxy_socket must be a worker\'s stats socket with level admin, not the master CLI)' : '';
    throw new CommandError(`haproxy runtime API ${target.socket}: "${command}" answered: ${answer.split('\n', 1)[0]?.slice(0, 500) || '(nothing)'}${hint}`, { where: target.where });
  }
}

const empty = (a: string): boolean => a === '';

/** One live server as `show servers state` lists it. */
export interface LiveServer {
  backend: string;
  name: string;
  addr: string;
  port: number;
  /** srv_admin_state: 0x01 forced maintenance, 0x08 forced drain, … */
  admin: number;
  weight: number;
}

/** Parses `show servers state` (format version 1); throws when the answer is not one. */
export function parseServersState(answer: string, target: Pick<RuntimeTarget, 'socket' | 'where'>): LiveServer[] {
  const lines = answer.split('\n');
  if (lines[0]?.trim() !== '1') {
    throw new CommandError(`haproxy runtime API ${target.socket}: "show servers state" answered: ${answer.slice(0, 200) || '(nothing)'} (is it a stats socket of a worker, level admin?)`, { where: target.where });
  }
  return lines
    .slice(1)
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.trim().split(/\s+/))
    .map((f) => ({ backend: f[1] ?? '', name: f[3] ?? '', addr: f[4] ?? '', admin: Number(f[6]), weight: Number(f[7]), port: Number(f[18]) }));
}

/** The live servers of every backend. */
export async function liveServers(target: RuntimeTarget): Promise<LiveServer[]> {
  return parseServersState(await runtimeCommand(target, 'show servers state'), target);
}

/** Current sessions per server of one backend, from `show stat` (svname → scur). */
async function sessions(target: RuntimeTarget, backend: string): Promise<Map<string, number>> {
  const answer = await runtimeCommand(target, `show stat ${backend} 4 -1`);
  const [header, ...rows] = answer.split('\n');
  const cols = (header ?? '').replace(/^# /, '').split(',');
  const name = cols.indexOf('svname');
  const scur = cols.indexOf('scur');
  if (name < 0 || scur < 0) throw new CommandError(`haproxy runtime API ${target.socket}: "show stat" answered: ${answer.slice(0, 200)}`, { where: target.where });
  return new Map(rows.map((r) => r.split(',')).map((f) => [f[name] ?? '', Number(f[scur] ?? 0)]));
}

/** `add server` arguments for a server as the file defines it (weight written out: add server takes no default-server). */
function addArgs(s: ServerLine): string {
  return [s.address, ...s.options, ...(s.weightGiven ? ['weight', String(s.weight)] : [])].join(' ');
}

/** What a runtime apply did, for the log line and the metrics. */
export interface RuntimeSummary {
  added: number;
  removed: number;
  changed: number;
}

const removalsOf = (changes: ServerChange[]): Array<Extract<ServerChange, { op: 'remove' }>> =>
  changes.filter((c): c is Extract<ServerChange, { op: 'remove' }> => c.op === 'remove');

/**
 * Applies additions (`add server`, `enable health` with `check`, `enable agent` with `agent-check`, `enable server`
 * unless `disabled`) and changes (`set server addr`, `set server weight`). Throws at the first command refused.
 */
async function addAndChange(target: RuntimeTarget, changes: ServerChange[]): Promise<void> {
  for (const c of changes) {
    if (c.op === 'add') {
      // One connection for the server's commands: the enables answer nothing when they succeed, so the batch's
      // answer is add's alone. A refused add fails the batch (the enables then act on nothing the file defines).
      const id = `${c.backend}/${c.server.name}`;
      const options = c.server.options;
      const enables = [
        ...(options.includes('check') ? [`enable health ${id}`] : []),
        ...(options.includes('agent-check') ? [`enable agent ${id}`] : []),
        ...(options.includes('disabled') ? [] : [`enable server ${id}`]),
      ];
      await expectAnswer(target, [`add server ${id} ${addArgs(c.server)}`, ...enables], (a) => a === 'New server registered.');
    } else if (c.op === 'change') {
      const id = `${c.backend}/${c.to.name}`;
      if (c.from.address !== c.to.address) {
        await expectAnswer(target, `set server ${id} addr ${c.to.ip as string} port ${c.to.port as number}`, (a) => /changed|no need to change/.test(a) && !/fail|error|invalid/i.test(a));
      }
      if (c.from.weight !== c.to.weight) await expectAnswer(target, `set server ${id} weight ${c.to.weight}`, empty);
    }
  }
}

/**
 * Applies membership changes: additions and changes first, so a backend whose servers are all replaced always has
 * one to send new requests to; then removals, drained (`state drain`, sessions awaited up to the command timeout,
 * then `maint` and `del server`). Throws at the first command haproxy refuses, or when sessions outlast the drain.
 */
export async function applyChanges(target: RuntimeTarget, changes: ServerChange[]): Promise<RuntimeSummary> {
  await addAndChange(target, changes);
  await drain(target, removalsOf(changes));
  return summarize(changes);
}

function summarize(changes: ServerChange[]): RuntimeSummary {
  const count = (op: ServerChange['op']): number => changes.filter((c) => c.op === op).length;
  return { added: count('add'), removed: count('remove'), changed: count('change') };
}

/** What undoes the additions and changes of `changes`: each added server removed, each changed one changed back. */
function undoOf(changes: ServerChange[]): ServerChange[] {
  const undo: ServerChange[] = [];
  for (const c of changes) {
    if (c.op === 'add') undo.push({ op: 'remove', backend: c.backend, server: c.server });
    else if (c.op === 'change') undo.push({ op: 'change', backend: c.backend, from: c.to, to: c.from });
  }
  return undo;
}

/** The servers `changes` add or alter, as `backend/server`. */
const touchedBy = (changes: ServerChange[]): Set<string> =>
  new Set(changes.flatMap((c) => (c.op === 'add' ? [`${c.backend}/${c.server.name}`] : c.op === 'change' ? [`${c.backend}/${c.to.name}`] : [])));

/** Drains the removed servers together, then takes each out of service and deletes it. */
async function drain(target: RuntimeTarget, removals: Array<Extract<ServerChange, { op: 'remove' }>>): Promise<void> {
  await startDrain(target, removals);
  await finishDrain(target, removals);
}

/** Puts the removed servers in drain: no new requests, current sessions carry on. */
async function startDrain(target: RuntimeTarget, removals: Array<Extract<ServerChange, { op: 'remove' }>>): Promise<void> {
  for (const r of removals) await expectAnswer(target, `set server ${r.backend}/${r.server.name} state drain`, empty);
}

/** Waits until the draining servers carry no session, then takes each out of service and deletes it. */
async function finishDrain(target: RuntimeTarget, removals: Array<Extract<ServerChange, { op: 'remove' }>>): Promise<void> {
  if (removals.length === 0) return;
  const deadline = performance.now() + target.timeoutMs;
  const backends = [...new Set(removals.map((r) => r.backend))];
  for (;;) {
    const live = new Map<string, Map<string, number>>();
    for (const b of backends) live.set(b, await sessions(target, b));
    const busy = removals.filter((r) => (live.get(r.backend)?.get(r.server.name) ?? 0) > 0);
    if (busy.length === 0) break;
    if (performance.now() > deadline) {
      throw new CommandError(`haproxy runtime API ${target.socket}: ${busy.map((r) => `${r.backend}/${r.server.name}`).join(', ')} still carried sessions after ${target.timeoutMs} ms of drain`, { where: target.where });
    }
    await sleep(DRAIN_POLL_MS);
  }
  for (const r of removals) {
    const id = `${r.backend}/${r.server.name}`;
    await expectAnswer(target, `set server ${id} state maint`, empty);
    await expectAnswer(target, `del server ${id}`, (a) => a.startsWith('Server deleted'));
  }
}

/**
 * Compares the running servers with the file's: every backend of `text` must hold exactly its servers, at their
 * addresses and ports; the servers `touched` (added or changed) must also have the file's weight and be out of
 * maintenance unless `disabled`. Returns the differences, none when they agree.
 */
export function compareLive(text: string, live: LiveServer[], touched: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const [name, backend] of parseHaproxyConfig(text).backends) {
    if (backend.templated) continue;
    const running = new Map(live.filter((s) => s.backend === name).map((s) => [s.name, s]));
    for (const [id, s] of backend.servers) {
      const l = running.get(id);
      if (!l) {
        problems.push(`${name}/${id} is not running`);
        continue;
      }
      const file = parseAddress(s.address);
      if (file && (file.ip !== (parseAddress(l.addr.includes(':') ? `[${l.addr}]:${l.port}` : `${l.addr}:${l.port}`)?.ip ?? l.addr) || file.port !== l.port)) {
        problems.push(`${name}/${id} runs at ${l.addr}:${l.port}, the file says ${s.address}`);
      }
      if (touched.has(`${name}/${id}`)) {
        if (l.weight !== s.weight) problems.push(`${name}/${id} runs with weight ${l.weight}, the file says ${s.weight}`);
        if ((l.admin & 0x01) !== 0 && !s.options.includes('disabled')) problems.push(`${name}/${id} is in maintenance`);
      }
    }
    for (const id of running.keys()) if (!backend.servers.has(id)) problems.push(`${name}/${id} runs but is not in the file`);
  }
  return problems;
}

/** `runtime`: applied without a reload; `fallback`: a runtime command or the read-back failed, reload. */
export type RuntimeResult = 'runtime' | 'fallback';

/**
 * A membership change under way on the running haproxy. As soon as it starts, before the new file is checked and
 * swapped in, its additions and changes are live and its removed servers draining: traffic moves at the runtime
 * API's own pace, not after `check_cmd`. What comes next depends on the check.
 */
export interface RuntimeApply {
  /** The file is swapped in: waits out the removed servers' sessions and deletes them, then reads back the running servers. */
  finish(): Promise<RuntimeResult>;
  /**
   * The check or the swap failed, the live file stays: puts the draining servers back in service, undoes the
   * additions and changes and reads back the running servers against the live file. False when they could not be put back (the caller reloads the live file).
   */
  undo(): Promise<boolean>;
}

/**
 * Starts applying the change from `live` (the file haproxy runs) to `next` (the file about to be checked and swapped
 * in) through the runtime API. Undefined when the change is not membership only: the caller reloads.
 */
export async function startAtRuntime(resource: ResourceConfig, live: string, next: string, log: Logger): Promise<RuntimeApply | undefined> {
  const diff = diffConfigs(live, next);
  if (diff.kind === 'structural') {
    log.debug({ resource: resource.name, reason: diff.reason }, 'not a membership-only change: reloading');
    return undefined;
  }
  const socket = resource.haproxySocket as string;
  const target: RuntimeTarget = { socket, where: resource.name, timeoutMs: resource.commandTimeoutMs };
  const { changes } = diff;
  const started = performance.now();
  const fallback = (err: unknown): RuntimeResult => {
    log.warn({ resource: resource.name, socket, err: errorMessage(err) }, 'haproxy runtime apply failed; reloading instead');
    return 'fallback';
  };
  let failure: unknown;
  try {
    await addAndChange(target, changes);
    await startDrain(target, removalsOf(changes));
  } catch (err) {
    failure = err;
  }
  const liveMs = Math.round(performance.now() - started);
  return {
    async finish() {
      if (failure !== undefined) return fallback(failure);
      try {
        await finishDrain(target, removalsOf(changes));
        const problems = compareLive(next, await liveServers(target), touchedBy(changes));
        if (problems.length > 0) throw new CommandError(`running servers differ from the file after the runtime apply: ${problems.slice(0, 5).join('; ')}`, { where: resource.name });
        log.info({ resource: resource.name, socket, ...summarize(changes), liveMs, ms: Math.round(performance.now() - started) }, 'applied through the haproxy runtime API, no reload');
        return 'runtime';
      } catch (err) {
        return fallback(err);
      }
    },
    async undo() {
      try {
        for (const r of removalsOf(changes)) await expectAnswer(target, `set server ${r.backend}/${r.server.name} state ready`, empty);
        const undo = undoOf(changes);
        await applyChanges(target, undo);
        const problems = compareLive(live, await liveServers(target), touchedBy(undo));
        if (problems.length > 0) throw new CommandError(`running servers differ from the live file: ${problems.slice(0, 5).join('; ')}`, { where: resource.name });
        log.info({ resource: resource.name, socket }, 'runtime changes undone: the running servers are the live file\'s again');
        return true;
      } catch (err) {
        log.warn({ resource: resource.name, socket, err: errorMessage(err) }, 'could not undo the runtime changes; reloading the live file');
        return false;
      }
    },
  };
}
