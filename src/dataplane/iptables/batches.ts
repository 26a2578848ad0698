// Order of the per-service batch restores of an iptables plan (planner.ts Plan.batches): the
// first alone, then the rest up to `concurrency` at a time. The caller runs the main restore
// (KUBE-SERVICES and the jumps into the per-service chains) only after this resolves.
//
// Why at once: on the nft backend a batch restore is CPU-bound in iptables-nft-restore (parsing,
// ~45 %) and in the kernel (~55 %, nfnetlink under the nf_tables commit mutex), so restores at
// once overlap one's parsing with another's commit. Measured in a netns on 2 cores, 5k services
// (42 batches of ~5000 lines): 2.98-2.99 s two at once vs 3.59-4.29 s one after the other; four
// at once 2.0-2.1 s vs two 2.3-2.5 s (10k: 4.2-4.5 s vs 5.0-5.5 s); six or eight no better.
//
// Why it is safe: each batch is its own transaction over chains no other batch touches, except
// KUBE-MARK-MASQ, which every batch re-declares (flush) and refills with its one rule in the
// same transaction, so it always holds that rule. Nothing jumps into a batch's chains until the
// main restore. The first batch runs alone so that KUBE-MARK-MASQ exists (in the first sync into
// an empty table) before two restores could both try to create it; after that, a restore whose
// cache went stale because another committed first is refused by the kernel (generation id) and
// retried by iptables-nft itself, as with any other writer of the table (kubelet, firewalld).

/**
 * Run `run` on every item: items[0] alone, then the rest with at most `concurrency` running.
 * After a failure no further item starts; it settles only once every started item has settled
 * (no restore may still run when the caller retries), and rejects with the first failure.
 */
export async function runBatches<T>(items: readonly T[], concurrency: number, run: (item: T) => Promise<void>): Promise<void> {
  if (items.length === 0) return;
  await run(items[0]!);
  let next = 1;
  let failed = false;
  let firstError: unknown;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await run(item);
      } catch (e) {
        if (!failed) firstError = e;
        failed = true;
      }
    }
  };
  const n = Math.max(1, Math.min(Math.floor(concurrency), items.length - 1));
  await Promise.all(Array.from({ length: n }, worker));
  if (failed) throw firstError;
}
