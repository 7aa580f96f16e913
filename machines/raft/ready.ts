import type { RaftMessage } from './messages.ts';
import type { ReadState } from './read-index.ts';
import type { HardState, LogEntry, NodeId, SnapshotMeta } from './types.ts';

/** What the actor must do next (etcd's `Ready`): persist, then send, then apply. */
export interface Ready {
  hardState?: HardState;
  write?: { truncateFrom: number; entries: LogEntry[] };
  /** Follower accepted a leader's snapshot: install the staged data, then restore the state machine. */
  restore?: SnapshotMeta;
  messages: RaftMessage[];
  snapshotsToSend: NodeId[];
  readStates: ReadState[];
  /** Reads that can no longer be served here (leadership lost). */
  failedReads: number[];
}

export class RaftError extends Error {
  constructor(
    readonly reason: 'NotLeader' | 'Busy',
    message: string,
    readonly leader: NodeId | null,
  ) {
    super(message);
  }
}

/**
 * What the core accumulates between two `takeReady` calls, and the hard state last handed out
 * (so only changes are persisted).
 */
export class Outbox {
  ready: Ready = emptyReady();
  private lastHard: HardState;

  constructor(hard: HardState) {
    this.lastHard = { ...hard };
  }

  take(hs: HardState, write: Ready['write'] | null): Ready {
    const rd = this.ready;
    this.ready = emptyReady();
    if (write) rd.write = write;
    // Term and vote must be durable before we answer; the commit index is only a restart hint, so it
    // rides along with the next entry write instead of costing an fsync of its own.
    if (hs.term !== this.lastHard.term || hs.vote !== this.lastHard.vote || (write && hs.commit !== this.lastHard.commit)) {
      rd.hardState = hs;
      this.lastHard = hs;
    }
    return rd;
  }

  /** Removes and returns the queued messages only (the rest stays for the next `take`). */
  takeMessages(): RaftMessage[] {
    const m = this.ready.messages;
    this.ready.messages = [];
    return m;
  }

  pending(hs: HardState, unstableEntries: boolean): boolean {
    const o = this.ready;
    return (
      o.messages.length > 0 ||
      o.snapshotsToSend.length > 0 ||
      o.readStates.length > 0 ||
      o.failedReads.length > 0 ||
      o.restore !== undefined ||
      unstableEntries ||
      hs.term !== this.lastHard.term ||
      hs.vote !== this.lastHard.vote
    );
  }
}

function emptyReady(): Ready {
  return { messages: [], snapshotsToSend: [], readStates: [], failedReads: [] };
}
