import { describe, expect, it } from 'vitest';
import { SeriesBuilder } from '../../bench/aggregate.ts';
import { encodeHistogram, newHistogram, recordMs } from '../../bench/hist.ts';
import { parseSchedule, split } from '../../bench/specs.ts';
import type { NodeSample } from '../../bench/cluster.ts';
import { StealMeter } from '../../bench/steal.ts';
import { eventTotals, raftRounds, raftStages, summarizeRun, termSpan } from '../../bench/summary.ts';

const hist = (...ms: number[]) => {
  const h = newHistogram();
  for (const v of ms) recordMs(h, v);
  return encodeHistogram(h);
};

const sample = (id: string, over: Partial<NodeSample>): NodeSample => ({
  id,
  up: true,
  role: 'follower',
  leader: 'n1',
  term: 1,
  commit: 0,
  pid: 10,
  rss: 64 * 2 ** 20,
  cpuMicros: 0,
  fsm: null,
  forwarding: null,
  ...over,
});

describe('SeriesBuilder', () => {
  it('adds up workers second by second and computes totals over the window', () => {
    const b = new SeriesBuilder(['n1'], { from: 1, to: 3 });
    for (const worker of [0, 1]) {
      b.addTick({ type: 'tick', worker, sec: 0, counts: { 'claim.ok': 10 }, hists: { claim: hist(100) }, gauges: { held: 1 } });
      b.addTick({ type: 'tick', worker, sec: 1, counts: { 'claim.ok': 20, 'claim.err.Overloaded': 1 }, hists: { claim: hist(1, 2) }, gauges: { held: 2 } });
      if (worker === 0) b.addTick({ type: 'tick', worker, sec: 2, counts: { 'claim.ok': 30 }, hists: { claim: hist(3) }, gauges: {} });
    }
    expect(b.lastCompleteSec(2)).toBe(1);
    const s = b.build(3);
    expect(s.t).toEqual([0, 1, 2]);
    expect(s.counts['claim.ok']).toEqual([20, 40, 30]);
    expect(s.counts['claim.err.Overloaded']).toEqual([0, 2, 0]);
    expect(s.gauges.held).toEqual([2, 4, 0]);
    expect(s.latency.claim.count).toEqual([2, 4, 1]);
    expect(s.latency.claim.max[0]).toBeCloseTo(100, 0);
    const t = b.totals();
    expect(t.seconds).toBe(2);
    expect(t.counts['claim.ok']).toBe(70);
    expect(t.perSec['claim.ok']).toBe(35);
    expect(t.latency.claim.count).toBe(5);
    expect(t.latency.claim.max).toBeLessThan(4); // the 100 ms of second 0 is outside the window
    expect(b.totals(true).counts['claim.ok']).toBe(90);
  });

  it('turns node samples into CPU %, RSS MB, queue depth and shed-per-second series; a new pid resets deltas', () => {
    const b = new SeriesBuilder(['n1', 'n2']);
    const fwd = (depth: number, shed: number) => ({
      facade: { leader: { depth: { claim: depth, extend: 1 }, shed: { claim: shed, extend: 0 }, shedByReason: { shedding: shed, 'too-slow': shed * 2 } } },
    });
    b.addNodeSample(0, [sample('n1', { cpuMicros: 1_000_000, forwarding: fwd(5, 10) }), sample('n2', { up: false })], 10_000);
    b.addNodeSample(1, [sample('n1', { cpuMicros: 1_500_000, rss: 128 * 2 ** 20, forwarding: fwd(7, 25) }), sample('n2', {})], 11_000);
    b.addNodeSample(2, [sample('n1', { pid: 11, cpuMicros: 100_000, forwarding: fwd(0, 0) }), sample('n2', {})], 12_000);
    const n1 = b.build(3).nodes.n1;
    expect(n1.cpuPct).toEqual([null, 50, null]);
    expect(n1.rssMB).toEqual([64, 128, 64]);
    expect(n1.queueDepth).toEqual([6, 8, 1]);
    expect(n1.shedPerSec).toEqual([null, 15, null]);
    expect(n1.shedByLane.claim).toEqual([null, 15, null]);
    expect(n1.shedByReason).toEqual({ shedding: [null, 15, null], 'too-slow': [null, 30, null] });
    expect(b.build(3).nodes.n2.up).toEqual([false, true, true]);
    expect(b.build(3).nodes.n2.shedByReason).toEqual({});
  });

  it('records each second’s Raft stage percentiles per node, and the run summary takes their median', () => {
    const b = new SeriesBuilder(['n1', 'n2']);
    const st = (p50: number, count = 5) => ({ timings: { applied: { count, p50Ms: p50, p99Ms: p50 * 3 }, write: { count, p50Ms: p50 / 2, p99Ms: p50 } } });
    b.addNodeSample(0, [sample('n1', st(4)), sample('n2', { up: false })], 10_000);
    b.addNodeSample(1, [sample('n1', st(2)), sample('n2', { timings: { appendReply: { count: 3, p50Ms: 1.234, p99Ms: 2 } } })], 11_000);
    b.addNodeSample(2, [sample('n1', st(3, 0)), sample('n2', {})], 12_000);
    b.addNodeSample(3, [sample('n1', st(5)), sample('n2', { timings: { appendReply: { count: 1, p50Ms: 2, p99Ms: 2 } } })], 13_000);
    const nodes = b.build(4).nodes;
    expect(nodes.n1.stages!.applied).toEqual({ p50Ms: [4, 2, null, 5], p99Ms: [12, 6, null, 15], count: [5, 5, 0, 5] });
    expect(nodes.n2.stages!.appendReply.p50Ms).toEqual([null, 1.234, null, 2]);
    expect(nodes.n2.stages!.appendReply.count).toEqual([null, 3, null, 1]);
    expect(raftStages(nodes)).toEqual({ n1: { applied: 4, write: 2 }, n2: { appendReply: 1.23 } });
  });

  it('counts lease events published and lost per second from the publisher counters; a new pid resets deltas; the run sums them', () => {
    const b = new SeriesBuilder(['n1', 'n2']);
    const ev = (published: number, dropped = 0, publishErrors = 0) => ({ events: { published, dropped, publishErrors } });
    b.addNodeSample(0, [sample('n1', ev(100)), sample('n2', ev(0))], 10_000);
    b.addNodeSample(1, [sample('n1', ev(1_100, 5, 1)), sample('n2', ev(0))], 11_000);
    b.addNodeSample(2, [sample('n1', { pid: 11, ...ev(50) }), sample('n2', { up: false })], 12_000);
    b.addNodeSample(3, [sample('n1', { pid: 11, ...ev(250) }), sample('n2', ev(10))], 13_000);
    const nodes = b.build(4).nodes;
    expect(nodes.n1.eventsPublished).toEqual([null, 1_000, null, 200]);
    expect(nodes.n1.eventsLost).toEqual([null, 6, null, 0]);
    expect(nodes.n2.eventsPublished).toEqual([null, 0, null, 10]);
    expect(eventTotals(nodes)).toEqual({ published: 1_210, lost: 6 });
    // Nodes that never reported a publisher: no figure rather than a zero.
    const old = new SeriesBuilder(['n1']);
    old.addNodeSample(0, [sample('n1', {})], 10_000);
    old.addNodeSample(1, [sample('n1', {})], 11_000);
    expect(eventTotals(old.build(2).nodes)).toBeNull();
  });

  it('counts Raft rounds per second: the median of each second’s entries (leader) and disk writes', () => {
    const b = new SeriesBuilder(['n1', 'n2']);
    const lead = (entries: number, writes: number) => ({ timings: { ownWrite: { count: entries, p50Ms: 1, p99Ms: 2 }, write: { count: writes, p50Ms: 1, p99Ms: 2 } } });
    const fol = (writes: number) => ({ timings: { write: { count: writes, p50Ms: 1, p99Ms: 2 }, appendReply: { count: writes, p50Ms: 1, p99Ms: 2 } } });
    b.addNodeSample(0, [sample('n1', lead(900, 400)), sample('n2', fol(300))], 10_000);
    b.addNodeSample(1, [sample('n1', lead(1000, 500)), sample('n2', { up: false })], 11_000);
    b.addNodeSample(2, [sample('n1', lead(1200, 0)), sample('n2', fol(500))], 12_000);
    // A second with no count (idle) is left out of the median rather than counted as 0.
    expect(raftRounds(b.build(3).nodes)).toEqual({ n1: { entries: 1000, writes: 400 }, n2: { writes: 300 } });
  });
});

