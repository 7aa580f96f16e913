/**
 * Bounds the requests a node's forwarder has in flight to the leader (the Azure primary tracker's
 * throttle: too many concurrent requests hurt the target). Up to `maxInFlight` run at once; up to
 * `maxWaiting` more wait in FIFO order, each until a slot frees, its deadline passes
 * (`DeadlineExceeded`) or its caller cancels (`Cancelled`). Beyond that a caller is refused at
 * once with `Overloaded` and a retry-after hint (the average time a slot is held, times the
 * queue ahead), so memory stays bounded and nobody waits on a line that cannot move.
 */
import type { Clock } from '../../clock/clock.ts';
import { TenureError } from '../../errors/errors.ts';

export interface InFlightLimitOptions {
  maxInFlight: number;
  maxWaiting: number;
  clock: Clock;
}

interface Waiter {
  grant: () => void;
  settled: boolean;
}

export type Release = () => void;

export class InFlightLimit {
  private active = 0;
  private waiters: Waiter[] = [];
  private head = 0;
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
  acquire(deadline: number, signal?: AbortSignal): Promise<Release> {
    const { clock, maxInFlight, maxWaiting } = this.opts;
    if (signal?.aborted) return Promise.reject(new TenureError('Cancelled', 'cancelled before sending'));
    if (this.active < maxInFlight && this.waiting === 0) return Promise.resolve(this.take());
    if (this.waiting >= maxWaiting) {
      this.counters.refused++;
      const ahead = this.waiting + 1;
      const retryAfterMs = Math.max(1, Math.ceil((this.holdMs || 1) * (ahead / maxInFlight)));
      return Promise.reject(
        new TenureError('Overloaded', `${this.active} requests in flight to the leader and ${this.waiting} waiting`, { retryAfterMs, scope: 'client' }),
      );
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
          else this.counters.expired++;
          this.compact();
          reject(err);
        } else resolve(this.take());
      };
      const w: Waiter = { grant: () => finish(), settled: false };
      this.waiters.push(w);
      this.waiting++;
      const wait = deadline - clock.now();
      if (wait <= 0) return finish(new TenureError('DeadlineExceeded', 'deadline passed while waiting to send'));
      if (Number.isFinite(wait)) timer = clock.setTimeout(() => finish(new TenureError('DeadlineExceeded', 'deadline passed while waiting to send')), wait);
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

  private grantNext(): void {
    while (this.active < this.opts.maxInFlight && this.head < this.waiters.length) {
      const w = this.waiters[this.head++];
      if (!w.settled) w.grant();
    }
    this.compact();
  }

  /** Drops settled waiters so the array never outgrows the live ones by much. */
  private compact(): void {
    const stored = this.waiters.length - this.head;
    if (stored === 0) {
      this.waiters = [];
      this.head = 0;
    } else if (stored > 64 && stored > 2 * this.waiting) {
      this.waiters = this.waiters.slice(this.head).filter((w) => !w.settled);
      this.head = 0;
    }
  }
}
