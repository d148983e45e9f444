// Service-aware helpers over the native layout `<root>/<name>/<id>` (docs/records.md): `services` and
// `service "web"` (also `service "web" tag="v2"` and consul-template's `service "v2.web"`). Every value goes
// through parseServiceRecord; a bad one is dropped, never rendered.
import type { Entry, KeyView } from '../store/types.js';
import { DEFAULT_PREFIX } from '../registry/layouts.js';
import { normalizePrefix } from '../util/key-path.js';
import { parseServiceRecord, TAG_RE, validateServiceName, type ServiceRecord } from '../registry/record.js';
import { formatAddress } from '../util/address.js';
import { absKey, arity, compareStrings, helperError, onlyHash, recordLookup, splitArgs, stateOf, str, type Helper, type HelperOptions, type RenderState, type ServiceInstanceData } from './context.js';

/** One instance as templates see it: the record plus `address` ("host:port", IPv6 bracketed) and its key. */
export type ServiceInstance = ServiceInstanceData;

/** What a folder's memo keeps in place of its entries when the view versions its folders (never written to). */
const NO_ENTRIES: Entry[] = [];

/** The record cache is cleared when it outgrows twice the store (deleted keys), or this. */
const MIN_CACHE = 10_000;

function rootOf(state: RenderState, options: HelperOptions): string {
  const arg = options.hash.root === undefined ? undefined : str(options, options.hash.root, 'root=');
  let root = state.passRoots.get(arg);
  if (root === undefined) state.passRoots.set(arg, (root = absKey(state.prefix, arg ?? DEFAULT_PREFIX)));
  return root;
}

/** The instance stored at key, parsed once per distinct value; a bad value warns once and yields undefined. */
function instanceAt(state: RenderState, key: string, value: string): ServiceInstance | undefined {
  const cached = state.records.get(key);
  if (cached?.value === value) return cached.instance;
  if (state.records.size >= Math.max(MIN_CACHE, 2 * state.view.size)) state.records.clear();
  const parsed = parseServiceRecord(key, value);
  if (parsed.ok) {
    const instance = instanceOf(parsed.record, key);
    state.records.set(key, { value, instance });
    return instance;
  }
  state.records.set(key, { value, reason: parsed.reason });
  // Not `key`: the logger redacts fields named key (TLS keys).
  state.log.warn({ storeKey: key, reason: parsed.reason, template: state.file }, 'ignoring invalid service record');
  return undefined;
}

/**
 * The record plus `address` and `key`, in the record's field order. Object literals, not `{ ...record }`: a spread
 * copy gets a hidden class of its own per object (about 300 bytes each, 30 MB at 100,000 instances).
 */
function instanceOf(r: ServiceRecord, key: string): ServiceInstance {
  const address = formatAddress(r.host, r.port);
  if (r.node === undefined) return { name: r.name, id: r.id, host: r.host, port: r.port, tags: r.tags, meta: r.meta, address, key };
  return { name: r.name, id: r.id, host: r.host, port: r.port, tags: r.tags, meta: r.meta, node: r.node, address, key };
}

/** Parses `<dir>/<id>` entries (deeper keys ignored); invalid ones are dropped with a warning. */
function instancesIn(state: RenderState, dir: string, entries: Entry[]): ServiceInstance[] {
  const out: ServiceInstance[] = [];
  for (const [key, value] of entries) {
    if (!key.startsWith(`${dir}/`) || key.indexOf('/', dir.length + 1) !== -1) continue;
    const instance = instanceAt(state, key, value);
    if (instance) out.push(instance);
  }
  return out.sort((a, b) => compareStrings(a.id, b.id) || compareStrings(a.key, b.key));
}

/** Names directly below root: the view's own index when it has one (the mirror), else derived from a listing. */
function childrenOf(view: KeyView, root: string): string[] {
  if (view.children) return view.children(root);
  const base = normalizePrefix(root);
  const names = new Set<string>();
  for (const [key] of view.list(root)) {
    const rest = key.slice(base.length + 1);
    if (rest) names.add(rest.split('/', 1)[0] as string);
  }
  return [...names];
}

