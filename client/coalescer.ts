/**
 * Client-side coalescing of lease writes. Every TenureClient on one bus (one NATS connection)
 * shares a WriteCoalescer; writes issued in the same event-loop turn — typically many callers
 * woken by one socket read — leave as ONE `lease.batch` request instead of one request each.
 * A lone write leaves as a batch of one, in the same turn (nothing waits for company): that way
 * it, too, goes straight to the leader once a reply has named it, saving a follower's decode and
 * forwarding hop (measured: about half a millisecond of a single client's claim), and a lone claim
 * still carries its lane, so a shedding node refuses it unread.
 *
 * Nothing waits for a batch to fill: the flush runs when the turn's I/O callbacks are done
 * (setImmediate). Each write keeps its own budget (`deadlineMs` in its op, the server answers
 * DeadlineExceeded on time) and its own retry: the caller's retry loop sees exactly the error it
 * would have seen alone, per op. A request-level failure (Timeout, NoResponders) is every op's.
 * Writes whose deadlines differ much go in different requests, because a request is answered
 * as a whole. A server that does not know `lease.batch` (Invalid, field `op`) turns coalescing
 * off for that bus and the writes are resent one by one.
 *
 * Claims leave in their own batches, marked `Tenure-Lane: claim`: claims are what an overloaded
 * node sheds first, and a node shedding them refuses such a batch before decoding it.
 *
 * Batches go to the leader directly once a reply has named it (`….node.<leader>.lease.batch`),
 * which saves a follower's decode and forwarding hop; any node still answers correctly (it
 * forwards), and a node that is gone (NoResponders) sends the batch back to the queue group.
 *
 * A node that did not answer a batch sent straight to it (Timeout, NoResponders) is suspected for a
 * while and the next attempts go straight to another voter, not to the queue group (client/routes.ts,
 * shared with the client's other requests on this bus).
 *
 * Bounds: ≤ MAX_COALESCED_OPS ops and ≈ MAX_COALESCED_BYTES per request; pending writes are
 * bounded by the callers themselves (each is one awaiting call), and leave within one turn.
 */
import type { Bus } from '../bus/types.ts';
import type { LeaseOp, Subjects } from '../bus/subjects.ts';
import { approxSize, chunkItems } from '../bus/batching.ts';
import { TenureError } from '../errors/errors.ts';
import { watchAbort } from '../bus/abort-watch.ts';
import { timeoutAfterIo } from '../bus/io-timeout.ts';
import type { BatchReply, BatchResult } from '../actors/lease-requests.ts';
import { defer, systemClock, type Clock } from '../clock/clock.ts';
import { perBusAndCluster, routesFor, type NodeRoutes } from './routes.ts';

export const MAX_COALESCED_OPS = 256;
export const MAX_COALESCED_BYTES = 48 * 1024;
const MAX_BODY_DEADLINE_MS = 10 * 60 * 1000;

interface Item {
  op: LeaseOp;
  body: Record<string, unknown>;
  size: number;
  deadline: number;
  budgetMs: number;
  signal?: AbortSignal;
  /** Stops watching the signal (bus/abort-watch.ts). */
  offAbort?: () => void;
  timer?: unknown;
  done: boolean;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

const shared = new WeakMap<Bus, Map<string, WriteCoalescer>>();

/** The coalescer of `bus` for the cluster of `subj` (created on first use, on the first caller's clock). */
export function coalescerFor(bus: Bus, subj: Subjects, clock: Clock = systemClock): WriteCoalescer {
  return perBusAndCluster(shared, bus, subj, () => new WriteCoalescer(bus, subj, clock));
}

export class WriteCoalescer {
  readonly counters = { writes: 0, batches: 0, batchedWrites: 0 };
  private pending: Item[] = [];
  private scheduled = false;
  private batchUnsupported = false;
  /** Until then batches go through the queue group: the leader refused a direct one at its bound. */
  private directPausedUntil = 0;
  /** Until then claims-only batches go through the queue group: the leader is shedding claims. */
  private directClaimsPausedUntil = 0;
  /** What this bus knows of the nodes (leader, voters, suspects). */
  readonly routes: NodeRoutes;

