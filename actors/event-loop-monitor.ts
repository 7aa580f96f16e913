import { constants, monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks';

export interface EventLoopStatus {
  /** Length of the window the figures cover (ms). */
  windowMs: number;
  /** Longest and 99th-percentile event-loop delay in the last complete window (ms). */
  maxMs: number;
  p99Ms: number;
  /** Longest delay since the process started (ms). */
  peakMs: number;
  /** Garbage collection in the last complete window: the longest pause and the sum of pauses (ms). */
  gcMaxMs: number;
  gcMs: number;
  /** The part of `gcMs` spent in full (mark-compact) collections, incremental marking included. */
  gcMajorMs: number;
}

/**
 * How long this process's event loop was blocked: one stalled turn delays every heartbeat, vote and
 * reply the node owes, so a status that shows it is the first thing to read when a node is slow.
 * Figures are for the last complete window (default 1 s), so any number of readers see the same.
 */
export class EventLoopMonitor {
  private readonly hist: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private readonly gc: PerformanceObserver;
  private last = { maxMs: 0, p99Ms: 0, gcMaxMs: 0, gcMs: 0, gcMajorMs: 0 };
  private gcMajorMs = 0;
  private peakMs = 0;
  private gcMaxMs = 0;
  private gcMs = 0;

  constructor(private readonly windowMs = 1000) {
    this.hist = monitorEventLoopDelay({ resolution: 10 });
    this.hist.enable();
    this.gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        this.gcMs += e.duration;
        this.gcMaxMs = Math.max(this.gcMaxMs, e.duration);
        const kind = ((e as { detail?: { kind?: number } }).detail?.kind) ?? 0;
        if (kind & (constants.NODE_PERFORMANCE_GC_MAJOR | constants.NODE_PERFORMANCE_GC_INCREMENTAL)) this.gcMajorMs += e.duration;
      }
    });
    this.gc.observe({ entryTypes: ['gc'] });
    this.timer = setInterval(() => this.roll(), windowMs);
    this.timer.unref();
  }

  status(): EventLoopStatus {
    return { windowMs: this.windowMs, ...this.last, peakMs: this.peakMs };
  }

  stop(): void {
    clearInterval(this.timer);
    this.hist.disable();
    this.gc.disconnect();
  }

  private roll(): void {
    const ms = (ns: number) => Math.round(ns / 1e5) / 10;
    const round = (x: number) => Math.round(x * 10) / 10;
    // An empty window (no samples yet) reports 0, not the histogram's sentinel values.
    const loop = this.hist.count > 0 ? { maxMs: ms(this.hist.max), p99Ms: ms(this.hist.percentile(99)) } : { maxMs: 0, p99Ms: 0 };
    this.last = { ...loop, gcMaxMs: round(this.gcMaxMs), gcMs: round(this.gcMs), gcMajorMs: round(this.gcMajorMs) };
    this.gcMaxMs = 0;
    this.gcMs = 0;
    this.gcMajorMs = 0;
    this.peakMs = Math.max(this.peakMs, this.last.maxMs);
    this.hist.reset();
  }
}
