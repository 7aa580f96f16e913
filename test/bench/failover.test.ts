import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseFaults } from '../../bench/faults.ts';
import { runBench, type RunResult } from '../../bench/run.ts';
import { failoverSummary, type FailoverSummary } from '../../bench/summary.ts';
import { rivalBeliefs, type Belief } from '../../bench/workloads.ts';

describe('failover faults', () => {
  it('parses kind, target, start and downtime, and refuses what it cannot run', () => {
    expect(parseFaults('kill@15+10, pause:follower@40.5+5')).toEqual([
      { kind: 'kill', target: 'leader', atMs: 15_000, downMs: 10_000 },
      { kind: 'pause', target: 'follower', atMs: 40_500, downMs: 5_000 },
    ]);
    expect(() => parseFaults('explode@1+1')).toThrow(/bad fault "explode@1\+1"/);
    expect(() => parseFaults('kill:everyone@1+1')).toThrow(/bad fault/);
    expect(() => parseFaults('kill@1+0')).toThrow(/more than 0 s/);
    expect(() => parseFaults('kill@10+10,pause@15+1')).toThrow(/before the previous one is healed/);
  });

  it('a holder believing while a rival is answered ok is an overlap, with how long the rival still believes', () => {
    const a: Belief = { leading: true, validUntil: 10_500 };
    const b: Belief = { leading: false, validUntil: 0 };
    const c: Belief = { leading: true, validUntil: 9_000 };
    // b is answered ok at 10,000: a still believes for 500 ms; c's belief ran out at 9,000.
    expect(rivalBeliefs([a, b, c], b, 10_000)).toEqual([500]);
    // A unit's own belief is never its rival; a rival that stopped believing (NotHeld) neither.
    expect(rivalBeliefs([a], a, 10_000)).toEqual([]);
    expect(rivalBeliefs([{ ...a, leading: false }, b], b, 10_000)).toEqual([]);
    // Belief ends at validUntil: an answer at that very moment overlaps nothing.
    expect(rivalBeliefs([a, b], b, 10_500)).toEqual([]);
  });

  it('counts what the holders saw per fault, from it to the next fault', () => {
    const counts = {
      'extend.ok': [5, 5, 5, 0, 5, 5, 5, 5],
      'extend.err.Timeout': [0, 0, 0, 2, 1, 0, 0, 0],
      'extend.err.DeadlineExceeded': [0, 0, 0, 0, 0, 0, 3, 0],
      'lease.lost': [0, 0, 0, 0, 0, 0, 1, 0],
      'claim.err.NoLeader': [0, 0, 0, 1, 0, 0, 0, 0],
      'read.ok': [9, 9, 9, 3, 9, 9, 9, 9],
      'read.err.Timeout': [0, 0, 0, 1, 0, 0, 0, 0],
    };
    const latency = { read: { count: [9, 9, 9, 3, 9, 9, 9, 9], p50: [2, 2, 2, 900, 2, 2, 3, 2], p99: [4, 4, 4, 1800, 4, 4, 40, 4], max: [5, 5, 5, 1900, 5, 5, 60, 5] } };
    const fault = { target: 'leader' as const, leaderBefore: 'n1', termBefore: 1, newLeader: 'n2', newLeaderMs: 1500, healedMs: 2000, rejoinedMs: 300, termAfter: 2 };
    const r = {
      series: { t: [0, 1, 2, 3, 4, 5, 6, 7], counts, latency },
      totalsAll: { seconds: 8, counts: { 'extend.ok': 35, 'extend.err.Timeout': 3, 'extend.err.DeadlineExceeded': 3, 'lease.lost': 1, 'claim.ok': 4, 'claim.held': 8, 'lease.overlap': 0, 'wait.ok': 2, 'wait.timeout': 1, 'routes.probes': 9, 'routes.probesFailed': 2, 'routes.moved': 5, 'read.ok': 66, 'read.err.Timeout': 1 }, perSec: {}, latency: { read: { p50: 2, p99: 900, max: 1900 } } },
      faults: [
        { ...fault, kind: 'kill' as const, atMs: 3_000, downMs: 2_000, node: 'n1' },
        { ...fault, kind: 'pause' as const, atMs: 6_200, downMs: 1_000, node: 'n2' },
      ],
      restarts: [],
    } as unknown as RunResult;
    const { failover } = failoverSummary(r);
    expect(failover.faults.map((f) => f.seconds)).toEqual([[3, 6], [6, 8]]);
    expect(failover.faults[0].extends).toEqual({ ok: 10, failed: 3, byCode: { Timeout: 3 } });
    expect(failover.faults[0].claimErrors).toEqual({ NoLeader: 1 });
    expect(failover.faults[1]).toMatchObject({ extends: { ok: 10, failed: 3, byCode: { DeadlineExceeded: 3 } }, leasesLost: 1 });
    expect(failover).toMatchObject({ overlaps: 0, maxOverlapMs: null, leasesLost: 1, extends: { ok: 35, failed: 6 }, claims: { ok: 4, held: 8 }, restarts: 0 });
    expect(failover.waits).toMatchObject({ released: 2, deadline: 1 });
    expect(failover.routes).toEqual({ probes: 9, probesFailed: 2, moved: 5, discoveries: 0 });
    expect(failover.faults[0].reads).toEqual({ ok: 21, errors: { Timeout: 1 }, maxMs: 1900 });
    expect(failover.faults[1].reads).toEqual({ ok: 18, errors: {}, maxMs: 60 });
    expect(failover.reads).toEqual({ ok: 66, errors: { Timeout: 1 }, p50Ms: 2, p99Ms: 900, maxMs: 1900 });
  });
});