  /**
   * Where the next batch goes: the known leader, else any node. A leader that sheds claims pauses
   * only the direct claims (they meet the followers' shedding instead); other writes keep going
   * straight to it, since a follower would only forward them there.
   */
  batchSubject(claimsOnly = false): string {
    return this.routes.subject('batch', this.batchNode(claimsOnly));
  }

  /**
   * The node the next batch goes straight to, or null for the queue group: the known leader unless
   * it is suspected, else a named voter that is not (it forwards to the leader, or holds the batch
   * until there is one), so that no attempt is handed to a silent node again.
   */
  private batchNode(claimsOnly: boolean): string | null {
    const until = claimsOnly ? Math.max(this.directPausedUntil, this.directClaimsPausedUntil) : this.directPausedUntil;
    if (this.clock.now() < until) return null;
    return this.routes.nodeFor('batch');
  }

  /**
   * One `lease.batch` request for `ops`: to the known leader (once more through the queue group
   * if it did not process it), learning the leader from the reply. Resolves with one result per
   * op; rejects with the request's typed error. Shared by coalesced writes and TenureClient.batch.
   */
  async requestBatch(ops: unknown[], deadlineMs: number, opts: { signal?: AbortSignal; json?: boolean } = {}): Promise<BatchResult[]> {
    const end = this.clock.now() + deadlineMs;
    const group = this.subj.lease('batch');
    // A batch of claims only says so, so that a shedding server refuses it unread.
    const lane = ops.every((o) => (o as { op?: unknown }).op === 'claim') ? 'claim' : undefined;
    const node = this.batchNode(lane === 'claim');
    const subject = this.routes.subject('batch', node);
    const members = this.routes.membersDue();
    const envelope = members ? { ops, members } : { ops };
    const send = (to: string) => this.bus.request<BatchReply>(to, envelope, { deadlineMs: Math.max(1, end - this.clock.now()), signal: opts.signal, json: opts.json, lane });
    let reply: BatchReply;
    try {
      reply = await send(subject);
      if (node !== null) this.routes.answered(node);
    } catch (err) {
      // Nothing was processed (no responder, or refused unread): any node may take it now.
      if (node === null || !this.redirect(err, node)) throw err;
      reply = await send(group);
    }
    this.routes.learn(reply);
    const results = reply?.results;
    if (!Array.isArray(results) || results.length !== ops.length) throw new TenureError('Internal', 'malformed batch reply');
    return results;
  }

  /**
   * After a failed direct send to `node`: true when the batch was not processed and should go to the
   * queue group at once (the node is gone, or refused it unread because it is busy — then direct
   * sends of that lane, claims or all, pause for a second so clients do not keep probing a saturated
   * leader). A node gone or silent (Timeout) is suspected: passed over for SUSPECT_MS.
   */
  private redirect(err: unknown, node: string): boolean {
    if (this.routes.failed(node, err)) return true;
    if (err instanceof TenureError && err.code === 'Overloaded' && err.details.direct === true) {
      if (err.details.lane === 'claim') this.directClaimsPausedUntil = this.clock.now() + 1000;
      else this.directPausedUntil = this.clock.now() + 1000;
      return true;
    }
    return false;
  }

  constructor(
    private readonly bus: Bus,
    private readonly subj: Subjects,
    private readonly clock: Clock = systemClock,
  ) {
    this.routes = routesFor(bus, subj, clock);
  }

  /** A write's own timeout: on the system clock after this turn's socket reads (bus/io-timeout.ts). */
  private startTimer(fn: () => void, ms: number): unknown {
    return this.clock === systemClock ? timeoutAfterIo(fn, ms) : this.clock.setTimeout(fn, ms);
  }

