/**
 * Compares two code versions from interleaved pairs of bench runs (bench/ab-versions.ts). On a
 * shared 2-core box one run says little — back-to-back runs of the same code differed by 25 % in
 * session 22 — so the comparison is per pair (base and new run next to each other) and summarised
 * by the median of the per-pair ratios; pairs where either run lost more than `maxStealPct` of the
 * machine to other guests are listed but left out of the medians.
 */

/** What one run's result JSON (bench/run.ts) says, reduced to what a comparison reads. */
export interface RunFigures {
  /** ok/s and p99 (ms) per op of the run. */
  ops: Record<string, { okPerSec: number; p99ms: number }>;
  /** Machine CPU per ok op (µs), and the leader's share of it; null when the run has no CPU account. */
  machineMicros: number | null;
  leaderMicros: number | null;
  stealPct: number | null;
}

export interface Ratio {
  median: number;
  min: number;
  max: number;
  /** Pairs in which new/base > 1. */
  above: number;
  pairs: number;
}

export interface Comparison {
  /** Per op: new/base of ok/s and of p99. */
  ops: Record<string, { okPerSec: Ratio | null; p99ms: Ratio | null }>;
  /** new/base of machine and leader CPU per ok op (lower is cheaper). */
  machineMicros: Ratio | null;
  leaderMicros: Ratio | null;
  /** Pairs used, and pairs left out for steal (1-based pair numbers). */
  used: number;
  leftOut: number[];
}

/** Reads the figures from a result JSON of bench/run.ts. The leader is the node that ended the run as leader. */
export function figuresOf(result: unknown): RunFigures {
  const r = result as {
    summary?: { ops?: Record<string, { okPerSec?: number; p99ms?: number }>; cpuPerOp?: { micros?: Record<string, number>; machineMicros?: number; stealPct?: number } | null };
    series?: { nodes?: Record<string, { role?: (string | null)[] }> };
  };
  const ops: RunFigures['ops'] = {};
  for (const [op, s] of Object.entries(r.summary?.ops ?? {})) {
    if (typeof s.okPerSec === 'number' && typeof s.p99ms === 'number') ops[op] = { okPerSec: s.okPerSec, p99ms: s.p99ms };
  }
  const cpu = r.summary?.cpuPerOp ?? null;
  let leaderMicros: number | null = null;
  for (const [id, n] of Object.entries(r.series?.nodes ?? {})) {
    const roles = n.role ?? [];
    if (roles[roles.length - 1] === 'leader' && typeof cpu?.micros?.[id] === 'number') leaderMicros = cpu.micros[id];
  }
  return { ops, machineMicros: cpu?.machineMicros ?? null, leaderMicros, stealPct: cpu?.stealPct ?? null };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of nothing');
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function ratio(values: number[]): Ratio | null {
  if (values.length === 0) return null;
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), above: values.filter((x) => x > 1).length, pairs: values.length };
}

/** new/base per pair, for the pairs where both sides have the figure and it is positive. */
function ratios(pairs: readonly [RunFigures, RunFigures][], pick: (f: RunFigures) => number | null | undefined): number[] {
  const out: number[] = [];
  for (const [base, next] of pairs) {
    const b = pick(base);
    const n = pick(next);
    if (typeof b === 'number' && typeof n === 'number' && b > 0) out.push(n / b);
  }
  return out;
}

/** Summarises interleaved `[base, new]` pairs (see the module comment). */
export function comparePairs(pairs: readonly [RunFigures, RunFigures][], maxStealPct = 5): Comparison {
  const leftOut: number[] = [];
  const kept: [RunFigures, RunFigures][] = [];
  pairs.forEach((p, i) => {
    if (p.some((f) => (f.stealPct ?? 0) > maxStealPct)) leftOut.push(i + 1);
    else kept.push(p);
  });
  const opNames = new Set<string>();
  for (const [b, n] of kept) for (const op of Object.keys(b.ops)) if (op in n.ops) opNames.add(op);
  const ops: Comparison['ops'] = {};
  for (const op of [...opNames].sort()) {
    ops[op] = { okPerSec: ratio(ratios(kept, (f) => f.ops[op]?.okPerSec)), p99ms: ratio(ratios(kept, (f) => f.ops[op]?.p99ms)) };
  }
  return {
    ops,
    machineMicros: ratio(ratios(kept, (f) => f.machineMicros)),
    leaderMicros: ratio(ratios(kept, (f) => f.leaderMicros)),
    used: kept.length,
    leftOut,
  };
}

/** One line per figure: `ok/s claim  ×1.04 (0.95–1.12, 3 of 5 above)`. */
export function formatComparison(c: Comparison): string[] {
  const show = (label: string, r: Ratio | null) => (r ? `${label.padEnd(22)} ×${r.median.toFixed(3)} (${r.min.toFixed(3)}–${r.max.toFixed(3)}, ${r.above} of ${r.pairs} above 1)` : `${label.padEnd(22)} —`);
  const lines = [`new/base over ${c.used} pair(s)${c.leftOut.length ? `; left out for steal: pair ${c.leftOut.join(', ')}` : ''}`];
  for (const [op, r] of Object.entries(c.ops)) lines.push(show(`ok/s ${op}`, r.okPerSec), show(`p99 ${op}`, r.p99ms));
  lines.push(show('machine µs per op', c.machineMicros), show('leader µs per op', c.leaderMicros));
  return lines;
}
