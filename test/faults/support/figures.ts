// Measured figures of the fault suite: one `FAULT_FIGURE {json}` line on stdout per measurement (docs/reliability.md
// quotes them), also appended to $FAULT_FIGURES_FILE when set, so a run's figures can be collected in one place.
import { appendFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** Prints (and optionally appends) one figure: `FAULT_FIGURE {"scenario":…, …data}`. */
export function figure(scenario: string, data: Record<string, unknown>): void {
  const line = `FAULT_FIGURE ${JSON.stringify({ scenario, ...data, at: new Date().toISOString() })}`;
  console.log(line);
  const file = process.env.FAULT_FIGURES_FILE;
  if (file) appendFileSync(file, `${line}\n`);
}

/** An integer from the environment (e.g. FAULT_OUTAGE_S), or the default. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return n;
}

/** sha256 of a file's bytes (hex), or "missing". */
export async function fileHash(path: string): Promise<string> {
  try {
    return createHash('sha256').update(await readFile(path)).digest('hex');
  } catch {
    return 'missing';
  }
}

/** Lines of a counter file (one line per reload); 0 when it does not exist. */
export async function countLines(path: string): Promise<number> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).length;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Samples `probe` every `everyMs` in the background until stopped; records each distinct result with the time it
 * was first seen. For "the file never changed" and "when did it first become right" figures.
 */
export function sampler<T>(probe: () => Promise<T>, everyMs = 20): { samples: Array<{ at: number; value: T }>; stop(): Promise<void> } {
  const samples: Array<{ at: number; value: T }> = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const at = Date.now();
      try {
        const value = await probe();
        const last = samples[samples.length - 1];
        if (!last || JSON.stringify(last.value) !== JSON.stringify(value)) samples.push({ at, value });
      } catch {
        // a probe that fails (etcd down) is skipped
      }
      await sleep(everyMs);
    }
  })();
  return {
    samples,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** p50/p90/max of a list of numbers (ms), rounded. */
export function stats(values: number[]): { n: number; min: number; p50: number; p90: number; max: number } {
  const v = [...values].sort((a, b) => a - b);
  const at = (q: number): number => Math.round(v[Math.min(v.length - 1, Math.floor(q * v.length))] ?? NaN);
  return { n: v.length, min: Math.round(v[0] ?? NaN), p50: at(0.5), p90: at(0.9), max: Math.round(v[v.length - 1] ?? NaN) };
}
