/**
 * What the bench parent and its worker processes say to each other (Node IPC, `fork`).
 *
 *   parent → worker: init → (ready) → go{startAt} → leases/drop… → stop
 *   worker → parent: ready, tick{sec, counts, hists, gauges} once per second, done
 *
 * Seconds are whole seconds since the shared `startAt` (epoch ms), so the parent can add up the
 * workers' ticks and its own node samples second by second.
 */
import type { RatePhase } from './open-loop.ts';

/**
 * `held`: each loop claims a lease another holder keeps, so every answer is `Held` (counted as `held.ok`).
 * `race`: each loop's three units claim a fresh lease at once; one wins, two are told `Held` (`race.ok` per lease).
 */
export type ClosedOp = 'claim' | 'extend' | 'mixed' | 'bulk' | 'held' | 'race';

/** Ops whose `<op>.ok` counts are results: rates, CPU per op, charts and the progress line add these up. */
export const RESULT_OPS = ['claim', 'extend', 'revoke', 'reclaim', 'held', 'race'] as const;

export interface ClosedWorkload {
  kind: 'closed';
  op: ClosedOp;
  /** Request loops in this worker (each its own TenureClient / client id). */
  clients: number;
  /** NATS connections the loops share (round robin). */
  connections: number;
  durationMs: number;
  /** Lease duration of claims and extends. */
  leaseMs: number;
  /** bulk: leases each loop holds and extends with one `lease.batch` request. */
  batch?: number;
}

export interface OpenWorkload {
  kind: 'open';
  phases: RatePhase[];
  connections: number;
  /** Leases this worker claims before `go` and then extends round robin (for `extend` sends). */
  heldLeases: number;
  leaseMs: number;
  /** Claims due while this many sends are unanswered are counted as `claim.err.ClientBacklog` and not sent. */
  maxOutstanding: number;
  /** Phases (of the whole run's schedule) that follow a load drop: sends scheduled in them also count as `<op>.afterDrop`. */
  afterDrop?: boolean[];
}

export interface LeaseclaimerWorkload {
  kind: 'leaseclaimer';
  /** The logical claimer processes (the seed's `leadershipclaimer` processes) this worker runs. */
  processes: number[];
  units: number;
  claimMs: number;
  renewMs: number;
  /** NATS connections per worker; logical processes share them round robin. */
  connections: number;
  /** Longest single `wait` for release before claiming again (ms). */
  waitMs: number;
  /** Readers this worker runs: each reads a random lease of the run linearizably every READ_PAUSE_MS (failover `--readers`). */
  readers?: number;
  /** The readers use a NATS connection of their own on which no batch is sent: a program that only reads (`--readers-alone`). */
  readersAlone?: boolean;
}

export type Workload = ClosedWorkload | OpenWorkload | LeaseclaimerWorkload;

export interface WorkerInit {
  type: 'init';
  worker: number;
  natsUrl: string;
  cluster: string;
  workload: Workload;
  /** Deadline of each claim/extend/revoke (ms). */
  deadlineMs: number;
  /** TenureClient attempts per call (first included). */
  maxAttempts: number;
  /** Key prefix unique to this run (so runs on one cluster never collide). */
  runId: string;
  /** Clients on one connection coalesce a turn's writes into `lease.batch` requests. */
  coalesce: boolean;
}

export type ParentMessage =
  | WorkerInit
  | { type: 'go'; startAt: number }
  /** leaseclaimer: start units for lease indices [from, to) of every local process. */
  | { type: 'leases'; from: number; to: number }
  /** leaseclaimer: stop units for lease indices [from, to) (like killing those claimers: leases expire). */
  | { type: 'drop'; from: number; to: number }
  /** leaseclaimer: the holding unit of this fraction of the leases stops at once, without revoking (its process died): another unit should take over. */
  | { type: 'crashHolders'; fraction: number }
  | { type: 'stop' };

export interface Tick {
  type: 'tick';
  worker: number;
  sec: number;
  /** e.g. `claim.ok`, `claim.held`, `extend.err.Overloaded`, `open.sent`, `extend.lost`. */
  counts: Record<string, number>;
  /** Latency histograms (compressed base64 HDR, µs) by key: `claim`, `extend`, `claim.err`, …. */
  hists: Record<string, string>;
  gauges: Record<string, number>;
}

export type WorkerMessage =
  | { type: 'ready'; worker: number }
  | Tick
  | { type: 'done'; worker: number }
  | { type: 'error'; worker: number; message: string };
