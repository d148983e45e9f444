// Service-aware helpers over the native layout `<root>/<name>/<id>` (design.md §3): `services` and
// `service "web"`. Every value goes through parseServiceRecord; a bad one is dropped, never rendered.
import type { Entry } from '../store/types.js';
import { formatAddress, parseServiceRecord, validateServiceName, type ServiceRecord } from '../registry/record.js';
import { absKey, arity, compareStrings, helperError, recordLookup, splitArgs, stateOf, str, type Helper, type HelperOptions, type RenderState } from './context.js';

/** One instance as templates see it: the record plus `address` ("host:port", IPv6 bracketed) and its key. */
export interface ServiceInstance extends ServiceRecord {
  address: string;
  key: string;
}

const DEFAULT_ROOT = '/services';
const MAX_WARNED = 10_000;

function rootOf(state: RenderState, options: HelperOptions): string {
  const root = options.hash.root === undefined ? DEFAULT_ROOT : str(options, options.hash.root, 'root=');
  return absKey(state.prefix, root);
}

/** Warns once per key+value: renders repeat every few seconds and must not flood the log. */
function warnOnce(state: RenderState, key: string, value: string, reason: string): void {
  const id = `${key}\0${value}`;
  if (state.warned.has(id)) return;
  if (state.warned.size >= MAX_WARNED) state.warned.clear();
  state.warned.add(id);
  // Not `key`: the logger redacts fields named key (TLS keys).
  state.log.warn({ storeKey: key, reason, template: state.file }, 'ignoring invalid service record');
}

/** Parses `<dir>/<id>` entries (deeper keys ignored); invalid ones are dropped with a warning. */
function instancesIn(state: RenderState, dir: string, entries: Entry[]): ServiceInstance[] {
  const out: ServiceInstance[] = [];
  for (const [key, value] of entries) {
    if (!key.startsWith(`${dir}/`) || key.indexOf('/', dir.length + 1) !== -1) continue;
    const parsed = parseServiceRecord(key, value);
    if (!parsed.ok) {
      warnOnce(state, key, value, parsed.reason);
      continue;
    }
    const r = parsed.record;
    out.push({ ...r, address: formatAddress(r.host, r.port), key });
  }
  return out.sort((a, b) => compareStrings(a.id, b.id) || compareStrings(a.key, b.key));
}

/** The service helpers. */
export const serviceHelpers: Record<string, Helper> = {
  services(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 0);
    const state = stateOf(options);
    const root = rootOf(state, options);
    const base = root === '/' ? '' : root;
    const byName = new Map<string, Entry[]>();
    for (const entry of state.view.list(root)) {
      const rest = entry[0].slice(base.length + 1).split('/');
      if (rest.length !== 2 || !rest[0]) continue;
      const list = byName.get(rest[0]) ?? [];
      list.push(entry);
      byName.set(rest[0], list);
    }
    const names: string[] = [];
    for (const [name, entries] of byName) {
      if (validateServiceName(name).ok && instancesIn(state, `${base}/${name}`, entries).length > 0) names.push(name);
    }
    return names.sort(compareStrings);
  },
  service(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    const state = stateOf(options);
    const name = str(options, params[0], 'service name');
    const valid = validateServiceName(name);
    if (!valid.ok) throw helperError(options, valid.reason);
    const root = rootOf(state, options);
    const dir = `${root === '/' ? '' : root}/${name}`;
    const instances = instancesIn(state, dir, state.view.list(dir));
    // The argument as written; with a non-default root= the root is part of it ("/other/web").
    const arg = options.hash.root === undefined ? name : `${String(options.hash.root).replace(/\/+$/, '')}/${name}`;
    recordLookup(state, 'service', arg, instances.length);
    return instances;
  },
};
