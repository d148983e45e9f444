// Confinement of paths to a folder, lexically and after symlinks: template `src` and `fileExists`.
import { realpathSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';

/** True when `child` is `dir` or below it (both absolute, same notation). */
export function inside(dir: string, child: string): boolean {
  const rel = relative(dir, child);
  // "..foo" is a name inside dir; only ".." itself or a "../" prefix climbs out.
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * True when `path` lies in `dir` once every symlink is followed (both must exist: realpath throws otherwise).
 * A link inside the folder to a file inside it is fine; one pointing out of it is not.
 */
export function realInside(dir: string, path: string): boolean {
  return inside(realpathSync(dir), realpathSync(path));
}
