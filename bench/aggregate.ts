/**
 * The parent's side of a run: adds up the workers' per-second ticks and its own per-second node
 * samples into aligned series (index = second since start), plus totals over the measurement window.
 */
import { decodeHistogram, newHistogram, summarize, type Histogram, type LatencySummary } from './hist.ts';
import type { NodeSample } from './cluster.ts';
import type { Tick } from './protocol.ts';

export interface NodeSeries {
  up: boolean[];
  role: (string | null)[];
  /** Raft term the node reports (a step up = an election). */
  term: (number | null)[];
  pid: (number | null)[];
  rssMB: (number | null)[];
  /** Anonymous RSS (heap, buffers) and file-backed RSS (LMDB's map), and the V8 heap in use. */
  rssAnonMB?: (number | null)[];
  rssFileMB?: (number | null)[];
  heapMB?: (number | null)[];
  heapTotalMB?: (number | null)[];
  externalMB?: (number | null)[];
  heapGrowingPercent?: (number | null)[];
  /** Longest event-loop delay the node saw in the second before the sample (ms). */
  loopMaxMs?: (number | null)[];
  /** Garbage collection in that second: longest pause and total pause time (ms). */
  gcMaxMs?: (number | null)[];
  gcMs?: (number | null)[];
  /** The part of gcMs in full (mark-compact) collections. */
  gcMajorMs?: (number | null)[];
  /** Snapshots taken so far (a step up = one more) and the last capture's duration (ms). */
  snapshots?: (number | null)[];
  snapshotCaptureMs?: (number | null)[];
  cpuPct: (number | null)[];
  /** Lease events the node published that second, and events it lost (dropped by the publisher's bound or a failed publish). */
  eventsPublished?: (number | null)[];
  eventsLost?: (number | null)[];
  /** Commands waiting in this node's facade admission queue (all lanes). */
  queueDepth: (number | null)[];
  /** Facade admission refusals (all lanes) during that second. */
  shedPerSec: (number | null)[];
  /** Per lane refusals during that second. */
  shedByLane: Record<string, (number | null)[]>;
  /** Refusals during that second by the admission rule that refused them (`too-slow`, `shedding`, …). */
  shedByReason?: Record<string, (number | null)[]>;
  /** The facade leader's claims refused by a held lease without a log entry during that second (actors/held-claims.ts counters: answered, admitted, failed, barriers). */
  heldClaims?: Record<string, (number | null)[]>;
  /** Legacy pubsub leader backlog. */
  legacyBacklog: (number | null)[];
  /** The facade leader's enqueue-to-commit p99 as the node reports it (ms). */
  commitP99Ms: (number | null)[];
  /**
   * Raft round stages (actors/raft-timings.ts), each second's p50 and p99 in ms (null: none that
   * second) and how many were timed that second (`count`: on the leader `ownWrite` counts entries,
   * on every node `write` counts disk writes — rounds, where per-round costs are paid).
   */
  stages?: Record<string, { p50Ms: (number | null)[]; p99Ms: (number | null)[]; count?: (number | null)[] }>;
}

export interface RunSeries {
  /** Second index since start. */
  t: number[];
  /** Every counter (e.g. `claim.ok`, `extend.err.Overloaded`) per second. */
  counts: Record<string, number[]>;
  /** Per-second latency percentiles (ms) by histogram key (`claim`, `extend`, `claim.err`, …). */
  latency: Record<string, { count: number[]; p50: number[]; p99: number[]; max: number[] }>;
  /** Worker gauges summed over workers (e.g. `held`, `waiting`, `outstanding`); the maximum for keys ending in `Max` (`generatorLoopDelayMsMax`, `generatorCpuPctMax`). */
  gauges: Record<string, number[]>;
  nodes: Record<string, NodeSeries>;
}

export interface Totals {
  seconds: number;
  counts: Record<string, number>;
  /** counts / seconds */
  perSec: Record<string, number>;
  latency: Record<string, LatencySummary>;
}

interface SecBucket {
  counts: Record<string, number>;
  hists: Map<string, Histogram>;
  gauges: Record<string, number>;
  workers: Set<number>;
}

interface NodeRaw {
  at: number;
  samples: NodeSample[];
}

