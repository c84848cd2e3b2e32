/**
 * Reading the store's key layout in tests: what a dump of `${prefix}v2/` (keys with the
 * prefix stripped, values parsed) says about one pool's holds.
 */

/** holdsIn is pool `id`'s holds in a key dump, node → count, from its `holds/<id>/<node>` keys. */
export function holdsIn(dump: Record<string, unknown>, id: string): Record<string, number> {
  const prefix = `holds/${id}/`;
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(dump)) {
    if (key.startsWith(prefix)) out[key.slice(prefix.length)] = (value as { count: number }).count;
  }
  return out;
}

/**
 * blockOf is the index, as the store's keys spell it (14 hex digits), of the block holding
 * `address` in a pool whose dynamic window (the ip-range, else the subnet) is `window`: the
 * `<index>` of `blocks/<pool>/<index>` and `affinity/<pool>/<node>/<index>`. Blocks are 16
 * addresses. Structural types, so this package needs no workspace package (pass cidr's).
 */
export function blockOf(address: { value: bigint }, window: { network: bigint }): string {
  return ((address.value - window.network) / 16n).toString(16).padStart(14, '0');
}
