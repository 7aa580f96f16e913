import { RaftNode } from '../../actors/raft-node.ts';
import { SimClock, Rng } from '../../clock/clock.ts';
import { SimNetwork } from '../../bus/sim-bus.ts';
import { silentLogger } from '../../log/logger.ts';
import { MemoryStorage } from '../../storage/memory.ts';
import { FencedStorage } from './fenced-storage.ts';
import { RecordingStateMachine } from './recording-fsm.ts';
import { InvariantChecker } from './invariants.ts';

export const SIM_CLUSTER = 'sim';

interface SimNodeSlot {
  id: string;
  disk: MemoryStorage;
  storage: FencedStorage | null;
  node: RaftNode | null;
  fsm: RecordingStateMachine | null;
  incarnation: number;
}

/**
 * A Raft cluster on the simulated bus and clock. Crash keeps the node's MemoryStorage (its disk)
 * and throws away everything else; restart builds a fresh node over the same disk.
 */
export class SimCluster {
  readonly clock = new SimClock(0);
  readonly net: SimNetwork;
  readonly rng: Rng;
  readonly slots = new Map<string, SimNodeSlot>();
  readonly checker: InvariantChecker;
  private readonly seed: number;

  constructor(
    seed: number,
    readonly ids: string[],
    private readonly nodeOptions: { snapshotEveryEntries?: number; snapshotBusy?: (id: string) => boolean } = {},
  ) {
    this.seed = seed;
    this.rng = new Rng(seed ^ 0x5eed);
    this.net = new SimNetwork({ seed, clock: this.clock });
    for (const id of ids) this.slots.set(id, { id, disk: new MemoryStorage(), storage: null, node: null, fsm: null, incarnation: 0 });
    this.checker = new InvariantChecker(this);
  }

  /** A brand-new node that knows no members yet: it waits to be added by the leader. */
  async join(id: string): Promise<void> {
    this.slots.set(id, { id, disk: new MemoryStorage(), storage: null, node: null, fsm: null, incarnation: 0 });
    this.joiners.add(id);
    await this.start(id);
  }

  private readonly joiners = new Set<string>();

  async start(id: string): Promise<void> {
    const slot = this.slots.get(id)!;
    if (slot.node) return;
    slot.incarnation++;
    // Disk writes take 0–3 ms of simulated time, so replication overlaps a leader's own write.
    const disk = new Rng((this.seed * 131 + slot.incarnation) >>> 0);
    slot.storage = new FencedStorage(slot.disk, () => new Promise((r) => this.clock.setTimeout(r, disk.int(0, 3))));
    slot.fsm = new RecordingStateMachine();
    const node = new RaftNode({
      id,
      cluster: SIM_CLUSTER,
      voters: this.joiners.has(id) ? [] : this.ids,
      bus: this.net.endpoint(id),
      storage: slot.storage,
      stateMachine: slot.fsm,
      logger: silentLogger,
      clock: this.clock,
      seed: (this.seed * 31 + slot.incarnation * 7919 + id.charCodeAt(id.length - 1)) >>> 0,
      electionMinMs: 150,
      electionMaxMs: 300,
      heartbeatMs: 30,
      rpcTimeoutMs: 100,
      maxInflight: 4,
      maxEntriesPerMessage: 8,
      snapshotEveryEntries: this.nodeOptions.snapshotEveryEntries ?? 40,
      snapshotBusy: this.nodeOptions.snapshotBusy && (() => this.nodeOptions.snapshotBusy!(id)),
      snapshotChunkBytes: 64,
    });
    slot.node = node;
    await node.start();
    this.checker.nodeStarted(id);
  }

  async startAll(): Promise<void> {
    for (const id of this.ids) await this.start(id);
  }

  /** kill -9: the process vanishes; only what reached its disk survives. */
  crash(id: string): void {
    const slot = this.slots.get(id)!;
    if (!slot.node) return;
    slot.storage!.fence();
    this.net.crash(id);
    void slot.node.stop();
    slot.node = null;
    slot.fsm = null;
  }

  live(): { id: string; node: RaftNode; fsm: RecordingStateMachine }[] {
    const out = [];
    for (const s of this.slots.values()) if (s.node && !s.node.failed) out.push({ id: s.id, node: s.node, fsm: s.fsm! });
    return out;
  }

  node(id: string): RaftNode {
    const n = this.slots.get(id)?.node;
    if (!n) throw new Error(`${id} is not running`);
    return n;
  }

  /** Runs until `cond` holds (checked after each step) or `maxMs` of simulated time pass. */
  async runUntil(cond: () => boolean, maxMs: number): Promise<boolean> {
    const end = this.clock.now() + maxMs;
    while (this.clock.now() < end) {
      if (cond()) return true;
      await this.run(10);
    }
    return cond();
  }

  leaders(): RaftNode[] {
    return this.live()
      .map((l) => l.node)
      .filter((n) => n.role === 'leader');
  }

  /** Runs the clock forward, checking invariants after every timer that fires. */
  async run(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    for (;;) {
      await new Promise((r) => setImmediate(r));
      this.checker.check();
      if (!this.clock.step(end)) break;
    }
    await this.clock.advanceTo(end);
    this.checker.check();
  }

  failedNodes(): string[] {
    return [...this.slots.values()].filter((s) => s.node?.failed).map((s) => `${s.id}: ${s.node!.failed!.message}`);
  }

  async shutdown(): Promise<void> {
    for (const s of this.slots.values()) if (s.node) await s.node.stop();
  }
}
