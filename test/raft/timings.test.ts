/** RaftTimings: the per-stage histograms behind `status().timings` (fake clock). */
import { describe, expect, it } from 'vitest';
import { RaftTimings } from '../../actors/raft-timings.ts';

function timings() {
  const clock = { t: 0 };
  return { clock, tm: new RaftTimings(() => clock.t, 1000) };
}

describe('RaftTimings', () => {
  it('times each appended entry to its own write, its first acknowledgement and its apply, once each', () => {
    const { clock, tm } = timings();
    tm.appended(10, 2); // entries 10 and 11 at t=0
    clock.t = 1.5;
    tm.ownDurable(11);
    clock.t = 2;
    tm.acked(10);
    clock.t = 3;
    tm.acked(11);
    tm.acked(11); // the second follower: not a first acknowledgement
    tm.ownDurable(11);
    clock.t = 4;
    tm.applied(10);
    tm.applied(11);
    tm.applied(12); // never appended here: ignored
    const { total } = tm.summary();
    expect(total.ownWrite).toMatchObject({ count: 2, maxMs: 1.5 });
    expect(total.firstAck).toMatchObject({ count: 2, maxMs: 3 });
    expect(total.applied).toMatchObject({ count: 2, maxMs: 4 });
    // Percentiles are bucket bounds: at most ≈ 19 % above the true value, never above the max.
    expect(total.firstAck.p50Ms).toBeGreaterThanOrEqual(2);
    expect(total.firstAck.p50Ms).toBeLessThanOrEqual(2 * 1.19);
    expect(total.firstAck.p99Ms).toBe(3);
  });

  it('forgets pending entries when leadership changes', () => {
    const { clock, tm } = timings();
    tm.appended(5, 3);
    tm.reset();
    clock.t = 1;
    tm.ownDurable(7);
    tm.acked(7);
    tm.applied(5);
    const { total } = tm.summary();
    expect(total.ownWrite.count + total.firstAck.count + total.applied.count).toBe(0);
  });

  it('reports the last complete second beside the whole life', () => {
    const { clock, tm } = timings();
    tm.record('write', 0.4);
    tm.record('write', 0.6);
    clock.t = 1100; // second window
    tm.record('write', 2);
    expect(tm.summary().lastSecond.write).toMatchObject({ count: 2, maxMs: 0.6 });
    expect(tm.summary().total.write).toMatchObject({ count: 3, maxMs: 2 });
    clock.t = 2050;
    expect(tm.summary().lastSecond.write).toMatchObject({ count: 1, maxMs: 2 });
    clock.t = 5000; // nothing recorded for seconds: the last complete second was empty
    expect(tm.summary().lastSecond.write.count).toBe(0);
    expect(tm.summary().lastSecond.write.p50Ms).toBe(0);
  });

  it('keeps tiny and huge values in range', () => {
    const { tm } = timings();
    tm.record('appendReply', 0);
    tm.record('appendReply', 0.001);
    tm.record('appendReply', 1e9);
    const s = tm.summary().total.appendReply;
    expect(s.count).toBe(3);
    expect(s.p50Ms).toBeLessThanOrEqual(0.02);
    expect(s.p99Ms).toBe(1e9);
  });
});
