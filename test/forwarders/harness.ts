/**
 * A three-node Tenure cluster for forwarder tests on the simulated bus and clock: real RaftNodes
 * over MemoryStorage with the real lease state machine, and on every node a ForwardingStack fed
 * by the node's leadership mailbox. Each node's Raft is wrapped in a ProposalGate so a test can
 * stall the leader's proposals and see exactly what was proposed. Everything runs on the
 * simulated clock, so a run is deterministic; FWD_SEED=<n> replays the tests on another network seed.
 */
import { afterEach } from 'vitest';
import { RaftNode } from '../../actors/raft-node.ts';
import type { RaftNodeOptions } from '../../actors/raft-node-options.ts';
import { LeaseStateMachine } from '../../actors/lease-state-machine.ts';
import { decodeValidCommand } from '../../lease/command-codec.ts';
import { decodeCommandBatch } from '../../machines/raft/command-batch.ts';
import { ForwardingStack, type ForwardingStackOptions } from '../../actors/transport-switch.ts';
import { SimNetwork, type SimEndpoint } from '../../bus/sim-bus.ts';
import { SimClock } from '../../clock/clock.ts';
import { TenureError } from '../../errors/errors.ts';
import { silentLogger } from '../../log/logger.ts';
import { MemoryStorage } from '../../storage/memory.ts';
import type { ClaimCommand, LeaseCommand, LeaseResult } from '../../lease/types.ts';
import type { RaftProposer } from '../../machines/forwarder/wire.ts';

export const CLUSTER = 'fwd';

/** Passes proposals to Raft, or holds them while `hold()` is in force (a stalled leader). */
export class ProposalGate implements RaftProposer {
  /** Every command handed to Raft through this gate, decoded, in order. */
  readonly proposed: LeaseCommand[] = [];
  /** Entries written whole by the proposer (`proposeEntryAt`), in order. */
  readonly entries: { commands: number; bytes: number }[] = [];
  private held: (() => void)[] | null = null;
  /** Commands of the written entries held (each is one item of `held`), less one each. */
  private heldCommands = 0;

  constructor(readonly node: RaftNode) {}

  get id(): string {
    return this.node.id;
  }
  get role() {
    return this.node.role;
  }
  get leader(): string | null {
    return this.node.leader;
  }

  propose(command: Uint8Array): Promise<unknown> {
    if (this.held) {
      const held = this.held;
      return new Promise((resolve) => held.push(() => resolve(this.propose(command))));
    }
    this.proposed.push(decodeValidCommand(command));
    return this.node.propose(command);
  }

  get entryLimits() {
    return this.node.entryLimits;
  }

  timeNow(): number | undefined {
    return this.node.timeNow();
  }

  heardTime(now: unknown): void {
    this.node.heardTime(now);
  }

  proposeEntryAt(entry: Uint8Array, count: number, at: (slot: number, err: Error | null, result?: unknown) => void): void {
    if (this.held) {
      this.heldCommands += count - 1;
      this.held.push(() => this.proposeEntryAt(entry, count, at));
      return;
    }
    for (const command of decodeCommandBatch(entry)) this.proposed.push(decodeValidCommand(command));
    this.entries.push({ commands: count, bytes: entry.byteLength });
    this.node.proposeEntryAt(entry, count, at);
  }

  /** Commands waiting at the gate (a written entry counts its commands). */
  get holding(): number {
    return this.held === null ? 0 : this.held.length + this.heldCommands;
  }

  hold(): void {
    this.held ??= [];
  }

  /** Lets every held proposal through (in one turn: they share a Raft entry). */
  release(): void {
    const held = this.held ?? [];
    this.held = null;
    this.heldCommands = 0;
    for (const go of held) go();
  }
}

export interface SimForwardingNode {
  id: string;
  raft: RaftNode;
  fsm: LeaseStateMachine;
  gate: ProposalGate;
  stack: ForwardingStack;
  bus: SimEndpoint;
  /** Raft indexes of the command entries this node applied. */
  entries: number[];
}

export type Outcome<T> = { status: 'pending' } | { status: 'ok'; value: T } | { status: 'error'; code: string; error: unknown };

/** Records how a promise settled, readable synchronously while the simulation runs. */
export function track<T>(p: Promise<T>): { readonly outcome: Outcome<T> } {
  const box: { outcome: Outcome<T> } = { outcome: { status: 'pending' } };
  p.then(
    (value) => (box.outcome = { status: 'ok', value }),
    (error) => (box.outcome = { status: 'error', code: error instanceof TenureError ? error.code : `untyped:${String(error)}`, error }),
  );
  return box;
}

