/**
 * Time is injected everywhere: machines never read the wall clock. The shape matches XState's
 * `clock` actor option (setTimeout/clearTimeout) plus `now()`.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Runs `fn` at the end of the current event-loop turn, after pending I/O callbacks (optional). */
  defer?(fn: () => void): void;
  /**
   * The wall clock, which may step (optional): only for cross-checks where `now()`'s monotonic
   * time could run slow — Linux's does not count a machine's suspend. The leadership helper stops
   * believing when either clock says the promised time is up.
   */
  wall?(): number;
}

/**
 * Runs `fn` once the current turn's I/O callbacks and microtasks are done — the point where
 * everything that arrived together has been seen (batching without a timer). Clocks without
 * `defer` get a zero-delay timer (on SimClock: the same virtual instant, after other due timers).
 */
export function defer(clock: Clock, fn: () => void): void {
  if (clock.defer) clock.defer(fn);
  else clock.setTimeout(fn, 0);
}

const ORIGIN = performance.timeOrigin;

/**
 * Epoch milliseconds that never step: the wall clock as of process start plus the monotonic time
 * since (whole ms, never decreasing). Every duration Tenure measures is taken on it — how far the
 * leader moves global time, how long a holder may believe it holds (`sent + remainingMs`), request
 * deadlines — so a wall clock stepped by NTP, an operator or a VM resume neither expires every lease
 * at once (a step forward on the leader) nor freezes global time (a step back), and a holder whose
 * clock is stepped back does not believe past what it was granted. Absolute deadlines never cross
 * processes (`Tenure-Deadline-Ms` carries relative ms), so no two processes need to agree on it.
 * It drifts from the wall clock only by the steps taken since start (pino's log times stay wall time).
 */
export function monotonicNow(): number {
  return Math.floor(ORIGIN + performance.now());
}

export const systemClock: Clock = {
  now: monotonicNow,
  wall: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  defer: (fn) => void setImmediate(fn),
};

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A deterministic clock for simulation: timers fire in (time, creation order); nothing runs
 * until the driver calls `advanceTo`/`step`. Between timers the driver should let promise
 * microtasks settle (see `settle`), so async code observes a consistent order.
 */
export class SimClock implements Clock {
  private t: number;
  private seq = 0;
  private heap: Timer[] = [];

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.push(timer);
    return timer;
  }

  clearTimeout(handle: unknown): void {
    if (handle) (handle as Timer).cancelled = true;
  }

  /** Time of the next live timer, or undefined. */
  nextAt(): number | undefined {
    while (this.heap.length && this.heap[0].cancelled) this.pop();
    return this.heap.length ? this.heap[0].at : undefined;
  }

  /** Fires the next due timer (if any at or before `limit`) and returns true if one fired. */
  step(limit = Infinity): boolean {
    const at = this.nextAt();
    if (at === undefined || at > limit) return false;
    const timer = this.pop()!;
    this.t = Math.max(this.t, timer.at);
    timer.fn();
    return true;
  }

  /** Runs every timer due up to `target`, settling microtasks after each, then sets time to target. */
  async advanceTo(target: number): Promise<void> {
    await settle();
    while (this.step(target)) await settle();
    this.t = Math.max(this.t, target);
  }

  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.t + ms);
  }

  private push(timer: Timer): void {
    const h = this.heap;
    h.push(timer);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p], h[i])) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  private pop(): Timer | undefined {
    const h = this.heap;
    if (!h.length) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l], h[m])) m = l;
        if (r < h.length && less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}

function less(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/**
 * Lets every queued promise continuation run: a macrotask boundary drains the whole microtask
 * queue. Deterministic as long as simulated code does no real I/O.
 */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence on every machine. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
}
