/**
 * What the numbers in BENCHMARKS.md do not say by themselves, written by hand after a full run
 * and its profiles. `explanations` are keyed by figure id and shown for a missed target;
 * `notes` are keyed by scenario id and shown under its table every time.
 */

/** explanations say, for a figure id, what limits it when its target is missed. */
export const explanations: Readonly<Record<string, string>> = {};

/** notes add context to a scenario's table. */
export const notes: Readonly<Record<string, string>> = {};
