/**
 * The Raft node's disk writes in flight: issued back to back, finished in issue order.
 *
 * A follower used to take its next batch of entries only once the previous batch was fsynced, so
 * an append arriving mid-write waited for that write and then for its own. Writes are now issued
 * as soon as the Ready loop has them (LMDB commits them in issue order and its `flushed` covers
 * every commit before it), and what must follow a write (acknowledging it, counting its entries
 * as persisted) runs from here in the order the writes were issued, only once that write and
 * every earlier one are durable.
 *
 * Generations tie a caller to the writes it must wait for: `mark()` before stepping a message,
 * `durable(gen)` after; every write added with a generation ≥ gen covers that step's changes.
 *
 * Bounded: at most `limit` writes in flight; the Ready loop waits (`idle`) before issuing more,
 * so the backlog of un-persisted entries stays in the Raft log, which its own limits bound.
 * After a failure nothing more runs: `onError` is called once and the node stops.
 */
export class WritePipeline {
  private tail: Promise<void> = Promise.resolve();
  private count = 0;
  private failed = false;
  private markedGen = 0;
  private issuedGen = 0;
  private durableGen = 0;
  private waiters: { gen: number; resolve: () => void }[] = [];

  constructor(
    readonly limit: number,
    private readonly onError: (err: Error) => void,
  ) {}

  get inFlight(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count >= this.limit;
  }

  /** A new generation: the next write added covers every change made before this call. */
  mark(): number {
    return ++this.markedGen;
  }

  /** The generation the next write covers. */
  get current(): number {
    return this.markedGen;
  }

  /** Resolves once a write covering `gen` is durable (at once if one already is). */
  durable(gen: number): Promise<void> {
    if (this.durableGen >= gen) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ gen, resolve }));
  }

  /** Someone waits for a generation no write added so far covers. */
  get awaited(): boolean {
    for (const w of this.waiters) if (w.gen > this.issuedGen) return true;
    return false;
  }

  /**
   * `write` (covering generation `gen`) was issued already; null: nothing to write, only order.
   * `then` runs once it and every write added before it have finished, in the order they were added.
   */
  add(write: Promise<void> | null, gen: number, then: () => void): void {
    this.count++;
    this.issuedGen = gen;
    const before = this.tail;
    const done = write === null ? before : Promise.all([before, write]);
    this.tail = done.then(
      () => {
        this.count--;
        if (this.failed) return;
        this.durableTo(gen);
        try {
          then();
        } catch (err) {
          this.fail(err as Error);
        }
      },
      (err: unknown) => {
        this.count--;
        this.fail(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  /** Resolves once every write added so far has finished (and its `then` ran). Never rejects. */
  idle(): Promise<void> {
    return this.tail;
  }

  private durableTo(gen: number): void {
    this.durableGen = gen;
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) (w.gen <= gen ? w.resolve() : still.push(w));
    this.waiters = still;
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.onError(err);
  }
}
