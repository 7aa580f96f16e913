/**
 * Dashboard-style charts of one run, or of several runs of the same schedule on one time axis
 * (A/B: legacy-pubsub dashed, facade solid).
 */
import type { RunSeries } from './aggregate.ts';
import { renderChart, type ChartMarker, type ChartPanel, type ChartSeries } from './svg.ts';
import { RESULT_OPS } from './protocol.ts';

export interface ChartRun {
  /** Prefix for series names in a comparison ('' for a single run). */
  label: string;
  series: RunSeries;
  dash?: string;
}

const COLORS: Record<string, string> = {
  claim: '#1f77b4',
  extend: '#2ca02c',
  revoke: '#9467bd',
  reclaim: '#17becf',
  wait: '#8c564b',
  held: '#ff7f0e',
};
const FALLBACK = ['#d62728', '#e377c2', '#bcbd22', '#7f7f7f', '#17becf', '#8c564b', '#ff7f0e', '#9467bd', '#1f77b4'];
const NODE_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'];

function colorFor(name: string, used: Map<string, string>): string {
  const known = COLORS[name.split(/[ .]/)[0]];
  if (known && !name.includes('err') && !name.includes(' ')) return known;
  let c = used.get(name);
  if (!c) used.set(name, (c = FALLBACK[used.size % FALLBACK.length]));
  return c;
}

const OPS = RESULT_OPS;

export function dashboardPanels(runs: ChartRun[]): ChartPanel[] {
  const errColors = new Map<string, string>();
  const name = (r: ChartRun, s: string) => (r.label ? `${r.label}: ${s}` : s);
  const ok: ChartSeries[] = [];
  const fail: ChartSeries[] = [];
  const lat: ChartSeries[] = [];
  const queue: ChartSeries[] = [];
  const rss: ChartSeries[] = [];
  const cpu: ChartSeries[] = [];
  const loop: ChartSeries[] = [];
  const gauges: ChartSeries[] = [];
  const terms: ChartSeries[] = [];
  for (const r of runs) {
    const s = r.series;
    for (const op of OPS) {
      const k = `${op}.ok`;
      if (s.counts[k]?.some((v) => v > 0)) ok.push({ name: name(r, `${op} ok`), values: s.counts[k], color: COLORS[op], dash: r.dash });
    }
    for (const [k, v] of Object.entries(s.counts)) {
      if (!(k.includes('.err.') || k === 'lease.lost' || k === 'claim.held' || k === 'wait.timeout')) continue;
      if (!v.some((x) => x > 0)) continue;
      const label = k.replace('.err.', ' ').replace('claim.held', 'claim Held').replace('lease.lost', 'lease lost');
      fail.push({ name: name(r, label), values: v, color: colorFor(label, errColors), dash: r.dash });
    }
    for (const op of OPS) {
      const l = s.latency[op];
      if (!l || !l.count.some((c) => c > 0)) continue;
      lat.push({ name: name(r, `${op} p99`), values: l.p99, color: COLORS[op], dash: r.dash });
      lat.push({ name: name(r, `${op} p50`), values: l.p50, color: COLORS[op], dash: r.dash ?? '2 2' });
    }
    Object.entries(s.nodes).forEach(([id, n], i) => {
      const color = NODE_COLORS[i % NODE_COLORS.length];
      if (n.queueDepth.some((v) => (v ?? 0) > 0)) queue.push({ name: name(r, `${id} facade queue`), values: n.queueDepth, color, dash: r.dash });
      if (n.legacyBacklog.some((v) => (v ?? 0) > 0)) queue.push({ name: name(r, `${id} legacy backlog`), values: n.legacyBacklog, color, dash: r.dash ?? '6 3' });
      if (n.shedPerSec.some((v) => (v ?? 0) > 0)) queue.push({ name: name(r, `${id} shed/s`), values: n.shedPerSec, color, dash: '1 2' });
      rss.push({ name: name(r, id), values: n.rssMB, color, dash: r.dash });
      if (n.term) terms.push({ name: name(r, id), values: n.term, color, dash: r.dash });
      cpu.push({ name: name(r, id), values: n.cpuPct, color, dash: r.dash });
      if (n.loopMaxMs?.some((v) => v !== null)) loop.push({ name: name(r, id), values: n.loopMaxMs, color, dash: r.dash });
    });
    if (s.gauges.generatorLoopDelayMsMax?.some((v) => v > 0)) loop.push({ name: name(r, 'generator (worst worker)'), values: s.gauges.generatorLoopDelayMsMax, color: '#888888', dash: r.dash ?? '4 2' });
    for (const g of ['held', 'waiting', 'outstanding']) {
      if (s.gauges[g]?.some((v) => v > 0)) gauges.push({ name: name(r, g), values: s.gauges[g], color: colorFor(g, errColors), dash: r.dash });
    }
  }
  const panels: ChartPanel[] = [
    { title: 'Successful operations per second', unit: '/s', series: ok },
    { title: 'Refused / failed per second (by error code)', unit: '/s', series: fail },
    { title: 'Client latency p50 (dotted) and p99, ms (log scale)', unit: 'ms', series: lat, log: true },
    { title: 'Leader queues: facade admission depth, legacy backlog, shed per second', series: queue },
    { title: 'Node RSS, MB', unit: 'MB', series: rss },
    { title: 'Node CPU, % of one core', unit: '%', series: cpu },
    { title: 'Raft term per node (each step up is an election)', series: terms },
  ];
  if (loop.length) panels.push({ title: 'Longest event-loop delay per node and in the load generator, ms (log scale)', unit: 'ms', series: loop, log: true });
  if (gauges.length) panels.push({ title: 'Generator state (held leases, parked waits, outstanding sends)', series: gauges });
  return panels;
}

export function dashboardSvg(title: string, subtitle: string, runs: ChartRun[], markers: ChartMarker[] = []): string {
  return renderChart({ title, subtitle, xLabel: 'seconds since start', panels: dashboardPanels(runs), markers });
}
