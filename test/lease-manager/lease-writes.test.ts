/**
 * LeaseWrites.batch on a scripted forwarder: a batch's first attempts leave in one `submitMany`
 * call, and an op whose first attempt fails continues alone under the single write's retry policy.
 */
import { describe, expect, it } from 'vitest';
import { SimClock } from '../../clock/clock.ts';
import { TenureError } from '../../errors/errors.ts';
import type { LeaseCommand, LeaseResult } from '../../lease/types.ts';
import type { Forwarder, ForwardOptions, SubmitSettle, SubmitSettleAt } from '../../actors/forwarder.ts';
import { LeaseStateMachine } from '../../actors/lease-state-machine.ts';
import { LeaseWrites } from '../../actors/lease-writes.ts';
import type { BatchOp } from '../../actors/lease-requests.ts';
import { claim, extend } from '../forwarders/commands.ts';

type Answer = (cmd: LeaseCommand, attempt: number) => LeaseResult | TenureError;

/** Answers every attempt from `answer` (after 1 ms), recording how each one was sent. */
class ScriptedForwarder implements Forwarder {
  readonly manyCalls: number[] = [];
  readonly singles: string[] = [];
  private readonly attempts = new Map<LeaseCommand, number>();

  constructor(
    private readonly clock: SimClock,
    private readonly answer: Answer,
  ) {}

  submit(): Promise<LeaseResult> {
    throw new Error('the write path uses submitWith / submitMany');
  }

  submitWith(cmd: LeaseCommand, _opts: ForwardOptions, settle: SubmitSettle): void {
    this.singles.push(leaseOf(cmd));
    this.reply(cmd, (err, r) => settle(err, r));
  }

  submitMany(cmds: readonly LeaseCommand[], _opts: readonly ForwardOptions[], at: SubmitSettleAt): void {
    this.manyCalls.push(cmds.length);
    cmds.forEach((cmd, i) => this.reply(cmd, (err, r) => at(i, err, r)));
  }

  async close(): Promise<void> {}

  private reply(cmd: LeaseCommand, settle: SubmitSettle): void {
    const attempt = (this.attempts.get(cmd) ?? 0) + 1;
    this.attempts.set(cmd, attempt);
    const out = this.answer(cmd, attempt);
    this.clock.setTimeout(() => (out instanceof TenureError ? settle(out) : settle(null, out)), 1);
  }
}

const leaseOf = (cmd: LeaseCommand) => ('key' in cmd ? cmd.key.lease : cmd.op);
const ok = (cmd: LeaseCommand): LeaseResult =>
  cmd.op === 'claim' ? { ok: true, holder: cmd.holder, expiry: 60_000, token: 1, extended: false } : { ok: true, holder: (cmd as { holder: string }).holder, expiry: 60_000, token: 1 };
const asOp = (cmd: LeaseCommand): BatchOp => ({ op: cmd.op as 'claim' | 'extend', cmd });

function setUp(answer: Answer, maxInFlight?: number) {
  const clock = new SimClock(0);
  const forwarder = new ScriptedForwarder(clock, answer);
  const counters = { shed: 0, retries: 0 };
  const writes = new LeaseWrites({ forwarder, stateMachine: new LeaseStateMachine(), clock, counters, maxInFlight });
  return { clock, forwarder, counters, writes };
}

async function settle<T>(clock: SimClock, p: Promise<T>, ms = 2000): Promise<T> {
  let done = false;
  void p.then(() => (done = true));
  for (let t = 0; t < ms && !done; t++) await clock.advance(1);
  return p;
}

describe('LeaseWrites.batch', () => {
  it("sends a batch's first attempts in one submitMany call and answers each op in order", async () => {
    const { clock, forwarder, writes } = setUp((cmd) => ok(cmd));
    const ops = [claim('a'), extend('b'), claim('c')].map(asOp);
    const results = await settle(clock, writes.batch(ops, 5000));
    expect(forwarder.manyCalls).toEqual([3]);
    expect(forwarder.singles).toEqual([]);
    expect(results).toEqual([
      { result: expect.objectContaining({ holder: 'a/0', extended: false }) },
      { result: expect.objectContaining({ holder: 'b/0', expiry: 60_000 }) },
      { result: expect.objectContaining({ holder: 'c/0', extended: false }) },
    ]);
    expect(writes.inFlight).toBe(0);
  });

  it('retries an op whose first attempt failed like a single write: a refused extend again, a refused claim not', async () => {
    const busy = new TenureError('Overloaded', 'leader queue full', { retryAfterMs: 20 });
    const { clock, forwarder, counters, writes } = setUp((cmd, attempt) => (attempt === 1 && leaseOf(cmd) !== 'fine' ? busy : ok(cmd)));
    const ops = [extend('e'), claim('c'), claim('fine')].map(asOp);
    const results = await settle(clock, writes.batch(ops, 5000));
    expect(results[0]).toEqual({ result: expect.objectContaining({ holder: 'e/0' }) });
    expect(results[1]).toEqual({ error: expect.objectContaining({ code: 'Overloaded', retryAfterMs: 20 }) });
    expect(results[2]).toEqual({ result: expect.objectContaining({ holder: 'fine/0' }) });
    expect(forwarder.manyCalls).toEqual([3]);
    expect(forwarder.singles).toEqual(['e']); // the extend's second attempt, alone
    expect(counters.retries).toBe(1);
    expect(writes.inFlight).toBe(0);
  });

  it('gives an extend whose first attempt timed out a second attempt within the budget; a claim gets Timeout', async () => {
    const lost = new TenureError('Timeout', 'no outcome');
    const { clock, forwarder, writes } = setUp((_cmd, attempt) => (attempt === 1 ? lost : ok(_cmd)));
    const results = await settle(clock, writes.batch([extend('e'), claim('c')].map(asOp), 3000));
    expect(results[0]).toEqual({ result: expect.objectContaining({ holder: 'e/0' }) });
    expect(results[1]).toEqual({ error: expect.objectContaining({ code: 'Timeout' }) });
    expect(forwarder.singles).toEqual(['e']);
  });

  it('answers ops beyond the in-flight bound Overloaded at once, and frees the bound as ops finish', async () => {
    const { clock, counters, writes } = setUp((cmd) => ok(cmd), 2);
    const results = await settle(clock, writes.batch([extend('a'), extend('b'), extend('c')].map(asOp), 5000));
    expect(results.map((r) => ('error' in r ? r.error.code : 'ok'))).toEqual(['ok', 'ok', 'Overloaded']);
    expect(counters.shed).toBe(1);
    expect(writes.inFlight).toBe(0);
    const again = await settle(clock, writes.batch([extend('c')].map(asOp), 5000));
    expect(again).toEqual([{ result: expect.objectContaining({ holder: 'c/0' }) }]);
  });

  it('answers invalid ops with their own error and submits nothing for an all-invalid batch', async () => {
    const { clock, forwarder, writes } = setUp((cmd) => ok(cmd));
    const bad: BatchOp = { op: null, error: new TenureError('Invalid', 'ops[0].op: unknown', { field: 'ops[0].op' }) };
    const results = await settle(clock, writes.batch([bad], 5000));
    expect(results).toEqual([{ error: expect.objectContaining({ code: 'Invalid', field: 'ops[0].op' }) }]);
    expect(forwarder.manyCalls).toEqual([0]);
  });
});
