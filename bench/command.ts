/**
 * The `tenure bench` subcommand (registered by cli/main.ts; also `npm run bench -- …`).
 *
 *   tenure bench claim --concurrency 16,128 --seconds 10
 *   tenure bench latency
 *   tenure bench bulk --depth 256
 *   tenure bench open --rates 20s@5000,20s@20000 --op claim
 *   tenure bench leaseclaimer --processes 100 --schedule +20,+20,+40,-40 --step-seconds 30 --ab
 *   tenure bench overload --factor 5 --overload-seconds 60
 *   tenure bench failover --faults kill@15+10,pause@40+5
 *   tenure bench claim --nats-url nats://host:4222 --cluster default     (existing cluster)
 */
import type { Command } from 'commander';
import { DEFAULTS, WORKLOADS, type WorkloadName } from './options.ts';
import type { Transport } from './cluster.ts';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`expected a non-negative number, got ${v}`);
  return n;
};

export function registerBenchCommand(program: Command): void {
  const d = DEFAULTS;
  program
    .command('bench')
    .description(`load-test a cluster through the public client; workloads: ${WORKLOADS.join(', ')}`)
    .argument('[workload]', WORKLOADS.join(' | '), 'claim')
    .option('--nats-url <url>', 'target an existing cluster on this NATS server (default: start a private one)')
    .option('--cluster <name>', 'cluster token (default: bench for a private cluster, default for an existing one)')
    .option('--nodes <ids>', 'node ids (private cluster: the ones to start; existing: default discovered)')
    .option('--transport <name>', 'facade | legacy-pubsub', d.transport)
    .option('--ab', 'run the same schedule through legacy-pubsub and facade (fresh cluster each; runtime switch with --nats-url)')
    .option('--workers <n>', 'load-generator processes', String(d.workers))
    .option('--connections <n>', 'NATS connections per worker', String(d.connections))
    .option('--concurrency <list>', 'closed loop: concurrent clients, comma separated (one run each)', d.concurrency.join(','))
    .option('--seconds <n>', 'closed loop: measured seconds per run', String(d.seconds))
    .option('--warmup <n>', 'closed loop: warm-up seconds before measuring', String(d.warmup))
    .option('--depth <n>', 'bulk: outstanding batch requests per connection', String(d.depth))
    .option('--batch <n>', 'bulk: extends per lease.batch request', String(d.batch))
    .option('--no-coalesce', "clients sharing a connection send every write as its own request (default: a turn's writes share one lease.batch request)")
    .option('--op <op>', 'open: operation of a plain rate profile (claim | extend)', d.op)
    .option('--rates <profile>', 'open: phases, e.g. 20s@5000,20s@20000 or 30s@claim=4000+extend=1000', d.rates)
    .option('--processes <n>', 'leaseclaimer: claimer processes (logical, spread over the workers)', String(d.processes))
    .option('--units <n>', 'leaseclaimer: units per lease', String(d.units))
    .option('--claim-ms <ms>', 'leaseclaimer: lease duration', String(d.claimMs))
    .option('--renew-ms <ms>', 'leaseclaimer: extend interval', String(d.renewMs))
    .option('--seed-timing', "leaseclaimer: the seed run.sh's abusive 5 s claims renewed every 4.5 s")
    .option('--schedule <steps>', 'leaseclaimer: leases per process added (+N) or dropped (-N) at each step', d.schedule)
    .option('--step-seconds <n>', 'leaseclaimer: seconds between steps', String(d.stepSeconds))
    .option('--wait-ms <ms>', 'leaseclaimer: longest single wait for release', String(d.waitMs))
    .option('--leases <n>', 'failover: leases per claimer process', String(d.leases))
    .option('--faults <list>', 'failover: kill|pause[:leader|:follower]@<at s>+<down s>, comma separated', d.faults)
    .option('--after-seconds <n>', 'failover: seconds the run goes on after the last heal', String(d.afterSeconds))
    .option('--crash-holders <x>', 'failover: fraction of the leases whose holding unit dies with each fault (another unit takes over)', String(d.crashHolders))
    .option('--readers <n>', 'failover: linearizable readers (each reads a random lease ten times a second)', String(d.readers))
    .option('--readers-alone', 'failover: the readers use a NATS connection of their own that sends no batch (a program that only reads)')
    .option('--sustainable <n>', 'overload: sustainable ops/s (default: measured with 128 closed-loop claim clients)')
    .option('--factor <x>', 'overload: offered load as a multiple of the sustainable rate', String(d.factor))
    .option('--baseline-seconds <n>', 'overload: seconds at 0.5× before', String(d.baselineSeconds))
    .option('--overload-seconds <n>', 'overload: seconds at factor×', String(d.overloadSeconds))
    .option('--recovery-seconds <n>', 'overload: seconds at 0.5× after', String(d.recoverySeconds))
    .option('--extend-share <x>', 'overload: extends as a fraction of the sustainable rate (constant throughout)', String(d.extendShare))
    .option('--lease-ms <ms>', 'lease duration of claims/extends in the throughput modes', String(d.leaseMs))
    .option('--deadline-ms <ms>', 'deadline of each client call', String(d.deadlineMs))
    .option('--max-attempts <n>', 'TenureClient attempts per call', String(d.maxAttempts))
    .option('--out-dir <dir>', 'where JSON results and SVG charts go', d.outDir)
    .option('--copy-to <dir>', 'also copy the SVG charts here (e.g. docs/bench)')
    .option('--cpu-prof', 'write V8 CPU profiles of the node processes and workers (under <out-dir>/profiles)')
    .option('--watch-events', 'subscribe to every lease event and count what arrives against what the nodes published (costs the bench ≈ 2 µs an event)')
    .option('--node-env <k=v,...>', 'extra environment for the node processes')
    .option('--worker-nice <n>', 'niceness of the load-generator processes (default: 10 for overload, else 0), so that on a shared box the service gets the CPU before its generator')
    .option('--max-outstanding <n>', 'open loop and overload: unanswered claims per worker beyond which due claims are counted as ClientBacklog and not sent', String(d.maxOutstanding))
    .option('--no-progress', 'no live progress line')
    .action(async (workload: string, f: Record<string, string | boolean | undefined>) => {
      if (!(WORKLOADS as readonly string[]).includes(workload)) throw new Error(`unknown workload ${workload} (expected ${WORKLOADS.join(', ')})`);
      const seed = f.seedTiming === true;
      const nodeEnv: Record<string, string> = {};
      for (const kv of String(f.nodeEnv ?? '').split(',').filter(Boolean)) {
        const [k, ...v] = kv.split('=');
        nodeEnv[k] = v.join('=');
      }
      const { runBench } = await import('./run.ts');
      await runBench({
        workload: workload as WorkloadName,
        natsUrl: f.natsUrl as string | undefined,
        cluster: f.cluster as string | undefined,
        nodes: f.nodes ? String(f.nodes).split(',') : undefined,
        transport: f.transport as Transport,
        ab: f.ab === true,
        workers: int(String(f.workers)),
        connections: int(String(f.connections)),
        concurrency: String(f.concurrency).split(',').map(int),
        seconds: int(String(f.seconds)),
        warmup: int(String(f.warmup)),
        depth: int(String(f.depth)),
        batch: int(String(f.batch)),
        coalesce: f.coalesce !== false,
        op: String(f.op),
        rates: String(f.rates),
        processes: int(String(f.processes)),
        units: int(String(f.units)),
        claimMs: seed ? 5000 : int(String(f.claimMs)),
        renewMs: seed ? 4500 : int(String(f.renewMs)),
        schedule: String(f.schedule),
        stepSeconds: int(String(f.stepSeconds)),
        waitMs: int(String(f.waitMs)),
        leases: int(String(f.leases)),
        faults: String(f.faults),
        afterSeconds: int(String(f.afterSeconds)),
        crashHolders: int(String(f.crashHolders)),
        readers: int(String(f.readers)),
        readersAlone: f.readersAlone === true,
        sustainable: f.sustainable ? int(String(f.sustainable)) : undefined,
        factor: int(String(f.factor)),
        baselineSeconds: int(String(f.baselineSeconds)),
        overloadSeconds: int(String(f.overloadSeconds)),
        recoverySeconds: int(String(f.recoverySeconds)),
        extendShare: int(String(f.extendShare)),
        leaseMs: int(String(f.leaseMs)),
        deadlineMs: int(String(f.deadlineMs)),
        maxAttempts: int(String(f.maxAttempts)),
        outDir: String(f.outDir),
        copyTo: f.copyTo as string | undefined,
        cpuProf: f.cpuProf === true,
        watchEvents: f.watchEvents === true,
        maxOutstanding: int(String(f.maxOutstanding)),
        workerNice: f.workerNice === undefined ? (workload === 'overload' ? 10 : 0) : int(String(f.workerNice)),
        nodeEnv,
        progress: f.progress === false ? 'none' : DEFAULTS.progress,
      });
      process.exit(0);
    });
}
