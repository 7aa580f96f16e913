import type { Bus } from '../bus/types.ts';
import { TenureError } from '../errors/errors.ts';
import type { RaftMessage } from '../machines/raft/messages.ts';
import type { NodeId, SnapshotMeta } from '../machines/raft/types.ts';
import type { RaftStorage } from '../storage/types.ts';
import type { Subjects } from '../bus/subjects.ts';
import type { Logger } from '../log/logger.ts';

/** One InstallSnapshot chunk on the wire. */
export interface SnapshotChunk {
  from: NodeId;
  term: number;
  index: number;
  seq: number;
  data: Uint8Array;
}

/**
 * Follower side of InstallSnapshot: chunks arrive in order and are staged until the leader's final
 * `snapshot` message is accepted by the core. Bounded: a snapshot larger than `maxBytes` is refused.
 */
export class SnapshotReceiver {
  private staging = new Map<string, { chunks: Uint8Array[]; bytes: number; nextSeq: number }>();

  constructor(private readonly maxBytes: number) {}

  onChunk(c: SnapshotChunk): { ok: true } {
    if (!c || typeof c.from !== 'string' || typeof c.index !== 'number' || typeof c.seq !== 'number' || !(c.data instanceof Uint8Array)) {
      throw new TenureError('Invalid', 'snapshot chunk: malformed', { field: 'chunk' });
    }
    const key = `${c.from}:${c.index}`;
    let st = this.staging.get(key);
    if (c.seq === 0) {
      // A new transfer from this leader replaces any earlier unfinished one.
      for (const k of this.staging.keys()) if (k.startsWith(`${c.from}:`)) this.staging.delete(k);
      st = { chunks: [], bytes: 0, nextSeq: 0 };
      this.staging.set(key, st);
    }
    if (!st || st.nextSeq !== c.seq) throw new TenureError('Invalid', `snapshot chunk out of order: expected ${st?.nextSeq ?? 0}, got ${c.seq}`, { field: 'seq' });
    st.bytes += c.data.byteLength;
    if (st.bytes > this.maxBytes) {
      this.staging.delete(key);
      throw new TenureError('Invalid', `snapshot larger than ${this.maxBytes} bytes`, { field: 'data' });
    }
    st.chunks.push(c.data);
    st.nextSeq++;
    return { ok: true };
  }

  /** All of this snapshot's data is staged. */
  has(meta: SnapshotMeta): boolean {
    for (const [key, st] of this.staging) if (key.endsWith(`:${meta.index}`) && st.bytes === meta.size) return true;
    return false;
  }

  /** The staged data for an accepted snapshot (removed from staging). */
  take(meta: SnapshotMeta): Uint8Array[] | null {
    for (const [key, st] of this.staging) {
      if (key.endsWith(`:${meta.index}`) && st.bytes === meta.size) {
        this.staging.clear();
        return st.chunks;
      }
    }
    return null;
  }
}

/** Leader side: streams the stored snapshot in bounded chunks, then asks the follower to install it. */
export async function streamSnapshot(o: {
  bus: Bus;
  subject: string;
  msgSubject: string;
  storage: RaftStorage;
  from: NodeId;
  to: NodeId;
  term: number;
  chunkBytes: number;
  timeoutMs: number;
}): Promise<{ ok: boolean; index: number; replies: RaftMessage[] }> {
  const snap = await o.storage.readSnapshot();
  if (!snap) throw new Error('no snapshot to send');
  let seq = 0;
  for await (const chunk of snap.chunks) {
    for (let at = 0; at < chunk.byteLength || (at === 0 && chunk.byteLength === 0); at += o.chunkBytes) {
      const data = chunk.subarray(at, at + o.chunkBytes);
      await o.bus.request(o.subject, { from: o.from, term: o.term, index: snap.meta.index, seq: seq++, data }, { deadlineMs: o.timeoutMs });
      if (chunk.byteLength === 0) break;
    }
  }
  if (seq === 0) {
    await o.bus.request(o.subject, { from: o.from, term: o.term, index: snap.meta.index, seq: seq++, data: new Uint8Array(0) }, { deadlineMs: o.timeoutMs });
  }
  const install: RaftMessage = { type: 'snapshot', from: o.from, to: o.to, term: o.term, meta: snap.meta };
  const replies = await o.bus.request<RaftMessage[]>(o.msgSubject, install, { deadlineMs: o.timeoutMs });
  const resp = replies.find((r) => r.type === 'snapshotResp');
  return { ok: !!resp && resp.type === 'snapshotResp' && resp.success, index: snap.meta.index, replies };
}

/**
 * Leader side, one stream per follower at a time: `send` does nothing while a stream to that
 * follower is under way. `done` gets the follower's replies and whether it installed the
 * snapshot (a failed transfer is logged and reported as not installed).
 */
export class SnapshotSender {
  private readonly sending = new Set<NodeId>();

  constructor(private readonly o: { bus: Bus; subj: Subjects; storage: RaftStorage; from: NodeId; chunkBytes: number; timeoutMs: number; logger: Logger }) {}

  send(to: NodeId, term: number, done: (result: { ok: boolean; index: number; replies: RaftMessage[] }) => void): void {
    if (this.sending.has(to)) return;
    this.sending.add(to);
    const { bus, subj, storage, from, chunkBytes, timeoutMs } = this.o;
    streamSnapshot({ bus, subject: subj.raft(to, 'snapshot'), msgSubject: subj.raft(to, 'msg'), storage, from, to, term, chunkBytes, timeoutMs })
      .catch((err: unknown) => {
        this.o.logger.warn({ err: (err as Error).message, to }, 'snapshot transfer failed');
        return { ok: false, index: 0, replies: [] };
      })
      .then(done)
      .finally(() => this.sending.delete(to));
  }
}
