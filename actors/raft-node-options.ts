import type { Logger } from 'pino';
import type { Bus } from '../bus/types.ts';
import { systemClock, type Clock } from '../clock/clock.ts';
import type { NodeId } from '../machines/raft/types.ts';
import type { RaftStorage } from '../storage/types.ts';

/** The replicated state machine Raft applies to (the lease FSM in production). */
export interface StateMachine {
  /** Applies one entry's commands in order; returns one result per command. Deterministic. */
  apply(index: number, commands: Uint8Array[]): unknown[];
  /**
   * The state at the last applied index, as chunks. The state is fixed when this is called: the
   * caller consumes the chunks over several event-loop turns while apply continues.
   */
  snapshot(): Iterable<Uint8Array>;
  restore(chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /** Optional: the application's clock as of now (a lease FSM's global time), sent with the leader's answers to other nodes. */
  timeNow?(): number;
  /** Optional: the leader's `timeNow()` carried by a reply this node just received. */
  heardTime?(time: number): void;
}

export interface RaftNodeOptions {
  id: NodeId;
  cluster: string;
  /** Initial voters for a brand-new cluster; ignored when storage already holds a config. */
  voters: NodeId[];
  bus: Bus;
  storage: RaftStorage;
  stateMachine: StateMachine;
  logger: Logger;
  clock?: Clock;
  seed?: number;
  electionMinMs?: number;
  electionMaxMs?: number;
  heartbeatMs?: number;
  rpcTimeoutMs?: number;
  maxInflight?: number;
  maxEntriesPerMessage?: number;
  maxBytesPerMessage?: number;
  /** Commands per Raft entry and bytes per entry when coalescing proposals. */
  maxCommandsPerEntry?: number;
  maxBytesPerEntry?: number;
  /** Commands waiting to be proposed; beyond it `propose` fails with Overloaded. */
  maxQueuedCommands?: number;
  /** Take a snapshot and compact once this many entries were applied since the last one. */
  snapshotEveryEntries?: number;
  /**
   * …or once the in-memory log holds this many bytes (big batches make entries large), or the size of
   * the last snapshot if that is larger. Bounds the memory the log takes between snapshots.
   */
  snapshotEveryBytes?: number;
  /**
   * True while the node is loaded (the production node: its event loop lags): a snapshot that is
   * due then waits for a quieter moment, up to 1.5× the configured bounds (actors/snapshot-policy.ts). Both
   * bounds are also scaled by a per-node factor in [1, 1.5), so nodes do not snapshot together.
   */
  snapshotBusy?: () => boolean;
  snapshotChunkBytes?: number;
  /** Longest synchronous run of snapshot capture before yielding to the event loop (ms). */
  snapshotSliceMs?: number;
}

export type ResolvedRaftNodeOptions = Required<Omit<RaftNodeOptions, 'seed' | 'clock' | 'snapshotBusy'>> & { clock: Clock; seed: number; snapshotBusy?: () => boolean };

/** Defaults for everything not given (see docs/raft.md for what each bound does when reached). */
export function withDefaults(opts: RaftNodeOptions): ResolvedRaftNodeOptions {
  return {
    clock: systemClock,
    seed: hashSeed(opts.id),
    electionMinMs: 300,
    electionMaxMs: 600,
    heartbeatMs: 50,
    rpcTimeoutMs: 500,
    maxInflight: 8,
    maxEntriesPerMessage: 256,
    maxBytesPerMessage: 512 * 1024,
    maxCommandsPerEntry: 4096,
    maxBytesPerEntry: 256 * 1024,
    maxQueuedCommands: 100_000,
    snapshotEveryEntries: 10_000,
    snapshotEveryBytes: 8 * 1024 * 1024,
    snapshotChunkBytes: 256 * 1024,
    snapshotSliceMs: 4,
    ...stripUndefined(opts),
  } as ResolvedRaftNodeOptions;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function hashSeed(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return (h ^ Date.now()) >>> 0;
}
