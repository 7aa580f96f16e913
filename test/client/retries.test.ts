/**
 * TenureClient's retries against a scripted bus (no server): which errors end a call and which
 * send the same lane and seq again within the caller's deadline.
 */
import { describe, expect, it } from 'vitest';
import type { Bus, RequestOptions } from '../../bus/types.ts';
import { TenureClient, WAIT_ATTEMPT_MAX_MS } from '../../client/tenure-client.ts';
import { TenureError } from '../../errors/errors.ts';
import { SimClock } from '../../clock/clock.ts';
import { DISCOVER_RETRY_MS, MEMBERS_REFRESH_MS, PROBE_MS, SUSPECT_MS } from '../../client/routes.ts';

/** The node a request was sent to by name, or null for the queue group. */
const nodeOf = (subject: string) => /\.node\.([^.]+)\.lease\./.exec(subject)?.[1] ?? null;

interface Call {
  subject: string;
  payload: Record<string, unknown>;
  deadlineMs: number;
}

/** A bus whose n-th request gets `script[n]`'s answer (an error is thrown as the remote's reply). */
/**
 * A bus that answers the client's requests from `script`, in order. The client's background
 * discovery (a queue-group `status`, client/routes.ts) is answered apart by `discover` (default: no
 * responders, so nothing is learned) and recorded in `discoveries`, not in `calls`.
 */
function scriptedBus(
  script: ((payload: Record<string, unknown>, opts: RequestOptions) => unknown)[],
  discover: () => unknown = () => {
    throw new TenureError('NoResponders', 'no responders');
  },
): { bus: Bus; calls: Call[]; discoveries: Call[] } {
  const calls: Call[] = [];
  const discoveries: Call[] = [];
  const bus = {
    async request(subject: string, payload: unknown, opts: RequestOptions) {
      if (subject.endsWith('.lease.status') && nodeOf(subject) === null) {
        discoveries.push({ subject, payload: payload as Record<string, unknown>, deadlineMs: opts.deadlineMs });
        return discover();
      }
      calls.push({ subject, payload: payload as Record<string, unknown>, deadlineMs: opts.deadlineMs });
      const answer = script[calls.length - 1];
      if (!answer) throw new Error(`unexpected request ${calls.length} on ${subject}`);
      return answer(payload as Record<string, unknown>, opts);
    },
    serve: () => ({ unsubscribe() {} }),
    publish() {},
    subscribe: () => ({ unsubscribe() {} }),
    flush: async () => {},
    close: async () => {},
  } as Bus;
  return { bus, calls, discoveries };
}

/** A lone write leaves as a batch of one: `answer` answers its op (a throw becomes the op's error). */
function one(answer: (op: Record<string, unknown>) => unknown): (payload: Record<string, unknown>) => unknown {
  return (payload) => {
    const ops = payload.ops as Record<string, unknown>[];
    expect(ops).toHaveLength(1);
    try {
      return { results: [{ result: answer(ops[0]) }] };
    } catch (err) {
      return { results: [{ error: (err as TenureError).toWire() }] };
    }
  };
}

/** The single op of a batch-of-one call. */
const opOf = (c: Call) => (c.payload.ops as Record<string, unknown>[])[0];

const key = { namespace: 'ns', model: 'm', lease: 'l' };
const ranOut = () => {
  throw new TenureError('DeadlineExceeded', 'deadline passed before the command was proposed');
};
const claimed = () => ({ holder: 'u/0', token: 7, remainingMs: 1000 });

