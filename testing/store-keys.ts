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

/**
 * claimsIn is pool `id`'s block claims in a key dump, block index → node, from its
 * `blocks/<id>/<index>` keys. Each claim must have its `affinity/<id>/<node>/<index>` key and
 * each affinity key its claim, or it throws: a test that counts claims checks both halves.
 */
export function claimsIn(dump: Record<string, unknown>, id: string): Record<string, string> {
  const blocks = `blocks/${id}/`;
  const affinity = `affinity/${id}/`;
  const out: Record<string, string> = {};
  const named = new Set<string>();
  for (const [key, value] of Object.entries(dump)) {
    if (key.startsWith(blocks)) out[key.slice(blocks.length)] = (value as { node: string }).node;
    if (key.startsWith(affinity)) named.add(key.slice(affinity.length));
  }
  const expected = new Set(Object.entries(out).map(([index, node]) => `${node}/${index}`));
  const unmatched = [...named].filter((k) => !expected.has(k));
  const missing = [...expected].filter((k) => !named.has(k));
  if (unmatched.length > 0 || missing.length > 0) {
    throw new Error(
      `pool ${id}: block claims and affinity keys disagree (claims without affinity: ${missing.join(', ') || 'none'}; affinity without claim: ${unmatched.join(', ') || 'none'})`,
    );
  }
  return out;
}

/** withoutClaims drops block claim and affinity keys from a list of dumped keys. */
export function withoutClaims(keys: readonly string[]): string[] {
  return keys.filter((k) => !k.startsWith('blocks/') && !k.startsWith('affinity/'));
}
