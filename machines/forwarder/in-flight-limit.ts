/**
 * Bounds the requests a node's forwarder has in flight to the leader (the Azure primary tracker's
 * throttle: too many concurrent requests hurt the target). Up to `maxInFlight` run at once; up to
 * `maxWaiting` more wait, highest priority first and FIFO within a priority (the admission lanes:
 * an extension never queues behind claims here either), each until a slot frees, its deadline
 * passes (`DeadlineExceeded`) or its caller cancels (`Cancelled`). When the wait line is full, a
 * caller of higher priority than the lowest waiting one takes its place (that waiter is refused);
 * otherwise the caller is refused at once. Nobody waits longer than `maxWaitMs` either: a waiter
 * still without a slot by then is refused, so a line built up during overload empties within that
 * time once load drops, and fresh callers are not stuck behind seconds of stale ones (measured: at
 * 5× overload, waiting until the deadline kept new claims queued for 3–5 s after the load fell).
 * Refusals are `Overloaded` with a retry-after hint (the average time a slot is held, times the
 * queue ahead), so memory stays bounded and nobody waits on a line that cannot move.
 */
import type { Clock } from '../../clock/clock.ts';
import { TenureError } from '../../errors/errors.ts';

export interface InFlightLimitOptions {
  maxInFlight: number;
  maxWaiting: number;
  /** Longest wait for a slot before `Overloaded` (ms); default: until the caller's deadline. */
  maxWaitMs?: number;
  clock: Clock;
}

interface Waiter {
  grant: () => void;
  refuse: (err: TenureError) => void;
  settled: boolean;
}

/** Priorities 0 (highest) … PRIORITIES-1; the admission lanes map onto them. */
export const PRIORITIES = 5;

export type Release = () => void;

export class InFlightLimit {
  private active = 0;
  /** One FIFO per priority; settled waiters are skipped and compacted away. */
  private waiters: Waiter[][] = Array.from({ length: PRIORITIES }, () => []);
  private heads: number[] = new Array(PRIORITIES).fill(0);
  private waiting = 0;
  /** Moving average of how long a slot is held (ms), for the retry-after hint. */
  private holdMs = 0;
  readonly counters = { granted: 0, waited: 0, refused: 0, expired: 0, cancelled: 0 };

  constructor(private readonly opts: InFlightLimitOptions) {
    if (!(opts.maxInFlight >= 1 && opts.maxWaiting >= 0)) throw new Error('InFlightLimit: need maxInFlight ≥ 1 and maxWaiting ≥ 0');
  }

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting;
  }

  /** Resolves with a release function once a slot is held; call it exactly when the request ends. */
  acquire(deadline: number, signal?: AbortSignal, priority = 0): Promise<Release> {
    const { clock, maxInFlight, maxWaiting } = this.opts;
    const prio = Math.min(PRIORITIES - 1, Math.max(0, Math.floor(priority)));
    if (signal?.aborted) return Promise.reject(new TenureError('Cancelled', 'cancelled before sending'));
    if (this.active < maxInFlight && this.waiting === 0) return Promise.resolve(this.take());
    if (this.waiting >= maxWaiting) {
      const victim = this.lowestWaiter(prio);
      if (victim) victim.refuse(this.overloaded());
      else {
        this.counters.refused++;
        return Promise.reject(this.overloaded());
      }
    }
    this.counters.waited++;
    return new Promise<Release>((resolve, reject) => {
      let timer: unknown;
      const onAbort = () => finish(new TenureError('Cancelled', 'cancelled while waiting to send'));
      const finish = (err?: TenureError) => {
        if (w.settled) return;
        w.settled = true;
        this.waiting--;
        if (timer !== undefined) clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err) {
          if (err.code === 'Cancelled') this.counters.cancelled++;
          else if (err.code === 'Overloaded') this.counters.refused++;
          else this.counters.expired++;
          this.compact();
          reject(err);
        } else resolve(this.take());
      };
      const w: Waiter = { grant: () => finish(), refuse: (err) => finish(err), settled: false };
      this.waiters[prio].push(w);
      this.waiting++;
      const wait = deadline - clock.now();
      if (wait <= 0) return finish(new TenureError('DeadlineExceeded', 'deadline passed while waiting to send'));
      const maxWait = this.opts.maxWaitMs ?? Infinity;
      if (maxWait < wait) timer = clock.setTimeout(() => finish(this.overloaded(`waited ${maxWait} ms for one of ${this.opts.maxInFlight} slots to the leader`)), maxWait);
      else if (Number.isFinite(wait)) timer = clock.setTimeout(() => finish(new TenureError('DeadlineExceeded', 'deadline passed while waiting to send')), wait);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private take(): Release {
    this.active++;
    this.counters.granted++;
    const started = this.opts.clock.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      const held = this.opts.clock.now() - started;
      this.holdMs = this.holdMs === 0 ? held : this.holdMs * 0.9 + held * 0.1;
      this.grantNext();
    };
  }

  private overloaded(why?: string): TenureError {
    const ahead = this.waiting + 1;
    const retryAfterMs = Math.max(1, Math.ceil((this.holdMs || 1) * (ahead / this.opts.maxInFlight)));
    return new TenureError('Overloaded', why ?? `${this.active} requests in flight to the leader and ${this.waiting} waiting`, { retryAfterMs, scope: 'client' });
  }

  /** The newest live waiter of the lowest priority below `than`, if any (it gives way). */
  private lowestWaiter(than: number): Waiter | undefined {
    for (let p = PRIORITIES - 1; p > than; p--) {
      const q = this.waiters[p];
      for (let i = q.length - 1; i >= this.heads[p]; i--) if (!q[i].settled) return q[i];
    }
    return undefined;
  }

  private grantNext(): void {
    for (let p = 0; p < PRIORITIES && this.active < this.opts.maxInFlight; p++) {
      const q = this.waiters[p];
      while (this.active < this.opts.maxInFlight && this.heads[p] < q.length) {
        const w = q[this.heads[p]++];
        if (!w.settled) w.grant();
      }
    }
    this.compact();
  }

  /** Drops settled waiters so the arrays never outgrow the live ones by much. */
  private compact(): void {
    for (let p = 0; p < PRIORITIES; p++) {
      const q = this.waiters[p];
      const stored = q.length - this.heads[p];
      if (stored === 0) {
        this.waiters[p] = [];
        this.heads[p] = 0;
      } else if (stored > 64 && stored > 2 * this.waiting) {
        this.waiters[p] = q.slice(this.heads[p]).filter((w) => !w.settled);
        this.heads[p] = 0;
      }
    }
  }
}
