import { afterEach, describe, expect, it } from 'vitest';
import { TransportSwitch } from '../../actors/transport-switch.ts';
import type { Forwarder } from '../../actors/forwarder.ts';
import { subjects } from '../../bus/subjects.ts';
import { TenureError } from '../../errors/errors.ts';
import type { Transport } from '../../config/config.ts';
import type { LeaseResult } from '../../lease/types.ts';
import { claim } from './commands.ts';
import { CLUSTER, ForwardingCluster, track, type Outcome } from './harness.ts';

let cluster: ForwardingCluster | null = null;
afterEach(async () => {
  await cluster?.shutdown();
  cluster = null;
});

type Tracked = { readonly outcome: Outcome<LeaseResult> };

/** A transport whose submissions finish only when the test says so. */
class ManualForwarder implements Forwarder {
  readonly calls: { lease: string; finish: () => void }[] = [];
  closed = false;
  submit(cmd: Parameters<Forwarder['submit']>[0]): Promise<LeaseResult> {
    return new Promise((resolve) => {
      const lease = cmd.op === 'setTime' ? 'clock' : cmd.key.lease;
      this.calls.push({ lease, finish: () => resolve({ ok: true }) });
    });
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

describe('TransportSwitch', () => {
  it('keeps in-flight commands on the old transport and sends new ones to the new one', async () => {
    const facade = new ManualForwarder();
    const legacy = new ManualForwarder();
    const sw = new TransportSwitch({ facade, 'legacy-pubsub': legacy }, 'facade');
    const first = track(sw.submit(claim('a'), { deadline: Infinity }));
    expect(sw.switchTo('legacy-pubsub')).toEqual({ transport: 'legacy-pubsub', previous: 'facade', inFlightOnPrevious: 1 });
    const second = track(sw.submit(claim('b'), { deadline: Infinity }));
    expect(facade.calls.map((c) => c.lease)).toEqual(['a']);
    expect(legacy.calls.map((c) => c.lease)).toEqual(['b']);
    facade.calls[0].finish();
    legacy.calls[0].finish();
    await Promise.resolve();
    await new Promise((r) => setImmediate(r));
    expect([first.outcome.status, second.outcome.status]).toEqual(['ok', 'ok']);
    expect(sw.inFlightOn('facade')).toBe(0);
    expect(() => sw.switchTo('carrier-pigeon' as Transport)).toThrow(TenureError);
    await sw.close();
    expect(facade.closed && legacy.closed).toBe(true);
    await expect(sw.submit(claim('c'), { deadline: Infinity })).rejects.toMatchObject({ code: 'Cancelled' });
  });
});

describe('switching transports at runtime (simulated 3-node cluster)', () => {
  it('loses no acknowledged command while switching under load', async () => {
    cluster = new ForwardingCluster({ legacy: { deliveryTimeoutMs: 200, responseTimeoutMs: 1000 } });
    await cluster.elect();
    const c = cluster;
    const s = subjects(CLUSTER);
    const operator = c.net.endpoint('operator');
    const sent: { lease: string; via: Transport; t: Tracked }[] = [];
    const confirmations: { readonly outcome: Outcome<unknown> }[] = [];
    let n = 0;
    for (let t = 0; t < 300; t++) {
      // Cluster-wide switch by publish, then back by node-addressed requests (confirmed per node).
      if (t === 100) operator.publish(s.control('transport'), { transport: 'legacy-pubsub' });
      if (t === 200) {
        for (const id of c.nodes.keys()) {
          confirmations.push(track(operator.request(s.control('transport', id), { transport: 'facade' }, { deadlineMs: 100 })));
        }
      }
      for (const node of c.nodes.values()) {
        const lease = `s${n++}`;
        const via = node.stack.forwarder.transport;
        sent.push({ lease, via, t: track(node.stack.forwarder.submit(claim(lease), { deadline: c.clock.now() + 3000 })) });
      }
      await c.run(1);
    }
    expect(await c.runUntil(() => sent.every((x) => x.t.outcome.status !== 'pending'), 5000)).toBe(true);

    expect(new Set(sent.map((x) => x.via))).toEqual(new Set(['facade', 'legacy-pubsub']));
    for (const conf of confirmations) {
      expect(conf.outcome).toMatchObject({ status: 'ok', value: { transport: 'facade', previous: 'legacy-pubsub' } });
    }
    expect(confirmations.some((conf) => (conf.outcome as { value: { inFlightOnPrevious: number } }).value.inFlightOnPrevious > 0)).toBe(true);

    // Every outcome is a result or a typed error, and every acknowledged claim is in every FSM.
    const acked = sent.filter((x) => x.t.outcome.status === 'ok');
    for (const x of sent) if (x.t.outcome.status === 'error') expect(x.t.outcome.code).not.toMatch(/^untyped/);
    expect(acked.length).toBeGreaterThan(sent.length * 0.9);
    expect(await c.runUntil(() => [...c.nodes.values()].every((node) => node.raft.appliedIndex >= c.leader()!.raft.commitIndex), 2000)).toBe(true);
    for (const node of c.nodes.values()) {
      for (const x of acked) {
        expect((x.t.outcome as { value: LeaseResult }).value.ok).toBe(true);
        expect(node.fsm.fsm.get({ namespace: 'application-leadership', model: 'm1', lease: x.lease })?.holder).toBe(`${x.lease}/0`);
      }
    }
    await operator.close();
  });
});
