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
 * calls on a follower costs at most two round trips to the leader.
 */
export class SharedRequest<T> {
  private current: Promise<T> | null = null;
  private next: Promise<T> | null = null;

  run(ask: () => Promise<T>): Promise<T> {
    if (!this.current) {
      this.current = ask().finally(() => (this.current = null));
      return this.current;
    }
    this.next ??= this.current
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        this.next = null;
        return this.run(ask);
      });
    return this.next;
  }
}
