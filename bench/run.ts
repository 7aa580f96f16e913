/**
 * `tenure bench`: drives a Tenure cluster through the public client from forked worker processes,
 * samples every node's control status once a second, and writes one JSON result and one SVG
 * dashboard per run under bench/results/.
 *
 * Workloads (see docs/benchmarks.md for what each measures):
 *   claim | extend | mixed   closed loop at each --concurrency
 *   latency                  closed loop, one client: claim, then extend
 *   bulk                     lease.batch requests of --batch extends, --depth outstanding per connection
 *   open                     open loop at --rates (scheduled-send-time latency)
 *   leaseclaimer             Juju's leadershipclaimer, stepped --schedule
 *   overload                 sustainable rate S (measured), then --factor × S open loop, then back
 *   failover                 leaseclaimer holders while nodes are killed or paused (--faults)
 * `--ab` runs the same schedule on legacy-pubsub and facade (fresh cluster each) into one chart.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, setPriority, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchCluster, type Transport } from './cluster.ts';
import { SeriesBuilder, sumSeries, type RunSeries, type Totals } from './aggregate.ts';
import { dashboardSvg, type ChartRun } from './charts.ts';
import { parseRateProfile, type RatePhase } from './open-loop.ts';
import { RESULT_OPS, type ParentMessage, type WorkerMessage } from './protocol.ts';
import { closedSpec, failoverSpec, fmt, leaseclaimerSpec, openSpec, type RunSpec } from './specs.ts';
import { runFault, type FaultRecord } from './faults.ts';
import { DEFAULTS, type BenchOptions, type WorkloadName } from './options.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..');

export { DEFAULTS, WORKLOADS, type BenchOptions, type WorkloadName } from './options.ts';

import { failoverSummary, overloadSummary, printSummary, summarizeRun } from './summary.ts';
import { CpuWindow, okBetween, type CpuPerOp } from './cpu-account.ts';
import { NatsTrafficWindow, varzReader, type NatsPerOp } from './nats-traffic.ts';
import { EventWatch, type EventWatchResult } from './event-watch.ts';

export { overloadSummary, summarizeRun };

export interface RunResult {
  name: string;
  title: string;
  workload: WorkloadName;
  transport: Transport;
  date: string;
  machine: Record<string, unknown>;
  command: string;
  params: Record<string, unknown>;
  cluster: { natsUrl: string; cluster: string; nodes: string[]; owned: boolean };
  durationSec: number;
  /** Seconds the totals cover ([from, to)). */
  window: { from: number; to: number };
  totals: Totals;
  /** Everything, including warm-up. */
  totalsAll: Totals;
  summary: Record<string, unknown>;
  /** CPU µs per ok op over the window, by process and for the whole machine (bench/cpu-account.ts). */
  cpuPerOp: CpuPerOp | null;
  /** What the bench's own nats-server carried per ok op over the window (bench/nats-traffic.ts); null on `--nats-url`. */
  natsPerOp: NatsPerOp | null;
  /** `--watch-events`: what a subscriber on every lease event saw (bench/event-watch.ts); null without the flag. */
  eventWatch: EventWatchResult | null;
  markers: { x: number; label: string }[];
  /** failover: each fault the bench injected and what followed (bench/faults.ts); null for other workloads. */
  faults: FaultRecord[] | null;
  restarts: { node: string; at: number; why: string }[];
  workerErrors: string[];
  series: RunSeries;
  files: { json: string; svg: string };
}

export function machineInfo(): Record<string, unknown> {
  const c = cpus();
  return { cpuModel: c[0]?.model, cores: c.length, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version, loadavg: loadavg().map((x) => Math.round(x * 100) / 100) };
}

const stamp = () => new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- one run

