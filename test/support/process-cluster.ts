import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeProcess } from '../../cli/node-processes.ts';
import type { Bus } from '../../bus/types.ts';
import { subjects } from '../../bus/subjects.ts';
import type { NatsBus } from '../../bus/nats-bus.ts';
import { TenureClient } from '../../client/tenure-client.ts';
import { connectBus, natsUrl } from './nats.ts';

export interface NodeStatus {
  id: string;
  role: string;
  leader: string | null;
  term: number;
  commit: number;
  applied: number;
  lastIndex: number;
  snapshotIndex: number;
}

/** Three (or more) real node processes on one nats-server, each with its own temp data dir. */
export class ProcessCluster {
  readonly dataDir = mkdtempSync(join(tmpdir(), 'tenure-proc-'));
  readonly nodes: NodeProcess[];

  constructor(
    readonly natsUrl: string,
    readonly cluster: string,
    ids = ['n1', 'n2', 'n3'],
    env: Record<string, string> = {},
  ) {
    this.nodes = ids.map(
      (id) =>
        new NodeProcess({
          id,
          nodes: ids,
          natsUrl,
          dataDir: this.dataDir,
          cluster,
          env: { TENURE_ELECTION_TIMEOUT_MS: '300', TENURE_HEARTBEAT_MS: '50', TENURE_CLOCK_INTERVAL_MS: '200', ...env },
        }),
    );
  }

  node(id: string): NodeProcess {
    return this.nodes.find((n) => n.id === id)!;
  }

  async start(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.start()));
  }

  async status(bus: Bus, id: string): Promise<NodeStatus | null> {
    try {
      return await bus.request<NodeStatus>(subjects(this.cluster).control('status', id), {}, { deadlineMs: 500 });
    } catch {
      return null;
    }
  }

  /** Polls until one live node reports itself leader; returns its id. */
  async waitForLeader(bus: Bus, timeoutMs = 10_000, exclude?: string): Promise<string> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      for (const n of this.nodes) {
        if (!n.child || n.id === exclude) continue;
        const st = await this.status(bus, n.id);
        if (st?.role === 'leader') return n.id;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('no leader elected in time');
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export interface RunningCluster {
  procs: ProcessCluster;
  bus: NatsBus;
  client: TenureClient;
  /** Closes the client and bus and stops the processes (their data dir goes too). */
  stop(): Promise<void>;
}

/**
 * Node processes on the shared nats-server with a leader elected, a bus and a client (5 s
 * deadline): the set-up of tests that drive a real cluster. A failure part-way stops what started.
 */
export async function startRunningCluster(cluster: string, ids: string[], env: Record<string, string> = {}): Promise<RunningCluster> {
  const procs = new ProcessCluster(natsUrl(), cluster, ids, env);
  let bus: NatsBus | undefined;
  let client: TenureClient | undefined;
  const stop = async () => {
    await client?.close();
    await bus?.close();
    await procs.stop();
  };
  try {
    await procs.start();
    bus = await connectBus();
    await procs.waitForLeader(bus);
    client = new TenureClient(bus, { cluster, deadlineMs: 5000 });
    return { procs, bus, client, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
