import { join } from 'node:path';
import { mkdirSync, readFileSync } from 'node:fs';
import type { Config } from '../config/config.ts';
import { NatsBus } from '../bus/nats-bus.ts';
import { subjects } from '../bus/subjects.ts';
import { LmdbStorage } from '../storage/lmdb.ts';
import { TenureNode } from '../node/tenure-node.ts';
import { ForwardingStack } from '../actors/transport-switch.ts';
import { createLogger } from '../log/logger.ts';
import { LoadMonitor } from '../actors/load-monitor.ts';
import { watchArrivals } from '../bus/arrival-watch.ts';
import { EventLoopMonitor } from '../actors/event-loop-monitor.ts';
import { MemoryGovernor } from '../actors/memory-governor.ts';
import { MALLOC_ENV } from './node-processes.ts';
import { publishInspection } from '../actors/inspection.ts';
import { admissionConfig, type AdmissionOverrides } from '../machines/admission/lanes.ts';

/** `TENURE_ADMISSION`: JSON overrides of the facade's admission lanes (machines/admission/lanes.ts). */
function envAdmission(): AdmissionOverrides | undefined {
  const v = process.env.TENURE_ADMISSION;
  if (!v) return undefined;
  try {
    const parsed = JSON.parse(v) as AdmissionOverrides;
    admissionConfig(parsed); // validates: a bad knob stops start-up with its reason
    return parsed;
  } catch (err) {
    throw new Error(`TENURE_ADMISSION: ${(err as Error).message}`);
  }
}

/** Smoothed event-loop lag (ms) at which a due snapshot waits for a quieter moment. */
const SNAPSHOT_DEFER_LAG_MS = 20;

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name}: expected a positive integer, got ${v}`);
  return n;
}

/**
 * One Tenure node process: NATS connection, LMDB storage under `<dataDir>/<nodeId>`, and a
 * TenureNode (Raft, lease manager, clock updater, events, both forwarding transports). Prints
 * `ready <id>` once serving; stops cleanly on SIGTERM/SIGINT.
 */
export async function runNode(config: Config): Promise<void> {
  const logger = createLogger({ level: config.logLevel }).child({ node: config.nodeId });
  const dir = join(config.dataDir, config.nodeId);
  mkdirSync(dir, { recursive: true });
  const bus = await NatsBus.connect(config.natsUrl, { name: `tenure-${config.cluster}-${config.nodeId}`, logger, maxPayloadBytes: config.maxPayloadBytes });
  const loadMonitor = new LoadMonitor().start();
  // Requests read after this process stood still count their deadlines from before the stall.
  watchArrivals(() => loadMonitor.unseenMs());
  const eventLoop = new EventLoopMonitor();
  const memory = config.memoryBudgetMb > 0
    ? new MemoryGovernor({
        budgetBytes: config.memoryBudgetMb * 2 ** 20,
        onOverBudget: (rss) => logger.warn({ rssMB: Math.round(rss / 2 ** 20), budgetMB: config.memoryBudgetMb }, 'resident memory over budget; collecting garbage as often as it allows'),
      }).start()
    : null;
  if (memory && process.platform === 'linux' && process.env.MALLOC_MMAP_THRESHOLD_ === undefined) {
    // Read by glibc before any JS runs, so only the launcher can set it (`npm start` and the benches do).
    logger.info({ suggested: MALLOC_ENV }, 'glibc malloc settings not given: freed Buffers may stay resident (≈ 25 MB more RSS under load); see README');
  }
  // Raft gets a connection of its own: heartbeats never queue behind a flood of client requests.
  const raftBus = await NatsBus.connect(config.natsUrl, { name: `tenure-${config.cluster}-${config.nodeId}-raft`, logger });
  const storage = await LmdbStorage.open(dir);
  // Before the actors exist, so the viewer also sees their first states.
  const stopInspection = process.env.TENURE_INSPECT ? publishInspection(bus, config.cluster, config.nodeId) : () => {};
  const node = new TenureNode({
    id: config.nodeId,
    cluster: config.cluster,
    voters: [...config.nodes],
    bus,
    raftBus,
    storage,
    logger,
    clockIntervalMs: config.clockIntervalMs,
    clockStampMs: config.clockStampMs,
    events: config.events,
    eventsDedupeMs: config.eventsDedupeMs,
    electionTimeoutMs: config.electionTimeoutMs,
    heartbeatMs: config.heartbeatMs,
    raft: {
      rpcTimeoutMs: Math.max(200, config.electionTimeoutMs),
      snapshotEveryEntries: envInt('TENURE_SNAPSHOT_EVERY_ENTRIES'),
      snapshotSliceMs: envInt('TENURE_SNAPSHOT_SLICE_MS'),
      // A due snapshot waits while the event loop lags (a herd), up to 1.5× its bounds.
      snapshotBusy: () => loadMonitor.lagMs >= SNAPSHOT_DEFER_LAG_MS,
    },
    lease: { maxPayloadBytes: config.maxPayloadBytes, loadMonitor },
    forwarding: (ctx) =>
      new ForwardingStack({
        ...ctx,
        transport: config.transport,
        facadeLeader: { admission: envAdmission() },
        legacy: { deliveryTimeoutMs: envInt('TENURE_LEGACY_DELIVERY_TIMEOUT_MS'), responseTimeoutMs: envInt('TENURE_LEGACY_RESPONSE_TIMEOUT_MS') },
      }),
  });
  await node.start();

  // Node-addressed inspection for operators, benchmarks and tests: Raft and FSM state, the
  // forwarders' queues, and this process's memory and CPU.
  const s = subjects(config.cluster);
  bus.serve(s.control('status', config.nodeId), () => ({
    ...node.raft.status(),
    fsm: node.stateMachine.fsm.stats(),
    forwarding: node.forwarding.status?.(),
    events: { mode: node.events.publishMode, queued: node.events.queued, ...node.events.counters },
    process: { pid: process.pid, ...pick(process.memoryUsage()), cpu: process.cpuUsage(), eventLoop: eventLoop.status(), memoryGovernor: memory?.status() ?? null },
  }));
  bus.serve(s.control('leases', config.nodeId), () => ({ applied: node.raft.appliedIndex, leases: node.stateMachine.fsm.list() }));

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    memory?.stop();
    eventLoop.stop();
    await node.stop();
    stopInspection();
    await bus.close();
    await raftBus.close();
    await storage.close();
    process.exit(0);
  };
  void node.raft.died.then((err) => {
    // A node that cannot trust its disk must not linger half-alive: exit so a supervisor restarts it.
    logger.fatal({ err: err.message }, 'node failed; exiting');
    process.exit(1);
  });
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  node.leadership.subscribe((l) => logger.info({ role: l.role, leader: l.leader, term: l.term }, 'leadership changed'));
  process.stdout.write(`ready ${config.nodeId}\n`);
}

function pick(m: NodeJS.MemoryUsage): { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number; rssAnon?: number; rssFile?: number } {
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, ...rssSplit() };
}

/**
 * RSS split into anonymous memory (heap, buffers: what the process itself holds) and file-backed
 * pages (LMDB's memory map: page cache the kernel may reclaim), from /proc on Linux.
 */
function rssSplit(): { rssAnon?: number; rssFile?: number } {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (name: string) => {
      const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) * 1024 : undefined;
    };
    return { rssAnon: kb('RssAnon'), rssFile: kb('RssFile') };
  } catch {
    return {};
  }
}
