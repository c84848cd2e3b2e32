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
    "Lost compares are not the cause: about 1% of allocation transactions lost (the store observer and etcd's proposal count agree). The difference is client CPU on a 2-vCPU machine shared with etcd: each of the three stores also receives every allocation of all three through its pool watch (3 × 30,000 watch events decoded by grpc-js and applied to its bitmap) and runs a deadline timer and a Promise.race per call, which the bare transactions do not. A CPU profile of three stores allocating 6,000 addresses shows grpc-js and node:http2 at about a quarter of the samples and garbage collection about 12%, while the store's own code is 2–3% and cidr under 1%: the etcd client, not the allocation logic, is what a faster store would have to spend less on (e.g. one watch per pool per process instead of per store, or batching).",
  'churn.failed':
    "These requests gave up with CONFLICT after 16 lost compares in a row (StoreOptions.maxAttempts). Every pool creation compares the one guard key that every subnet reservation bumps, so with 12 creations in flight from three hosts they serialize on that key: about 3 lost compares per pool on average, and a few unlucky ones lose 16 times. The fix belongs in the store: either let dynamic creations contend only when they really collide (compare their own subnet key Create == 0 plus a guard that only static reservations bump: with one subnet length cluster-wide, overlapping dynamic subnets have the same key), start each host's search at a per-node offset in the supernet as allocation already does, or back off longer for the pool transition.",
  'scale.n100.allocation-p99':
    'Every host keeps a view of the pool fed by a watch on all of its addresses, so each allocation is delivered to every host (the watch-events figure: N per allocation): at 100 hosts in one process the client CPU spent decoding those events is what the allocation waits behind, not etcd (the floor stays near 15 ms). Calico-style blocks, where a host watches only the block it claimed, are the cure; not built yet.',
  'scale.n1000.allocation-p99':
    'The same fan-out at 1,000 hosts: 1,000 watch streams in one 2-vCPU process, each receiving every allocation, plus 1,000 pool views loading at once. The process saturates, view loads time out, and allocations wait seconds or fail (next figure). Joins no longer contend (each host writes only its own hold key: 0 failures, p99 ~15 ms, against 732 failures of 1,000 with one holds map). What remains is per-host blocks so that a host watches only what it owns.',
  'scale.n1000.allocation-failures':
    'They fail with "load pool: no member answered within 5000 ms": loading 1,000 views and feeding 1,000 watches with every allocation saturates the simulating process (see the p99 figure). Not duplicates: none was granted twice.',
};

/** notes add context to a scenario's table. */
export const notes: Readonly<Record<string, string>> = {
  latency:
    'The plugin path is measured as Docker sees it: the client is another thread (Docker is another process) using Node\'s HTTP client, which costs more per request than Docker\'s Go client. "IpamStore direct" is the same allocation without HTTP and "plugin over a trivial backend" the HTTP hop without etcd, to show where the time goes.',
  fill: "The store picks candidates from a local bitmap of the pool kept current by a watch, so an allocation is one transaction whatever the fill (the first 1,000 include loading that view and a cold JIT, hence a higher mean than the last). The naive allocator reads the whole pool per request: near full that is ~64k keys and a quarter of a second per allocation. Its middle is prefilled with plain puts (its cost depends on the pool's size, not on how it got full).",
  contention:
    "The bare transactions write distinct keys and nobody watches them: they are the floor for one write per allocation. The throughput ratio sits near its target: two full runs on this machine minutes apart gave 0.68× and 0.76×. Lost compares are not what limits it (1–2% of allocation transactions; the store observer and etcd's proposal count agree); client CPU on 2 vCPUs shared with etcd is: each store also receives every allocation of all three through its pool watch (3 × 30,000 watch events decoded by grpc-js and applied to its bitmap) and runs a deadline timer and a Promise.race per call. A CPU profile of three stores allocating 6,000 addresses has grpc-js and node:http2 at about a quarter of the samples and garbage collection about 12%, the store's own code 2–3% and cidr under 1%.",
  churn:
    'Creating a pool reads every reservation and compares the guard key that every reservation bumps, so concurrent creations on any hosts serialize on that key: a lost compare re-reads and retries (with a short random backoff). The lost-compare and write counts per pool show what that costs; the issue sets no speed target here, only 0 overlaps.',
  scale:
    "Joins write only the joining host's own hold key (key layout v2), so they no longer queue on one pool record. Allocation still fans out: every host watches every address of the pool (watch events per allocation ≈ N), which is what limits the larger fleets here. Bytes per host are what etcd sent for the join and the first allocation (which loads the view: the pool's address keys).",
  'plugin-overhead':
    "The load generator is one Node thread, which cannot keep the faster servers busy: requests/s then says more about the client than the server, so the server thread's working time per request is what the ratio compares.",
};
