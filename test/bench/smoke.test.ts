import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBench, type RunResult } from '../../bench/run.ts';

// A few seconds of real load against a private 3-process cluster: checks the machinery (workers,
// per-second series, node sampling, files), never the speed.
describe('tenure bench smoke run', () => {
  const out = mkdtempSync(join(tmpdir(), 'tenure-bench-test-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('a 3-second closed-loop claim run writes a JSON result with per-second series and an SVG', async () => {
    const report = await runBench({ workload: 'claim', concurrency: [4], seconds: 3, warmup: 0, workers: 1, connections: 1, outDir: out, progress: 'none', watchEvents: true });
    expect(report.runs).toHaveLength(1);
    const r = JSON.parse(readFileSync(report.runs[0].files.json, 'utf8')) as RunResult;
    expect(r.workload).toBe('claim');
    expect(r.transport).toBe('facade');
    expect(r.series.t).toEqual([0, 1, 2]);
    expect(r.series.counts['claim.ok']).toHaveLength(3);
    expect(r.series.counts['claim.ok'].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(r.series.latency.claim.p99.length).toBe(3);
    expect(Object.keys(r.series.nodes).sort()).toEqual(['n1', 'n2', 'n3']);
    for (const n of Object.values(r.series.nodes)) expect(n.rssMB.some((v) => v !== null && v > 0)).toBe(true);
    expect(Object.values(r.series.nodes).some((n) => n.role.includes('leader'))).toBe(true);
    expect(r.totals.counts['claim.ok']).toBeGreaterThan(0);
    expect(r.restarts).toEqual([]);
    // CPU per ok op over the window, by process (the nodes, the bench's nats-server, its workers).
    if (process.platform === 'linux') {
      expect(Object.keys(r.cpuPerOp!.micros).sort()).toEqual(['bench', 'load generator', 'n1', 'n2', 'n3', 'nats-server']);
      // The window ends early only if a worker had exited by its last second's reading.
      expect(r.cpuPerOp!.seconds).toBeGreaterThanOrEqual(2);
      expect(r.cpuPerOp!.ops).toBe(r.series.counts['claim.ok'].slice(0, r.cpuPerOp!.seconds).reduce((a, b) => a + b, 0));
      for (const id of ['n1', 'n2', 'n3', 'load generator']) expect(r.cpuPerOp!.micros[id]).toBeGreaterThan(0);
      // Each node's main thread on its own (the rest of its CPU is helper threads). The thread and its
      // process are read a moment apart, so the thread may show one 10 ms tick the process does not yet.
      expect(Object.keys(r.cpuPerOp!.mainMicros).sort()).toEqual(['n1', 'n2', 'n3']);
      const tick = 10_000 / r.cpuPerOp!.ops + 0.1;
      for (const id of ['n1', 'n2', 'n3']) expect(r.cpuPerOp!.mainMicros[id]).toBeLessThanOrEqual(r.cpuPerOp!.micros[id]! + tick);
      expect(r.cpuPerOp!.machineMicros).toBeGreaterThan(0);
      expect(r.summary.cpuPerOp).toEqual(r.cpuPerOp);
    }
    // What the bench's own nats-server carried per ok op: each claim is at least its share of a
    // request, and (leader-only events, no JetStream on the bench's server) its 'claimed' event.
    expect(r.natsPerOp).not.toBeNull();
    expect(r.natsPerOp!.ops).toBeGreaterThan(0);
    expect(r.natsPerOp!.inMsgs).toBeGreaterThanOrEqual(1);
    expect(r.natsPerOp!.inBytes).toBeGreaterThan(0);
    expect(r.natsPerOp!.outMsgs).toBeGreaterThan(0);
    expect(r.summary.natsPerOp).toEqual(r.natsPerOp);
    // The leader's lease events (every claim is one), none lost.
    expect(r.summary.events).toEqual({ published: expect.any(Number), lost: 0 });
    expect((r.summary.events as { published: number }).published).toBeGreaterThan(0);
    // --watch-events: a subscriber saw every event the nodes published, in order.
    expect(r.eventWatch).toMatchObject({ missing: 0, outOfOrder: 0, undecodable: 0 });
    expect(r.eventWatch!.delivered).toBeGreaterThan(0);
    expect(r.eventWatch!.delivered).toBe(r.eventWatch!.expected);
    const svg = readFileSync(report.runs[0].files.svg, 'utf8');
    expect(svg).toContain('<svg');
    expect(svg).toContain('claim ok');
  }, 90_000);

  it('a held run counts the Held answers to claims of leases others keep', async () => {
    const report = await runBench({ workload: 'held', concurrency: [4], seconds: 2, warmup: 0, workers: 1, connections: 1, outDir: out, progress: 'none' });
    const r = JSON.parse(readFileSync(report.runs[0].files.json, 'utf8')) as RunResult;
    expect(r.workload).toBe('held');
    expect(r.totals.counts['held.ok']).toBeGreaterThan(0);
    expect(Object.keys(r.totals.counts).filter((k) => k.startsWith('held.err'))).toEqual([]);
    expect(r.summary.ops).toHaveProperty('held');
    // Every Held answer came from the leader without a log entry (the loops' claims are first attempts).
    expect((r.summary.heldClaims as { answered: number }).answered).toBeGreaterThan(0);
  }, 90_000);

  it('a race run counts leases where exactly one of three units won', async () => {
    const report = await runBench({ workload: 'race', concurrency: [2], seconds: 2, warmup: 0, workers: 1, connections: 1, outDir: out, progress: 'none' });
    const r = JSON.parse(readFileSync(report.runs[0].files.json, 'utf8')) as RunResult;
    expect(r.totals.counts['race.ok']).toBeGreaterThan(0);
    expect(Object.keys(r.totals.counts).filter((k) => k.startsWith('race.err'))).toEqual([]);
  }, 90_000);

  it('an open-loop run follows its rate phases and counts what it sent', async () => {
    const report = await runBench({ workload: 'open', rates: '2s@claim=40+extend=20,1s@claim=100', workers: 1, connections: 1, outDir: out, progress: 'none' });
    const r = report.runs[0];
    expect(existsSync(r.files.json)).toBe(true);
    expect(r.series.t).toEqual([0, 1, 2]);
    const sent = r.series.counts['claim.sent'];
    expect(sent[0]).toBeGreaterThanOrEqual(35);
    expect(sent[0]).toBeLessThanOrEqual(45);
    expect(sent[2]).toBeGreaterThanOrEqual(90);
    expect(r.totals.counts['extend.ok']).toBeGreaterThan(0);
    expect(r.markers.map((m) => m.x)).toEqual([0, 2]);
  }, 90_000);
});
