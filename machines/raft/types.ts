/** Types shared by the Raft core (machines/raft), its actor (actors/raft-node) and storage (storage/). */

export type NodeId = string;

export const EntryType = {
  /** A batch of state-machine commands, opaque to Raft. */
  Command: 0,
  /** A membership change: data is an encoded `ClusterConfig`. */
  Config: 1,
  /** The empty entry a new leader appends to commit entries of earlier terms. */
  Noop: 2,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface LogEntry {
  index: number;
  term: number;
  type: EntryType;
  data: Uint8Array;
}

/** Persisted before any vote or append is acknowledged. */
export interface HardState {
  term: number;
  vote: NodeId | null;
  commit: number;
}

/** Voting members. Single-server changes: at most one change in flight. */
export interface ClusterConfig {
  voters: NodeId[];
}

export interface SnapshotMeta {
  /** Last log index the snapshot covers. */
  index: number;
  term: number;
  config: ClusterConfig;
  /** Bytes of snapshot data and a CRC32 over them, checked on read and on install. */
  size: number;
  checksum: number;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export interface RaftCoreOptions {
  id: NodeId;
  maxInflight: number;
  maxEntriesPerMessage: number;
  maxBytesPerMessage: number;
}
