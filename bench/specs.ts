/**
 * What each `tenure bench` run is: the workloads its worker processes get, how long it lasts, the
 * window it is measured over, and the markers and steps of its schedule (bench/run.ts executes it).
 */
import type { WorkloadName, BenchOptions } from './options.ts';
import { OpenLoopSchedule, type RatePhase } from './open-loop.ts';
import type { ClosedOp, LeaseclaimerWorkload, ParentMessage, Workload } from './protocol.ts';
import { parseFaults, type FaultSpec } from './faults.ts';

export const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export interface RunSpec {
  name: string;
  title: string;
  workload: WorkloadName;
  params: Record<string, unknown>;
  /** One workload per worker process. */
  workloads: Workload[];
  durationMs: number;
  window?: { from: number; to: number };
  steps?: { atMs: number; label: string; msg?: ParentMessage }[];
  /** Markers without messages (e.g. open-loop phase changes). */
  markers?: { x: number; label: string }[];
  /** failover: nodes killed or paused at their times (bench/faults.ts). */
  faults?: FaultSpec[];
  /** failover: the fraction of leases whose holding unit dies with each fault (`crashHolders`). */
  crashHolders?: number;
  progressLabel: string;
}

/** Splits `total` into `parts` near-equal non-negative integers. */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/** Parses a leaseclaimer schedule `+20,+20,+40,-40` into cumulative [from,to) add/drop steps. */
export function parseSchedule(spec: string): { op: 'add' | 'drop'; from: number; to: number }[] {
  const out: { op: 'add' | 'drop'; from: number; to: number }[] = [];
  let top = 0;
  for (const tok of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([+-]?)(\d+)$/.exec(tok);
    if (!m) throw new Error(`bad schedule step ${JSON.stringify(tok)} (expected +N or -N)`);
    const n = Number(m[2]);
    if (m[1] === '-') {
      const from = Math.max(0, top - n);
      out.push({ op: 'drop', from, to: top });
      top = from;
    } else {
      out.push({ op: 'add', from: top, to: top + n });
      top += n;
    }
  }
  return out;
}

export function closedSpec(o: BenchOptions, op: ClosedOp, clients: number, name: string, title: string, connectionsPerWorker = o.connections): RunSpec {
  const workers = Math.max(1, Math.min(o.workers, clients));
  const durationMs = (o.warmup + o.seconds) * 1000;
  return {
    name,
    title,
    workload: name.startsWith('bulk') ? 'bulk' : name.startsWith('latency') ? 'latency' : op === 'mixed' ? 'mixed' : op,
    params: { op, clients, workers, connectionsPerWorker, warmupSec: o.warmup, seconds: o.seconds, leaseMs: o.leaseMs, deadlineMs: o.deadlineMs, maxAttempts: o.maxAttempts, coalesce: o.coalesce, ...(op === 'bulk' ? { batch: o.batch } : {}) },
    workloads: split(clients, workers).map((n) => ({ kind: 'closed', op, clients: n, connections: connectionsPerWorker, durationMs, leaseMs: o.leaseMs, batch: o.batch })),
    durationMs,
    window: { from: o.warmup, to: o.warmup + o.seconds },
    markers: o.warmup ? [{ x: o.warmup, label: 'measure' }] : [],
    progressLabel: `${name}`,
  };
}

export function openSpec(o: BenchOptions, phases: RatePhase[], name: string, title: string, heldPerWorker?: number): RunSpec {
  const workers = Math.max(1, o.workers);
  // Overload: the holders (extends of held leases) are other agents than the claim herd, so they
  // get a generator process of their own; a saturated claim generator must not delay their sends
  // and replies (that would measure the generator, not the service).
  const holders = name.startsWith('overload') && phases.some((p) => p.rates.extend) && phases.some((p) => p.rates.claim);
  const only = (p: RatePhase, keep: (op: string) => boolean, div: number): RatePhase => ({
    ...p,
    rates: Object.fromEntries(Object.entries(p.rates).flatMap(([k, v]) => (keep(k) ? [[k, v / div]] : []))),
  });
  const perWorker = phases.map((p) => only(p, (op) => !holders || op !== 'extend', workers));
  const maxExtendRate = Math.max(0, ...phases.map((p) => p.rates.extend ?? 0)) / (holders ? 1 : workers);
  // Each held lease is extended about every leaseMs/3.
  const held = heldPerWorker ?? Math.ceil((maxExtendRate * (o.leaseMs / 1000)) / 3);
  const durationMs = phases.reduce((a, p) => a + p.durationMs, 0);
  const markers: { x: number; label: string }[] = [];
  let t = 0;
  for (const p of phases) {
    markers.push({ x: t / 1000, label: p.label ?? Object.entries(p.rates).map(([k, v]) => `${k} ${fmt(v)}/s`).join(' + ') });
    t += p.durationMs;
  }
  // A drop is judged on the whole schedule: a worker's own share (e.g. constant extends) may not drop.
  const whole = new OpenLoopSchedule(phases);
  const afterDrop = phases.map((_, i) => whole.isDrop(i));
  const common = { kind: 'open' as const, connections: o.connections, leaseMs: o.leaseMs, maxOutstanding: o.maxOutstanding, afterDrop };
  const workloads = Array.from({ length: workers }, () => ({ ...common, phases: perWorker, heldLeases: holders ? 0 : held }));
  if (holders) workloads.push({ ...common, phases: phases.map((p) => only(p, (op) => op === 'extend', 1)), heldLeases: held });
  return {
    name,
    title,
    workload: name.startsWith('overload') ? 'overload' : 'open',
    params: { phases, workers: workloads.length, holderWorker: holders, workerNice: o.workerNice, connectionsPerWorker: o.connections, heldLeasesPerWorker: held, leaseMs: o.leaseMs, deadlineMs: o.deadlineMs, maxAttempts: o.maxAttempts },
    workloads,
    durationMs,
    markers,
    progressLabel: name,
  };
}

