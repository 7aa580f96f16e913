import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { NatsBus } from '../../bus/nats-bus.ts';
import { TenureError } from '../../errors/errors.ts';
import type { LeaseEvent } from '../../lease/types.ts';
import { natsUrl } from '../support/nats.ts';
import { NS, TestCluster } from './harness.ts';

const tc = new TestCluster('input');
let nc: NatsConnection;
let bus: NatsBus;
const subject = (op: string) => `tenure.v1.${tc.cluster}.lease.${op}`;
const key = { namespace: NS, model: 'm1', lease: 'app1' };

beforeAll(async () => {
  await tc.startAll();
  await tc.leader();
  nc = await connect({ servers: natsUrl() });
  bus = await tc.bus();
});

afterAll(async () => {
  await nc?.close();
  await tc.shutdown();
});

async function rawJson(op: string, bytes: Uint8Array | string): Promise<{ code?: string; body: Record<string, unknown> }> {
  const m = await nc.request(subject(op), typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes, { timeout: 3000 });
  return { code: m.headers?.get('Tenure-Error') || undefined, body: JSON.parse(m.string()) };
}

async function failure(op: string, payload: unknown): Promise<TenureError> {
  try {
    await bus.request(subject(op), payload, { deadlineMs: 3000 });
  } catch (err) {
    return err as TenureError;
  }
  throw new Error(`${op} ${JSON.stringify(payload)} succeeded`);
}

describe('bad input gets Invalid naming the field, and the node keeps serving', () => {
  it('rejects undecodable, oversize and non-object payloads (field payload)', async () => {
    for (const bytes of ['{not json', '[1,2]', new Uint8Array([0xc3]), '{"x":"' + 'y'.repeat(70_000) + '"}']) {
      const r = await rawJson('claim', bytes);
      expect(r.code).toBe('Invalid');
      expect(r.body.field).toBe('payload');
    }
  });

  it('rejects unknown ops (field op) instead of leaving the caller to time out', async () => {
    const r = await rawJson('frobnicate', '{}');
    expect(r).toMatchObject({ code: 'Invalid', body: { field: 'op' } });
  });

  const cases: [string, Record<string, unknown>, string][] = [
    ['claim', { ...key, holder: 'h', durationMs: 'soon' }, 'durationMs'],
    ['claim', { ...key, holder: 'h', durationMs: -5 }, 'durationMs'],
    ['claim', { ...key, holder: 'h', durationMs: 1.5 }, 'durationMs'],
    ['claim', { ...key, durationMs: 1000 }, 'holder'],
    ['claim', { ...key, holder: '', durationMs: 1000 }, 'holder'],
    ['claim', { ...key, namespace: 'a*b', holder: 'h', durationMs: 1000 }, 'namespace'],
    ['claim', { ...key, model: 'm.1', holder: 'h', durationMs: 1000 }, 'model'],
    ['claim', { ...key, lease: 'x'.repeat(300), holder: 'h', durationMs: 1000 }, 'lease'],
    ['claim', { ...key, holder: 'h', durationMs: 1000, clientId: 'c1' }, 'seq'],
    ['claim', { ...key, holder: 'h', durationMs: 1000, seq: 1 }, 'clientId'],
    ['extend', { ...key, holder: 'h', durationMs: 1000, clientId: 'c1', seq: 'one' }, 'seq'],
    ['claim', { ...key, holder: 'h', durationMs: 1000, deadlineMs: -1 }, 'deadlineMs'],
    ['claim', { ...key, holder: 'h', durationMs: 1000, clientId: 'c1', seq: 1, attempt: 0 }, 'attempt'],
    ['claim', { ...key, holder: 'h', durationMs: 1000, clientId: 'c1', seq: 1, attempt: 'first' }, 'attempt'],
    ['revoke', { ...key, holder: 7 }, 'holder'],
    ['pin', { ...key }, 'entity'],
    ['get', { namespace: NS, model: 'm1' }, 'lease'],
    ['get', { ...key, linearizable: 'yes' }, 'linearizable'],
    ['list', { limit: 0 }, 'limit'],
    ['list', { namespace: 'a>b' }, 'namespace'],
    ['wait', { ...key, deadlineMs: 0 }, 'deadlineMs'],
  ];
  for (const [op, body, field] of cases) {
    it(`${op} ${JSON.stringify(body).slice(0, 70)} → Invalid(${field})`, async () => {
      const err = await failure(op, body);
      expect(err).toBeInstanceOf(TenureError);
      expect(err.code).toBe('Invalid');
      expect(err.details.field).toBe(field);
    });
  }

  it('still serves after all that, and nothing was applied', async () => {
    const before = tc.running().map((n) => n.stateMachine.fsm.stats().nextToken);
    expect(before.every((t) => t === 0)).toBe(true);
    const r = await rawJson('claim', JSON.stringify({ ...key, holder: 'h', durationMs: 5000, unknownField: true }));
    expect(r.code).toBeUndefined();
    expect(r.body).toMatchObject({ holder: 'h', token: 1, extended: false });
  });
});