export class SeriesBuilder {
  private readonly secs = new Map<number, SecBucket>();
  private readonly nodeRaw = new Map<number, NodeRaw>();
  private readonly totalHists = new Map<string, Histogram>();
  private readonly windowHists = new Map<string, Histogram>();
  private readonly totalCounts: Record<string, number> = {};
  private readonly windowCounts: Record<string, number> = {};
  private maxSec = -1;
  readonly nodeIds: string[];

  /** `window` = [from, to) seconds the totals are computed over (default: everything). */
  constructor(
    nodeIds: string[],
    readonly window: { from: number; to: number } | null = null,
  ) {
    this.nodeIds = [...nodeIds];
  }

  private inWindow(sec: number): boolean {
    return !this.window || (sec >= this.window.from && sec < this.window.to);
  }

  addTick(t: Tick): void {
    if (t.sec < 0) return;
    this.maxSec = Math.max(this.maxSec, t.sec);
    let b = this.secs.get(t.sec);
    if (!b) this.secs.set(t.sec, (b = { counts: {}, hists: new Map(), gauges: {}, workers: new Set() }));
    b.workers.add(t.worker);
    const win = this.inWindow(t.sec);
    for (const [k, v] of Object.entries(t.counts)) {
      b.counts[k] = (b.counts[k] ?? 0) + v;
      this.totalCounts[k] = (this.totalCounts[k] ?? 0) + v;
      if (win) this.windowCounts[k] = (this.windowCounts[k] ?? 0) + v;
    }
    for (const [k, v] of Object.entries(t.gauges)) b.gauges[k] = k.endsWith('Max') ? Math.max(b.gauges[k] ?? 0, v) : (b.gauges[k] ?? 0) + v;
    for (const [k, enc] of Object.entries(t.hists)) {
      const h = decodeHistogram(enc);
      for (const [map, use] of [
        [b.hists, true],
        [this.totalHists, true],
        [this.windowHists, win],
      ] as const) {
        if (!use) continue;
        let acc = map.get(k);
        if (!acc) map.set(k, (acc = newHistogram()));
        acc.add(h);
      }
      h.destroy();
    }
  }

  addNodeSample(sec: number, samples: NodeSample[], at = Date.now()): void {
    this.nodeRaw.set(sec, { at, samples });
    this.maxSec = Math.max(this.maxSec, sec);
  }

  /** Highest second every one of `workers` has reported (−1 if none). */
  lastCompleteSec(workers: number): number {
    let best = -1;
    for (const [s, b] of this.secs) if (b.workers.size >= workers && s > best) best = s;
    return best;
  }

  /** A quick look at one second for the progress line. */
  peek(sec: number): { counts: Record<string, number>; p99: Record<string, number>; gauges: Record<string, number>; nodes: NodeSample[] | null } {
    const b = this.secs.get(sec);
    const p99: Record<string, number> = {};
    if (b) for (const [k, h] of b.hists) p99[k] = h.getValueAtPercentile(99) / 1000;
    return { counts: b?.counts ?? {}, p99, gauges: b?.gauges ?? {}, nodes: this.nodeRaw.get(sec)?.samples ?? null };
  }

  /** Seconds [0, n) with n = last second seen + 1 (or `upTo`). */
  build(upTo?: number): RunSeries {
    const n = upTo ?? this.maxSec + 1;
    const t = Array.from({ length: n }, (_, i) => i);
    const keys = new Set<string>();
    const histKeys = new Set<string>();
    const gaugeKeys = new Set<string>();
    for (const b of this.secs.values()) {
      Object.keys(b.counts).forEach((k) => keys.add(k));
      for (const k of b.hists.keys()) histKeys.add(k);
      Object.keys(b.gauges).forEach((k) => gaugeKeys.add(k));
    }
    const counts: RunSeries['counts'] = {};
    for (const k of [...keys].sort()) counts[k] = t.map((s) => this.secs.get(s)?.counts[k] ?? 0);
    const gauges: RunSeries['gauges'] = {};
    for (const k of [...gaugeKeys].sort()) gauges[k] = t.map((s) => this.secs.get(s)?.gauges[k] ?? 0);
    const latency: RunSeries['latency'] = {};
    for (const k of [...histKeys].sort()) {
      const row = { count: [] as number[], p50: [] as number[], p99: [] as number[], max: [] as number[] };
      for (const s of t) {
        const h = this.secs.get(s)?.hists.get(k);
        const sum = h ? summarize(h) : null;
        row.count.push(sum?.count ?? 0);
        row.p50.push(sum?.p50 ?? NaN);
        row.p99.push(sum?.p99 ?? NaN);
        row.max.push(sum?.max ?? NaN);
      }
      latency[k] = row;
    }
    const nodes: RunSeries['nodes'] = {};
    for (const id of this.nodeIds) nodes[id] = this.nodeSeries(id, t);
    return { t, counts, latency, gauges, nodes };
  }

