// Bounded parallelism for independent I/O (a file set's thousands of small files).

/**
 * Runs `fn` over `items`, at most `limit` at once, and resolves with the results in order. After a failure no
 * further item starts; it rejects with the first error once the ones running have settled, so a caller undoing
 * what succeeded sees every step that did.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i] as T);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  if (failure) throw failure.err;
  return out;
}
