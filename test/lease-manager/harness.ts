/**
 * Three (or n) in-process Tenure nodes on the shared test nats-server, each with its own NatsBus
 * connection and temp LMDB dir, under a cluster name unique to the test file. `shutdown()` stops
 * every node, closes every connection, deletes the events stream and removes the dirs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsBus } from '../../bus/nats-bus.ts';
import { silentLogger } from '../../log/logger.ts';
import { LmdbStorage } from '../../storage/lmdb.ts';
import { TenureNode, type TenureNodeOptions } from '../../node/tenure-node.ts';
import { TenureClient, type TenureClientOptions } from '../../client/tenure-client.ts';
import { streamName } from '../../actors/event-stream.ts';
import { connectBus, uniqueCluster } from '../support/nats.ts';

interface Slot {
  id: string;
  dir: string;
  bus: NatsBus | null;
  storage: LmdbStorage | null;
  node: TenureNode | null;
}

export class TestCluster {
  readonly cluster: string;
  readonly slots = new Map<string, Slot>();
  private readonly extraBuses: NatsBus[] = [];
  private readonly clients: TenureClient[] = [];

  constructor(
    tag: string,
    readonly ids: string[] = ['n1', 'n2', 'n3'],
    private readonly nodeOptions: Partial<TenureNodeOptions> = {},
  ) {
    this.cluster = uniqueCluster(tag);
    for (const id of ids) this.slots.set(id, { id, dir: mkdtempSync(join(tmpdir(), `tenure-${id}-`)), bus: null, storage: null, node: null });
  }

  async start(id: string): Promise<TenureNode> {
    const slot = this.slots.get(id)!;
    if (slot.node) return slot.node;
    slot.bus = await connectBus({ name: `${this.cluster}-${id}` });
    slot.storage = await LmdbStorage.open(slot.dir);
    slot.node = new TenureNode({
      id,
      cluster: this.cluster,
      voters: this.ids,
      bus: slot.bus,
      storage: slot.storage,
      logger: silentLogger,
      clockIntervalMs: 100,
      ...this.nodeOptions,
    });
    await slot.node.start();
    return slot.node;
  }

  async startAll(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.start(id)));
  }

  async stop(id: string): Promise<void> {
    const slot = this.slots.get(id)!;
    await slot.node?.stop();
    await slot.bus?.close();
    await slot.storage?.close();
    slot.node = null;
    slot.bus = null;
    slot.storage = null;
  }

  node(id: string): TenureNode {
    const n = this.slots.get(id)?.node;
    if (!n) throw new Error(`node ${id} is not running`);
    return n;
  }

  running(): TenureNode[] {
    return [...this.slots.values()].flatMap((s) => (s.node ? [s.node] : []));
  }

  /** Waits until one running node leads and every running node knows it. */
  async leader(timeoutMs = 15_000): Promise<TenureNode> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const nodes = this.running();
      const leaders = nodes.filter((n) => n.raft.role === 'leader');
      if (leaders.length === 1 && nodes.every((n) => n.raft.leader === leaders[0].id)) return leaders[0];
      if (Date.now() > until) throw new Error(`no stable leader within ${timeoutMs} ms`);
      await delay(20);
    }
  }

  async bus(): Promise<NatsBus> {
    const b = await connectBus({ name: `${this.cluster}-extra` });
    this.extraBuses.push(b);
    return b;
  }

  async client(opts: TenureClientOptions = {}): Promise<TenureClient> {
    const c = new TenureClient(await this.bus(), { cluster: this.cluster, ...opts });
    this.clients.push(c);
    return c;
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.stop(id)));
    const b = this.extraBuses[0] ?? (await this.bus());
    try {
      const jsm = await jetstreamManager(b.nc);
      await jsm.streams.delete(streamName(this.cluster)).catch(() => {});
    } catch {
      // JetStream not available: nothing to delete
    }
    for (const bus of this.extraBuses) await bus.close();
    for (const slot of this.slots.values()) rmSync(slot.dir, { recursive: true, force: true });
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`). */
export async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

export const NS = 'application-leadership';
