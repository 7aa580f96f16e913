import type { LogWrite, RaftStorage, UnmeasuredSnapshotMeta } from '../../storage/types.ts';
import type { SnapshotMeta } from '../../machines/raft/types.ts';

/**
 * A crashed node's storage handle: after `fence()` its writes fail, so work still in flight from a
 * dead incarnation can never touch the "disk" the restarted node uses.
 */
export class FencedStorage implements RaftStorage {
  private fenced = false;
  private landed: Promise<void> = Promise.resolve();
  /** Writes issued and not yet landed, and the most there ever were at once. */
  inFlight = 0;
  maxInFlight = 0;
  /** `writeDelay` models the disk: a write lands (and resolves) only after it and every earlier write; a crash first loses it. */
  constructor(
    private readonly inner: RaftStorage,
    private readonly writeDelay?: () => Promise<void>,
  ) {}
  fence(): void {
    this.fenced = true;
  }
  private check(): void {
    if (this.fenced) throw new Error('storage fenced: node crashed');
  }
  load() {
    this.check();
    return this.inner.load();
  }
  async write(batch: LogWrite): Promise<void> {
    this.check();
    if (!this.writeDelay) return this.inner.write(batch);
    // Writes land in call order, as LMDB commits them, however their delays fall.
    const before = this.landed;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const landing = Promise.all([before, this.writeDelay()])
      .then(() => {
        this.check();
        return this.inner.write(batch);
      })
      .finally(() => this.inFlight--);
    this.landed = landing.catch(() => {});
    return landing;
  }
  async saveSnapshot(meta: SnapshotMeta | UnmeasuredSnapshotMeta, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts?: { discardLog?: boolean }): Promise<SnapshotMeta> {
    this.check();
    const all: Uint8Array[] = [];
    for await (const c of chunks) all.push(c);
    this.check();
    return this.inner.saveSnapshot(meta, all, opts);
  }
  readSnapshot() {
    return this.inner.readSnapshot();
  }
  close() {
    return this.inner.close();
  }
}