/** The leaseclaimer's logical processes dealt round robin over the worker processes, one workload each. */
function claimerWorkloads(o: BenchOptions): { workers: number; workloads: LeaseclaimerWorkload[] } {
  const workers = Math.max(1, Math.min(o.workers, o.processes));
  const procs: number[][] = Array.from({ length: workers }, () => []);
  for (let p = 0; p < o.processes; p++) procs[p % workers].push(p);
  return { workers, workloads: procs.map((processes) => ({ kind: 'leaseclaimer', processes, units: o.units, claimMs: o.claimMs, renewMs: o.renewMs, connections: o.connections, waitMs: o.waitMs })) };
}

export function leaseclaimerSpec(o: BenchOptions): RunSpec {
  const steps = parseSchedule(o.schedule);
  const { workers, workloads } = claimerWorkloads(o);
  const durationMs = steps.length * o.stepSeconds * 1000;
  let leases = 0;
  return {
    name: 'leaseclaimer',
    title: `leaseclaimer: ${o.processes} processes × ${o.units} units, schedule ${o.schedule} leases/process every ${o.stepSeconds} s`,
    workload: 'leaseclaimer',
    params: { processes: o.processes, units: o.units, claimMs: o.claimMs, renewMs: o.renewMs, schedule: o.schedule, stepSeconds: o.stepSeconds, waitMs: o.waitMs, workers, connectionsPerWorker: o.connections, deadlineMs: o.deadlineMs },
    workloads,
    durationMs,
    steps: steps.map((st, i) => {
      leases += (st.op === 'add' ? 1 : -1) * (st.to - st.from);
      return {
        atMs: i * o.stepSeconds * 1000,
        label: `${st.op === 'add' ? '+' : '−'}${st.to - st.from}/proc → ${fmt(leases * o.processes)} leases`,
        msg: { type: st.op === 'add' ? 'leases' : 'drop', from: st.from, to: st.to } as ParentMessage,
      };
    }),
    progressLabel: 'leaseclaimer',
  };
}

/**
 * failover: leaseclaimer holders (`--leases` per process from the start, `--units` each) while the
 * bench kills or pauses nodes (`--faults`), and with each fault the holding unit of `--crash-holders`
 * of the leases dies too (another unit should take over); the run lasts until `--after-seconds`
 * after the last heal.
 */
export function failoverSpec(o: BenchOptions): RunSpec {
  const faults = parseFaults(o.faults);
  if (faults.length === 0) throw new Error('failover: --faults names no fault');
  const last = faults[faults.length - 1];
  const durationMs = last.atMs + last.downMs + o.afterSeconds * 1000;
  const { workers, workloads } = claimerWorkloads(o);
  workloads.forEach((wl, i) => {
    wl.readers = Math.floor(o.readers / workers) + (i < o.readers % workers ? 1 : 0);
    wl.readersAlone = o.readersAlone;
  });
  return {
    name: 'failover',
    title: `failover: ${fmt(o.processes * o.leases)} leases × ${o.units} units held while nodes fail (${o.faults})`,
    workload: 'failover',
    params: { processes: o.processes, leases: o.leases, units: o.units, claimMs: o.claimMs, renewMs: o.renewMs, waitMs: o.waitMs, faults, crashHolders: o.crashHolders, readers: o.readers, readersAlone: o.readersAlone, afterSeconds: o.afterSeconds, workers, connectionsPerWorker: o.connections, deadlineMs: o.deadlineMs, maxAttempts: o.maxAttempts },
    workloads,
    durationMs,
    steps: [{ atMs: 0, label: `${fmt(o.processes * o.leases)} leases`, msg: { type: 'leases', from: 0, to: o.leases } }],
    faults,
    crashHolders: o.crashHolders,
    progressLabel: 'failover',
  };
}
