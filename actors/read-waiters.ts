import { systemClock, type Clock } from '../clock/clock.ts';

/**
 * Callers of the Raft node waiting on reads: ReadIndex requests waiting for the leader's quorum
 * confirmation, and callers waiting for the local apply index to reach some index.
 */
export class ReadWaiters {
  private nextCtx = 0;
  private reads = new Map<number, { resolve: (index: number) => void; reject: (e: Error) => void }>();
  private applied: { index: number; resolve: () => void }[] = [];

  /** A new ReadIndex request: its context id and the promise of its read index. */
  startRead(): { ctx: number; index: Promise<number> } {
    const ctx = ++this.nextCtx;
    const index = new Promise<number>((resolve, reject) => this.reads.set(ctx, { resolve, reject }));
    return { ctx, index };
  }

  readConfirmed(ctx: number, index: number): void {
    this.reads.get(ctx)?.resolve(index);
    this.reads.delete(ctx);
  }

  readFailed(ctx: number, err: Error): void {
    this.reads.get(ctx)?.reject(err);
    this.reads.delete(ctx);
  }

  waitApplied(index: number, appliedNow: number): Promise<void> {
    if (appliedNow >= index) return Promise.resolve();
    return new Promise((resolve) => this.applied.push({ index, resolve }));
  }

  appliedTo(applied: number): void {
    if (!this.applied.length) return;
    const still: typeof this.applied = [];
    for (const w of this.applied) (w.index <= applied ? w.resolve() : still.push(w));
    this.applied = still;
  }

  failAll(err: Error): void {
    for (const w of this.reads.values()) w.reject(err);
    this.reads.clear();
  }
}

/**
 * One request at a time, shared: callers arriving while one is out share the next one (not the
 * current: it may have been answered from a state older than their call), so a burst of ReadIndex
 * calls on a follower costs at most two round trips to the leader. The shared request may take as
 * long as the latest deadline among the callers sharing it (until the twenty-fourth session it
 * took the budget of whoever arrived first, so one caller with little time left could fail a whole
 * herd of waits with `Timeout`); each caller still stops at its own deadline (`beforeDeadline`).
 */
export class SharedRequest<T> {
  private current: Promise<T> | null = null;
  private next: Promise<T> | null = null;
  private nextDeadline = 0;

  /** `deadline`: this caller's, in `now()` terms; `ask` is told how many ms the request may take. */
  run(deadline: number, ask: (ms: number) => Promise<T>, now: () => number = Date.now): Promise<T> {
    if (!this.current) {
      this.current = ask(Math.max(1, deadline - now())).finally(() => (this.current = null));
      return this.current;
    }
    this.nextDeadline = this.next ? Math.max(this.nextDeadline, deadline) : deadline;
    this.next ??= this.current
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        this.next = null;
        return this.run(this.nextDeadline, ask, now);
      });
    return this.next;
  }
}

/**
 * `work`, or `onLate()`'s error once `ms` have passed without it settling (the work itself goes on;
 * its outcome is then ignored). The timer is cleared as soon as `work` settles.
 */
export function beforeDeadline<T>(work: Promise<T>, ms: number, onLate: () => Error, clock: Clock = systemClock): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(onLate()), Math.max(0, ms));
    work.then(
      (v) => {
        clock.clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clock.clearTimeout(timer);
        reject(err);
      },
    );
  });
}
