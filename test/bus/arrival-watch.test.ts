/**
 * A request read after this process stood still counts its deadline from before the stall
 * (bus/arrival-watch.ts), so one whose caller's budget ran out meanwhile is dropped unread.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { unseenMs, watchArrivals } from '../../bus/arrival-watch.ts';
import { LoadMonitor, STALL_MS } from '../../actors/load-monitor.ts';
import { deadlineFrom } from '../../bus/nats-headers.ts';
import { monotonicNow } from '../../clock/clock.ts';

/** Holds the event loop for `ms`, as a long GC pause or a synchronous stretch of work would. */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

const PROBE_MS = 20;
let stops: (() => void)[] = [];
/** A node process's set-up: its load monitor's probe, registered as the stall bound. */
function startArrivalWatch(): void {
  const monitor = new LoadMonitor(PROBE_MS).start();
  stops = [watchArrivals(() => monitor.unseenMs()), () => monitor.stop()];
}

afterEach(() => {
  for (const stop of stops) stop();
  stops = [];
});

describe('arrival watch', () => {
  it('is off until a process registers its probe: deadlines count from reading, as before', () => {
    block(200);
    expect(unseenMs()).toBe(0);
    const now = monotonicNow();
    expect(deadlineFrom('1000')).toBeGreaterThanOrEqual(now + 1000);
  });

  it('counts nothing for ordinary jitter', async () => {
    startArrivalWatch();
    await tick(3 * PROBE_MS);
    block(STALL_MS / 2);
    expect(unseenMs()).toBe(0);
  });

  it('while the loop stands still, and just after, a request may have waited as long as the stall', async () => {
    startArrivalWatch();
    await tick(3 * PROBE_MS);
    block(600);
    // Still inside the stalled turn: the probe is overdue.
    expect(unseenMs()).toBeGreaterThanOrEqual(600);
    const now = monotonicNow();
    expect(deadlineFrom('500')).toBeLessThanOrEqual(now); // its caller's 500 ms ran out during the stall
    expect(deadlineFrom('5000')).toBeLessThanOrEqual(now + 5000 - 600);
    // Once the probes run on time again, nothing is hidden any more.
    for (let i = 0; i < 100 && unseenMs() > 0; i++) await tick(PROBE_MS);
    expect(unseenMs()).toBe(0);
    expect(deadlineFrom(undefined)).toBe(Infinity);
  });
});
