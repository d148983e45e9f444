// Docker's container events as the watcher reads them from the /events stream.

/** The container actions the watcher subscribes to (registrator's set plus pause/unpause). */
export const WATCHED_ACTIONS = ['start', 'die', 'stop', 'kill', 'destroy', 'pause', 'unpause', 'health_status'] as const;
/**
 * The network actions that change a running container's addresses (`docker network connect/disconnect`): they
 * decide what `--network` and SERVICE_NETWORK find, and no container event follows them.
 */
export const NETWORK_ACTIONS = ['connect', 'disconnect'] as const;
export type WatchedAction = (typeof WATCHED_ACTIONS)[number] | (typeof NETWORK_ACTIONS)[number];

/**
 * One container event, read from `Action` and `Actor` (API 1.52 dropped the old `status`/`id`). A network
 * connect/disconnect is read as an event of the container it names.
 */
export interface DockerEvent {
  /** Docker's Action as sent: "start", "die", "health_status: healthy". */
  action: string;
  /** The action without its detail: "health_status" for "health_status: healthy". */
  kind: WatchedAction;
  /** For health_status events: "healthy", "unhealthy" or "starting". */
  health?: string;
  /** Full container id (Actor.ID; Actor.Attributes.container for a network event). */
  id: string;
  /** Container name without the leading "/" (Actor.Attributes.name), when sent. */
  name?: string;
  /** Actor.Attributes: name, image, the container's labels, exitCode on die, signal on kill; `network` (its id) on connect/disconnect. */
  attributes: Record<string, string>;
  /** When it happened, ms since the epoch (from timeNano when present). */
  time: number;
}

/** A Docker event message as JSON → DockerEvent; undefined for anything that is not a watched container event. */
export function parseEvent(raw: unknown): DockerEvent | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const msg = raw as RawEvent & { Type?: unknown };
  if (msg.Type === 'network') return networkEvent(msg);
  if (msg.Type !== undefined && msg.Type !== 'container') return undefined;
  if (typeof msg.Action !== 'string' || typeof msg.Actor?.ID !== 'string' || msg.Actor.ID === '') return undefined;
  const action = msg.Action;
  const colon = action.indexOf(':');
  const kind = (colon >= 0 ? action.slice(0, colon) : action).trim();
  if (!(WATCHED_ACTIONS as readonly string[]).includes(kind)) return undefined;
  const attributes: Record<string, string> = {};
  const attrs = msg.Actor.Attributes;
  if (typeof attrs === 'object' && attrs !== null) {
    for (const [k, v] of Object.entries(attrs)) if (typeof v === 'string') attributes[k] = v;
  }
  const event: DockerEvent = { action, kind: kind as WatchedAction, id: msg.Actor.ID, attributes, time: eventTime(msg) };
  if (colon >= 0) event.health = action.slice(colon + 1).trim();
  const name = attributes.name;
  if (name !== undefined && name !== '') event.name = name.replace(/^\//, '');
  return event;
}

/** The fields of an event message parseEvent reads. */
interface RawEvent {
  Action?: unknown;
  Actor?: { ID?: unknown; Attributes?: unknown };
  time?: unknown;
  timeNano?: unknown;
}

/** When it happened, ms since the epoch (from timeNano when present). */
function eventTime(msg: RawEvent): number {
  return typeof msg.timeNano === 'number' ? Math.floor(msg.timeNano / 1e6) : typeof msg.time === 'number' ? msg.time * 1000 : Date.now();
}

/** A network connect/disconnect as an event of the container in Actor.Attributes.container; undefined otherwise. */
function networkEvent(msg: RawEvent): DockerEvent | undefined {
  const action = msg.Action;
  if (action !== 'connect' && action !== 'disconnect') return undefined;
  const attrs = msg.Actor?.Attributes as { container?: unknown } | null | undefined;
  const container = typeof attrs === 'object' && attrs !== null ? attrs.container : undefined;
  if (typeof container !== 'string' || container === '') return undefined;
  const network = typeof msg.Actor?.ID === 'string' ? msg.Actor.ID : '';
  return { action, kind: action, id: container, attributes: { network }, time: eventTime(msg) };
}