describe('TenureClient retries', () => {
  it('a DeadlineExceeded that only ended an attempt’s share of the budget is retried with the same lane and seq', async () => {
    const { bus, calls } = scriptedBus([one(ranOut), one(claimed)]);
    const client = new TenureClient(bus, { cluster: 'c' });
    await expect(client.claim(key, 'u/0', 1000, { deadlineMs: 3000 })).resolves.toMatchObject({ token: 7 });
    expect(calls).toHaveLength(2);
    expect(calls[0].deadlineMs).toBeLessThan(3000); // a share, leaving room for later attempts
    expect(opOf(calls[1]).clientId).toBe(opOf(calls[0]).clientId);
    expect(opOf(calls[1]).seq).toBe(opOf(calls[0]).seq);
    // Each attempt says which it is: only the first may be answered Held without a log entry.
    expect([opOf(calls[0]).attempt, opOf(calls[1]).attempt]).toEqual([1, 2]);
  });

  it('a DeadlineExceeded on an attempt that had all that was left reaches the caller', async () => {
    const { bus, calls } = scriptedBus([one(ranOut), one(claimed)]);
    const client = new TenureClient(bus, { cluster: 'c', maxAttempts: 1 });
    await expect(client.claim(key, 'u/0', 1000, { deadlineMs: 3000 })).rejects.toMatchObject({ code: 'DeadlineExceeded' });
    expect(calls).toHaveLength(1);
  });

  it('errors that say the command was refused for good are not retried', async () => {
    const held = () => {
      throw new TenureError('Held', 'held by someone else', { holder: 'v/0' });
    };
    const { bus, calls } = scriptedBus([one(held), one(claimed)]);
    const client = new TenureClient(bus, { cluster: 'c' });
    await expect(client.claim(key, 'u/0', 1000, { deadlineMs: 3000 })).rejects.toMatchObject({ code: 'Held' });
    expect(calls).toHaveLength(1);
  });

  it('batch: only the op whose attempt ran out is sent again, with its own lane and seq', async () => {
    const first = (p: Record<string, unknown>) => {
      const ops = p.ops as Record<string, unknown>[];
      expect(ops).toHaveLength(2);
      return { results: [{ error: new TenureError('DeadlineExceeded', 'ran out').toWire() }, { result: claimed() }] };
    };
    const second = (p: Record<string, unknown>) => ({ results: (p.ops as unknown[]).map(() => ({ result: claimed() })) });
    const { bus, calls } = scriptedBus([first, second]);
    const client = new TenureClient(bus, { cluster: 'c' });
    const out = await client.batch(
      [
        { op: 'claim', key, holder: 'u/0', durationMs: 1000 },
        { op: 'claim', key: { ...key, lease: 'l2' }, holder: 'u/0', durationMs: 1000 },
      ],
      { deadlineMs: 3000 },
    );
    expect(out.map((o) => o.ok)).toEqual([true, true]);
    expect(calls).toHaveLength(2);
    const [before, again] = [opOf(calls[0]), opOf(calls[1])];
    expect((calls[1].payload.ops as unknown[]).length).toBe(1);
    expect([again.clientId, again.seq, again.lease]).toEqual([before.clientId, before.seq, 'l']);
    expect([before.attempt, again.attempt]).toEqual([1, 2]);
  });
});

describe('attemptBudget', () => {
  it('shares the budget among the attempts left, never below 250 ms, and gives an attempt all of it when the rest would be shorter than that', async () => {
    const { attemptBudget } = await import('../../client/retry.ts');
    expect(attemptBudget(9_000, 1, 3)).toBe(3_000);
    expect(attemptBudget(600, 1, 3)).toBe(250); // leaves 350 for a retry
    expect(attemptBudget(450, 1, 3)).toBe(450); // a 200 ms retry would be too short: all of it
    expect(attemptBudget(700, 2, 3)).toBe(350);
    expect(attemptBudget(120, 1, 3)).toBe(120);
    expect(attemptBudget(800, 3, 3)).toBe(800); // the last attempt takes what is left
  });
});

