// Builds dist/ once before the suite, so tests that run the real `sidekick` binary see the current source, and gives
// the run its own template cache, so the binaries the tests start compile into a folder that is removed afterwards.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { TEMPLATE_CACHE_ENV } from '../../src/render/compile-cache.js';

/** vitest global setup: compile src/ to dist/; point every `sidekick` the tests start at a private template cache. */
export default async function setup(): Promise<() => Promise<void>> {
  await execa('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  const cache = await mkdtemp(join(tmpdir(), 'sidekick-template-cache-'));
  process.env[TEMPLATE_CACHE_ENV] = join(cache, 'templates');
  return () => rm(cache, { recursive: true, force: true });
}
