import type { LogEntry, NodeId, SnapshotMeta } from './types.ts';

/** Raft messages between nodes. Responses travel as the reply of the request they answer. */
interface Base {
  from: NodeId;
  to: NodeId;
  term: number;
}

export interface VoteRequest extends Base {
  type: 'preVote' | 'vote';
  lastIndex: number;
  lastTerm: number;
  /** Leadership transfer: the voter ignores its leader lease. */
  force?: boolean;
}

export interface VoteResponse extends Base {
  type: 'preVoteResp' | 'voteResp';
  granted: boolean;
}

export interface AppendRequest extends Base {
  type: 'append';
  prevIndex: number;
  prevTerm: number;
  entries: LogEntry[];
  commit: number;
}

export interface AppendResponse extends Base {
  type: 'appendResp';
  success: boolean;
  /** On success the follower's last new index; on reject the prevIndex that did not match. */
  index: number;
  /** Fast back-off hint on reject: a candidate next index and the follower's term there. */
  hintIndex?: number;
  hintTerm?: number;
}

export interface Heartbeat extends Base {
  type: 'heartbeat';
  commit: number;
  /** ReadIndex round this heartbeat confirms. */
  readCtx: number;
}

export interface HeartbeatResponse extends Base {
  type: 'heartbeatResp';
  readCtx: number;
  lastIndex: number;
}

/** Sent by the actor after it streamed all snapshot chunks; the core decides whether to install. */
export interface SnapshotInstall extends Base {
  type: 'snapshot';
  meta: SnapshotMeta;
}

export interface SnapshotResponse extends Base {
  type: 'snapshotResp';
  success: boolean;
  index: number;
}

export interface TimeoutNow extends Base {
  type: 'timeoutNow';
}

export type RaftMessage =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | SnapshotInstall
  | SnapshotResponse
  | TimeoutNow;

export function isResponse(m: RaftMessage): boolean {
  return m.type === 'preVoteResp' || m.type === 'voteResp' || m.type === 'appendResp' || m.type === 'heartbeatResp' || m.type === 'snapshotResp';
}
