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
