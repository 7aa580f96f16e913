/**
 * Where a client's requests go: what every TenureClient on one bus (one NATS connection) has
 * learned about the cluster's nodes — the leader and the voters the last batch reply named — and
 * which nodes did not answer a request sent straight to them.
 *
 * Every node serves the queue group (`….lease.<op>`) and its own subjects (`….node.<id>.lease.<op>`).
 * A request to the queue group that no one answers names no one: NATS does not say which
 * subscriber it handed the request to. A process that stands still (a long GC pause, SIGSTOP, a
 * frozen VM) keeps its subscriptions, so the queue group goes on handing it one request in three
 * until it resumes. So once the voters are known, requests go to a node the client picks (the
 * leader for writes, any voter for reads and waits — a random one, as the queue group would), and
 * a node that lets one time out (or has no responders) is suspected for SUSPECT_MS: passed over
 * until it answers again. Until the voters are known, requests go to the queue group: batches ask
 * for them (`members: true`), and a client's other requests (a client that only reads or waits)
 * ask a node's `status` for them in the background (`discover`).
 *
 * A wait is held by one node for up to 10 s, and silence is what a wait looks like until the lease
 * is released: a waiter cannot tell a node that stands still from one with nothing to say. So while
 * requests are parked at a node (waits), the client asks that node for its status every PROBE_MS; one
 * that does not answer within PROBE_TIMEOUT_MS is suspected like any silent node, and the requests
 * parked at it — and at any node suspected for any reason — are sent again, at once, to another.
 * A suspected node is probed too: an answer ends the suspicion at once, silence renews it. One probe
 * per node per connection per second, only while waits are parked there or it is suspected.
 *
 * Measured with `tenure bench failover` (docs/benchmarks.md, thirty-second and thirty-third
 * sessions). State is per bus and cluster, bounded by the number of voters.
 */
import type { Bus } from '../bus/types.ts';
import { tokenProblem, type LeaseOp, type Subjects } from '../bus/subjects.ts';
import { TenureError } from '../errors/errors.ts';
import { systemClock, type Clock } from '../clock/clock.ts';

/** How long a node that let a direct request time out (or had no responders) is passed over, unless it answers sooner. */
export const SUSPECT_MS = 5000;
/** How often batches ask for the voters (`members: true`). */
export const MEMBERS_REFRESH_MS = 60_000;
/** How often a node that holds parked requests (waits) is asked whether it is there. */
export const PROBE_MS = 1000;
/** How long such a node has to answer before it is suspected and its parked requests move. */
export const PROBE_TIMEOUT_MS = 1500;
/** How often a client that has no (fresh) voters asks the queue group for them, at most. */
export const DISCOVER_RETRY_MS = 1000;

/**
 * One `T` per bus and cluster, made by `make` on first use: what every client on one NATS
 * connection shares (its routes, its write coalescer). Goes with the bus when the bus is dropped.
 */
export function perBusAndCluster<T>(store: WeakMap<Bus, Map<string, T>>, bus: Bus, subj: Subjects, make: () => T): T {
  let byCluster = store.get(bus);
  if (!byCluster) store.set(bus, (byCluster = new Map()));
  let v = byCluster.get(subj.prefix);
  if (v === undefined) byCluster.set(subj.prefix, (v = make()));
  return v;
}

const shared = new WeakMap<Bus, Map<string, NodeRoutes>>();

/** The routes of `bus` for the cluster of `subj` (created on first use, on the first caller's clock). */
export function routesFor(bus: Bus, subj: Subjects, clock: Clock = systemClock): NodeRoutes {
  return perBusAndCluster(shared, bus, subj, () => new NodeRoutes(bus, subj, clock));
}

