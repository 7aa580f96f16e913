import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueCluster } from '../support/nats.ts';
import { startRunningCluster, type RunningCluster } from '../support/process-cluster.ts';
import { jetstreamManager } from '@nats-io/jetstream';
import { subjects } from '../../bus/subjects.ts';
import { streamName } from '../../actors/event-stream.ts';

/**
 * `TENURE_EVENTS` on real `tenure node` processes: `leader` publishes every lease change from the
 * leader (never JetStream), `off` publishes nothing while leases keep working. The mode is in the
 * node's `lease.status` answer, so an operator can see what a running node does.
 */
interface EventsStatus {
  events: { mode: string; published: number };
}

const key = (lease: string) => ({ namespace: 'application-leadership', model: 'evcfg', lease });

describe.each([
  ['leader', true],
  ['off', false],
] as const)('TENURE_EVENTS=%s', (mode, publishes) => {
  const cluster = uniqueCluster(`ev${mode}`);
  let running: RunningCluster | undefined;

  beforeAll(async () => {
    running = await startRunningCluster(cluster, ['n1'], { TENURE_EVENTS: mode });
  }, 60_000);

  afterAll(() => running?.stop());

  it(publishes ? 'publishes each lease change once, in order' : 'publishes no lease change, and leases still work', async () => {
    const { bus, client } = running!;
    const seen: Array<{ kind: string; lease: string }> = [];
    const sub = bus.subscribe(subjects(cluster).eventsAll(), (payload) => {
      const e = payload as { kind: string; lease: string };
      seen.push({ kind: e.kind, lease: e.lease });
    });
    try {
      await bus.flush();
      const claimed = await client.claim(key('a'), 'unit/0', 60_000);
      expect(claimed.holder).toBe('unit/0');
      await client.claim(key('b'), 'unit/1', 60_000);
      await client.revoke(key('a'), 'unit/0');
      await expect(client.claim(key('b'), 'unit/2', 60_000)).rejects.toMatchObject({ code: 'Held' });
      expect(await client.get(key('a'))).toMatchObject({ holder: null });

      if (publishes) {
        for (let i = 0; i < 200 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
        expect(seen).toEqual([
          { kind: 'claimed', lease: 'a' },
          { kind: 'claimed', lease: 'b' },
          { kind: 'revoked', lease: 'a' },
        ]);
      } else {
        // Events leave on the turn after apply; give them ample time to show up if they were sent.
        await new Promise((r) => setTimeout(r, 300));
        await bus.flush();
        expect(seen).toEqual([]);
      }
      const st = (await client.status()) as unknown as EventsStatus;
      expect(st.events.mode).toBe(mode);
      expect(st.events.published).toBe(publishes ? 3 : 0);
    } finally {
      sub.unsubscribe();
    }
  }, 60_000);
});

describe('TENURE_EVENTS=auto on a JetStream server, TENURE_EVENTS_DEDUPE_MS=15000', () => {
  const cluster = uniqueCluster('evjs');
  let running: RunningCluster | undefined;

  beforeAll(async () => {
    running = await startRunningCluster(cluster, ['n1'], { TENURE_EVENTS: 'auto', TENURE_EVENTS_DEDUPE_MS: '15000' });
  }, 60_000);

  afterAll(async () => {
    if (running) await (await jetstreamManager(running.bus.nc)).streams.delete(streamName(cluster)).catch(() => {});
    await running?.stop();
  });

  it('captures events in the stream with that duplicate window, and republishes them to subscribers', async () => {
    const { bus, client } = running!;
    const seen: string[] = [];
    const sub = bus.subscribe(subjects(cluster).eventsAll(), (payload) => seen.push((payload as { kind: string }).kind));
    try {
      await bus.flush();
      // The publisher sets the stream up and resumes from its head once it leads: wait for that.
      let st = (await client.status()) as unknown as { events: { mode: string; state: string } };
      for (let i = 0; i < 200 && st.events.state !== 'active'; i++) {
        await new Promise((r) => setTimeout(r, 25));
        st = (await client.status()) as unknown as { events: { mode: string; state: string } };
      }
      expect(st.events).toMatchObject({ mode: 'jetstream', state: 'active' });
      await client.claim(key('js'), 'unit/0', 60_000);
      await client.revoke(key('js'), 'unit/0');
      for (let i = 0; i < 200 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(seen).toEqual(['claimed', 'revoked']);
      const info = await (await jetstreamManager(bus.nc)).streams.info(streamName(cluster));
      expect(info.config.duplicate_window).toBe(15_000 * 1_000_000);
      expect(info.state.messages).toBe(2);
    } finally {
      sub.unsubscribe();
    }
  }, 60_000);
});
