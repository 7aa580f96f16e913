import { describe, expect, it } from 'vitest';
import { secondsReport, type Result } from '../../bench/seconds-report.ts';

const n = (v: number) => Array.from({ length: 5 }, () => v);

function node(role: string, snapshots: number[], ownWrite?: number[]) {
  return { role: n(0).map(() => role), snapshots, loopMaxMs: [10, 20, 300, 15, 12], stages: ownWrite ? { ownWrite: { p50Ms: ownWrite } } : undefined };
}

describe('bench/seconds-report', () => {
  it('names the snapshot seconds, the leader\'s slow writes and the seconds in which extensions failed', () => {
    const r: Result = {
      summary: { ops: { extend: { ok: 900, failed: 500, errors: { Timeout: 400, DeadlineExceeded: 100 } } }, peakRssMB: { n1: 200, n2: 190, n3: 195 } },
      series: {
        t: [0, 1, 2, 3, 4],
        counts: { 'extend.err.Timeout': [0, 0, 400, 0, 0], 'extend.err.DeadlineExceeded': [0, 0, 100, 0, 5], 'extend.ok': [200, 200, 10, 240, 250], 'claim.ok': [0, 0, 40, 0, 0], 'claim.held': [0, 0, 80, 0, 0] },
        latency: { 'extend.err.budget': { count: [0, 0, 500, 0, 5], p50: [null, null, 1, null, 300] }, 'extend.err': { count: [0, 0, 500, 0, 5], p50: [null, null, 612.4, null, 310] } },
        gauges: { generatorLoopDelayMsMax: [5, 5, 250, 5, 5] },
        nodes: { n1: node('follower', [0, 0, 1, 1, 1]), n2: node('leader', [0, 0, 0, 1, 1], [2, 3, 655, 2, 2]), n3: node('follower', [0, 1, 1, 1, 1]) },
      },
    };
    const lines = secondsReport(r, 'run.json', 100);
    expect(lines[0]).toBe('== run.json');
    expect(lines).toContain('  snapshots (second of the run): n1@2  n2@3  n3@1');
    expect(lines).toContain('  leader n2: seconds with its own log write p50 > 150 ms: 2 (655 ms)');
    const failing = lines.filter((l) => l.startsWith('  second '));
    expect(failing).toHaveLength(1); // second 4's 5 failures are below the floor
    expect(failing[0]).toContain('second 2: extensions failed 500, ok 10; failing budget p50 1 ms, latency p50 612 ms; claims ok 40, held 80');
    expect(failing[0]).toContain('loop max ms n1 300 n2 300 n3 300, generator 250');
  });
});
