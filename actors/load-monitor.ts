/**
 * Event-loop lag as a load signal. Under CPU saturation a node process falls behind on everything
 * at once, Raft heartbeats included; refusing work the moment the loop lags keeps it responsive.
 * The probe is a timer that notes how late it fires, smoothed so that a single pause is ignored.
 */
export class LoadMonitor {
  /** Smoothed lateness of the probe timer, ms. */
  lagMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private expected = 0;

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
    }, this.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
