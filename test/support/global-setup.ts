// Builds dist/ once before the suite, so tests that run the real `sidekick` binary see the current source.
import { execa } from 'execa';

/** vitest global setup: compile src/ to dist/. */
export default async function setup(): Promise<void> {
  await execa('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
