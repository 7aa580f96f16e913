/**
 * `--watch-events`: a subscriber on `tenure.v1.<cluster>.events.>` with a NATS connection of its
 * own, as a program following lease changes would have, counting what arrives against what the
 * nodes say they published. The nodes' counters (`summary.events`) say what left the leader; this
 * says what reached a subscriber — through JetStream's republish in JetStream mode, and past the
 * server's slow-consumer limit. Each event is decoded to check its order: within one stream of
 * events (index, n) only increases, so an event at or below the last one seen is out of order (or a
 * duplicate). Off by default: decoding every event costs the bench process CPU (≈ 2 µs an event).
 */
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { BenchCluster } from './cluster.ts';

export interface EventWatchResult {
  /** Events that arrived between the subscription and the end of the run (after a settle wait). */
  delivered: number;
  /** What the nodes' publishers counted over the same span (null if a node restarted or could not be read). */
  expected: number | null;
  /** expected − delivered when positive: events published that no subscriber saw. */
  missing: number | null;
  /** Events at or below the last (index, n) seen. */
  outOfOrder: number;
  /** Events that could not be decoded as a lease event. */
  undecodable: number;
  /** Arrivals per second of the run (second k = k s after its start). */
  perSecond: number[];
}

/** Order check over a sequence of event ids: counts ids at or below the highest seen so far. */
export class OrderCheck {
  private lastIndex = 0;
  private lastN = -1;
  outOfOrder = 0;

  see(index: number, n: number): void {
    if (index > this.lastIndex || (index === this.lastIndex && n > this.lastN)) {
      this.lastIndex = index;
      this.lastN = n;
    } else {
      this.outOfOrder++;
    }
  }
}

export class EventWatch {
  private delivered = 0;
  private undecodable = 0;
  private readonly order = new OrderCheck();
  private readonly perSecond: number[] = [];
  private startAt = Number.POSITIVE_INFINITY;
  private readonly decoder = new TextDecoder();

  private before: { total: number; pids: string } | null = null;

  private constructor(
    private readonly cluster: BenchCluster,
    private readonly nc: NatsConnection,
    private readonly sub: Subscription,
  ) {}

  /**
   * Subscribes, waits until the server has the subscription (nothing published after this resolves
   * is missed), then reads what the nodes have published so far.
   */
  static async start(cluster: BenchCluster): Promise<EventWatch> {
    const nc = await connect({ servers: cluster.natsUrl.split(','), name: 'tenure-bench-event-watch', noAsyncTraces: true });
    let watch: EventWatch | null = null;
    const sub = nc.subscribe(`tenure.v1.${cluster.cluster}.events.>`, { callback: (_err, msg) => watch?.onEvent(msg.data) });
    watch = new EventWatch(cluster, nc, sub);
    await nc.flush();
    watch.before = await publishedEvents(cluster);
    return watch;
  }

  /** Second 0 of the run: arrivals are counted per second from here. */
  markStart(at: number): void {
    this.startAt = at;
  }

  get count(): number {
    return this.delivered;
  }

  onEvent(data: Uint8Array): void {
    this.delivered++;
    const sec = Math.floor((Date.now() - this.startAt) / 1000);
    if (sec >= 0) {
      while (this.perSecond.length <= sec) this.perSecond.push(0);
      this.perSecond[sec]++;
    }
    try {
      const e = JSON.parse(this.decoder.decode(data)) as { index?: unknown; n?: unknown };
      if (typeof e.index === 'number' && typeof e.n === 'number') this.order.see(e.index, e.n);
      else this.undecodable++;
    } catch {
      this.undecodable++;
    }
  }

  /** Closes the connection without a result (the run failed). */
  async abort(): Promise<void> {
    await this.nc.close().catch(() => {});
  }

  /**
   * Waits until nothing has arrived for `quietMs` (at most `maxMs`), reads what the nodes published
   * since the subscription (none may have restarted meanwhile), then closes the connection.
   */
  async stop(quietMs = 500, maxMs = 10_000): Promise<EventWatchResult> {
    const end = Date.now() + maxMs;
    let seen = -1;
    while (seen !== this.delivered && Date.now() < end) {
      seen = this.delivered;
      await new Promise((r) => setTimeout(r, quietMs));
    }
    const after = await publishedEvents(this.cluster).catch(() => null);
    const expected = after && this.before && after.pids === this.before.pids ? after.total - this.before.total : null;
    this.sub.unsubscribe();
    await this.nc.close();
    return {
      delivered: this.delivered,
      expected,
      missing: expected === null ? null : Math.max(0, expected - this.delivered),
      outOfOrder: this.order.outOfOrder,
      undecodable: this.undecodable,
      perSecond: this.perSecond,
    };
  }
}

/** What the nodes' publishers have counted so far, with the pids they came from; null if a node did not answer. */
async function publishedEvents(cluster: BenchCluster): Promise<{ total: number; pids: string } | null> {
  const samples = await cluster.sample(2000);
  if (samples.some((s) => !s.up || !s.events)) return null;
  return { total: samples.reduce((a, s) => a + s.events!.published, 0), pids: samples.map((s) => `${s.id}:${s.pid}`).join() };
}

/** "events seen by a subscriber: 1,012,160 of 1,012,160 published, 0 missing, 0 out of order". */
export function eventWatchLine(w: EventWatchResult): string {
  const f = (v: number) => v.toLocaleString('en-US');
  const of = w.expected === null ? '' : ` of ${f(w.expected)} published, ${f(w.missing ?? 0)} missing`;
  return `events seen by a subscriber: ${f(w.delivered)}${of}, ${f(w.outOfOrder)} out of order${w.undecodable ? `, ${f(w.undecodable)} undecodable` : ''}`;
}