async function execute(cluster: BenchCluster, transport: Transport, spec: RunSpec, o: BenchOptions): Promise<RunResult> {
  const runId = `r${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const window = spec.window ?? { from: 0, to: Math.ceil(spec.durationMs / 1000) };
  const builder = new SeriesBuilder(cluster.ids, window);
  const restartsBefore = cluster.restarts.length;
  const workerErrors: string[] = [];
  const nWorkers = spec.workloads.length;
  const execArgv = ['--import', 'tsx'];
  if (o.cpuProf) execArgv.push('--cpu-prof', `--cpu-prof-dir=${resolve(o.outDir, 'profiles')}`);

  const children: ChildProcess[] = [];
  const ready = new Set<number>();
  const done = new Set<number>();
  let onChange: () => void = () => {};
  for (let w = 0; w < nWorkers; w++) {
    const child = fork(join(here, 'worker.ts'), [], { cwd: repoRoot, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    if (o.workerNice && child.pid) {
      try {
        setPriority(child.pid, o.workerNice);
      } catch {
        // not permitted here: run at the default priority
      }
    }
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'tick') builder.addTick(m);
      else if (m.type === 'ready') ready.add(m.worker);
      else if (m.type === 'done') done.add(m.worker);
      else if (m.type === 'error') workerErrors.push(`worker ${m.worker}: ${m.message}`);
      onChange();
    });
    child.on('exit', (code) => {
      if (!done.has(w)) {
        if (code !== 0) workerErrors.push(`worker ${w} exited with code ${code}`);
        done.add(w);
      }
      onChange();
    });
    child.send({ type: 'init', worker: w, natsUrl: cluster.natsUrl, cluster: cluster.cluster, workload: spec.workloads[w], deadlineMs: o.deadlineMs, maxAttempts: o.maxAttempts, runId, coalesce: o.coalesce } satisfies ParentMessage);
  }
  const until = async (cond: () => boolean, timeoutMs: number, what: string) => {
    const end = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        onChange = r;
        setTimeout(r, 200);
      });
    }
  };
  const toAll = (m: ParentMessage) => children.forEach((c) => c.connected && c.send(m));

  // The load generator's workers and the bench itself are on the box too: their CPU counts. Each
  // node's main thread is read on its own too (the rest is GC helpers and lmdb's pool).
  const cpu = new CpuWindow(() => ({ ...cluster.processGroups(), 'load generator': children.flatMap((c) => (c.pid ? [c.pid] : [])), bench: [process.pid] }), undefined, cluster.ids);
  const traffic = cluster.monitorUrl ? new NatsTrafficWindow(varzReader(cluster.monitorUrl)) : null;
  let watch: EventWatch | null = null;
  let faultRun: Promise<FaultRecord[]> | null = null;
  let stopSampling = false;
  const markers: { x: number; label: string }[] = [...(spec.markers ?? [])];
  let faults: FaultRecord[] | null = null;
  const t0 = Date.now();
  try {
    await until(() => ready.size + workerErrors.length >= nWorkers, 120_000, 'workers to connect and set up');
    if (workerErrors.length) throw new Error(workerErrors.join('\n'));
    // After the workers' set-up (bulk and leaseclaimer claim leases there), before the load.
    if (o.watchEvents) watch = await EventWatch.start(cluster);
    const startAt = Date.now() + 300;
    watch?.markStart(startAt);
    toAll({ type: 'go', startAt });

    // Steps (leaseclaimer blocks) at their times.
    const timers = (spec.steps ?? []).map((st) =>
      setTimeout(() => {
        if (st.msg) toAll(st.msg);
        markers.push({ x: st.atMs / 1000, label: st.label });
      }, startAt + st.atMs - Date.now()),
    );
    const stopTimer = setTimeout(() => toAll({ type: 'stop' }), startAt + spec.durationMs - Date.now());
    // Faults one after another, each watched until its victim is back (bench/faults.ts).
    faultRun = spec.faults?.length
      ? (async () => {
          const out: FaultRecord[] = [];
          const crash = () => spec.crashHolders && toAll({ type: 'crashHolders', fraction: spec.crashHolders });
          for (const f of spec.faults!) out.push(await runFault(cluster, f, startAt, (x, label) => markers.push({ x, label }), crash));
          return out;
        })()
      : null;
    faultRun?.catch(() => {});

    // Node sampling once a second (each poll independent, so a slow answer never delays the next).
    const sampling = (async () => {
      const pending: Promise<void>[] = [];
      if (startAt > Date.now()) await sleep(startAt - Date.now());
      cpu.mark(0);
      traffic?.mark(0);
      for (let s = 0; !stopSampling; s++) {
        const at = startAt + (s + 1) * 1000;
        if (at > Date.now()) await sleep(at - Date.now());
        if (stopSampling) break;
        cpu.mark(s + 1);
        traffic?.mark(s + 1);
        pending.push(
          cluster.sample(900).then((samples) => {
            builder.addNodeSample(s, samples, Date.now());
            progress(s);
          }),
        );
      }
      await Promise.all(pending);
    })();

    let lastLine = 0;
    const progress = (s: number) => {
      if (o.progress === 'none') return;
      const sec = Math.min(s, builder.lastCompleteSec(nWorkers));
      if (sec < 0) return;
      const pk = builder.peek(sec);
      const okParts = RESULT_OPS
        .filter((op) => pk.counts[`${op}.ok`])
        .map((op) => `${op} ${fmt(pk.counts[`${op}.ok`])}/s`);
      const errs: Record<string, number> = {};
      for (const [k, v] of Object.entries(pk.counts)) {
        const m = /\.err\.(\w+)$/.exec(k);
        if (m) errs[m[1]] = (errs[m[1]] ?? 0) + v;
      }
      const errText = Object.entries(errs).map(([c, v]) => `${c} ${fmt(v)}`).join(' ') || '0';
      const p99 = Math.max(0, ...RESULT_OPS.map((k) => pk.p99[k] ?? 0));
      const nodes = pk.nodes ?? [];
      const depth = nodes.reduce((a, n) => a + Object.values((n.forwarding?.facade?.leader?.depth as Record<string, number>) ?? {}).reduce((x, y) => x + y, 0), 0);
      const backlog = nodes.reduce((a, n) => a + ((n.forwarding?.legacy?.leader?.backlog as number) ?? 0), 0);
      const rss = Math.max(0, ...nodes.map((n) => (n.rss ?? 0) / 2 ** 20));
      const g = pk.gauges;
      const gaugeText = g.held !== undefined ? ` held ${fmt(g.held)} waiting ${fmt(g.waiting ?? 0)}` : '';
      const line =
        `${spec.progressLabel} ${String(sec).padStart(3)}s  ${okParts.join('  ') || 'ok 0/s'}  err ${errText}  p99 ${p99.toFixed(1)} ms  ` +
        `queue ${fmt(depth)}${backlog ? ` backlog ${fmt(backlog)}` : ''}  rss ${Math.round(rss)} MB${gaugeText}`;
      if (o.progress === 'tty') process.stdout.write(`\r${line.slice(0, (process.stdout.columns || 160) - 1).padEnd(Math.min(159, (process.stdout.columns || 160) - 1))}`);
      else if (Date.now() - lastLine >= 5000) {
        lastLine = Date.now();
        console.log(line);
      }
    };

    await until(() => done.size >= nWorkers, spec.durationMs + o.deadlineMs + 60_000, 'workers to finish');
    stopSampling = true;
    await sampling;
    if (faultRun) faults = await faultRun;
    clearTimeout(stopTimer);
    timers.forEach(clearTimeout);
  } catch (err) {
    await watch?.abort();
    throw err;
  } finally {
    stopSampling = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  if (o.progress === 'tty') process.stdout.write('\n');
  const eventWatch = watch ? await watch.stop() : null;

  const durationSec = Math.ceil(spec.durationMs / 1000);
  const series = builder.build(durationSec);
  const totals = builder.totals(false);
  const totalsAll = builder.totals(true, durationSec);
  const base = `${stamp()}-${spec.name}-${transport}`;
  const files = { json: join(o.outDir, `${base}.json`), svg: join(o.outDir, `${base}.svg`) };
  const result: RunResult = {
    name: spec.name,
    title: spec.title,
    workload: spec.workload,
    transport,
    date: new Date(t0).toISOString(),
    machine: machineInfo(),
    command: commandLine(),
    params: spec.params,
    cluster: { natsUrl: cluster.owned ? '(private, loopback)' : cluster.natsUrl, cluster: cluster.cluster, nodes: cluster.ids, owned: cluster.owned },
    durationSec,
    window,
    totals,
    totalsAll,
    summary: {},
    cpuPerOp: cpu.result(window.from, window.to, (f, t) => okBetween(series.counts, f, t), cpus().length),
    natsPerOp: traffic ? await traffic.result(window.from, window.to, (f, t) => okBetween(series.counts, f, t)) : null,
    eventWatch,
    markers: markers.sort((a, b) => a.x - b.x),
    faults,
    restarts: cluster.restarts.slice(restartsBefore),
    workerErrors,
    series,
    files,
  };
  result.summary = summarizeRun(result);
  return result;
}

function commandLine(): string {
  const args = process.argv.slice(2);
  const i = args.indexOf('bench');
  return `tenure ${(i >= 0 ? args.slice(i) : ['bench', ...args]).join(' ')}`;
}

// ---------------------------------------------------------------- top level

export interface BenchReport {
  runs: RunResult[];
  comparisons: { name: string; svg: string; json: string }[];
}

function write(r: RunResult, o: BenchOptions): void {
  mkdirSync(o.outDir, { recursive: true });
  writeFileSync(r.files.json, JSON.stringify(r, null, 1));
  const sub = `${r.transport} · ${r.date.slice(0, 19)}Z · ${r.command}`;
  writeFileSync(r.files.svg, dashboardSvg(`${r.title} (${r.transport})`, sub, [{ label: '', series: r.series }], r.markers));
  if (o.copyTo) {
    mkdirSync(o.copyTo, { recursive: true });
    copyFileSync(r.files.svg, join(o.copyTo, `${r.name}-${r.transport}.svg`));
  }
}

export async function runBench(input: Partial<BenchOptions> & { workload: WorkloadName }): Promise<BenchReport> {
  const o: BenchOptions = { ...DEFAULTS, ...input };
  if (o.workload === 'leaseclaimer' && input.leaseMs === undefined) o.leaseMs = o.claimMs;
  const transports: Transport[] = o.ab ? ['legacy-pubsub', 'facade'] : [o.transport];
  const report: BenchReport = { runs: [], comparisons: [] };
  const byTransport = new Map<Transport, RunResult[]>();
  let shared: BenchCluster | null = null;
  try {
    for (const transport of transports) {
      let cluster: BenchCluster;
      if (o.natsUrl) {
        shared ??= await BenchCluster.start({ natsUrl: o.natsUrl, cluster: o.cluster, nodes: o.nodes });
        cluster = shared;
        await cluster.setTransport(transport);
      } else {
        const profDir = o.cpuProf ? resolve(o.outDir, 'profiles', `${stamp()}-${o.workload}-${transport}`) : undefined;
        cluster = await BenchCluster.start({ cluster: o.cluster, nodes: o.nodes, transport, env: o.nodeEnv, cpuProfDir: profDir });
        if (profDir) console.log(`node CPU profiles → ${profDir}`);
      }
      try {
        const runs = await scenario(cluster, transport, o);
        byTransport.set(transport, runs);
        report.runs.push(...runs);
      } finally {
        if (cluster !== shared) await cluster.stop();
      }
    }
  } finally {
    await shared?.stop();
  }
  if (o.ab) {
    const legacy = byTransport.get('legacy-pubsub') ?? [];
    const facade = byTransport.get('facade') ?? [];
    for (let i = 0; i < Math.min(legacy.length, facade.length); i++) {
      const a = legacy[i];
      const b = facade[i];
      const name = `${stamp()}-${a.name}-ab`;
      const svg = join(o.outDir, `${name}.svg`);
      const json = join(o.outDir, `${name}.json`);
      const runs: ChartRun[] = [
        { label: 'legacy', series: a.series, dash: '6 3' },
        { label: 'facade', series: b.series },
      ];
      writeFileSync(svg, dashboardSvg(`${a.title}: legacy-pubsub (dashed) vs facade (solid)`, `${a.date.slice(0, 19)}Z · ${a.command}`, runs, a.markers));
      writeFileSync(json, JSON.stringify({ name: a.name, command: a.command, legacy: { file: a.files.json, summary: a.summary }, facade: { file: b.files.json, summary: b.summary } }, null, 1));
      if (o.copyTo) copyFileSync(svg, join(o.copyTo, `${a.name}-ab.svg`));
      report.comparisons.push({ name: a.name, svg, json });
      console.log(`A/B chart: ${svg}`);
    }
  }
  return report;
}

async function scenario(cluster: BenchCluster, transport: Transport, o: BenchOptions): Promise<RunResult[]> {
  const out: RunResult[] = [];
  const go = async (spec: RunSpec, extra?: (r: RunResult) => Record<string, unknown>) => {
    const r = await execute(cluster, transport, spec, o);
    if (extra) r.summary = { ...r.summary, ...extra(r) };
    write(r, o);
    out.push(r);
    printSummary(r);
    return r;
  };
  switch (o.workload) {
    case 'claim':
    case 'extend':
    case 'mixed':
    case 'held':
    case 'race':
      for (const c of o.concurrency) await go(closedSpec(o, o.workload, c, `${o.workload}-c${c}`, `closed-loop ${o.workload}, ${c} clients`));
      break;
    case 'latency':
      await go(closedSpec(o, 'claim', 1, 'latency-claim', 'single client: claim (closed loop, 1 outstanding)'));
      await go(closedSpec(o, 'extend', 1, 'latency-extend', 'single client: extend (closed loop, 1 outstanding)'));
      break;
    case 'bulk': {
      const conns = Math.max(1, Math.min(o.connections, 2));
      const clients = o.workers * conns * o.depth;
      await go(closedSpec(o, 'bulk', clients, `bulk-b${o.batch}-d${o.depth}`, `bulk: lease.batch of ${o.batch} extends, ${o.workers} workers × ${conns} connections × ${o.depth} outstanding`, conns));
      break;
    }
    case 'open': {
      const phases = parseRateProfile(o.rates, o.op);
      await go(openSpec(o, phases, 'open', `open loop ${o.rates}`));
      break;
    }
    case 'leaseclaimer':
      await go(leaseclaimerSpec(o));
      break;
    case 'failover':
      if (o.natsUrl) throw new Error('failover: faults need a private cluster (drop --nats-url)');
      await go(failoverSpec(o), (r) => failoverSummary(r));
      break;
    case 'overload': {
      let S = o.sustainable;
      if (!S) {
        const probe = await go(closedSpec({ ...o, warmup: 2, seconds: 8 }, 'claim', 128, 'overload-probe', 'sustainable-rate probe: closed-loop claims, 128 clients'));
        S = Math.round(probe.totals.perSec['claim.ok'] ?? 0);
        console.log(`sustainable rate S = ${fmt(S)} claims/s`);
        if (S <= 0) throw new Error('overload: measured sustainable rate is 0');
      }
      const ext = Math.round(S * o.extendShare);
      const base = { claim: Math.round(S * 0.5) - ext, extend: ext };
      const phases: RatePhase[] = [
        { durationMs: o.baselineSeconds * 1000, rates: base, label: `baseline 0.5×S` },
        { durationMs: o.overloadSeconds * 1000, rates: { claim: Math.round(S * o.factor) - ext, extend: ext }, label: `${o.factor}×S = ${fmt(S * o.factor)}/s` },
        { durationMs: o.recoverySeconds * 1000, rates: base, label: 'back to 0.5×S' },
      ];
      await go(openSpec({ ...o, leaseMs: 10_000 }, phases, 'overload', `overload: ${o.factor}× sustainable (S = ${fmt(S)}/s) for ${o.overloadSeconds} s`), (r) => ({
        ...overloadSummary(r, phases, Number(r.params.workers ?? o.workers)),
        sustainableRate: S,
      }));
      break;
    }
  }
  return out;
}