// Real processes: a private 3-node cluster whose leader is killed and later paused while holders
// keep their leases. Checks the machinery and what must hold (no two holders believe at once,
// another node leads, the victim comes back), never how fast.
describe('tenure bench failover', () => {
  const out = mkdtempSync(join(tmpdir(), 'tenure-bench-failover-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('kills the leader, then pauses the next one: holders never overlap, another node leads, the victim catches up', async () => {
    const report = await runBench({ workload: 'failover', processes: 4, leases: 2, faults: 'kill@3+4,pause@10+4', afterSeconds: 6, readers: 2, readersAlone: true, workers: 1, connections: 1, outDir: out, progress: 'none' });
    expect(report.runs).toHaveLength(1);
    const r = JSON.parse(readFileSync(report.runs[0].files.json, 'utf8')) as RunResult;
    expect(r.workload).toBe('failover');
    expect(r.faults).toHaveLength(2);
    for (const f of r.faults!) {
      expect(f.node).toBe(f.leaderBefore);
      expect(f.newLeader).not.toBeNull();
      expect(f.newLeader).not.toBe(f.node);
      expect(f.termAfter!).toBeGreaterThan(f.termBefore!);
      expect(f.rejoinedMs).not.toBeNull();
    }
    expect(r.faults![0].kind).toBe('kill');
    expect(r.faults![1].kind).toBe('pause');
    // The second fault hit whoever led after the first.
    expect(r.faults![1].leaderBefore).toBe(r.faults![0].newLeader);
    expect(r.markers.map((m) => m.label)).toEqual(expect.arrayContaining([`kill ${r.faults![0].node}`, `restart ${r.faults![0].node}`, `pause ${r.faults![1].node}`, `resume ${r.faults![1].node}`]));
    const fo = (r.summary as { failover: FailoverSummary }).failover;
    expect(fo.overlaps).toBe(0);
    expect(fo.restarts).toBe(0);
    expect(r.restarts).toEqual([]);
    expect(fo.claims.ok).toBeGreaterThanOrEqual(8);
    expect(fo.extends.ok).toBeGreaterThan(0);
    // Units that wait for a lease park their waits at a node they pick, which the clients probe.
    expect(fo.routes.probes).toBeGreaterThan(0);
    // Linearizable readers ran through both faults, on a connection of their own that sends no
    // batch: it asked a node's status for the voters.
    expect(fo.reads!.ok).toBeGreaterThan(0);
    expect(fo.routes.discoveries).toBeGreaterThanOrEqual(1);
    expect(fo.faults.every((f) => f.reads !== undefined)).toBe(true);
    // Holders go on extending after the last heal (6 s, more than one renew interval).
    const healed = Math.ceil((r.faults![1].atMs + r.faults![1].healedMs) / 1000);
    expect(r.series.counts['extend.ok'].slice(healed).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  }, 120_000);
});