/** Same-strings check: the mirror hands out the same string objects until a value changes. */
function sameEntries(a: Entry[], b: Entry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as Entry;
    const y = b[i] as Entry;
    if (x[0] !== y[0] || x[1] !== y[1]) return false;
  }
  return true;
}

/** A folder's instances: read once per pass, and reused from the last render while its entries are unchanged. */
function memoInstances(state: RenderState, dir: string): ServiceInstance[] {
  let instances = state.passDirs.get(dir);
  if (!instances) state.passDirs.set(dir, (instances = folderInstances(state, dir)));
  // Read through the pass's own cache, but read all the same: the block asking depends on the folder.
  else state.memo?.view.note(dir);
  return instances;
}

/** A folder's instances, reused from the last render while its entries are unchanged (templates never mutate them). */
function folderInstances(state: RenderState, dir: string): ServiceInstance[] {
  const memo = state.serviceDirs.get(dir);
  // The key space itself, not the render's tracking view of it: every template and file set member shares the memo.
  const view = state.memo?.view.target ?? state.view;
  // A view that versions its folders (the mirror) answers "unchanged?" without listing the folder.
  const version = state.view.version?.(dir);
  if (memo && version !== undefined && memo.view === view && memo.version === version) return memo.instances;
  const entries = state.view.list(dir);
  // Compared only when the memo was made without a version: a versioned memo keeps no entries.
  if (memo && memo.version === undefined && sameEntries(memo.entries, entries)) {
    memo.view = view;
    memo.version = version;
    if (version !== undefined) memo.entries = NO_ENTRIES;
    return memo.instances;
  }
  const instances = instancesIn(state, dir, entries);
  // Cleared when it outgrows the store (folders no longer there): a folder per service stays memoized.
  if (!memo && state.serviceDirs.size >= Math.max(MIN_CACHE, state.view.size)) state.serviceDirs.clear();
  // A versioned view answers from the version alone: the entries are kept only for a view without versions.
  state.serviceDirs.set(dir, { entries: version === undefined ? entries : NO_ENTRIES, instances, view, version });
  return instances;
}

/** The services under a root: names listed, instances per name, their total; kept up to date from the view's changes. */
export interface ServiceList {
  view: KeyView;
  /** The view's change mark the list is current to. */
  mark: number | undefined;
  /** Valid names with at least one valid instance, sorted; replaced (never changed in place) when the set moves. */
  names: string[];
  /** Instances per listed name. */
  counts: Map<string, number>;
  endpoints: number;
}

/** The services under `root`, updated folder by folder from the keys changed since the last call when the view tells them. */
function serviceList(state: RenderState, root: string): ServiceList {
  const view = state.memo?.view.target ?? state.view;
  const base = normalizePrefix(root);
  const kept = state.serviceLists.get(base);
  const changed = kept?.view === view && kept.mark !== undefined ? view.changedSince?.(kept.mark) : undefined;
  if (!kept || changed === undefined) {
    const list = fullServiceList(state, root, view);
    state.serviceLists.set(base, list);
    return list;
  }
  state.memo?.view.note(root);
  const folders = new Set<string>();
  for (const key of changed) {
    if (!key.startsWith(`${base}/`)) continue;
    const slash = key.indexOf('/', base.length + 1);
    folders.add(key.slice(base.length + 1, slash === -1 ? undefined : slash));
  }
  let moved = false;
  for (const name of folders) {
    const count = memoInstances(state, `${base}/${name}`).length;
    if (!validateServiceName(name).ok) continue;
    const before = kept.counts.get(name) ?? 0;
    kept.endpoints += count - before;
    if (count > 0) kept.counts.set(name, count);
    else kept.counts.delete(name);
    moved ||= before > 0 !== count > 0;
  }
  if (moved) kept.names = [...kept.counts.keys()].sort(compareStrings);
  kept.mark = view.changeMark;
  return kept;
}

