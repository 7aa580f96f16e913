/**
 * The cluster a benchmark drives: either its own (a private nats-server on loopback plus N
 * `tenure node` processes in a temp dir, all removed on stop) or an existing one reached through
 * `--nats-url` + `--cluster`. Either way the bench talks to it only through public subjects: the
 * lease API (via TenureClient, in the workers) and `control.<node>.status` / `control.<node>.transport`.
 */
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NatsBus } from '../bus/nats-bus.ts';
import { subjects, type Subjects } from '../bus/subjects.ts';
import { silentLogger } from '../log/logger.ts';
import { NodeProcess } from '../cli/node-processes.ts';
import { freePort, startNatsServer, type NatsServerHandle } from '../cli/nats-server.ts';

const here = dirname(fileURLToPath(import.meta.url));

export type Transport = 'facade' | 'legacy-pubsub';

export interface ClusterOptions {
  /** Target an existing cluster on this NATS URL (no processes are started). */
  natsUrl?: string;
  /** Cluster token (default 'bench' for an owned cluster, 'default' for an existing one). */
  cluster?: string;
  /** Node ids of an owned cluster (default n1,n2,n3); for an existing one, discovered when omitted. */
  nodes?: string[];
  /** Transport the owned nodes start with (TENURE_TRANSPORT). */
  transport?: Transport;
  /** Extra environment for owned node processes. */
  env?: Record<string, string>;
  /** Write a V8 CPU profile of every owned node into this directory (NODE_OPTIONS=--cpu-prof). */
  cpuProfDir?: string;
}

/** What one control-status poll tells about one node (null fields when it did not answer). */
export interface NodeSample {
  id: string;
  up: boolean;
  role: string | null;
  leader: string | null;
  term: number | null;
  commit: number | null;
  pid: number | null;
  rss: number | null;
  /** RSS split: anonymous (heap, buffers) and file-backed (LMDB map), Linux only. */
  rssAnon?: number | null;
  rssFile?: number | null;
  heapUsed?: number | null;
  /** V8 heap reserved (`heapTotal`) and memory held outside it (`external`: buffers, native). */
  heapTotal?: number | null;
  external?: number | null;
  /** The memory governor's current `--heap-growing-percent` (0 = V8's own), null when off. */
  heapGrowingPercent?: number | null;
  /** Longest event-loop delay in the node's last complete 1 s window (ms). */
  loopMaxMs?: number | null;
  /** Garbage collection in that window: longest pause and total (ms). */
  gcMaxMs?: number | null;
  gcMs?: number | null;
  gcMajorMs?: number | null;
  /** Snapshots the node has taken, and how long the last one's capture ran (ms). */
  snapshotsTaken?: number | null;
  snapshotCaptureMs?: number | null;
  /** Cumulative CPU µs (user + system) of the node process. */
  cpuMicros: number | null;
  /** The node's lease-event publisher since it started: events published, and lost (dropped by its bound, or a failed publish). */
  events?: { published: number; dropped: number; publishErrors: number } | null;
  /** Raft round stages in the node's last complete second (actors/raft-timings.ts): stage → p50/p99 ms. */
  timings?: Record<string, { count: number; p50Ms: number; p99Ms: number }> | null;
  fsm: Record<string, unknown> | null;
  forwarding: ForwardingStatus | null;
}

/** The parts of ForwardingStack.status() the bench reads (all optional: other versions may differ). */
export interface ForwardingStatus {
  transport?: string;
  facade?: {
    leader?: {
      depth?: Record<string, number>;
      refused?: Record<string, number>;
      load?: number;
      expired?: number;
      batches?: number;
      commitLatency?: { p50?: number; p99?: number; max?: number };
      [k: string]: unknown;
    };
    client?: Record<string, number>;
  };
  legacy?: { leader?: { backlog?: number; [k: string]: unknown }; client?: Record<string, number> };
  [k: string]: unknown;
}

export class BenchCluster {
  readonly subj: Subjects;
  readonly owned: boolean;
  /** The bench's own nats-server's monitoring endpoint (loopback); null for a cluster on `--nats-url`. */
  monitorUrl: string | null = null;
  readonly nodes: NodeProcess[] = [];
  private readonly pids = new Map<string, number>();
  /** Node restarts seen: a pid that changed between polls, or an owned process that exited. */
  readonly restarts: { node: string; at: number; why: string }[] = [];
  private stopping = false;
  /** Nodes the bench itself killed or paused (bench/faults.ts): their exits and new pids are not restarts. */
  private readonly faulted = new Set<string>();
  private readonly paused = new Set<string>();

