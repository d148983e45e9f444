// Reads samples back from the Prometheus text format, for the /metrics tests.
import type { MetricsRegistry } from '../../../src/http/metrics.js';

/** The value of one series (`name{labels}` exactly as printed) in an exposition text, or undefined. */
export function sampleIn(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The value of one series of a registry, scraped now. */
export async function sample(registry: MetricsRegistry, series: string): Promise<number | undefined> {
  return sampleIn(await registry.metrics(), series);
}
