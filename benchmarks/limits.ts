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
    "Before group commit this was 0.81–0.87×: a profile had the client's main thread about 92% busy in both the bare and the store phases, and the store's own code, its three-compare transactions and the garbage of its bigger messages cost about 58 µs more per allocation than a bare put. Group commit (store/src/commit-batch.ts) pays a call's fixed cost (gRPC, HTTP/2, a raft entry, an fsync) once for the allocations waiting on one host, so the store now outruns the one-put-per-call floor.",
  'churn.failed':
    'These requests gave up with CONFLICT after all their rounds. Every pool creation compares the one guard key that every subnet reservation bumps, so 12 creations in flight serialize on that key; a creator that paused after a lost compare used to commit on what it had read before the pause, lost to whoever committed meanwhile, and kept losing (8 of 1,000, the same ones each run, before the store read again after each pause).',
  'cni.p50-ratio':
    "A pair is two execs of macvlan, each exec'ing the IPAM: kontena-ipam's native client starts in about the time of host-local's (the start figure), and then makes a round trip to the host's kontena-ipam, which commits the attachment in etcd (host-local writes a file). On a loaded machine the gap grows: every process start and fsync is slower. The node client (KONTENA_CNI_BENCH_IPAM=node-client, what hosts without a shipped binary get) measured 3.46x at p50 on a quiet machine and 3.6-4x on a loaded one: node's own start is ~100 ms (benchmarks/cni-start/README.md).",
  'scale.n1000.allocation-p99':
    "All 1,000 simulated hosts share this process's CPU, so the tail is allocations queueing behind the fleet's client work (the floor's p99 is in the note). A host's first allocation costs one round trip like the others: its join claimed its first block and read back its view (store/src/join-claim.ts).",
};

/** notes add context to a scenario's table. */
export const notes: Readonly<Record<string, string>> = {
  latency:
    'The plugin path is measured as Docker sees it: the client is another thread (Docker is another process) using Node\'s HTTP client, which costs more per request than Docker\'s Go client. "IpamStore direct" is the same allocation without HTTP and "plugin over a trivial backend" the HTTP hop without etcd, to show where the time goes.',
  fill: "The store picks candidates from local bitmaps of its own blocks (claimed as it goes, one transaction per 16–96 addresses), so an allocation is one transaction whatever the fill (the first 1,000 include the first claims and a cold JIT, hence a higher mean than the last). The naive allocator reads the whole pool per request: near full that is ~64k keys and a quarter of a second per allocation. Its middle is prefilled with plain puts (its cost depends on the pool's size, not on how it got full).",
  contention:
    "The bare transactions write distinct keys and nobody watches them: they are the floor for one transaction per allocation. The stores allocate inside address blocks of their own (claimed 16–96 addresses at a time), so they do not collide and receive no watch events; and while 4 of a host's allocations are on the wire the next ones go to etcd as one transaction (group commit, store/src/commit-batch.ts: all or nothing, each one's own address compare inside), hence fewer write transactions than allocations.",
  churn:
    'Creating a pool reads every reservation and compares the guard key that every reservation bumps, so concurrent creations on any hosts serialize on that key: a lost compare retries at once on what its commit read back, or after a short random backoff on a fresh read. The lost-compare and write counts per pool show what that costs; the issue sets no speed target here, only 0 overlaps and 0 failures. A creation also claims its host a block of the new pool (join-claim.ts).',
  scale:
    "Joins write only the joining host's own hold key and claim the host its first block of 16 addresses in the same transaction (create-if-absent, nested), so a host's first allocation is one round trip; allocations happen inside the host's own blocks, so nobody watches the pool: watch events per allocation are 0 and what a host reads (its pool, its claims, its blocks' addresses) does not grow with N. Bytes per host are what etcd sent for the join and the host's 10 allocations; the restart storm's are for one allocation after a restart (which reads the host's block back).",
  cni: "A CNI runtime execs the IPAM on every ADD and DEL, so the client's start is in every sample; both are static Go binaries here (kontena-ipam's native client as install-cni installs it, and host-local, which has nothing to ask). nsenter's own start (the note of the start figure) is in both sides' every call. kontena-ipam's subject network keeps one resident attachment, so its pool stays in place as on a host with other containers; the first ADD of a network also creates the pool.",
  'plugin-overhead':
    "The load generator is one Node thread, which cannot keep the faster servers busy: requests/s then says more about the client than the server, so the server thread's working time per request is what the ratio compares.",
};