  private constructor(
    readonly natsUrl: string,
    readonly cluster: string,
    public ids: string[],
    readonly bus: NatsBus,
    private readonly server: NatsServerHandle | null,
    private readonly dataDir: string | null,
  ) {
    this.subj = subjects(cluster);
    this.owned = server !== null;
  }

  static async start(opts: ClusterOptions = {}): Promise<BenchCluster> {
    if (opts.natsUrl) {
      const cluster = opts.cluster ?? 'default';
      const bus = await NatsBus.connect(opts.natsUrl, { logger: silentLogger, name: 'tenure-bench-control' });
      const c = new BenchCluster(opts.natsUrl, cluster, opts.nodes ?? [], bus, null, null);
      if (c.ids.length === 0) c.ids = await c.discover();
      return c;
    }
    // TENURE_BENCH_NATS_ARGS: extra flags for the bench's own nats-server. Its monitoring endpoint
    // (loopback, like the server) gives the messages per op (bench/nats-traffic.ts); a `-m` given
    // there is used instead of a free port.
    const extra = (process.env.TENURE_BENCH_NATS_ARGS ?? '').split(' ').filter(Boolean);
    const m = extra.findIndex((a) => a === '-m' || a === '--http_port');
    const monitorPort = m >= 0 ? Number(extra[m + 1]) : await freePort();
    const server = await startNatsServer({ args: m >= 0 ? extra : [...extra, '-m', String(monitorPort)] });
    const dataDir = mkdtempSync(join(tmpdir(), 'tenure-bench-'));
    const ids = opts.nodes ?? ['n1', 'n2', 'n3'];
    const cluster = opts.cluster ?? 'bench';
    const bus = await NatsBus.connect(server.url, { logger: silentLogger, name: 'tenure-bench-control' });
    const c = new BenchCluster(server.url, cluster, ids, bus, server, dataDir);
    c.monitorUrl = Number.isInteger(monitorPort) && monitorPort > 0 ? `http://127.0.0.1:${monitorPort}` : null;
    const env: Record<string, string> = { TENURE_LOG_LEVEL: process.env.TENURE_LOG_LEVEL ?? 'warn', ...opts.env };
    if (opts.transport) env.TENURE_TRANSPORT = opts.transport;
    if (opts.cpuProfDir) {
      mkdirSync(opts.cpuProfDir, { recursive: true });
      // Node 20 refuses --cpu-prof in NODE_OPTIONS: a preload starts the profiler instead.
      env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${pathToFileURL(join(here, 'cpu-profile-preload.mjs')).href}`.trim();
      env.TENURE_CPU_PROF_DIR = opts.cpuProfDir;
    }
    for (const id of ids) c.nodes.push(new NodeProcess({ id, nodes: ids, natsUrl: server.url, dataDir, cluster, env: opts.cpuProfDir ? { ...env, TENURE_CPU_PROF_NAME: `node-${id}` } : env }));
    try {
      await Promise.all(c.nodes.map((n) => n.start()));
      for (const n of c.nodes) c.watchExit(n);
      await c.waitForLeader();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  private watchExit(n: NodeProcess): void {
    n.child?.once('exit', (code, signal) => {
      if (!this.stopping && !this.faulted.has(n.id)) this.restarts.push({ node: n.id, at: Date.now(), why: `exited (code ${code}, signal ${signal})` });
    });
  }

  private owner(id: string): NodeProcess {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`bench: node ${id} is not one this bench started (faults need a private cluster)`);
    return n;
  }

  /** SIGKILL one node, like a crash: no shutdown code runs. Not counted as a restart. */
  async crash(id: string): Promise<void> {
    const n = this.owner(id);
    this.faulted.add(id);
    await n.kill();
  }

  /** Starts a crashed node again on its data directory; resolves once it says it is ready. */
  async restart(id: string): Promise<void> {
    const n = this.owner(id);
    await n.start();
    if (n.child?.pid) this.pids.set(id, n.child.pid);
    this.watchExit(n);
    this.faulted.delete(id);
  }

  /** SIGSTOP one node: the process stands still (a long GC pause, a frozen VM) and keeps its sockets. */
  pause(id: string): void {
    const n = this.owner(id);
    if (!n.child?.kill('SIGSTOP')) throw new Error(`bench: could not pause node ${id}`);
    this.paused.add(id);
  }

  /** SIGCONT a paused node. */
  resume(id: string): void {
    const n = this.owner(id);
    n.child?.kill('SIGCONT');
    this.paused.delete(id);
  }

  /** Node ids of an existing cluster: one node's status (via the lease API's queue group), then its voters. */
  private async discover(): Promise<string[]> {
    const st = await this.bus.request<{ node?: string }>(this.subj.lease('status'), {}, { deadlineMs: 2000 });
    if (!st.node) throw new Error('could not discover node ids (lease.status had no node); pass --nodes');
    const full = await this.bus.request<{ voters?: string[] }>(this.subj.control('status', st.node), {}, { deadlineMs: 2000 });
    return full.voters && full.voters.length ? [...full.voters] : [st.node];
  }

  async waitForLeader(timeoutMs = 15_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const samples = await this.sample(500);
      const leader = samples.find((s) => s.role === 'leader');
      if (leader) return leader.id;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no leader in cluster ${this.cluster} within ${timeoutMs} ms`);
  }

