/**
 * Event-loop lag as a load signal. Under CPU saturation a node process falls behind on everything
 * at once, Raft heartbeats included; refusing work the moment the loop lags keeps it responsive.
 * The probe is a timer that notes how late it fires, smoothed so that a single pause is ignored.
 *
 * The same probe tells how long a request read now may have sat unread while the loop stood still
 * (`unseenMs`, used for request deadlines through bus/arrival-watch.ts).
 */

/** Lateness under this is ordinary jitter, not a stall (ms). */
export const STALL_MS = 50;

export class LoadMonitor {
  /** Smoothed lateness of the probe timer, ms. */
  lagMs = 0;
  private timer: NodeJS.Timeout | null = null;
  /** performance.now() at which the probe is next due. */
  private expected = 0;
  /** How late the probe last fired, if that was a stall (else 0), and when (performance.now()). */
  private stalled = 0;
  private stalledAt = 0;

  constructor(private readonly intervalMs = 20) {}

  start(): this {
    if (this.timer) return this;
    this.expected = performance.now() + this.intervalMs;
    this.timer = setInterval(() => {
      const now = performance.now();
      const late = Math.max(0, now - this.expected);
      this.expected = now + this.intervalMs;
      // Smoothed both ways: one GC pause does not shed anything, sustained lateness does within a
      // few probes (which are themselves late, so this reacts in well under a second).
      this.lagMs = this.lagMs * 0.7 + late * 0.3;
      // A late probe marks the stall until the next probe runs (late again, or on time: cleared).
      this.stalled = late > STALL_MS ? late : 0;
      this.stalledAt = now;
    }, this.intervalMs);
    this.timer.unref();
    return this;
  }

  /**
   * At most how long a request read now may have waited unread (ms): 0 unless the loop is stalled
   * (the probe overdue by more than STALL_MS) or has just come out of a stall. While the probe is
   * overdue, since the probe's last run; after a late probe and until the next one, since the run
   * before it. Never more than the stall in progress or just ended (a loop that lags turn after turn
   * loses one turn's lag from each budget, not the sum). 0 when stopped.
   */
  unseenMs(): number {
    if (this.timer === null) return 0;
    const now = performance.now();
    const overdue = now - this.expected;
    if (overdue > STALL_MS) return Math.ceil(overdue + this.intervalMs);
    if (this.stalled > 0) return Math.ceil(now - this.stalledAt + this.stalled + this.intervalMs);
    return 0;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.stalled = 0;
  }
}
