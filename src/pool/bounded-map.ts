// A map over many pools with at most N libvirt calls in flight: libvirtd serves each client's
// requests with a few workers (max_client_requests, 5 by default), so more only queue there.

/** How many pools a catalog scan opens or reads at once. */
export const POOL_CONCURRENCY = 4;

/**
 * `fn` over every item, at most `limit` at a time; results in the items' order. The first failure
 * rejects once every started call has settled (nothing is left running behind the caller).
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index], index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
  return results;
}