  /** Polls every node's (or just `ids`') control status in parallel. */
  async sample(deadlineMs = 800, ids: readonly string[] = this.ids): Promise<NodeSample[]> {
    return Promise.all(
      ids.map(async (id): Promise<NodeSample> => {
        try {
          const st = await this.bus.request<Record<string, any>>(this.subj.control('status', id), {}, { deadlineMs });
          const proc = st.process ?? {};
          const pid = typeof proc.pid === 'number' ? proc.pid : null;
          if (pid !== null) {
            const prev = this.pids.get(id);
            if (prev !== undefined && prev !== pid && !this.faulted.has(id)) this.restarts.push({ node: id, at: Date.now(), why: `pid ${prev} → ${pid}` });
            this.pids.set(id, pid);
          }
          return {
            id,
            up: true,
            role: st.role ?? null,
            leader: st.leader ?? null,
            term: st.term ?? null,
            commit: st.commit ?? st.commitIndex ?? null,
            pid,
            rss: typeof proc.rss === 'number' ? proc.rss : null,
            rssAnon: typeof proc.rssAnon === 'number' ? proc.rssAnon : null,
            rssFile: typeof proc.rssFile === 'number' ? proc.rssFile : null,
            heapUsed: typeof proc.heapUsed === 'number' ? proc.heapUsed : null,
            heapTotal: typeof proc.heapTotal === 'number' ? proc.heapTotal : null,
            external: typeof proc.external === 'number' ? proc.external : null,
            heapGrowingPercent: typeof proc.memoryGovernor?.heapGrowingPercent === 'number' ? proc.memoryGovernor.heapGrowingPercent : null,
            loopMaxMs: typeof proc.eventLoop?.maxMs === 'number' ? proc.eventLoop.maxMs : null,
            gcMaxMs: typeof proc.eventLoop?.gcMaxMs === 'number' ? proc.eventLoop.gcMaxMs : null,
            gcMs: typeof proc.eventLoop?.gcMs === 'number' ? proc.eventLoop.gcMs : null,
            gcMajorMs: typeof proc.eventLoop?.gcMajorMs === 'number' ? proc.eventLoop.gcMajorMs : null,
            snapshotsTaken: typeof st.snapshots?.taken === 'number' ? st.snapshots.taken : null,
            snapshotCaptureMs: typeof st.snapshots?.last?.captureMs === 'number' ? st.snapshots.last.captureMs : null,
            cpuMicros: proc.cpu ? (proc.cpu.user ?? 0) + (proc.cpu.system ?? 0) : null,
            events: typeof st.events?.published === 'number' ? { published: st.events.published, dropped: st.events.dropped ?? 0, publishErrors: st.events.publishErrors ?? 0 } : null,
            timings: st.timings?.lastSecond ?? null,
            fsm: st.fsm ?? null,
            forwarding: st.forwarding ?? null,
          };
        } catch {
          return { id, up: false, role: null, leader: null, term: null, commit: null, pid: null, rss: null, cpuMicros: null, fsm: null, forwarding: null };
        }
      }),
    );
  }

  /**
   * Each node's last known pid and the bench's own nats-server (CPU accounting, bench/cpu-account.ts).
   * Only for a cluster the bench started: an existing cluster's pids may belong to another machine
   * or pid namespace, where the same number is some other process here.
   */
  processGroups(): Record<string, number[]> {
    const groups: Record<string, number[]> = {};
    if (!this.owned) return groups;
    for (const id of this.ids) groups[id] = this.pids.has(id) ? [this.pids.get(id)!] : [];
    if (this.server) groups['nats-server'] = [this.server.pid];
    return groups;
  }

  /** Switches every node's forwarding transport at runtime (`control.<node>.transport`). */
  async setTransport(transport: Transport): Promise<void> {
    await Promise.all(this.ids.map((id) => this.bus.request(this.subj.control('transport', id), { transport }, { deadlineMs: 2000 })));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.bus.close().catch(() => {});
    if (!this.owned) return;
    for (const id of [...this.paused]) this.resume(id);
    await Promise.all(this.nodes.map((n) => n.stop().catch(() => {})));
    await this.server?.stop();
    if (this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
