// Which key prefixes resources depend on, and which resources a changed key affects.
import type { ResourceConfig } from '../apply/types.js';
import { keyPath, keyUnder } from '../util/key-path.js';

/** The absolute prefixes a resource watches: its prefix joined with each of its keys ("/" for the root). */
export function prefixesOf(resource: ResourceConfig): string[] {
  return resource.keys.map((k) => keyPath(resource.prefix, k));
}

/** All distinct prefixes of a set of resources (the source collapses overlapping ones). */
export function watchedPrefixes(resources: ResourceConfig[]): string[] {
  return [...new Set(resources.flatMap(prefixesOf))].sort();
}

/** The items whose resource watches any of the changed keys. */
export function resourcesAffectedBy<T>(items: T[], keys: string[], resourceOf: (item: T) => ResourceConfig): T[] {
  return items.filter((item) => {
    const prefixes = prefixesOf(resourceOf(item));
    return keys.some((key) => prefixes.some((p) => keyUnder(key, p)));
  });
}
