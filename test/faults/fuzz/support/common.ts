// Shared knobs of the fuzz suite: the fast-check seed (FC_SEED), a run-count scale (FUZZ_SCALE), strict mode
// (FUZZ_STRICT=1) and the register of known src/ bugs the properties tolerate outside strict mode.
//
// The register is empty: the properties assert the behaviour in both modes, and each input class that would break
// a rendered file unless refused or normalised (IPv6 zone ids, IPv6 texts nginx refuses, ids outside haproxy's charset, duplicate ids,
// case-folding service names, trailing-slash keys, oversize label records) has a pinned test with its minimal input.
// A bug that cannot be corrected at once goes into KNOWN_BUGS with a pinned `it.fails` test; the broad
// properties then allow exactly that symptom through `tolerate(id)` unless FUZZ_STRICT=1, in which case the
// fuzzers themselves find and report it. `tolerate` counts every use, printed after the run.

/** Deterministic by default; `FC_SEED=123 npx vitest run test/faults/fuzz` replays another seed. */
export const SEED = process.env.FC_SEED !== undefined && process.env.FC_SEED !== '' ? Number(process.env.FC_SEED) : 20_240_611;
/** Multiplies every numRuns (e.g. FUZZ_SCALE=10 for a long soak). */
export const SCALE = process.env.FUZZ_SCALE !== undefined ? Number(process.env.FUZZ_SCALE) : 1;
/** FUZZ_STRICT=1: no known-bug tolerance, the properties fail on them. */
export const STRICT = process.env.FUZZ_STRICT === '1';

/** FC_SHRINK=1: shrink counterexamples (slow with 50-entry stores and 1 MiB values); by default the first failure is reported as is. */
export const SHRINK = process.env.FC_SHRINK === '1';

/**
 * fast-check parameters: fixed seed, scaled runs. On failure fast-check prints the seed and the path; replay with
 * FC_SEED=<seed> (and FC_SHRINK=1 for a smaller counterexample).
 */
export function fcParams(numRuns: number): { seed: number; numRuns: number; endOnFailure: boolean } {
  return { seed: SEED, numRuns: Math.max(1, Math.round(numRuns * SCALE)), endOnFailure: !SHRINK };
}

/**
 * Known src/ bugs: id → symptom, each with a pinned `it.fails` test of its minimal input. Empty: no symptom is
 * tolerated (the "pinned minimal inputs" describes hold the cases). Add entries as `id: 'symptom'` to tolerate one.
 */
export const KNOWN_BUGS = {} as const satisfies Record<string, string>;
export type KnownBug = keyof typeof KNOWN_BUGS;

const hits = new Map<KnownBug, number>();

/** True (and counted) when the symptom of a known bug may be tolerated; false in strict mode. */
export function tolerate(bug: KnownBug): boolean {
  if (STRICT) return false;
  hits.set(bug, (hits.get(bug) ?? 0) + 1);
  return true;
}

/** One line per known bug the run tolerated, for the test log. */
export function toleratedSummary(): string {
  if (hits.size === 0) return 'no known-bug symptom tolerated';
  return [...hits].map(([bug, n]) => `${bug}: ${n} tolerated (${KNOWN_BUGS[bug]})`).join('\n');
}

/**
 * Characters that end, open, quote, comment, escape or interpolate an nginx/haproxy statement, and every kind
 * of blank and line break (C0, NEL, NBSP, BOM, U+2028/2029, ideographic space). None may reach a server line.
 */
export const BREAKERS = [
  '\n', '\r', '\t', ' ', ';', '{', '}', '#', "'", '"', '`', '\\', '$',
  '\u2028', '\u2029', '\u0085', '\u0000', '\u000b', '\u000c', '\u001b', '\u007f', '\u00a0', '\ufeff', '\u3000',
] as const;

/** True when s contains any of BREAKERS or any C0/C1 control character. */
export function hasBreaker(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f-\u009f]/.test(s) || BREAKERS.some((c) => s.includes(c));
}
