/**
 * The leadership helper never believes longer than it was promised (found by the lease simulation,
 * test/sim/lease-scenario.ts): a claim answered after its promised time ran out is not leadership;
 * `lost` comes the moment the promised time runs out, even while an extend is still unanswered;
 * and stop() stops believing before it sends the revoke. A scripted server on the simulated bus.
 */
import { describe, expect, it } from 'vitest';
import { SimClock } from '../../clock/clock.ts';
import { SimNetwork } from '../../bus/sim-bus.ts';
import { TenureClient } from '../../client/tenure-client.ts';

type Op = { op: string; holder?: string; durationMs?: number };
type Answer = { result: unknown } | 'never';

/** A `lease.batch` server answering each op with `answer(op)` after `delayMs(op)` of simulated time. */
function scripted(answer: (op: Op) => Answer, delayMs: (op: Op) => number = () => 1) {
  const clock = new SimClock(0);
  const net = new SimNetwork({ seed: 1, clock, minDelayMs: 0, maxDelayMs: 0 });
  const seen: { at: number; op: string }[] = [];
  net.endpoint('srv').serve('tenure.v1.t.lease.batch', (req) => {
    const ops = (req.data as { ops: Op[] }).ops;
    for (const o of ops) seen.push({ at: clock.now(), op: o.op });
    const answers = ops.map(answer);
    if (answers.includes('never')) return new Promise(() => {});
    return new Promise((resolve) => clock.setTimeout(() => resolve({ results: answers }), Math.max(...ops.map(delayMs))));
  });
  const client = new TenureClient(net.endpoint('c'), { cluster: 't', clock, maxAttempts: 1 });
  return { clock, client, seen };
}

const held = (remainingMs: number) => ({ result: { holder: 'h', expiry: 0, remainingMs, token: 7 } });

describe('leadership helper and promised time', () => {
  it('does not lead on a claim whose answer came after the time it promised', async () => {
    let claims = 0;
    // First claim: answered after 300 ms with 200 ms left (gone before it arrived); then 1000 ms at once.
    const { clock, client } = scripted(
      (o) => (o.op === 'claim' ? (++claims === 1 ? held(200) : held(1000)) : held(1000)),
      (o) => (o.op === 'claim' && claims === 1 ? 300 : 1),
    );
    const changes: { at: number; type: string }[] = [];
    const lead = client.leadership('ns', 'm', 'l', 'h', { durationMs: 1000, onAcquired: () => changes.push({ at: clock.now(), type: 'acquired' }) });
    await clock.advance(299);
    expect(lead.isLeader).toBe(false);
    await clock.advance(5);
    expect(changes).toEqual([]); // the late answer gave nothing
    await clock.advance(500);
    expect(claims).toBeGreaterThanOrEqual(2);
    expect(changes.map((c) => c.type)).toEqual(['acquired']);
    expect(lead.isLeader).toBe(true);
    await lead.stop({ revoke: false });
  });

  it('reports lost the moment the promised time runs out while an extend is unanswered', async () => {
    const { clock, client } = scripted((o) => (o.op === 'claim' ? held(1000) : 'never'));
    const changes: { at: number; type: string }[] = [];
    const lead = client.leadership('ns', 'm', 'l', 'h', {
      durationMs: 1000,
      onAcquired: () => changes.push({ at: clock.now(), type: 'acquired' }),
      onLost: () => changes.push({ at: clock.now(), type: 'lost' }),
    });
    await clock.advance(10);
    expect(changes.map((c) => c.type)).toEqual(['acquired']);
    // Claimed at 0 with 1000 ms promised: the holder may believe until 1000 and not a moment longer.
    await clock.advance(989);
    expect(lead.isLeader).toBe(true);
    await clock.advance(1);
    expect(lead.isLeader).toBe(false);
    expect(changes[1]).toEqual({ at: 1000, type: 'lost' });
    await lead.stop({ revoke: false });
  });

  it('stop() stops believing before it sends the revoke', async () => {
    const { clock, client, seen } = scripted((o) => (o.op === 'revoke' ? { result: { revoked: true } } : held(5000)));
    const order: string[] = [];
    const lead = client.leadership('ns', 'm', 'l', 'h', { durationMs: 5000, onLost: () => order.push(`lost while ${seen.filter((s) => s.op === 'revoke').length} revokes seen`) });
    await clock.advance(10);
    expect(lead.isLeader).toBe(true);
    const stopping = lead.stop();
    await clock.advance(10);
    await stopping;
    expect(order).toEqual(['lost while 0 revokes seen']);
    expect(seen.some((s) => s.op === 'revoke')).toBe(true);
  });
});


describe('leadership helper and two clocks', () => {
  /** The scripted server on a SimClock that also has a wall clock, `offset` ms from it. */
  function withWall(answer: (op: Op) => Answer) {
    const s = scripted(answer);
    let offset = 0;
    Object.assign(s.clock, { wall: () => s.clock.now() + offset });
    return { ...s, step: (ms: number) => void (offset += ms) };
  }

  it('stops believing when the wall clock says the time is up though the monotonic one does not (a suspend)', async () => {
    const { clock, client, step } = withWall((o) => (o.op === 'claim' ? held(1000) : 'never'));
    const lost: string[] = [];
    const lead = client.leadership('ns', 'm', 'l', 'h', { durationMs: 1000, onLost: (c) => lost.push(c.reason) });
    await clock.advance(10);
    expect(lead.isLeader).toBe(true);
    step(5000); // the machine slept 5 s: the wall clock counted it, the monotonic clock did not
    expect(lead.isLeader).toBe(false);
    expect(lead.currentToken).toBeNull();
    await clock.advance(600); // the loop wakes to extend and reports the loss
    expect(lost).toHaveLength(1);
    await lead.stop({ revoke: false });
  });

  it('a wall clock set back does not make it believe longer', async () => {
    const { clock, client, step } = withWall((o) => (o.op === 'claim' ? held(1000) : 'never'));
    const lead = client.leadership('ns', 'm', 'l', 'h', { durationMs: 1000 });
    await clock.advance(10);
    step(-3_600_000);
    await clock.advance(989);
    expect(lead.isLeader).toBe(true);
    await clock.advance(1);
    expect(lead.isLeader).toBe(false);
    await lead.stop({ revoke: false });
  });

  it('extends keep it leading on both clocks', async () => {
    const { clock, client } = withWall(() => held(1000));
    const lead = client.leadership('ns', 'm', 'l', 'h', { durationMs: 1000 });
    for (let i = 0; i < 50; i++) await clock.advance(100);
    expect(lead.isLeader).toBe(true);
    await lead.stop({ revoke: false });
  });
});