describe('TenureClient wait', () => {
  const timeout = () => {
    throw new TenureError('Timeout', 'no answer within the deadline');
  };
  const free = () => ({ free: true, reason: 'expired' });

  it(`asks a node to hold a wait at most ${WAIT_ATTEMPT_MAX_MS} ms: one that never answers (crashed, paused) is left for another after that`, async () => {
    const { bus, calls } = scriptedBus([timeout, free]);
    const client = new TenureClient(bus, { cluster: 'c' });
    await expect(client.wait(key, { deadlineMs: 30_000 })).resolves.toEqual({ free: true, reason: 'expired' });
    expect(calls).toHaveLength(2);
    expect(calls.map((c) => c.subject)).toEqual(['tenure.v1.c.lease.wait', 'tenure.v1.c.lease.wait']);
    expect(calls[0].payload.deadlineMs).toBe(WAIT_ATTEMPT_MAX_MS);
    expect(calls[0].deadlineMs).toBe(WAIT_ATTEMPT_MAX_MS + 1000); // the node's own DeadlineExceeded comes first
    expect(calls[1].payload.deadlineMs).toBeLessThanOrEqual(30_000 - (calls[0].payload.deadlineMs as number) + 1000);
    expect(calls[1].payload.deadlineMs).toBeGreaterThan(0);
  });

  it('sends a long wait again for the rest when a node ends its share, and gives the caller DeadlineExceeded only at its own deadline', async () => {
    // Each node answers DeadlineExceeded when the share it was asked to hold has passed.
    const clock = new SimClock(0);
    const heldItsShare = async (p: Record<string, unknown>) => {
      await clock.advance(p.deadlineMs as number);
      return ranOut();
    };
    const { bus, calls } = scriptedBus([heldItsShare, heldItsShare, heldItsShare]);
    const client = new TenureClient(bus, { cluster: 'c', clock });
    await expect(client.wait(key, { deadlineMs: 2 * WAIT_ATTEMPT_MAX_MS + 500 })).rejects.toMatchObject({ code: 'DeadlineExceeded' });
    expect(calls.map((c) => c.payload.deadlineMs)).toEqual([WAIT_ATTEMPT_MAX_MS, WAIT_ATTEMPT_MAX_MS, 500]);
    expect(clock.now()).toBe(2 * WAIT_ATTEMPT_MAX_MS + 500);
  });

  const unanswered = () => {
    throw new TenureError('Timeout', 'no answer within the deadline');
  };
  // Unanswered: its node stood still past the deadline — still the deadline passing first, not a Timeout.
  it.each([
    ['answered DeadlineExceeded', ranOut],
    ['not answered at all', unanswered],
  ])('a short wait is one request; %s, it ends in the caller’s DeadlineExceeded', async (_what, answer) => {
    const { bus, calls } = scriptedBus([answer]);
    const client = new TenureClient(bus, { cluster: 'c' });
    await expect(client.wait(key, { deadlineMs: 3000 })).rejects.toMatchObject({ code: 'DeadlineExceeded' });
    expect(calls).toHaveLength(1);
    expect(calls[0].payload.deadlineMs).toBe(3000);
  });
});

