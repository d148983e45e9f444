// Which key prefixes resources depend on, and which resources a changed key affects.
import type { ResourceConfig } from '../apply/types.js';

/** Joins key paths: ("/prod", "services/web") → "/prod/services/web"; "" and "/" are the root. */
export function joinKey(...parts: string[]): string {
  const joined = parts
    .flatMap((p) => p.split('/'))
    .filter(Boolean)
    .join('/');
  return `/${joined}`;
}

/** The absolute prefixes a resource watches: its prefix joined with each of its keys. */
export function prefixesOf(resource: ResourceConfig): string[] {
  return resource.keys.map((k) => joinKey(resource.prefix, k));
}

/** All distinct prefixes of a set of resources (the source collapses overlapping ones). */
export function watchedPrefixes(resources: ResourceConfig[]): string[] {
  return [...new Set(resources.flatMap(prefixesOf))].sort();
}

/** True when `key` is at or below the path `prefix`. */
export function underPrefix(key: string, prefix: string): boolean {
  if (prefix === '/' || prefix === '') return true;
  return key === prefix || (key.startsWith(prefix) && (key[prefix.length] === '/' || prefix.endsWith('/')));
}

/** The items whose resource watches any of the changed keys. */
export function resourcesAffectedBy<T>(items: T[], keys: string[], resourceOf: (item: T) => ResourceConfig): T[] {
  return items.filter((item) => {
    const prefixes = prefixesOf(resourceOf(item));
    return keys.some((key) => prefixes.some((p) => underPrefix(key, p)));
  });
}
