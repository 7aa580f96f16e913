import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface EventLoopStatus {
  /** Length of the window the figures cover (ms). */
  windowMs: number;
  /** Longest and 99th-percentile event-loop delay in the last complete window (ms). */
  maxMs: number;
  p99Ms: number;
  /** Longest delay since the process started (ms). */
  peakMs: number;
}

/**
 * How long this process's event loop was blocked: one stalled turn delays every heartbeat, vote and
 * reply the node owes, so a status that shows it is the first thing to read when a node is slow.
 * Figures are for the last complete window (default 1 s), so any number of readers see the same.
 */
export class EventLoopMonitor {
  private readonly hist: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private last = { maxMs: 0, p99Ms: 0 };
  private peakMs = 0;

  constructor(private readonly windowMs = 1000) {
    this.hist = monitorEventLoopDelay({ resolution: 10 });
    this.hist.enable();
    this.timer = setInterval(() => this.roll(), windowMs);
    this.timer.unref();
  }

  status(): EventLoopStatus {
    return { windowMs: this.windowMs, ...this.last, peakMs: Math.max(this.peakMs, this.last.maxMs) };
  }

  stop(): void {
    clearInterval(this.timer);
    this.hist.disable();
  }

  private roll(): void {
    const ms = (ns: number) => Math.round(ns / 1e5) / 10;
    // An empty window (no samples yet) reports 0, not the histogram's sentinel values.
    this.last = this.hist.count > 0 ? { maxMs: ms(this.hist.max), p99Ms: ms(this.hist.percentile(99)) } : { maxMs: 0, p99Ms: 0 };
    this.peakMs = Math.max(this.peakMs, this.last.maxMs);
    this.hist.reset();
  }
}
