/**
 * Call-tree views of a V8 CPU profile, for `bench/profile-top.ts --inclusive` and `--under NAME`:
 * self time says where samples land, these say what they were done for.
 *
 * - inclusive: per function, the time of every sample with that function anywhere on its stack
 *   (once per sample, however often it recurses), as a share of busy (non-idle) time;
 * - under: below every frame of the named function, the self time of each function.
 *
 * Profile times are wall time between samples, so a process waiting for a core while in some
 * function is charged to it; compare shares, not absolute figures, across processes.
 */

export interface TreeNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface TreeProfile {
  nodes: TreeNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface TreeRow {
  name: string;
  ms: number;
  pct: number;
}

/** `fn file:line`, the file as its last two path segments. */
export function frameName(n: TreeNode): string {
  const url = n.callFrame.url.split('/').slice(-2).join('/');
  return `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
}

function walk(p: TreeProfile): { byId: Map<number, TreeNode>; parent: Map<number, number>; self: Map<number, number> } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  return { byId, parent, self };
}

const rows = (m: Map<string, number>, of: number, top: number): TreeRow[] =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, ms]) => ({ name, ms: Math.round(ms), pct: of ? Math.round((ms / of) * 1000) / 10 : 0 }));

/** Inclusive time per function over busy time (idle samples left out). */
export function inclusive(p: TreeProfile, top = 40): { busyMs: number; rows: TreeRow[] } {
  const { byId, parent, self } = walk(p);
  const total = new Map<string, number>();
  let busy = 0;
  for (const [id, ms] of self) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    busy += ms;
    const seen = new Set<string>();
    for (let a: number | undefined = id; a !== undefined; a = parent.get(a)) {
      const k = frameName(byId.get(a)!);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + ms);
    }
  }
  return { busyMs: Math.round(busy), rows: rows(total, busy, top) };
}

/** Self time of each function below any frame of `fn` (matched by function name), over their sum. */
export function under(p: TreeProfile, fn: string, top = 30): { ms: number; rows: TreeRow[] } {
  const { byId, parent, self } = walk(p);
  const total = new Map<string, number>();
  let sum = 0;
  for (const [id, ms] of self) {
    let hit = false;
    for (let a: number | undefined = id; a !== undefined && !hit; a = parent.get(a)) hit = byId.get(a)!.callFrame.functionName === fn;
    if (!hit) continue;
    sum += ms;
    const k = frameName(byId.get(id)!);
    total.set(k, (total.get(k) ?? 0) + ms);
  }
  return { ms: Math.round(sum), rows: rows(total, sum, top) };
}