describe('schedule helpers', () => {
  it('parses a stepped leaseclaimer schedule', () => {
    expect(parseSchedule('+20,+20,+40,-40')).toEqual([
      { op: 'add', from: 0, to: 20 },
      { op: 'add', from: 20, to: 40 },
      { op: 'add', from: 40, to: 80 },
      { op: 'drop', from: 40, to: 80 },
    ]);
    expect(() => parseSchedule('+x')).toThrow(/bad schedule step/);
  });

  it('splits clients over workers', () => {
    expect(split(10, 3)).toEqual([4, 3, 3]);
    expect(split(1, 2)).toEqual([1, 0]);
  });
});

describe('machine CPU steal', () => {
  it('reads a share of CPU time from /proc/stat, and the run summary averages it', () => {
    const meter = new StealMeter();
    let x = 0;
    for (let i = 0; i < 2e6; i++) x += i; // let some CPU time pass
    const pct = meter.sample();
    expect(x).toBeGreaterThan(0);
    if (pct !== null) {
      expect(pct).toBeGreaterThanOrEqual(0);
      expect(pct).toBeLessThanOrEqual(100);
    }
    const s = summarizeRun({
      totals: { counts: {}, perSec: {}, latency: {} },
      series: { t: [0, 1, 2], counts: {}, latency: {}, gauges: { machineStealPctMax: [10, 20, 30] }, nodes: {} },
      restarts: [],
    } as never);
    expect(s.meanStealPct).toBe(20);
  });

  it('counts the elections of a run from the highest term at its start and its end', () => {
    const node = (term: (number | null)[]) => ({ term }) as never;
    expect(termSpan({ n1: node([3, 3, 4, 4]), n2: node([null, 3, 3, 5]), n3: node([2, null, null, null]) })).toEqual({ first: 3, last: 5, elections: 2 });
    expect(termSpan({ n1: node([1, 1]), n2: node([1, 1]) })).toEqual({ first: 1, last: 1, elections: 0 });
    expect(termSpan({ n1: node([null]) })).toBeNull();
  });
});
