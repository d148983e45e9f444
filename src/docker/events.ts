// Docker's container events as the watcher reads them from the /events stream.

/** The container actions the watcher subscribes to (registrator's set plus pause/unpause). */
export const WATCHED_ACTIONS = ['start', 'die', 'stop', 'kill', 'destroy', 'pause', 'unpause', 'health_status'] as const;
export type WatchedAction = (typeof WATCHED_ACTIONS)[number];

/** One container event, read from `Action` and `Actor` (API 1.52 dropped the old `status`/`id`). */
export interface DockerEvent {
  /** Docker's Action as sent: "start", "die", "health_status: healthy". */
  action: string;
  /** The action without its detail: "health_status" for "health_status: healthy". */
  kind: WatchedAction;
  /** For health_status events: "healthy", "unhealthy" or "starting". */
  health?: string;
  /** Full container id (Actor.ID). */
  id: string;
  /** Container name without the leading "/" (Actor.Attributes.name), when sent. */
  name?: string;
  /** Actor.Attributes: name, image, the container's labels, exitCode on die, signal on kill. */
  attributes: Record<string, string>;
  /** When it happened, ms since the epoch (from timeNano when present). */
  time: number;
}

/** A Docker event message as JSON → DockerEvent; undefined for anything that is not a watched container event. */
export function parseEvent(raw: unknown): DockerEvent | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const msg = raw as { Type?: unknown; Action?: unknown; Actor?: { ID?: unknown; Attributes?: unknown }; time?: unknown;
    timeNano?: unknown };
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
  const time = typeof msg.timeNano === 'number' ? Math.floor(msg.timeNano / 1e6)
    : typeof msg.time === 'number' ? msg.time * 1000 : Date.now();
  const event: DockerEvent = { action, kind: kind as WatchedAction, id: msg.Actor.ID, attributes, time };
  if (colon >= 0) event.health = action.slice(colon + 1).trim();
  const name = attributes.name;
  if (name !== undefined && name !== '') event.name = name.replace(/^\//, '');
  return event;
}
