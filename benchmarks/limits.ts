/**
 * What the numbers in BENCHMARKS.md do not say by themselves, written by hand after a full run
 * and its profiles. `explanations` are keyed by figure id and shown for a missed target;
 * `notes` are keyed by scenario id and shown under its table every time.
 */

/** explanations say, for a figure id, what limits it when its target is missed. */
export const explanations: Readonly<Record<string, string>> = {
  'latency.p50-ratio':
    "The gap between the plugin path and IpamStore direct (about a quarter of a millisecond) is the HTTP hop itself, not the plugin's code: the plugin over a trivial backend, with no etcd at all, takes about as long for its whole round trip, and scenario 6 shows the plugin's own work (routing, zod validation, error table, deadline, log line) costs only some 10–25 µs of server-thread time per request more than an empty node:http handler (12 µs and 25 µs in two runs). The rest of the hop is Node's HTTP server and client and the wake-ups of two threads on a 2-vCPU VM. A CPU profile of this scenario (node --cpu-prof) has the plugin's functions (decodeBody, zod's parse, serve, send, pino) under 3% of samples and the main thread idle about 45% of the time, waiting on etcd and the socket. What makes the ratio miss is how low the floor is here: one etcd member on loopback commits in about 0.65 ms; the same 0.35 ms of overhead (hop plus the store's 0.09 ms: token, JSON record, deadline timer) against a networked three-member etcd (1–2 ms per commit) would give 1.2–1.35×. The store's share is IpamStore direct / bare (1.13×).",
  'contention.ratio':
    "Not lost compares and not etcd: with blocks each store allocates in blocks of its own (lost compares ~0), claims are ~1% of write transactions, and nobody watches anybody. What is left is client CPU on a 2-vCPU machine shared with etcd: per allocation the store builds a JSON record, a three-compare transaction with three Else reads, a deadline timer and the observer's event, where the bare transaction is one put. A CPU profile (node --cpu-prof) now has grpc-js/node:http2 and garbage collection on top, the store's own code a few percent. Runs minutes apart vary by ±0.05× on this shared machine.",
  'churn.failed':
    "These requests gave up with CONFLICT after 16 lost compares in a row (StoreOptions.maxAttempts). Every pool creation compares the one guard key that every subnet reservation bumps, so with 12 creations in flight from three hosts they serialize on that key: about 3 lost compares per pool on average, and a few unlucky ones lose 16 times. The fix belongs in the store: either let dynamic creations contend only when they really collide (compare their own subnet key Create == 0 plus a guard that only static reservations bump: with one subnet length cluster-wide, overlapping dynamic subnets have the same key), start each host's search at a per-node offset in the supernet as allocation already does, or back off longer for the pool transition.",
  'scale.n1000.allocation-p99':
    "All 1,000 simulated hosts share this process's CPU: a host's first allocation costs three round trips (read its pool and claims, claim a block with its addresses, allocate) and the later ones one, so the tail is the first allocations queueing behind the fleet's client work (the others' p99 is in the note, beside the floor's). Nothing fans out any more: watch events per allocation are 0 and bytes per host do not grow with N.",
};

/** notes add context to a scenario's table. */
export const notes: Readonly<Record<string, string>> = {
  latency:
    'The plugin path is measured as Docker sees it: the client is another thread (Docker is another process) using Node\'s HTTP client, which costs more per request than Docker\'s Go client. "IpamStore direct" is the same allocation without HTTP and "plugin over a trivial backend" the HTTP hop without etcd, to show where the time goes.',
  fill: "The store picks candidates from local bitmaps of its own blocks (claimed as it goes, one transaction per 16–96 addresses), so an allocation is one transaction whatever the fill (the first 1,000 include the first claims and a cold JIT, hence a higher mean than the last). The naive allocator reads the whole pool per request: near full that is ~64k keys and a quarter of a second per allocation. Its middle is prefilled with plain puts (its cost depends on the pool's size, not on how it got full).",
  contention:
    'The bare transactions write distinct keys and nobody watches them: they are the floor for one write per allocation. The stores allocate inside address blocks of their own (claimed 16–96 addresses at a time), so they do not collide and receive no watch events; their excess writes over one per allocation are the block claims.',
  churn:
    'Creating a pool reads every reservation and compares the guard key that every reservation bumps, so concurrent creations on any hosts serialize on that key: a lost compare re-reads and retries (with a short random backoff). The lost-compare and write counts per pool show what that costs; the issue sets no speed target here, only 0 overlaps.',
  scale:
    "Joins write only the joining host's own hold key, and allocations happen inside blocks of 16 addresses that each host claims for itself (create-if-absent), so nobody watches the pool: watch events per allocation are 0 and what a host reads at start (its pool, its claims, its blocks' addresses) does not grow with N. Bytes per host are what etcd sent for the join and the host's 10 allocations; the restart storm's are for one allocation after a restart (which reads the host's block back).",
  'plugin-overhead':
    "The load generator is one Node thread, which cannot keep the faster servers busy: requests/s then says more about the client than the server, so the server thread's working time per request is what the ratio compares.",
};
