/**
 * A mailbox that holds only the latest value (the Nomad PR 6977 lesson): `put` never waits and
 * overwrites whatever the consumer has not taken yet, so a slow or stuck consumer can never block
 * the producer (Raft). Consumers see the newest value, possibly skipping intermediate ones.
 */
export class LatestMailbox<T> {
  private value: T | undefined;
  private version = 0;
  private taken = 0;
  private waiter: ((v: T) => void) | null = null;
  /** Values overwritten before anyone took them (how much a slow consumer skipped). */
  dropped = 0;

  put(value: T): void {
    if (this.version > this.taken && !this.waiter) this.dropped++;
    this.value = value;
    this.version++;
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      this.taken = this.version;
      w(value);
    }
  }

  /** Resolves with the newest value not yet taken (at once if there is one). One consumer at a time. */
  take(): Promise<T> {
    if (this.version > this.taken) {
      this.taken = this.version;
      return Promise.resolve(this.value as T);
    }
    if (this.waiter) throw new Error('LatestMailbox: only one consumer may wait');
    return new Promise((resolve) => (this.waiter = resolve));
  }

  peek(): T | undefined {
    return this.value;
  }
}