/** The services under `root`, folder by folder (unchanged folders answer from the memo without being listed again). */
function fullServiceList(state: RenderState, root: string, view: KeyView): ServiceList {
  const base = normalizePrefix(root);
  const mark = view.changeMark;
  const counts = new Map<string, number>();
  let endpoints = 0;
  for (const name of childrenOf(state.view, root)) {
    const count = memoInstances(state, `${base}/${name}`).length;
    // Not listed; its records are read all the same, so each is refused with the one warning any refused key gets.
    if (!validateServiceName(name).ok || count === 0) continue;
    counts.set(name, count);
    endpoints += count;
  }
  return { view, mark, names: [...counts.keys()].sort(compareStrings), counts, endpoints };
}

/** The service helpers. */
export const serviceHelpers: Record<string, Helper> = {
  services(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 0);
    const state = stateOf(options);
    const root = rootOf(state, options);
    const list = serviceList(state, root);
    // Counted as the instances of every listed service: min_endpoints then refuses a render whose
    // `{{#each (services)}}` would list nothing (the last instance deleted), as it does for `service NAME`.
    recordLookup(state, 'services', options.hash.root === undefined ? DEFAULT_PREFIX : String(options.hash.root), list.endpoints);
    // The same array while the listed names stay the same: a block iterating it knows nothing moved.
    return list.names;
  },
  service(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 1);
    onlyHash(options, ['root', 'tag']);
    const state = stateOf(options);
    const name = str(options, params[0], 'service name');
    const tag = options.hash.tag === undefined ? undefined : tagArgument(options, str(options, options.hash.tag, 'tag='));
    const root = rootOf(state, options);
    const instances = selectInstances(state, options, normalizePrefix(root), name, tag);
    // The argument as written; with a non-default root= the root is part of it ("/other/web"), a tag= follows it.
    const written = options.hash.root === undefined ? name : `${String(options.hash.root).replace(/\/+$/, '')}/${name}`;
    // The count is of what the call returns: with a tag, the tagged instances only.
    recordLookup(state, 'service', tag === undefined ? written : `${written} tag=${tag}`, instances.length);
    return instances;
  },
};

/** A tag to select on: one that no record can carry (TAG_RE) would select nothing, silently; refused instead. */
function tagArgument(options: HelperOptions, tag: string): string {
  if (!TAG_RE.test(tag)) throw helperError(options, `tag= ${JSON.stringify(tag.slice(0, 80))} is not a tag: tags match ${TAG_RE.source}`);
  return tag;
}

/** The instances of `service name [tag=…]` under `base` (the root, "" for "/"). */
function selectInstances(state: RenderState, options: HelperOptions, base: string, name: string, tag: string | undefined): ServiceInstance[] {
  const valid = validateServiceName(name);
  if (tag !== undefined) {
    if (!valid.ok) throw helperError(options, valid.reason);
    return withTag(memoInstances(state, `${base}/${name}`), tag);
  }
  // Service names may hold dots, so "v2.web" is either the service "v2.web" or consul-template's TAG.NAME: a
  // service of that exact name with an instance wins; otherwise the tag is what precedes the first dot.
  const exact = valid.ok ? memoInstances(state, `${base}/${name}`) : [];
  if (exact.length > 0) return exact;
  const dot = name.indexOf('.');
  const service = dot > 0 ? name.slice(dot + 1) : '';
  const dotted = validateServiceName(service);
  if (dotted.ok && TAG_RE.test(name.slice(0, dot))) return withTag(memoInstances(state, `${base}/${service}`), name.slice(0, dot));
  if (valid.ok) return exact;
  throw helperError(options, dot > 0 ? `${valid.reason}, or TAG.NAME (a tag, a dot, a service name)` : valid.reason);
}

/** The instances carrying `tag`, in their order (a new list: the memo's is shared). */
function withTag(instances: ServiceInstance[], tag: string): ServiceInstance[] {
  return instances.filter((i) => i.tags.includes(tag));
}