describe('TenureClient routes (client/routes.ts)', () => {
  const timeout = () => {
    throw new TenureError('Timeout', 'no answer within the deadline');
  };
  const gone = () => {
    throw new TenureError('NoResponders', 'no responders');
  };
  const view = () => ({ holder: null });

  it('once the voters are known, a read goes to one of them, and one that lets it time out is passed over by the next attempt', async () => {
    const { bus, calls } = scriptedBus([timeout, view, view, view, view]);
    const client = new TenureClient(bus, { cluster: 'c' });
    client.routes.learn({ leader: 'n1', nodes: ['n1', 'n2', 'n3'] });
    await expect(client.get(key, { deadlineMs: 3000 })).resolves.toEqual({ holder: null });
    const silent = nodeOf(calls[0].subject);
    expect(['n1', 'n2', 'n3']).toContain(silent);
    expect(calls[0].subject).toBe(`tenure.v1.c.node.${silent}.lease.get`);
    for (let i = 0; i < 3; i++) await client.get(key);
    const later = calls.slice(1).map((c) => nodeOf(c.subject));
    expect(later).not.toContain(silent);
    expect(later.every((n) => n !== null)).toBe(true);
  });

  it('a client that has sent no batch asks a node for the voters: its first read goes to the queue group, the next ones by name', async () => {
    const clock = new SimClock(0);
    const { bus, calls, discoveries } = scriptedBus([view, view, view], () => ({ node: 'n2', leader: 'n1', nodes: ['n1', 'n2', 'n3'] }));
    const client = new TenureClient(bus, { cluster: 'c', clock });
    await client.get(key, { deadlineMs: 3000 });
    expect(calls.map((c) => nodeOf(c.subject))).toEqual([null]);
    expect(discoveries.map((c) => c.subject)).toEqual(['tenure.v1.c.lease.status']);
    expect(client.routes.leader).toBe('n1');
    await client.get(key, { deadlineMs: 3000 });
    await clock.advance(MEMBERS_REFRESH_MS - 1);
    await client.get(key, { deadlineMs: 3000 });
    expect(calls.slice(1).every((c) => ['n1', 'n2', 'n3'].includes(nodeOf(c.subject)!))).toBe(true);
    expect(discoveries).toHaveLength(1); // the voters are fresh: not asked again
    expect(client.routes.counters.discoveries).toBe(1);
  });

  it('asks for the voters again once they are MEMBERS_REFRESH_MS old, and after a silent discovery only once per DISCOVER_RETRY_MS', async () => {
    const clock = new SimClock(0);
    let answer: () => unknown = () => {
      throw new TenureError('Timeout', 'no answer within the deadline');
    };
    const { bus, discoveries } = scriptedBus(Array.from({ length: 6 }, () => view), () => answer());
    const client = new TenureClient(bus, { cluster: 'c', clock });
    await client.get(key);
    await client.get(key); // the first discovery went unanswered; too soon to ask again
    expect(discoveries).toHaveLength(1);
    await clock.advance(DISCOVER_RETRY_MS);
    answer = () => ({ leader: 'n1', nodes: ['n1'] });
    await client.get(key);
    expect(discoveries).toHaveLength(2);
    expect(client.routes.nodeFor('get')).toBe('n1');
    await clock.advance(MEMBERS_REFRESH_MS);
    answer = () => ({ leader: 'n2', nodes: ['n2'] }); // the cluster changed its members
    await client.get(key);
    await client.get(key);
    expect(discoveries).toHaveLength(3);
    expect(client.routes.nodeFor('get')).toBe('n2');
  });

  it('a node that names no voters in its status (an older version) is not asked again every second', async () => {
    const clock = new SimClock(0);
    const { bus, discoveries } = scriptedBus(Array.from({ length: 3 }, () => view), () => ({ node: 'n1', leader: 'n1' }));
    const client = new TenureClient(bus, { cluster: 'c', clock });
    await client.get(key);
    await clock.advance(DISCOVER_RETRY_MS * 5);
    await client.get(key);
    expect(discoveries).toHaveLength(1);
    expect(client.routes.nodeFor('get')).toBeNull();
    await clock.advance(MEMBERS_REFRESH_MS);
    await client.get(key);
    expect(discoveries).toHaveLength(2);
  });

  it('a picked node with no responders is passed over and the same attempt goes to the queue group at once', async () => {
    const { bus, calls } = scriptedBus([gone, view]);
    const client = new TenureClient(bus, { cluster: 'c' });
    client.routes.learn({ leader: 'n1', nodes: ['n1'] });
    await expect(client.get(key, { deadlineMs: 3000, linearizable: true })).resolves.toEqual({ holder: null });
    expect(calls.map((c) => c.subject)).toEqual(['tenure.v1.c.node.n1.lease.get', 'tenure.v1.c.lease.get']);
    expect(client.routes.nodeFor('get')).toBeNull(); // the only voter is suspected: the queue group
  });

  it('a wait held by a node that never answers is sent to another voter for the rest', async () => {
    const free = () => ({ free: true, reason: 'revoked' });
    const { bus, calls } = scriptedBus([timeout, free]);
    const client = new TenureClient(bus, { cluster: 'c' });
    client.routes.learn({ leader: 'n1', nodes: ['n1', 'n2'] });
    await expect(client.wait(key, { deadlineMs: 30_000 })).resolves.toEqual({ free: true, reason: 'revoked' });
    const [first, second] = calls.map((c) => nodeOf(c.subject));
    expect(first).not.toBeNull();
    expect(second).not.toBeNull();
    expect(second).not.toBe(first);
  });

  it('an uncoalesced write goes straight to the known leader; a node that answers an error is not passed over', async () => {
    const busy = () => {
      throw new TenureError('Overloaded', 'shedding', { retryAfterMs: 1 });
    };
    const { bus, calls } = scriptedBus([busy, claimed]);
    const client = new TenureClient(bus, { cluster: 'c', coalesce: false });
    client.routes.learn({ leader: 'n2', nodes: ['n1', 'n2', 'n3'] });
    await expect(client.claim(key, 'u/0', 1000, { deadlineMs: 3000 })).resolves.toMatchObject({ token: 7 });
    expect(calls.map((c) => c.subject)).toEqual(['tenure.v1.c.node.n2.lease.claim', 'tenure.v1.c.node.n2.lease.claim']);
    expect(calls[1].payload).toMatchObject({ clientId: calls[0].payload.clientId, seq: calls[0].payload.seq, attempt: 2 });
  });

  it('a suspected node is probed: silence renews the suspicion, an answer ends it at once', async () => {
    const clock = new SimClock(0);
    const status = () => ({ node: 'n1' });
    const { bus, calls } = scriptedBus([timeout, view, timeout, status, view]);
    const client = new TenureClient(bus, { cluster: 'c', clock });
    client.routes.learn({ leader: 'n1', nodes: ['n1'] });
    const first = client.get(key, { deadlineMs: 3000 });
    await clock.advance(1); // the retry's pause (none after a Timeout) runs on the SimClock
    await first;
    expect(calls.map((c) => nodeOf(c.subject))).toEqual(['n1', null]);
    await clock.advance(PROBE_MS); // probe 1: silent → suspected for SUSPECT_MS more
    expect(client.routes.nodeFor('get')).toBeNull();
    await clock.advance(PROBE_MS); // probe 2: answered → used again at once, well before SUSPECT_MS
    expect(client.routes.nodeFor('get')).toBe('n1');
    await client.get(key, { deadlineMs: 3000 });
    await clock.advance(5 * PROBE_MS); // nothing suspected or parked: no more probes
    expect(calls.map((c) => c.subject.split('.').slice(-4).join('.'))).toEqual(['node.n1.lease.get', 'v1.c.lease.get', 'node.n1.lease.status', 'node.n1.lease.status', 'node.n1.lease.get']);
    expect(client.routes.counters).toMatchObject({ probes: 2, probesFailed: 1 });
  });

  /** An answer that never comes: the request ends only when its signal aborts (Cancelled). */
  const silent = (_p: Record<string, unknown>, opts: RequestOptions) =>
    new Promise((_resolve, reject) => opts.signal?.addEventListener('abort', () => reject(new TenureError('Cancelled', 'request cancelled'))));

  it('probes a node that holds a wait; when it does not answer, the wait moves to another node at once with what is left of its budget', async () => {
    const clock = new SimClock(0);
    const free = () => ({ free: true, reason: 'expired' });
    const { bus, calls } = scriptedBus([silent, timeout, free]);
    const client = new TenureClient(bus, { cluster: 'c', clock });
    client.routes.learn({ leader: 'n1', nodes: ['n1'] });
    const waited = client.wait(key, { deadlineMs: 30_000 });
    await clock.advance(PROBE_MS);
    await expect(waited).resolves.toEqual({ free: true, reason: 'expired' });
    expect(calls.map((c) => c.subject)).toEqual(['tenure.v1.c.node.n1.lease.wait', 'tenure.v1.c.node.n1.lease.status', 'tenure.v1.c.lease.wait']);
    expect(calls[2].payload.deadlineMs).toBe(WAIT_ATTEMPT_MAX_MS - PROBE_MS);
    expect(client.routes.counters).toMatchObject({ probes: 1, probesFailed: 1, moved: 1 });
  });

  it('leaves a wait where it is while its node answers the probes, and stops probing once no wait is parked there', async () => {
    const clock = new SimClock(0);
    let release: (v: unknown) => void = () => {};
    const held = () => new Promise((resolve) => (release = resolve));
    const status = () => ({ node: 'n1' });
    const { bus, calls } = scriptedBus([held, status, status]);
    const client = new TenureClient(bus, { cluster: 'c', clock });
    client.routes.learn({ leader: 'n1', nodes: ['n1'] });
    const waited = client.wait(key, { deadlineMs: 30_000 });
    await clock.advance(PROBE_MS);
    await clock.advance(PROBE_MS);
    release({ free: true, reason: 'revoked' });
    await expect(waited).resolves.toEqual({ free: true, reason: 'revoked' });
    await clock.advance(5 * PROBE_MS);
    expect(calls.map((c) => c.subject.split('.').pop())).toEqual(['wait', 'status', 'status']);
    expect(client.routes.counters).toMatchObject({ probes: 2, probesFailed: 0, moved: 0 });
  });

  it('moves the waits parked at a node that a write found silent', async () => {
    const clock = new SimClock(0);
    const free = () => ({ free: true, reason: 'revoked' });
    const { bus, calls } = scriptedBus([silent, free]);
    const client = new TenureClient(bus, { cluster: 'c', clock });
    client.routes.learn({ leader: 'n1', nodes: ['n2', 'n3'] });
    const waited = client.wait(key, { deadlineMs: 30_000 });
    const waitNode = nodeOf(calls[0].subject);
    client.routes.suspect(waitNode!); // as if a batch sent there had timed out
    await clock.advance(1);
    await expect(waited).resolves.toMatchObject({ free: true });
    expect(calls.length).toBe(2);
    expect(nodeOf(calls[1].subject)).not.toBe(waitNode);
  });

  it('a caller that aborts a wait parked at a node gets Cancelled, and nothing is moved or probed after', async () => {
    const clock = new SimClock(0);
    const { bus, calls } = scriptedBus([silent]);
    const client = new TenureClient(bus, { cluster: 'c', clock });
    client.routes.learn({ leader: 'n1', nodes: ['n1'] });
    const ac = new AbortController();
    const waited = client.wait(key, { deadlineMs: 30_000, signal: ac.signal });
    ac.abort();
    await expect(waited).rejects.toMatchObject({ code: 'Cancelled' });
    await clock.advance(3 * PROBE_MS);
    expect(calls).toHaveLength(1);
    expect(client.routes.counters).toMatchObject({ probes: 0, moved: 0 });
  });
});
