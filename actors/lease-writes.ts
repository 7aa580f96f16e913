/**
 * A node's writes in flight: the lease manager's bound on them, lane-aware shedding by load, and
 * the path of each write to the forwarder under the retry policy (actors/lease-retry.ts).
 *
 * Bound: at most `maxInFlight` writes (default 10,000) submitted from this node and not yet
 * answered; beyond it a write is answered `Overloaded` at once (nothing is queued here). Before
 * the bound, shedding refuses lanes in the leader's order: claims from a quarter of the bound (or
 * an event loop ≥ LAG_SHED_CLAIMS_MS late), revokes and pins from half (or ≥ LAG_SHED_REVOKES_MS),
 * extensions only at the bound: keeping current holders is what the service is for.
 *
 * `lease.batch` (`batch`): every op is shed, bounded and retried exactly as if it had come alone,
 * but the first attempts of a batch's ops leave together (`submitMany`): on the leader one
 * callback answers the whole batch instead of a chain of closures per op (measured, bulk: 18.6k /
 * 23.3k → 26.3k / 27.4k extends/s). An op whose first attempt fails continues alone under the same
 * policy.
 */
import type { Clock } from '../clock/clock.ts';
import { TenureError, toTenureError } from '../errors/errors.ts';
import type { LeaseCommand, LeaseResult } from '../lease/types.ts';
import { submitManyVia, type Forwarder, type ForwardOptions } from './forwarder.ts';
import { firstAttemptDeadline, submitWithRetryThen } from './lease-retry.ts';
import { writeReply, type BatchOp, type BatchResult, type WriteOp } from './lease-requests.ts';
import type { LeaseStateMachine } from './lease-state-machine.ts';
import { promiseOf, tally } from './settle.ts';

/** Event-loop lag (ms) from which this node refuses claims, then revokes/pins (extensions: only at the in-flight bound). */
export const LAG_SHED_CLAIMS_MS = 50;
export const LAG_SHED_REVOKES_MS = 150;

export interface LeaseWritesOptions {
  forwarder: Forwarder;
  stateMachine: LeaseStateMachine;
  clock: Clock;
  /** Event-loop lag signal for shedding (production nodes pass one; tests on simulated time don't). */
  loadMonitor?: { lagMs: number };
  /** Most writes in flight from this node (default 10,000). */
  maxInFlight?: number;
  /** The lease manager's counters: sheds and retries are counted there. */
  counters: { shed: number; retries: number };
}

export class LeaseWrites {
  private inFlightNow = 0;
  private readonly max: number;

  constructor(private readonly opts: LeaseWritesOptions) {
    this.max = opts.maxInFlight ?? 10_000;
  }

  /** Writes submitted from this node and not yet answered. */
  get inFlight(): number {
    return this.inFlightNow;
  }

  /** The `Overloaded` answer for `op` if this node is shedding that lane now, else null. */
  shedding(op: string, details: Record<string, unknown> = {}): TenureError | null {
    const max = this.max;
    const lag = this.opts.loadMonitor?.lagMs ?? 0;
    if (this.inFlightNow < max / 4 && lag < LAG_SHED_CLAIMS_MS) return null;
    let shed: boolean;
    if (op === 'claim') shed = true;
    else if (op === 'revoke' || op === 'pin' || op === 'unpin') shed = this.inFlightNow >= max / 2 || lag >= LAG_SHED_REVOKES_MS;
    else if (op === 'extend') shed = this.inFlightNow >= max;
    else shed = false;
    if (!shed) return null;
    this.opts.counters.shed++;
    const retryAfterMs = Math.round(100 + lag * 2 + Math.random() * 100);
    return new TenureError('Overloaded', `node busy (${this.inFlightNow} commands in flight, event loop ${Math.round(lag)} ms late); ${op} is shed first`, { ...details, retryAfterMs, lane: op });
  }

