/**
 * Small fixed-memory meters for the admission queue: a sliding-window rate and a log-bucket
 * latency histogram. Time is passed in; nothing here reads a clock.
 */

/** Events per ms over the last `windowMs`, in `buckets` slices (memory: `buckets` numbers). */
export class RateMeter {
  private readonly counts: number[];
  private readonly stamps: number[];
  private readonly sliceMs: number;

  constructor(
    readonly windowMs: number,
    private readonly buckets = 10,
  ) {
    this.sliceMs = Math.max(1, Math.floor(windowMs / buckets));
    this.counts = new Array<number>(buckets).fill(0);
    this.stamps = new Array<number>(buckets).fill(-1);
  }

  record(now: number, n = 1): void {
    const slice = Math.floor(now / this.sliceMs);
    const i = slice % this.buckets;
    if (this.stamps[i] !== slice) {
      this.stamps[i] = slice;
      this.counts[i] = 0;
    }
    this.counts[i] += n;
  }

  /** Events per ms over the window ending at `now` (0 when nothing happened in it). */
  perMs(now: number): number {
    const current = Math.floor(now / this.sliceMs);
    let total = 0;
    for (let i = 0; i < this.buckets; i++) {
      const age = current - this.stamps[i];
      if (this.stamps[i] >= 0 && age >= 0 && age < this.buckets) total += this.counts[i];
    }
    return total / (this.buckets * this.sliceMs);
  }
}

// Upper bounds (ms) of the histogram buckets: 0.25 ms … ~65 s, doubling; one overflow bucket.
const BOUNDS: number[] = Array.from({ length: 19 }, (_, i) => 0.25 * 2 ** i);

export interface LatencySummary {
  count: number;
  meanMs: number;
  /** Bucket upper bounds: the true value is at most this, and more than half of it. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Log-bucket histogram: constant memory, percentiles within a factor of two. */
export class LatencyHistogram {
  private readonly counts = new Array<number>(BOUNDS.length + 1).fill(0);
  private count = 0;
  private sum = 0;
  private max = 0;

  record(ms: number): void {
    const v = Math.max(0, ms);
    let i = 0;
    while (i < BOUNDS.length && v > BOUNDS[i]) i++;
    this.counts[i]++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  summary(): LatencySummary {
    return {
      count: this.count,
      meanMs: this.count ? this.sum / this.count : 0,
      p50Ms: this.percentile(0.5),
      p99Ms: this.percentile(0.99),
      maxMs: this.max,
    };
  }

  private percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(i < BOUNDS.length ? BOUNDS[i] : Infinity, this.max);
    }
    return this.max;
  }
}
