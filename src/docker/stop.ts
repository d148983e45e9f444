// How `register` reads a container being stopped: which `kill` events mean the container is going away, and the
// drain a container opts into with SERVICE_DRAIN.
//
// `docker stop` sends the container's StopSignal (default SIGTERM), waits `-t` seconds, then sends SIGKILL; each
// signal is a `kill` event whose `signal` attribute is the signal's number. A container started with a StopSignal
// its app ignores (`--stop-signal SIGWINCH`) and the label SERVICE_DRAIN=SIGTERM keeps serving after that first
// signal: register removes its records, waits until the load balancers have applied the removal, and only then
// sends SERVICE_DRAIN, the signal the app really stops on.
import type { MappingWarning } from './types.js';

/** Linux signal numbers (the same on every architecture Docker runs Linux containers on, bar mips/sparc/alpha). */
const SIGNALS: Readonly<Record<string, number>> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12, PIPE: 13,
  ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23, XCPU: 24,
  XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, PWR: 30, SYS: 31,
};
const NAMES = new Map(Object.entries(SIGNALS).map(([name, n]) => [n, `SIG${name}`]));

/** Signals that end a container whatever its StopSignal: a `kill` with one of these means it is going away. */
const STOPPING = new Set([SIGNALS.TERM, SIGNALS.KILL, SIGNALS.INT, SIGNALS.QUIT]);

/** The label (or env var) that opts a container into drained stops. */
export const DRAIN_LABEL = 'SERVICE_DRAIN';

/** Docker's default StopSignal. */
const DEFAULT_STOP_SIGNAL = SIGNALS.TERM as number;

/** A signal as Docker accepts it (`SIGTERM`, `TERM`, `term`, `15`) → its number; undefined when unknown. */
export function parseSignal(value: string): number | undefined {
  const v = value.trim().toUpperCase();
  if (/^\d{1,2}$/.test(v)) return NAMES.has(Number(v)) ? Number(v) : undefined;
  return SIGNALS[v.startsWith('SIG') ? v.slice(3) : v];
}

/** `15` → `SIGTERM`; an unknown number stays a number. */
export function signalName(signal: number): string {
  return NAMES.get(signal) ?? String(signal);
}

/** How a container stops, from its inspect data. */
export interface StopSettings {
  /** Container name without the leading "/" (short id when it has none), for logs. */
  container: string;
  /** Config.StopSignal as a number (SIGTERM when unset). */
  stopSignal: number;
  /** SERVICE_DRAIN as a signal name (`SIGTERM`): the container drains before it is sent. Unset: no drain. */
  drainSignal?: string;
  /** SERVICE_DRAIN (or StopSignal) could not be used: the container stops without a drain. */
  warning?: MappingWarning;
}

/** The inspect fields {@link stopSettings} reads. */
export interface StopInspect {
  Id: string;
  Name?: string;
  Config?: { StopSignal?: string; Env?: readonly string[] | null; Labels?: Readonly<Record<string, string>> | null } | null;
}

/** SERVICE_DRAIN from the labels, else the environment (labels win, as for every SERVICE_* setting). */
function drainSetting(config: StopInspect['Config']): { value: string; label: string } | undefined {
  const label = config?.Labels?.[DRAIN_LABEL];
  if (label !== undefined && label !== '') return { value: label, label: DRAIN_LABEL };
  const env = config?.Env?.find((kv) => kv.startsWith(`${DRAIN_LABEL}=`));
  const value = env?.slice(DRAIN_LABEL.length + 1);
  return value ? { value, label: DRAIN_LABEL } : undefined;
}

/** Reads Config.StopSignal and SERVICE_DRAIN; a value that cannot work comes back as a warning, with no drain. */
export function stopSettings(info: StopInspect): StopSettings {
  const container = (info.Name ?? '').replace(/^\//, '') || info.Id.slice(0, 12);
  const raw = info.Config?.StopSignal;
  const parsedStop = raw ? parseSignal(raw) : DEFAULT_STOP_SIGNAL;
  const stopSignal = parsedStop ?? DEFAULT_STOP_SIGNAL;
  const drain = drainSetting(info.Config);
  if (!drain) return { container, stopSignal };
  const warn = (message: string): StopSettings => ({ container, stopSignal, warning: { container, label: drain.label, message } });
  const drainSignal = parseSignal(drain.value);
  if (drainSignal === undefined) {
    return warn(`${DRAIN_LABEL}: ${JSON.stringify(drain.value.slice(0, 40))} is not a signal; expected a name such as SIGTERM or SIGQUIT; stopping without a drain`);
  }
  if (parsedStop === undefined) return warn(`${DRAIN_LABEL}: the container's StopSignal ${JSON.stringify(raw)} is not a signal; stopping without a drain`);
  if (STOPPING.has(stopSignal) || stopSignal === drainSignal) {
    return warn(
      `${DRAIN_LABEL}: the container's StopSignal is ${signalName(stopSignal)}, which stops the app before the drain; ` +
        'start it with a StopSignal the app ignores (e.g. --stop-signal SIGWINCH); stopping without a drain',
    );
  }
  return { container, stopSignal, drainSignal: signalName(drainSignal) };
}

/** What a `kill` event means: `drain` (opted in, and the stop signal), `stop` (going away) or `none` (e.g. a reload). */
export type KillMeaning = 'drain' | 'stop' | 'none';

/** Classifies a `kill` event by its `signal` attribute, given the container's stop settings (unknown: SIGTERM stop). */
export function killMeaning(signalAttribute: string | undefined, stop: StopSettings | undefined): KillMeaning {
  const signal = signalAttribute === undefined ? undefined : parseSignal(signalAttribute);
  if (signal === undefined) return 'none';
  const stopSignal = stop?.stopSignal ?? DEFAULT_STOP_SIGNAL;
  if (signal === stopSignal && stop?.drainSignal !== undefined) return 'drain';
  return STOPPING.has(signal) || signal === stopSignal ? 'stop' : 'none';
}