export class ForwardingCluster {
  readonly clock = new SimClock(0);
  readonly net: SimNetwork;
  readonly nodes = new Map<string, SimForwardingNode>();
  private stopped = false;

  constructor(
    private readonly stackOptions: Partial<ForwardingStackOptions> = {},
    readonly ids = ['n1', 'n2', 'n3'],
    seed = Number(process.env.FWD_SEED ?? 11),
    private readonly raftOptions: Partial<RaftNodeOptions> = {},
  ) {
    this.net = new SimNetwork({ seed, clock: this.clock });
  }

  async start(): Promise<void> {
    let k = 0;
    for (const id of this.ids) {
      const bus = this.net.endpoint(id);
      const fsm = new LeaseStateMachine();
      const entries: number[] = [];
      fsm.onApplied((index) => entries.push(index));
      const raft = new RaftNode({
        id,
        cluster: CLUSTER,
        voters: this.ids,
        bus,
        storage: new MemoryStorage(),
        stateMachine: fsm,
        logger: silentLogger,
        clock: this.clock,
        seed: 1000 + k++,
        electionMinMs: 150,
        electionMaxMs: 300,
        heartbeatMs: 30,
        rpcTimeoutMs: 100,
        snapshotEveryEntries: 1_000_000,
        ...this.raftOptions,
      });
      await raft.start();
      const gate = new ProposalGate(raft);
      // As TenureNode wires it: refused first-copy claims are answered after a barrier, without the log.
      const claimReads = { barrier: (ms: number) => raft.readBarrier(ms), refusal: (cmd: ClaimCommand) => fsm.fsm.claimRefusal(cmd) };
      const stack = new ForwardingStack({ bus, cluster: CLUSTER, raft: gate, clock: this.clock, claimReads, ...this.stackOptions });
      stack.start();
      this.nodes.set(id, { id, raft, fsm, gate, stack, bus, entries });
      void this.followLeadership(raft, stack);
    }
  }

  /** Starts and runs until one leader is elected and every node knows it. */
  async elect(): Promise<SimForwardingNode> {
    await this.start();
    const ok = await this.runUntil(() => {
      const l = this.leader();
      return !!l && [...this.nodes.values()].every((n) => n.raft.leader === l.id);
    }, 5000);
    if (!ok) throw new Error('no leader elected');
    return this.leader()!;
  }

  leader(): SimForwardingNode | undefined {
    return [...this.nodes.values()].find((n) => n.raft.role === 'leader');
  }

  followers(): SimForwardingNode[] {
    return [...this.nodes.values()].filter((n) => n.raft.role !== 'leader');
  }

  /** Runs the simulated clock forward by `ms`, letting promises settle between timers. */
  async run(ms: number): Promise<void> {
    await this.clock.advance(ms);
  }

  async runUntil(cond: () => boolean, maxMs: number, stepMs = 5): Promise<boolean> {
    const end = this.clock.now() + maxMs;
    while (this.clock.now() < end) {
      if (cond()) return true;
      await this.run(stepMs);
    }
    return cond();
  }

  /** Every node has applied everything the leader committed. */
  async converge(maxMs = 2000): Promise<void> {
    const ok = await this.runUntil(() => {
      const l = this.leader();
      return !!l && [...this.nodes.values()].every((n) => n.raft.appliedIndex >= l.raft.commitIndex);
    }, maxMs);
    if (!ok) throw new Error('cluster did not converge');
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const n of this.nodes.values()) await n.stack.close();
    for (const n of this.nodes.values()) await n.raft.stop();
    for (const n of this.nodes.values()) await n.bus.close();
  }

  private async followLeadership(raft: RaftNode, stack: ForwardingStack): Promise<void> {
    // The node's single consumer of the latest-value mailbox (what TenureNode must do too).
    while (!this.stopped) {
      const l = await raft.leadership.take();
      if (this.stopped) return;
      stack.onLeadership(l);
    }
  }
}

/** A submitted command's outcome, readable synchronously while the simulation runs. */
export type Tracked = { readonly outcome: Outcome<LeaseResult> };
export const settled = (ts: readonly Tracked[]): boolean => ts.every((t) => t.outcome.status !== 'pending');

/** One simulated cluster per test (`current`), shut down after each test (registers vitest's afterEach). */
export class ClusterPerTest {
  current: ForwardingCluster | null = null;

  constructor() {
    afterEach(async () => {
      await this.current?.shutdown();
      this.current = null;
    });
  }

  /** A new cluster with `opts`, started, with a leader every node knows. */
  async elect(opts: Partial<ForwardingStackOptions> = {}): Promise<[ForwardingCluster, SimForwardingNode]> {
    this.current = new ForwardingCluster(opts);
    return [this.current, await this.current.elect()];
  }
}
