import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BusyRateMeter } from '../../machines/admission/meters.ts';

describe('BusyRateMeter (departures per ms of busy time)', () => {
  it('knows nothing until the queue was busy for a whole ms of the window', () => {
    const m = new BusyRateMeter(100);
    expect(m.perBusyMs(0)).toBeNull();
    m.busy(10);
    m.record(10, 5);
    m.idle(10); // emptied in the same instant: no busy time to divide by
    expect(m.perBusyMs(10)).toBeNull();
    m.busy(20);
    m.record(22, 4);
    m.idle(22);
    expect(m.perBusyMs(30)).toBe(9 / 2); // both departures, 2 busy ms
  });

  it('counts an open busy spell up to now, and a stall lowers the rate as it lasts', () => {
    const m = new BusyRateMeter(100);
    m.busy(0);
    m.record(5, 50);
    expect(m.perBusyMs(5)).toBe(10);
    expect(m.perBusyMs(25)).toBe(2); // still busy, nothing more left
    expect(m.perBusyMs(50)).toBe(1);
  });

  it('forgets departures and busy time older than the window', () => {
    const m = new BusyRateMeter(100); // 10 slices of 10 ms
    m.busy(0);
    m.record(5, 100);
    m.idle(10);
    expect(m.perBusyMs(50)).toBe(10);
    // At 115 the window is [20, 120): the spell and its departures have left it.
    expect(m.perBusyMs(115)).toBeNull();
    // A spell reaching back before the window only counts its part inside it.
    m.busy(150);
    m.record(300, 40);
    m.idle(300);
    expect(m.perBusyMs(300)).toBeCloseTo(40 / 90, 10); // window [210, 310): 90 ms busy so far
  });

  it('equals the wall-time rate when busy throughout, and is never below it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gap: fc.integer({ min: 0, max: 40 }), n: fc.integer({ min: 0, max: 50 }), idle: fc.boolean() }), { minLength: 1, maxLength: 60 }),
        (steps) => {
          const busyMeter = new BusyRateMeter(100);
          const always = new BusyRateMeter(100);
          always.busy(0);
          let t = 0;
          busyMeter.busy(0);
          for (const s of steps) {
            t += s.gap;
            busyMeter.record(t, s.n);
            always.record(t, s.n);
            if (s.idle) busyMeter.idle(t);
            else busyMeter.busy(t);
          }
          const now = t + 5;
          const wall = busyMeter.perMs(now);
          const busy = busyMeter.perBusyMs(now);
          // Busy time within the window never exceeds the window, so per busy ms ≥ per window ms.
          if (busy !== null) expect(busy).toBeGreaterThanOrEqual(wall * 0.999999);
          const a = always.perBusyMs(now)!;
          // Busy the whole time: departures over the elapsed part of the window.
          const elapsed = now - (Math.floor(now / 10) - 9) * 10;
          expect(a).toBeCloseTo((wall * 100) / Math.min(elapsed, now), 9);
        },
      ),
    );
  });
});