export class NodeRoutes {
  /** The leader named by the last batch reply (null: unknown). */
  leader: string | null = null;
  /** The voters the last reply that named them named, and when. */
  nodes: readonly string[] = [];
  private nodesAt = -Infinity;
  /** Nodes that let a direct request time out → until when they are passed over. */
  private readonly suspects = new Map<string, number>();
  /** Node → what to call to move each request parked there (bounded by the callers: one per wait in flight). */
  private readonly parked = new Map<string, Set<() => void>>();
  /** Nodes whose probe loop runs. */
  private readonly probing = new Set<string>();
  /** When the last `status` asking for the voters left (discover), and whether it is still out. */
  private discoverAt = -Infinity;
  private discovering = false;
  readonly counters = { probes: 0, probesFailed: 0, moved: 0, discoveries: 0 };

  constructor(
    private readonly bus: Bus,
    private readonly subj: Subjects,
    private readonly clock: Clock = systemClock,
  ) {}

  /** True when the next batch should ask for the voters (`members: true`). */
  membersDue(): boolean {
    return this.clock.now() - this.nodesAt >= MEMBERS_REFRESH_MS;
  }

  /** Learns the leader (and, when named, the voters) from a batch reply. */
  learn(reply: { leader?: unknown; nodes?: unknown } | undefined): void {
    const l = reply?.leader;
    this.leader = isNodeId(l) ? l : null;
    const nodes = reply?.nodes;
    if (Array.isArray(nodes) && nodes.length > 0 && nodes.every(isNodeId)) {
      this.nodes = nodes;
      this.nodesAt = this.clock.now();
    }
  }

  /**
   * For requests that are not batches (batches ask for the voters themselves): when no voters are
   * known, or they were named more than MEMBERS_REFRESH_MS ago, asks the queue group for a node's
   * `status` (which names the leader and the voters) in the background — one at a time, at most once
   * per DISCOVER_RETRY_MS. The request that called goes on as it would have (the queue group, or
   * the voters known); the ones after it go by name once the answer is in.
   */
  discover(): void {
    if (this.discovering || !this.membersDue()) return;
    const now = this.clock.now();
    if (now - this.discoverAt < DISCOVER_RETRY_MS) return;
    this.discoverAt = now;
    this.discovering = true;
    this.counters.discoveries++;
    this.bus.request<{ leader?: unknown; nodes?: unknown }>(this.subj.lease('status'), {}, { deadlineMs: PROBE_TIMEOUT_MS }).then(
      (reply) => {
        this.discovering = false;
        // An older node's status names no voters: learn nothing (not even the leader, which a
        // batch reply keeps current), and ask again after MEMBERS_REFRESH_MS rather than every second.
        if (!Array.isArray(reply?.nodes)) {
          this.discoverAt = this.clock.now() + MEMBERS_REFRESH_MS - DISCOVER_RETRY_MS;
          return;
        }
        this.learn(reply);
      },
      () => {
        this.discovering = false; // silent or gone: the next request after DISCOVER_RETRY_MS asks again
      },
    );
  }

  /** The known leader unless it is suspected, else null. */
  healthyLeader(): string | null {
    return this.leader !== null && !this.suspected(this.leader, this.clock.now()) ? this.leader : null;
  }

  /** A named voter that is not suspected, at random; null when none is known. */
  anyHealthy(): string | null {
    if (this.nodes.length === 0) return null;
    const now = this.clock.now();
    const healthy = this.suspects.size === 0 ? this.nodes : this.nodes.filter((n) => !this.suspected(n, now));
    return healthy.length ? healthy[Math.floor(Math.random() * healthy.length)] : null;
  }

  /**
   * Where a request of `op` goes straight to (null: the queue group). Writes go to the leader;
   * reads, waits and status to any voter (a follower forwards a write to the leader, and answers
   * reads itself). Nothing is known: the queue group.
   */
  nodeFor(op: LeaseOp): string | null {
    if (op !== 'get' && op !== 'list' && op !== 'wait' && op !== 'status') {
      const leader = this.healthyLeader();
      if (leader !== null) return leader;
    }
    return this.anyHealthy();
  }

  /** The subject of a request of `op` sent to `node`, or the queue group's when `node` is null. */
  subject(op: LeaseOp, node: string | null): string {
    return node === null ? this.subj.lease(op) : this.subj.nodeLease(node, op);
  }