  private nodeSeries(id: string, t: number[]): NodeSeries {
    const ns: NodeSeries = { up: [], role: [], term: [], pid: [], rssMB: [], rssAnonMB: [], rssFileMB: [], heapMB: [], heapTotalMB: [], externalMB: [], heapGrowingPercent: [], loopMaxMs: [], gcMaxMs: [], gcMs: [], gcMajorMs: [], snapshots: [], snapshotCaptureMs: [], cpuPct: [], eventsPublished: [], eventsLost: [], queueDepth: [], shedPerSec: [], shedByLane: {}, shedByReason: {}, heldClaims: {}, legacyBacklog: [], commitP99Ms: [], stages: {} };
    let prev: { at: number; cpu: number | null; shed: Record<string, number> | null; why: Record<string, number> | null; held: Record<string, number> | null; pid: number | null; events: NodeSample['events'] } | null = null;
    // A series first seen mid-run: null for the seconds before this one.
    const before = (): (number | null)[] => t.slice(0, ns.up.length - 1).map(() => null);
    for (const s of t) {
      const raw = this.nodeRaw.get(s);
      const smp = raw?.samples.find((x) => x.id === id);
      if (!raw || !smp || !smp.up) {
        // Every per-second series gets a gap (derived from the series themselves, so none is missed).
        for (const [key, arr] of Object.entries(ns)) if (key !== 'up' && key !== 'shedByLane' && key !== 'shedByReason' && key !== 'heldClaims' && key !== 'stages') (arr as unknown[]).push(null);
        ns.up.push(false);
        for (const series of [ns.shedByLane, ns.shedByReason!, ns.heldClaims!]) for (const k of Object.keys(series)) series[k].push(null);
        for (const st of Object.values(ns.stages!)) st.p50Ms.push(null), st.p99Ms.push(null), st.count!.push(null);
        continue;
      }
      const fl = smp.forwarding?.facade?.leader as Record<string, any> | undefined;
      const shed: Record<string, number> | null = fl?.shed ?? fl?.refused ?? null;
      const why: Record<string, number> | null = fl?.shedByReason ?? null;
      const heldNow = fl?.heldClaims;
      const held: Record<string, number> | null = heldNow ? { answered: heldNow.answered, admitted: heldNow.admitted, failed: heldNow.failed, barriers: heldNow.barriers } : null;
      const samePid = prev && prev.pid === smp.pid;
      ns.up.push(true);
      ns.role.push(smp.role);
      ns.term.push(smp.term);
      ns.pid.push(smp.pid);
      const mb = (v: number | null | undefined) => (typeof v === 'number' ? Math.round((v / 2 ** 20) * 10) / 10 : null);
      ns.rssMB.push(mb(smp.rss));
      ns.rssAnonMB!.push(mb(smp.rssAnon));
      ns.rssFileMB!.push(mb(smp.rssFile));
      ns.heapMB!.push(mb(smp.heapUsed));
      ns.heapTotalMB!.push(mb(smp.heapTotal));
      ns.externalMB!.push(mb(smp.external));
      ns.heapGrowingPercent!.push(smp.heapGrowingPercent ?? null);
      ns.loopMaxMs!.push(smp.loopMaxMs ?? null);
      ns.gcMaxMs!.push(smp.gcMaxMs ?? null);
      ns.gcMs!.push(smp.gcMs ?? null);
      ns.gcMajorMs!.push(smp.gcMajorMs ?? null);
      ns.snapshots!.push(smp.snapshotsTaken ?? null);
      ns.snapshotCaptureMs!.push(smp.snapshotCaptureMs ?? null);
      ns.cpuPct.push(
        prev && samePid && prev.cpu !== null && smp.cpuMicros !== null && raw.at > prev.at
          ? Math.round(((smp.cpuMicros - prev.cpu) / ((raw.at - prev.at) * 1000)) * 1000) / 10
          : null,
      );
      const ev = smp.events ?? null;
      const pev = prev && samePid ? prev.events : null;
      ns.eventsPublished!.push(ev && pev ? Math.max(0, ev.published - pev.published) : null);
      ns.eventsLost!.push(ev && pev ? Math.max(0, ev.dropped + ev.publishErrors - pev.dropped - pev.publishErrors) : null);
      const depth = fl?.depth as Record<string, number> | undefined;
      ns.queueDepth.push(depth ? Object.values(depth).reduce((a, b) => a + (Number(b) || 0), 0) : null);
      if (shed) {
        const total = Object.values(shed).reduce((a, b) => a + (Number(b) || 0), 0);
        const prevTotal = prev?.shed && samePid ? Object.values(prev.shed).reduce((a, b) => a + (Number(b) || 0), 0) : null;
        ns.shedPerSec.push(prevTotal === null ? null : Math.max(0, total - prevTotal));
      } else {
        ns.shedPerSec.push(null);
      }
      // Per key, what the counter rose by since the previous sample of the same process.
      const deltas = (series: Record<string, (number | null)[]>, now: Record<string, number> | null, was: Record<string, number> | null | undefined) => {
        for (const [k, v] of Object.entries(now ?? {})) {
          series[k] ??= before();
          const pv = was && samePid ? was[k] : undefined;
          series[k].push(pv === undefined ? null : Math.max(0, Number(v) - Number(pv)));
        }
        for (const k of Object.keys(series)) if (series[k].length < ns.up.length) series[k].push(null);
      };
      deltas(ns.shedByLane, shed, prev?.shed);
      deltas(ns.shedByReason!, why, prev?.why);
      deltas(ns.heldClaims!, held, prev?.held);
      const backlog = smp.forwarding?.legacy?.leader?.backlog;
      ns.legacyBacklog.push(typeof backlog === 'number' ? backlog : null);
      const cl = fl?.commitLatency as Record<string, number> | undefined;
      ns.commitP99Ms.push(cl && typeof cl.p99Ms === 'number' ? cl.p99Ms : null);
      for (const [stage, v] of Object.entries(smp.timings ?? {})) {
        const st = (ns.stages![stage] ??= { p50Ms: before(), p99Ms: before(), count: before() });
        st.p50Ms.push(v.count > 0 ? v.p50Ms : null);
        st.p99Ms.push(v.count > 0 ? v.p99Ms : null);
        st.count!.push(typeof v.count === 'number' ? v.count : null);
      }
      for (const st of Object.values(ns.stages!)) if (st.p50Ms.length < ns.up.length) st.p50Ms.push(null), st.p99Ms.push(null), st.count!.push(null);
      prev = { at: raw.at, cpu: smp.cpuMicros, shed: shed ? { ...shed } : null, why: why ? { ...why } : null, held, pid: smp.pid, events: smp.events ?? null };
    }
    return ns;
  }

  /** Totals over the window (or everything with `all`). */
  totals(all = false, seconds?: number): Totals {
    const counts = all ? this.totalCounts : this.windowCounts;
    const hists = all ? this.totalHists : this.windowHists;
    const secs = seconds ?? (all || !this.window ? this.maxSec + 1 : this.window.to - this.window.from);
    const perSec: Record<string, number> = {};
    for (const [k, v] of Object.entries(counts)) perSec[k] = secs > 0 ? Math.round((v / secs) * 10) / 10 : 0;
    const latency: Record<string, LatencySummary> = {};
    for (const [k, h] of hists) latency[k] = summarize(h);
    return { seconds: secs, counts: { ...counts }, perSec, latency };
  }
}

/** Sum of several count series (missing keys count as zero). */
export function sumSeries(series: Record<string, number[]>, keys: string[], n: number): number[] {
  return Array.from({ length: n }, (_, i) => keys.reduce((a, k) => a + (series[k]?.[i] ?? 0), 0));
}
