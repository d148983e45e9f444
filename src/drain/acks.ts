// Renderer acknowledgements: what every `render` process publishes so a sidecar that removes a record can know
// when the load balancers have stopped using it.
//
// Key:   /sidekick/renderers/<node>/<resource>      (lease-bound to the renderer: it vanishes when the renderer dies)
// Value: {"revision":1234,"at":"2026-12-04T16:05:11.000Z","keys":["/services/web"]}
//
// `revision` is the etcd revision whose changes under `keys` the resource has applied: rendered, checked, swapped in
// and reloaded (the reload taken effect where sidekick can tell), or found unchanged. A record deleted at revision R
// has left a renderer's output once every live renderer whose `keys` cover the record's key reports a revision ≥ R.
import { keyUnder, prefixRange } from '../util/key-path.js';

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

/**
 * The JSON object a drain key holds (an acknowledgement, a maintenance request, its answer), or why it is refused:
 * too long, not JSON (naming the `shape` expected), or not an object.
 */
export function jsonObject(value: string, maxBytes: number, shape: string): Record<string, unknown> | string {
  if (value.length > maxBytes) return `value longer than ${maxBytes} bytes`;
  let data: unknown;
  try {
    data = JSON.parse(value);
  } catch {
    return `value is not JSON; expected ${shape}`;
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return 'value is not a JSON object';
  return data as Record<string, unknown>;
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
  const data = jsonObject(value, MAX_ACK_BYTES, '{"revision":<n>,"at":"<time>","keys":["/prefix",…]}');
  if (typeof data === 'string') return data;
  const { revision, at, keys } = data;
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

/** A renderer resource as `sidekick ls --renderers` shows it. */
export interface ListedRenderer extends Ack {
  /** The newest modification below its keys that it has not applied yet (0: none; deletions are not seen). */
  behind: number;
}

/** The smallest interface {@link listRenderers} needs from an etcd client. */
interface RangeReader {
  getAll(): {
    prefix(p: string): { exec(): Promise<{ kvs: Array<{ key: Buffer; value: Buffer }> }> };
    inRange(r: { start: string; end: string }): { sort(by: 'Mod', order: 'Descend'): { limit(n: number): { exec(): Promise<{ kvs: Array<{ mod_revision: string }> }> } } };
  };
}

/** The byte range of the keys strictly below a path prefix ("/a" → "/a/…", never the sibling "/a-b"). */
function belowRange(prefix: string): { start: string; end: string } {
  const range = prefixRange(prefix);
  return range.start === '\0' ? range : { start: `${range.start}/`, end: range.end };
}

/**
 * Every acknowledgement in etcd with, for each, the revision of the newest key below its prefixes it has not yet
 * applied (0 when it is current). Malformed keys come back as problems.
 */
export async function listRenderers(client: RangeReader): Promise<{ renderers: ListedRenderer[]; problems: { key: string; reason: string }[] }> {
  const res = await client.getAll().prefix(`${ACK_PREFIX}/`).exec();
  const newest = new Map<string, Promise<number>>();
  const newestUnder = (prefix: string): Promise<number> => {
    let p = newest.get(prefix);
    if (!p) {
      p = client
        .getAll()
        .inRange(belowRange(prefix))
        .sort('Mod', 'Descend')
        .limit(1)
        .exec()
        .then((r) => Number(r.kvs[0]?.mod_revision ?? 0));
      newest.set(prefix, p);
    }
    return p;
  };
  const renderers: ListedRenderer[] = [];
  const problems: { key: string; reason: string }[] = [];
  for (const kv of res.kvs) {
    const key = kv.key.toString('utf8');
    const ack = parseAck(key, kv.value.toString('utf8'));
    if (typeof ack === 'string') {
      problems.push({ key, reason: ack });
      continue;
    }
    const mods = await Promise.all(ack.keys.map(newestUnder));
    const latest = Math.max(0, ...mods);
    renderers.push({ ...ack, behind: latest > ack.revision ? latest : 0 });
  }
  renderers.sort((a, b) => (a.renderer < b.renderer ? -1 : 1));
  return { renderers, problems };
}