  /** One attempt of one write: resolves with its reply or rejects with its typed error. */
  send<T>(op: LeaseOp, body: Record<string, unknown>, budgetMs: number, signal?: AbortSignal): Promise<T> {
    this.counters.writes++;
    if (this.batchUnsupported) return this.bus.request<T>(this.subj.lease(op), body, { deadlineMs: budgetMs, signal });
    return new Promise<T>((resolve, reject) => {
      const item: Item = {
        op,
        body,
        size: approxSize(body),
        deadline: this.clock.now() + budgetMs,
        budgetMs,
        signal,
        done: false,
        resolve: resolve as (v: unknown) => void,
        reject,
      };
      if (signal) {
        if (signal.aborted) return reject(new TenureError('Cancelled', 'request cancelled'));
        item.offAbort = watchAbort(signal, () => this.finish(item, new TenureError('Cancelled', 'request cancelled')));
      }
      this.pending.push(item);
      if (!this.scheduled) {
        this.scheduled = true;
        defer(this.clock, () => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const items = this.pending.filter((i) => !i.done);
    this.pending = [];
    const limits = { maxCount: MAX_COALESCED_OPS, maxBytes: MAX_COALESCED_BYTES, deadlines: { now: this.clock.now(), minSpreadMs: 20 } };
    // Claims travel apart from the other writes: an overloaded server sheds claims first, and a
    // claims-only batch can be refused without decoding it (requestBatch marks its lane).
    const claims = items.filter((i) => i.op === 'claim');
    const others = claims.length === 0 ? items : items.filter((i) => i.op !== 'claim');
    for (const group of [others, claims]) for (const chunk of chunkItems(group, limits)) this.sendChunk(chunk);
  }

  /** One write on its own `lease.<op>` subject (for a server without `lease.batch`). */
  private single(item: Item): void {
    const remaining = item.deadline - this.clock.now();
    if (remaining < 1) return this.finish(item, new TenureError('Timeout', `no answer to ${item.op} within the deadline`));
    this.bus.request(this.subj.lease(item.op), item.body, { deadlineMs: remaining, signal: item.signal }).then(
      (v) => this.finish(item, null, v),
      (e) => this.finish(item, e),
    );
  }

  private sendChunk(items: Item[]): void {
    if (items.length === 0) return;
    const now = this.clock.now();
    const latest = items[items.length - 1].deadline;
    const ops = items.map((i) => {
      const remaining = i.deadline - now;
      // Like a request header deadline, pulled in so the server's DeadlineExceeded arrives first.
      const ms = Math.floor(remaining - Math.min(50, Math.max(0, remaining) * 0.1));
      // Object.assign, not `{ ...body, more }`: V8 takes a slow path for a spread followed by fields.
      return Object.assign({}, i.body, { op: i.op, deadlineMs: Math.min(MAX_BODY_DEADLINE_MS, Math.max(1, ms)) });
    });
    for (const item of items) {
      if (item.deadline < latest) item.timer = this.startTimer(() => this.finish(item, new TenureError('Timeout', `no answer to ${item.op} within the deadline`)), item.deadline - now);
    }
    this.counters.batches++;
    this.counters.batchedWrites += items.length;
    this.requestBatch(ops, latest - now).then(
      (results) => {
        for (let i = 0; i < items.length; i++) {
          const r = results[i];
          if (r && typeof r === 'object' && 'error' in r) this.finish(items[i], TenureError.fromWire(r.error));
          else this.finish(items[i], null, (r as { result?: unknown } | undefined)?.result);
        }
      },
      (err: unknown) => {
        if (err instanceof TenureError && err.code === 'Invalid' && err.details.field === 'op') {
          // An older server: no batch op. Send these (and everything after) one by one.
          this.batchUnsupported = true;
          for (const item of items) {
            if (item.timer) this.clock.clearTimeout(item.timer);
            if (!item.done) this.single(item);
          }
          return;
        }
        for (const item of items) this.finish(item, err);
      },
    );
  }

  private finish(item: Item, err: unknown, value?: unknown): void {
    if (item.done) return;
    item.done = true;
    if (item.timer) this.clock.clearTimeout(item.timer);
    item.offAbort?.();
    if (err) item.reject(err);
    else item.resolve(value);
  }
}
