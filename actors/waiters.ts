/**
 * Callers blocked in `wait(key)` until the key is free. Plain maps, no actor per waiter: the
 * lease manager calls `released` from the FSM's apply hook (synchronously, in Raft order) and
 * `recheck` after a snapshot replaced the state without events.
 *
 * Bounded: at most `max` waiters per node. A wait beyond that fails at once with `Overloaded`
 * (retryAfterMs) instead of queueing — an unbounded waiter set is exactly the memory growth the
 * Juju seeds warn about. Each waiter ends exactly once: woken, deadline passed
 * (`DeadlineExceeded`), aborted (`Cancelled`), or the node stopping (`Cancelled`).
 *
 * Deadlines share timers: a waiter's deadline is rounded up to the next `DEADLINE_TICK_MS` and every
 * waiter due in the same tick is answered by one timer, in one synchronous loop. A herd of waits
 * with one deadline used to be thousands of timers, each answer written to the socket on its own
 * (nats.js flushes in a microtask, and Node drains microtasks between timer callbacks); now their
 * answers leave together. The rounding answers at most one tick late, never early; the lease
 * manager's deadlines already keep a margin before the caller's own timer.
 */
import { keyId } from '../lease/state.ts';
import type { LeaseKey } from '../lease/types.ts';
import { systemClock, type Clock } from '../clock/clock.ts';
import { TenureError } from '../errors/errors.ts';
import { MAX_TIMER_MS } from './forwarder.ts';

export type WakeReason = 'free' | 'revoked' | 'expired';

export interface WaitOutcome {
  reason: WakeReason;
  /** Raft index of the entry that freed the key (absent when it was already free, or after a restore). */
  index?: number;
}

interface Waiter {
  key: LeaseKey;
  /** keyId of `key`. */
  id: string;
  resolve: (o: WaitOutcome) => void;
  reject: (e: TenureError) => void;
  /** The deadline tick whose timer ends this waiter (absent: no timer, the deadline is too far). */
  due?: number;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export interface WaitersOptions {
  max?: number;
  clock?: Clock;
  /** Retry hint when the set is full (default 1000 ms). */
  retryAfterMs?: number;
}

export const DEFAULT_MAX_WAITERS = 10_000;
/** Granularity of waiter deadlines: waiters due in the same tick share one timer. */
export const DEADLINE_TICK_MS = 10;

interface Tick {
  timer: unknown;
  waiters: Set<Waiter>;
}

export class Waiters {
  private readonly byKey = new Map<string, Set<Waiter>>();
  /** Waiters by deadline tick; at most one per waiter, so bounded by `max`. */
  private readonly ticks = new Map<number, Tick>();
  private count = 0;
  private readonly max: number;
  private readonly clock: Clock;
  private readonly retryAfterMs: number;
  /** Waits refused because the set was full. */
  rejected = 0;

  constructor(opts: WaitersOptions = {}) {
    this.max = opts.max ?? DEFAULT_MAX_WAITERS;
    this.clock = opts.clock ?? systemClock;
    this.retryAfterMs = opts.retryAfterMs ?? 1000;
  }

  get size(): number {
    return this.count;
  }

  /** Blocks until the key is released, `deadline` (absolute, on the clock) passes, or `signal` aborts. */
  add(key: LeaseKey, deadline: number, signal?: AbortSignal): Promise<WaitOutcome> {
    if (signal?.aborted) return Promise.reject(new TenureError('Cancelled', 'wait cancelled'));
    if (this.count >= this.max) {
      this.rejected++;
      return Promise.reject(
        new TenureError('Overloaded', `too many waiters on this node (${this.max})`, { retryAfterMs: this.retryAfterMs }),
      );
    }
    const remaining = deadline - this.clock.now();
    if (!(remaining > 0)) return Promise.reject(new TenureError('DeadlineExceeded', 'deadline passed while waiting for release'));
    const id = keyId(key.namespace, key.model, key.lease);
    return new Promise<WaitOutcome>((resolve, reject) => {
      const w: Waiter = { key, id, resolve, reject, signal };
      if (remaining <= MAX_TIMER_MS) this.schedule(w, Math.ceil(deadline / DEADLINE_TICK_MS) * DEADLINE_TICK_MS);
      if (signal) {
        w.onAbort = () => this.end(w, new TenureError('Cancelled', 'wait cancelled'));
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      let set = this.byKey.get(id);
      if (!set) this.byKey.set(id, (set = new Set()));
      set.add(w);
      this.count++;
    });
  }

  /** The FSM released `key` (revoked or expired) in entry `index`: wake everyone waiting on it. */
  released(key: LeaseKey, reason: 'revoked' | 'expired', index: number): void {
    if (this.byKey.size === 0) return; // the common case: no key id built for every lease that expires
    const id = keyId(key.namespace, key.model, key.lease);
    const set = this.byKey.get(id);
    if (!set) return;
    for (const w of set) this.end(w, { reason, index });
  }

  /** After a snapshot restore: wake every waiter whose key is now free. */
  recheck(isFree: (key: LeaseKey) => boolean): void {
    for (const set of this.byKey.values()) {
      for (const w of set) if (isFree(w.key)) this.end(w, { reason: 'free' });
    }
  }

  /** Ends every waiter with `err` (node stopping). */
  cancelAll(err: TenureError): void {
    for (const set of this.byKey.values()) for (const w of set) this.end(w, err);
  }

  private end(w: Waiter, outcome: WaitOutcome | TenureError): void {
    const set = this.byKey.get(w.id);
    if (!set || !set.delete(w)) return; // already ended
    if (set.size === 0) this.byKey.delete(w.id);
    this.count--;
    if (w.due !== undefined) this.unschedule(w, w.due);
    if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
    if (outcome instanceof TenureError) w.reject(outcome);
    else w.resolve(outcome);
  }

  /** Puts `w` in the tick ending at `due`, starting that tick's timer if it is the first. */
  private schedule(w: Waiter, due: number): void {
    w.due = due;
    let tick = this.ticks.get(due);
    if (!tick) {
      const waiters = new Set<Waiter>();
      tick = { waiters, timer: this.clock.setTimeout(() => this.expire(due), Math.max(0, due - this.clock.now())) };
      this.ticks.set(due, tick);
    }
    tick.waiters.add(w);
  }

  private unschedule(w: Waiter, due: number): void {
    const tick = this.ticks.get(due);
    if (!tick || !tick.waiters.delete(w) || tick.waiters.size > 0) return;
    this.ticks.delete(due);
    this.clock.clearTimeout(tick.timer);
  }

  /** The tick `due` has come: every waiter still in it gets `DeadlineExceeded`, in one loop. */
  private expire(due: number): void {
    const tick = this.ticks.get(due);
    if (!tick) return;
    for (const w of tick.waiters) this.end(w, new TenureError('DeadlineExceeded', 'deadline passed while waiting for release'));
  }
}
