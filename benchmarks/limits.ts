/**
 * What the numbers in BENCHMARKS.md do not say by themselves, written by hand after a full run
 * and its profiles. `explanations` are keyed by figure id and shown for a missed target;
 * `notes` are keyed by scenario id and shown under its table every time.
 */

/** explanations say, for a figure id, what limits it when its target is missed. */
export const explanations: Readonly<Record<string, string>> = {};

/** notes add context to a scenario's table. */
export const notes: Readonly<Record<string, string>> = {
  latency:
    'The plugin path is measured as Docker sees it, client included: the HTTP client here is Node\'s (in the same process as the plugin), which costs more per request than Docker\'s Go client. "IpamStore direct" is the same allocation without HTTP, to show where the time goes.',
  fill: "The store picks candidates from a local bitmap of the pool kept current by a watch, so an allocation is one transaction whatever the fill; the naive allocator reads the whole pool per request. Its middle is prefilled with plain puts (the figure depends on the pool's size, not on how it got full).",
  contention:
    "The bare transactions write distinct keys and nobody watches them: they are the floor for one write per allocation. Each store also receives every other store's allocations through its watch, which the bare run does not pay for.",
  churn:
    'Creating a pool reads every reservation and compares the guard key that every reservation bumps, so concurrent creations on any hosts serialize on that key: a lost compare re-reads and retries (with a short random backoff). The write count per pool shows how many transactions that cost.',
  'plugin-overhead':
    "When the empty handler's server thread is not fully busy, the load generator (one Node thread) is the bottleneck and the ratio understates what the plugin adds; the added cost per request is then an upper bound for the wall time but not the server CPU.",
};
