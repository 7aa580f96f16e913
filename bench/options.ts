/** Options of `tenure bench` and their defaults (kept light: cli/main.ts loads this at start-up). */
import type { Transport } from './cluster.ts';

export const WORKLOADS = ['claim', 'extend', 'mixed', 'held', 'race', 'latency', 'bulk', 'open', 'leaseclaimer', 'overload', 'failover'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

export interface BenchOptions {
  workload: WorkloadName;
  natsUrl?: string;
  cluster?: string;
  nodes?: string[];
  transport: Transport;
  ab: boolean;
  /** Worker processes generating load. */
  workers: number;
  /** NATS connections per worker. */
  connections: number;
  concurrency: number[];
  seconds: number;
  /**
   * Closed loop: seconds run before the measured window. 15 by default because a freshly started
   * node is still compiling: V8's optimizing compiler took 15.7 % of the box 8–12 s into a run of
   * extends and 0.7 % at 28–32 s, so a 2 s warm-up measured the JIT (docs/benchmarks.md, session 17).
   */
  warmup: number;
  /** bulk: outstanding batch requests per connection. */
  depth: number;
  /** bulk: extends per `lease.batch` request. */
  batch: number;
  /** Clients sharing a connection coalesce a turn's writes into one `lease.batch` request. */
  coalesce: boolean;
  /** open: op for a plain rate profile, and the profile (`20s@5000,…`). */
  op: string;
  rates: string;
  /** leaseclaimer */
  processes: number;
  units: number;
  claimMs: number;
  renewMs: number;
  schedule: string;
  stepSeconds: number;
  waitMs: number;
  /** failover: leases per claimer process, the faults (bench/faults.ts), seconds run after the last heal. */
  leases: number;
  faults: string;
  afterSeconds: number;
  crashHolders: number;
  /** failover: linearizable readers over all workers (each reads a random lease ten times a second). */
  readers: number;
  /** failover: the readers use a connection of their own that sends no batch (a program that only reads). */
  readersAlone: boolean;
  /** overload */
  sustainable?: number;
  factor: number;
  baselineSeconds: number;
  overloadSeconds: number;
  recoverySeconds: number;
  extendShare: number;
  /** Lease duration of claims in the throughput modes. */
  leaseMs: number;
  deadlineMs: number;
  maxAttempts: number;
  outDir: string;
  /** Also copy the SVGs into this directory (e.g. docs/bench). */
  copyTo?: string;
  label?: string;
  cpuProf: boolean;
  /** Subscribe to every lease event and count what arrives against what the nodes published (bench/event-watch.ts). */
  watchEvents: boolean;
  /** Niceness (0–19) of the generator processes. */
  workerNice: number;
  /** Open loop: claims unanswered per worker beyond which due claims are not sent (`ClientBacklog`). */
  maxOutstanding: number;
  /** Extra environment for the node processes (e.g. TENURE_ELECTION_TIMEOUT_MS). */
  nodeEnv: Record<string, string>;
  /** Progress line: 'tty' (\r), 'lines' (one per 5 s), 'none'. */
  progress: 'tty' | 'lines' | 'none';
}

export const DEFAULTS: BenchOptions = {
  workload: 'claim',
  transport: 'facade',
  ab: false,
  workers: 2,
  connections: 8,
  concurrency: [16, 128],
  seconds: 10,
  warmup: 15,
  depth: 4,
  batch: 512,
  coalesce: true,
  op: 'claim',
  rates: '20s@2000',
  processes: 100,
  units: 3,
  claimMs: 10_000,
  renewMs: 5_000,
  schedule: '+20,+20,+40,-40',
  stepSeconds: 30,
  waitMs: 30_000,
  leases: 10,
  faults: 'kill@15+10,pause@40+5',
  afterSeconds: 20,
  crashHolders: 0.1,
  readers: 0,
  readersAlone: false,
  factor: 5,
  baselineSeconds: 15,
  overloadSeconds: 60,
  recoverySeconds: 30,
  extendShare: 0.2,
  leaseMs: 5_000,
  deadlineMs: 5_000,
  maxAttempts: 3,
  outDir: 'bench/results',
  cpuProf: false,
  watchEvents: false,
  workerNice: 0,
  maxOutstanding: 4_000,
  nodeEnv: {},
  progress: process.stdout.isTTY ? 'tty' : 'lines',
};