  /** `node` did not answer a request sent straight to it: passed over for SUSPECT_MS; what is parked there moves. */
  suspect(node: string): void {
    this.suspects.set(node, this.clock.now() + SUSPECT_MS);
    if (this.leader === node) this.leader = null;
    this.startProbing(node);
    const moves = this.parked.get(node);
    if (moves) {
      this.parked.delete(node);
      this.counters.moved += moves.size;
      for (const move of moves) move();
    }
  }

  /**
   * Registers a request parked at `node` (a wait): `move` is called if the node is suspected while
   * it is there (the caller then sends it to another node). Starts probing the node. Returns the
   * function that unregisters it, to call when the request ends.
   */
  park(node: string, move: () => void): () => void {
    let moves = this.parked.get(node);
    if (!moves) this.parked.set(node, (moves = new Set()));
    moves.add(move);
    this.startProbing(node);
    const parked = moves;
    return () => {
      parked.delete(move);
      if (parked.size === 0 && this.parked.get(node) === parked) this.parked.delete(node);
    };
  }

  /** Runs `fn` after PROBE_MS without keeping the process alive for it (the parked requests do that). */
  private later(fn: () => void): void {
    (this.clock.setTimeout(fn, PROBE_MS) as { unref?: () => void } | undefined)?.unref?.();
  }

  private startProbing(node: string): void {
    if (this.probing.has(node)) return;
    this.probing.add(node);
    this.later(() => this.probe(node));
  }

  /**
   * One probe of a node that holds parked requests or is suspected. An answer clears the suspicion
   * (a node that was only busy, or has come back, is used again within a second); silence renews it,
   * so a node that stays silent is not handed new requests every SUSPECT_MS to find that out again.
   * The loop ends when nothing is parked at the node and it is not suspected (or no longer a voter
   * the cluster named).
   */
  private probe(node: string): void {
    const suspected = this.suspected(node, this.clock.now()) && (this.nodes.includes(node) || this.leader === node);
    if (!this.parked.has(node) && !suspected) {
      this.probing.delete(node);
      return;
    }
    this.counters.probes++;
    const next = () => this.later(() => this.probe(node));
    this.bus.request(this.subj.nodeLease(node, 'status'), {}, { deadlineMs: PROBE_TIMEOUT_MS }).then(
      () => {
        this.answered(node);
        next();
      },
      (err: unknown) => {
        if (err instanceof TenureError && (err.code === 'Timeout' || err.code === 'NoResponders')) {
          this.counters.probesFailed++;
          this.suspect(node);
        }
        next();
      },
    );
  }

  /** `node` answered a request sent straight to it. */
  answered(node: string): void {
    if (this.suspects.size) this.suspects.delete(node);
  }

  /**
   * After a direct request to `node` failed with `err`: suspects the node when it was silent
   * (Timeout) or gone (NoResponders), and returns true when the request was not processed and may
   * go to the queue group at once (NoResponders). Any error the node itself sent (Overloaded,
   * NoLeader, Held…) says it is there: it counts as an answer.
   */
  failed(node: string, err: unknown): boolean {
    if (!(err instanceof TenureError)) return false;
    if (err.code === 'Cancelled') return false; // the caller's, not the node's
    if (err.code !== 'Timeout' && err.code !== 'NoResponders') {
      this.answered(node);
      return false;
    }
    if (err.code === 'NoResponders') {
      this.suspect(node);
      return true;
    }
    // Silent: stopped, partitioned, or too busy to answer. The attempt's budget is spent; the
    // caller's next attempt goes to another node.
    if (err.code === 'Timeout') this.suspect(node);
    return false;
  }

  private suspected(node: string, now: number): boolean {
    const until = this.suspects.get(node);
    if (until === undefined) return false;
    if (now < until) return true;
    this.suspects.delete(node);
    return false;
  }
}

/** A node id a reply named, usable as a subject token (`….node.<id>.lease.<op>`). */
function isNodeId(v: unknown): v is string {
  return tokenProblem(v) === undefined;
}
