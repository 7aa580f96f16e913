import { SimClock, settle } from '../../clock/clock.ts';
import { SimNetwork, type SimTraceEvent } from '../../bus/sim-bus.ts';
import { Rng } from '../../clock/clock.ts';
import { MemoryStorage } from '../../storage/memory.ts';
import { TenureNode } from '../../node/tenure-node.ts';
import { ForwardingStack } from '../../actors/transport-switch.ts';
import { FencedStorage } from './fenced-storage.ts';
import type { Transport } from '../../config/config.ts';
import type { Clock } from '../../clock/clock.ts';
import { decodeValidCommand } from '../../lease/command-codec.ts';
import type { LeaseResult } from '../../lease/types.ts';

export const LEASE_SIM_CLUSTER = 'lsim';

/** Per-seed settings: how often the leader ticks, how soon it stamps, how writes are forwarded. */
export interface LeaseSimTiming {
  clockIntervalMs: number;
  clockStampMs: number;
  /** How followers forward writes to the leader (default the facade). */
  transport?: Transport;
  /** Each node's own clock (rate and offset skew); default the shared clock. */
  clockOf?: (id: string) => Clock;
}

interface Slot {
  id: string;
  disk: MemoryStorage;
  storage: FencedStorage | null;
  node: TenureNode | null;
  incarnation: number;
}

/**
 * Whole TenureNodes (lease manager, facade forwarders, clock updater, Raft) on the simulated bus
 * and clock. A crash keeps the node's MemoryStorage (its disk) and loses what had not landed;
 * a restart builds a fresh node over the same disk.
 */
export class LeaseSimCluster {
  readonly clock = new SimClock(0);
  readonly net: SimNetwork;
  readonly slots = new Map<string, Slot>();
  /** `clientId#seq` of every claim some node applied as a grant (its holder got the lease, or more time). */
  readonly grantedClaims = new Set<string>();
  /** Every node incarnation's forwarding stack (its facade leader counts claims answered without the log). */
  private readonly stacks: ForwardingStack[] = [];

  constructor(
    private readonly seed: number,
    readonly ids: string[],
    private readonly timing: LeaseSimTiming,
    trace?: (event: SimTraceEvent) => void,
  ) {
    this.net = new SimNetwork({ seed, clock: this.clock, trace });
    for (const id of ids) this.slots.set(id, { id, disk: new MemoryStorage(), storage: null, node: null, incarnation: 0 });
  }

  async start(id: string): Promise<void> {
    const slot = this.slots.get(id)!;
    if (slot.node) return;
    slot.incarnation++;
    const disk = new Rng((this.seed * 131 + slot.incarnation) >>> 0);
    slot.storage = new FencedStorage(slot.disk, () => new Promise((r) => this.clock.setTimeout(r, disk.int(0, 3))));
    const node = new TenureNode({
      id,
      cluster: LEASE_SIM_CLUSTER,
      voters: this.ids,
      bus: this.net.endpoint(id, this.timing.clockOf?.(id)),
      storage: slot.storage,
      clock: this.timing.clockOf?.(id) ?? this.clock,
      clockIntervalMs: this.timing.clockIntervalMs,
      clockStampMs: this.timing.clockStampMs,
      electionTimeoutMs: 150,
      heartbeatMs: 30,
      nats: null,
      raft: {
        seed: (this.seed * 31 + slot.incarnation * 7919 + id.charCodeAt(id.length - 1)) >>> 0,
        rpcTimeoutMs: 100,
        maxInflight: 4,
        maxEntriesPerMessage: 8,
        snapshotEveryEntries: 60,
        snapshotChunkBytes: 256,
      },
      forwarding: (ctx) => {
        const stack = new ForwardingStack({ ...ctx, transport: this.timing.transport ?? 'facade', legacy: { deliveryTimeoutMs: 500, responseTimeoutMs: 500 } });
        this.stacks.push(stack);
        return stack;
      },
    });
    // Every node applies the same log: note each claim that granted, for the "told Held, then applied" check.
    const sm = node.stateMachine;
    const apply = sm.apply.bind(sm);
    sm.apply = (index, commands) => {
      const results = apply(index, commands) as LeaseResult[];
      for (let i = 0; i < commands.length; i++) {
        if (!results[i]?.ok) continue;
        const cmd = decodeValidCommand(commands[i]);
        if (cmd.op === 'claim') this.grantedClaims.add(`${cmd.clientId}#${cmd.seq}`);
      }
      return results;
    };
    slot.node = node;
    await node.start();
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
    void slot.node.stop().catch(() => {});
    slot.node = null;
  }

  /** Claims every incarnation's leader answered `Held` without a log entry. */
  heldWithoutLog(): number {
    let answered = 0;
    for (const s of this.stacks) answered += s.facadeLeader.held?.counters.answered ?? 0;
    return answered;
  }

  live(): TenureNode[] {
    const out: TenureNode[] = [];
    for (const s of this.slots.values()) if (s.node && !s.node.raft.failed) out.push(s.node);
    return out;
  }

  leaders(): TenureNode[] {
    return this.live().filter((n) => n.raft.role === 'leader');
  }

  failedNodes(): string[] {
    return [...this.slots.values()].filter((s) => s.node?.raft.failed).map((s) => `${s.id}: ${s.node!.raft.failed!.message}`);
  }

  /** Runs simulated time forward `ms`, letting promise continuations settle after every timer. */
  async run(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    await settle();
    while (this.clock.step(end)) await settle();
    await this.clock.advanceTo(end);
  }

  async shutdown(): Promise<void> {
    for (const s of this.slots.values()) {
      if (!s.node) continue;
      // Stopping may wait on simulated timers (in-flight requests, drains).
      let done = false;
      void s.node.stop().finally(() => (done = true));
      for (let i = 0; i < 200 && !done; i++) await this.run(50);
      s.node = null;
    }
  }
}