  /** One write, with the retry policy: the client's reply, or a typed error. */
  submit(op: WriteOp, cmd: LeaseCommand, deadline: number, firstCopy = false): Promise<unknown> {
    return promiseOf((done) => {
      if (this.inFlightNow >= this.max) {
        this.opts.counters.shed++;
        return done(tooManyInFlight());
      }
      this.inFlightNow++;
      submitWithRetryThen(this.opts.forwarder, cmd, op, deadline, this.opts.clock, this.onRetry, (err, result) => {
        this.inFlightNow--;
        if (err) return done(err);
        let reply: unknown;
        try {
          reply = writeReply(cmd, result!, this.opts.stateMachine.timeNow());
        } catch (e) {
          return done(e);
        }
        done(null, reply);
      }, null, firstCopy);
    });
  }

  /**
   * A batch's ops (parsed; `envelope` is the request's deadline), answered in order: `{ result }`
   * or `{ error }` per op. Not a transaction: ops are independent and may share Raft entries.
   */
  batch(ops: readonly BatchOp[], envelope: number): Promise<BatchResult[]> {
    return tally<BatchResult>(ops.length, (finish) => {
      // One refusal per op kind per batch: shedding is decided from the node's load, not the op,
      // and a refused herd would otherwise cost an error object per op exactly when CPU is scarcest.
      const refusals = new Map<WriteOp, BatchResult | null>();
      const now = this.opts.clock.now();
      const slots: number[] = [];
      const cmds: LeaseCommand[] = [];
      const firsts: ForwardOptions[] = [];
      const deadlines: number[] = [];
      for (let i = 0; i < ops.length; i++) {
        const p = ops[i];
        if ('error' in p) {
          finish(i, { error: p.error.toWire() });
          continue;
        }
        let refused = refusals.get(p.op);
        if (refused === undefined) {
          const shed = this.shedding(p.op);
          refusals.set(p.op, (refused = shed ? { error: shed.toWire() } : null));
        } else if (refused) this.opts.counters.shed++;
        if (refused) {
          finish(i, refused);
          continue;
        }
        if (this.inFlightNow >= this.max) {
          this.opts.counters.shed++;
          finish(i, { error: tooManyInFlight().toWire() });
          continue;
        }
        this.inFlightNow++;
        const deadline = p.deadlineMs === undefined ? envelope : Math.min(envelope, now + p.deadlineMs);
        slots.push(i);
        cmds.push(p.cmd);
        deadlines.push(deadline);
        firsts.push({ deadline: firstAttemptDeadline(p.op, deadline, now), firstCopy: p.firstCopy === true });
      }
      submitManyVia(this.opts.forwarder, cmds, firsts, (k, err, result) => {
        const i = slots[k];
        const cmd = cmds[k];
        if (!err) {
          this.inFlightNow--;
          return finish(i, this.outcome(cmd, null, result));
        }
        const first = { err, attemptDeadline: firsts[k].deadline };
        const done = (e: unknown, r?: LeaseResult) => {
          this.inFlightNow--;
          finish(i, this.outcome(cmd, e, r));
        };
        submitWithRetryThen(this.opts.forwarder, cmd, ops[i].op as WriteOp, deadlines[k], this.opts.clock, this.onRetry, done, first);
      });
    });
  }

  private readonly onRetry = () => {
    this.opts.counters.retries++;
  };

  /** A command's outcome as the client sees it: the reply built from its result, or the error. */
  private outcome(cmd: LeaseCommand, err: unknown, result: LeaseResult | undefined): BatchResult {
    if (err) return { error: toTenureError(err).toWire() };
    try {
      return { result: writeReply(cmd, result!, this.opts.stateMachine.timeNow()) };
    } catch (e) {
      return { error: toTenureError(e).toWire() };
    }
  }
}

/** The bound: more writes in flight on this node than it takes. */
function tooManyInFlight(): TenureError {
  return new TenureError('Overloaded', 'too many commands in flight on this node', { retryAfterMs: 100 });
}
