// Selection over lists of service instances, docker-gen style: `where` / `whereNot` keep the instances whose
// field matches (or lacks) a value, `groupBy` groups them by a field's value. The lists come from `service`,
// which already counted them for min_endpoints; these helpers record no lookup of their own.
import { META_KEY_RE } from '../registry/record.js';
import { arity, compareStrings, helperError, onlyHash, splitArgs, str, typeName, type Helper, type HelperOptions, type ServiceInstanceData } from './context.js';
import { orderedObject } from './each.js';

/** An instance field a path names: a top-level one, the tag list, or one meta key. */
type Field = { kind: 'field'; name: (typeof FIELDS)[number] } | { kind: 'tags' } | { kind: 'meta'; key: string };

/** The record fields a path can name, besides `tags` and `meta.<key>`. */
const FIELDS = ['name', 'id', 'host', 'port', 'address', 'node'] as const;
const ACCEPTED = `${FIELDS.join(', ')}, tags or meta.<key>`;
const LIST = 'a list of service instances (from service, where or groupBy)';

/** Parses a field path; a path no instance can have is a typo, refused rather than matching nothing. */
function fieldPath(options: HelperOptions, path: unknown): Field {
  if (typeof path !== 'string') throw helperError(options, `expected a field path (${ACCEPTED}) as the second argument, got ${typeName(path)}`);
  if (path.startsWith('meta.')) {
    const key = path.slice('meta.'.length);
    if (!META_KEY_RE.test(key)) throw helperError(options, `field path ${quote(path)}: a meta key matches ${META_KEY_RE.source}`);
    return { kind: 'meta', key };
  }
  if (path === 'tags') return { kind: 'tags' };
  const name = FIELDS.find((f) => f === path);
  if (name) return { kind: 'field', name };
  throw helperError(options, `unknown field path ${quote(path)} (expected ${ACCEPTED})`);
}

/** A template-written string for a message, cut short. */
const quote = (s: string): string => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/** The instance's values at `field`: none when it lacks it (no node, no such meta key), every tag for `tags`. */
function valuesAt(instance: ServiceInstanceData, field: Field): readonly string[] {
  if (field.kind === 'tags') return instance.tags;
  if (field.kind === 'meta') return Object.hasOwn(instance.meta, field.key) ? [instance.meta[field.key] as string] : [];
  const v = instance[field.name];
  return v === undefined ? [] : [String(v)];
}

/** True for what parseServiceRecord hands templates (the fields a path reads, with their types). */
function isInstance(v: unknown): v is ServiceInstanceData {
  if (v === null || typeof v !== 'object') return false;
  const i = v as Partial<ServiceInstanceData>;
  return typeof i.name === 'string' && typeof i.id === 'string' && typeof i.host === 'string' && typeof i.port === 'number' &&
    typeof i.address === 'string' && Array.isArray(i.tags) && typeof i.meta === 'object' && i.meta !== null;
}

/** The first argument as a list of instances. */
function instanceList(options: HelperOptions, v: unknown): ServiceInstanceData[] {
  if (!Array.isArray(v)) throw helperError(options, `expected ${LIST} as the first argument, got ${typeName(v)}`);
  const bad = v.find((item) => !isInstance(item));
  if (bad !== undefined) throw helperError(options, `expected ${LIST} as the first argument, got a list holding a ${typeName(bad)} that is not one`);
  return v as ServiceInstanceData[];
}

/**
 * `where LIST PATH [VALUE]`'s test: with a value, the field equals it (for `tags`: one tag does); without, the
 * instance has the field (a node, the meta key, at least one tag).
 */
function matcher(options: HelperOptions, params: unknown[]): (i: ServiceInstanceData) => boolean {
  const field = fieldPath(options, params[1]);
  if (params.length < 3) return (i) => valuesAt(i, field).length > 0;
  const value = str(options, params[2], 'value to match');
  return (i) => valuesAt(i, field).includes(value);
}

/** where and whereNot: the instances that match, or the others, in the list's order. */
function selection(keep: boolean): Helper {
  return (...args: unknown[]) => {
    const { params, options } = splitArgs(args);
    arity(options, params, 2, 3);
    onlyHash(options, []);
    const list = instanceList(options, params[0]);
    const test = matcher(options, params);
    return list.filter((i) => test(i) === keep);
  };
}

/** The selection helpers. */
export const selectHelpers: Record<string, Helper> = {
  where: selection(true),
  whereNot: selection(false),
  /**
   * `groupBy LIST PATH`: an object from each value of the field to the instances having it (list order kept),
   * iterated by `{{#each}}` in key order with the value as `@key`. An instance lacking the field is in no group;
   * with `tags`, an instance is in the group of each of its tags.
   */
  groupBy(...args: unknown[]) {
    const { params, options } = splitArgs(args);
    arity(options, params, 2);
    onlyHash(options, []);
    const list = instanceList(options, params[0]);
    const field = fieldPath(options, params[1]);
    const groups = new Map<string, ServiceInstanceData[]>();
    for (const instance of list) {
      // A Set: a tag listed twice puts the instance in its group once.
      for (const value of new Set(valuesAt(instance, field))) {
        const group = groups.get(value);
        if (group) group.push(instance);
        else groups.set(value, [instance]);
      }
    }
    return orderedObject([...groups].sort(([a], [b]) => compareStrings(a, b)));
  },
};
