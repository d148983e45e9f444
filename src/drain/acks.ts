// Renderer acknowledgements: what every `render` process publishes so a sidecar that removes a record can know
// when the load balancers have stopped using it.
//
// Key:   /sidekick/renderers/<node>/<resource>      (lease-bound to the renderer: it vanishes when the renderer dies)
// Value: {"revision":1234,"at":"2026-12-04T16:05:11.000Z","keys":["/services/web"]}
//
// `revision` is the etcd revision whose changes under `keys` the resource has applied: rendered, checked, swapped in
// and reloaded (the reload taken effect where sidekick can tell), or found unchanged. A record deleted at revision R
// has left a renderer's output once every live renderer whose `keys` cover the record's key reports a revision ≥ R.
import { keyUnder } from '../store/prefix.js';

/** The reserved folder of acknowledgement keys. Renderers never render because of a change below it. */
export const ACK_PREFIX = '/sidekick/renderers';

/** Largest acknowledgement value accepted (a renderer with many prefixes stays far below). */
const MAX_ACK_BYTES = 64 * 1024;

/** One renderer resource's acknowledgement. */
export interface Ack {
  /** `<node>/<resource>`: who acknowledges, for logs and `sidekick ls`. */
  renderer: string;
  node: string;
  resource: string;
  revision: number;
  /** ISO time of the apply. */
  at: string;
  /** Absolute key prefixes the resource reads. */
  keys: string[];
}

/** The key a renderer publishes a resource's acknowledgement under. */
export function ackKey(node: string, resource: string): string {
  return `${ACK_PREFIX}/${encodeURIComponent(node)}/${encodeURIComponent(resource)}`;
}

/** The value for {@link ackKey}. */
export function ackValue(revision: number, keys: string[], at = new Date()): string {
  return JSON.stringify({ revision, at: at.toISOString(), keys });
}

/** True when `key` lies below the reserved acknowledgement folder. */
export function isAckKey(key: string): boolean {
  return keyUnder(key, ACK_PREFIX);
}

/** Parses an acknowledgement read at `key`; a string says why it is refused. */
export function parseAck(key: string, value: string): Ack | string {
  if (!isAckKey(key)) return `not below ${ACK_PREFIX}/`;
  const segments = key.slice(ACK_PREFIX.length + 1).split('/');
  if (segments.length !== 2 || segments.some((s) => s === '')) return `expected ${ACK_PREFIX}/<node>/<resource>`;
  let node: string;
  let resource: string;
  try {
    [node, resource] = segments.map((s) => decodeURIComponent(s)) as [string, string];
  } catch {
    return 'node or resource is not valid percent-encoding';
  }
  if (value.length > MAX_ACK_BYTES) return `value longer than ${MAX_ACK_BYTES} bytes`;
  let data: unknown;
  try {
    data = JSON.parse(value);
  } catch {
    return 'value is not JSON; expected {"revision":<n>,"at":"<time>","keys":["/prefix",…]}';
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return 'value is not a JSON object';
  const { revision, at, keys } = data as Record<string, unknown>;
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) return 'revision must be a whole number ≥ 0';
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string' && k.startsWith('/'))) {
    return 'keys must be a non-empty list of absolute key prefixes';
  }
  return { renderer: `${node}/${resource}`, node, resource, revision, at: typeof at === 'string' ? at : '', keys: keys as string[] };
}

/** True when the renderer reads any of `keys` (an ack for "/" covers everything). */
export function ackCovers(ack: Ack, keys: readonly string[]): boolean {
  return keys.some((key) => ack.keys.some((prefix) => keyUnder(key, prefix)));
}
