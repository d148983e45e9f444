// The version sidekick reports: package.json's, read at run time from the package root, which is the parent of
// both src/ (tsx, tests) and dist/ (the built binary, the npm package, the image's /opt/sidekick).
import { readFileSync } from 'node:fs';

/** package.json's `version`. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') throw new Error('package.json has no version');
  return pkg.version;
}