describe('idempotent retries', () => {
  it('a claim retried with the same clientId and seq returns the first outcome and applies nothing new', async () => {
    const k = { namespace: NS, model: 'm2', lease: 'idem' };
    const leader = await tc.leader();
    const events: LeaseEvent[] = [];
    const off = leader.stateMachine.onApplied((_i, evs) => events.push(...evs));
    try {
      const first = await bus.request<{ token: number }>(subject('claim'), { ...k, holder: 'u/0', durationMs: 60_000, clientId: 'retry-me', seq: 1 }, { deadlineMs: 3000 });
      // Someone revokes in between (another client identity): the lease is free now.
      await bus.request(subject('revoke'), { ...k, holder: 'u/0' }, { deadlineMs: 3000 });
      const tokenBefore = leader.stateMachine.fsm.stats().nextToken;
      const eventsBefore = events.length;
      const retry = await bus.request(subject('claim'), { ...k, holder: 'u/0', durationMs: 60_000, clientId: 'retry-me', seq: 1 }, { deadlineMs: 3000 });
      // The same outcome; only `remainingMs` is recomputed against the lease clock at answer time.
      const { remainingMs: _r1, ...firstOutcome } = first as Record<string, unknown>;
      const { remainingMs: _r2, ...retryOutcome } = retry as Record<string, unknown>;
      expect(retryOutcome).toEqual(firstOutcome);
      expect(leader.stateMachine.fsm.stats().nextToken).toBe(tokenBefore);
      expect(events.length).toBe(eventsBefore);
      const view = await bus.request<{ holder: string | null }>(subject('get'), { ...k, linearizable: true }, { deadlineMs: 3000 });
      expect(view.holder).toBeNull();

      // The next sequence number is a new command; an older one is refused as stale.
      const next = await bus.request<{ token: number }>(subject('claim'), { ...k, holder: 'u/0', durationMs: 60_000, clientId: 'retry-me', seq: 2 }, { deadlineMs: 3000 });
      expect(next.token).toBeGreaterThan(first.token);
      await expect(
        bus.request(subject('claim'), { ...k, holder: 'u/0', durationMs: 60_000, clientId: 'retry-me', seq: 1 }, { deadlineMs: 3000 }),
      ).rejects.toMatchObject({ code: 'Invalid', details: { field: 'seq' } });
    } finally {
      off();
    }
  });

  it('TenureClient uses a separate lane per concurrent command, so concurrent commands are never stale', async () => {
    const client = await tc.client();
    const keys = Array.from({ length: 20 }, (_, i) => ({ namespace: NS, model: 'm3', lease: `l${i}` }));
    const results = await Promise.all(keys.map((k) => client.claim(k, 'c/0', 30_000)));
    expect(new Set(results.map((r) => r.token)).size).toBe(20);
    const again = await Promise.all(keys.map((k) => client.extend(k, 'c/0', 30_000)));
    expect(again.map((r) => r.token)).toEqual(results.map((r) => r.token));
  });
});
