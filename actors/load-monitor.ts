/**
 * Event-loop lag as a load signal. Under CPU saturation a node process falls behind on everything
 * at once, Raft heartbeats included; refusing work the moment the loop lags keeps it responsive.
 * The probe is a timer that notes how late it fires (smoothed, decaying quickly when load drops).
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
      // Rise at once, fall over a few probes: shedding starts fast and stops soon after recovery.
      this.lagMs = late > this.lagMs ? late : this.lagMs * 0.7 + late * 0.3;
    }, this.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
