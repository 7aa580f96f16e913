/**
 * Small fixed-memory meters for the admission queue: a sliding-window departure rate (over wall time
 * and over busy time) and a log-bucket latency histogram. Time is passed in; nothing here reads a clock.
 */

/**
 * Events (departures from a queue) over the last `windowMs`, in `buckets` slices, per ms of wall time
 * (`perMs`) and per ms of *busy* time (`perBusyMs`): what left the queue divided by how long it had
 * something waiting — its service rate. After an idle spell the two differ most: a burst into a queue that drained 1,000 commands in 5 ms
 * a moment ago has a service rate of 200 per ms, while the wall-time rate over a 1 s window says 1.
 * Under sustained load (the queue never empties) they are the same. Time is passed in.
 */
export class BusyRateMeter {
  private readonly counts: number[];
  private readonly busyMs: number[];
  private readonly stamps: number[];
  private readonly sliceMs: number;
  /** Start of the current busy spell, or null while idle. */
  private busySince: number | null = null;

  constructor(
    readonly windowMs: number,
    private readonly buckets = 10,
  ) {
    this.sliceMs = Math.max(1, Math.floor(windowMs / buckets));
    this.counts = new Array<number>(buckets).fill(0);
    this.busyMs = new Array<number>(buckets).fill(0);
    this.stamps = new Array<number>(buckets).fill(-1);
  }

  /** `n` events (commands leaving) at `now`. */
  record(now: number, n = 1): void {
    this.counts[this.slot(Math.floor(now / this.sliceMs))] += n;
  }

  /** The queue has work waiting from `now` on (no-op while already busy). */
  busy(now: number): void {
    if (this.busySince === null) this.busySince = now;
  }

  /** The queue is empty from `now` on: the busy spell so far is booked. */
  idle(now: number): void {
    if (this.busySince === null) return;
    this.book(this.busySince, now);
    this.busySince = null;
  }

  /** Events per ms of wall time over the window ending at `now` (0 when nothing happened in it). */
  perMs(now: number): number {
    const current = Math.floor(now / this.sliceMs);
    let count = 0;
    for (let i = 0; i < this.buckets; i++) if (this.inWindow(i, current)) count += this.counts[i];
    return count / (this.buckets * this.sliceMs);
  }

  /**
   * Events per busy ms over the window ending at `now`; null when the queue was busy for less than
   * `minBusyMs` of it (nothing to go by: a queue that empties as fast as it fills).
   */
  perBusyMs(now: number, minBusyMs = 1): number | null {
    const current = Math.floor(now / this.sliceMs);
    const windowStart = (current - this.buckets + 1) * this.sliceMs;
    let count = 0;
    let busy = this.busySince === null ? 0 : Math.max(0, now - Math.max(this.busySince, windowStart));
    for (let i = 0; i < this.buckets; i++) {
      if (this.inWindow(i, current)) {
        count += this.counts[i];
        busy += this.busyMs[i];
      }
    }
    return busy < minBusyMs ? null : count / busy;
  }

  private inWindow(i: number, current: number): boolean {
    const age = current - this.stamps[i];
    return this.stamps[i] >= 0 && age >= 0 && age < this.buckets;
  }

  /** Spreads the busy spell [from, to) over the slices it covers (only those still in a window). */
  private book(from: number, to: number): void {
    const last = Math.floor(to / this.sliceMs);
    let at = Math.max(from, (last - this.buckets + 1) * this.sliceMs);
    while (at < to) {
      const slice = Math.floor(at / this.sliceMs);
      const end = Math.min(to, (slice + 1) * this.sliceMs);
      this.busyMs[this.slot(slice)] += end - at;
      at = end;
    }
  }

  private slot(slice: number): number {
    const i = slice % this.buckets;
    if (this.stamps[i] !== slice) {
      this.stamps[i] = slice;
      this.counts[i] = 0;
      this.busyMs[i] = 0;
    }
    return i;
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
