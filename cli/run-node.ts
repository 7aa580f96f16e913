import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Config } from '../config/config.ts';
import { NatsBus } from '../bus/nats-bus.ts';
import { LmdbStorage } from '../storage/lmdb.ts';
import { RaftNode } from '../actors/raft-node.ts';
import { LeaseStateMachine } from '../actors/lease-state-machine.ts';
import { createLogger } from '../log/logger.ts';
import { subjects } from '../bus/subjects.ts';

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name}: expected a positive integer, got ${v}`);
  return n;
}

/**
 * One Tenure node process: NATS connection, LMDB storage under `<dataDir>/<nodeId>`, the Raft node
 * and the lease state machine. Prints `ready <id>` once serving; stops cleanly on SIGTERM/SIGINT.
 */
export async function runNode(config: Config): Promise<void> {
  const logger = createLogger({ level: config.logLevel }).child({ node: config.nodeId });
  const dir = join(config.dataDir, config.nodeId);
  mkdirSync(dir, { recursive: true });
  const bus = await NatsBus.connect(config.natsUrl, { name: `tenure-${config.cluster}-${config.nodeId}`, logger });
  const storage = await LmdbStorage.open(dir);
  const stateMachine = new LeaseStateMachine();
  const raft = new RaftNode({
    id: config.nodeId,
    cluster: config.cluster,
    voters: [...config.nodes],
    bus,
    storage,
    stateMachine,
    logger: logger.child({ actor: 'raft' }),
    electionMinMs: config.electionTimeoutMs,
    electionMaxMs: config.electionTimeoutMs * 2,
    heartbeatMs: config.heartbeatMs,
    rpcTimeoutMs: Math.max(200, config.electionTimeoutMs),
    snapshotEveryEntries: envInt('TENURE_SNAPSHOT_EVERY_ENTRIES'),
  });
  await raft.start();
  // Node-addressed inspection for operators and tests: raft status plus the lease table here.
  const s = subjects(config.cluster);
  bus.serve(s.control('status', config.nodeId), () => ({ ...raft.status(), fsm: stateMachine.fsm.stats() }));
  bus.serve(s.control('leases', config.nodeId), () => ({ applied: raft.appliedIndex, leases: stateMachine.fsm.list() }));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await raft.stop();
    await bus.close();
    await storage.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  (async () => {
    for (;;) {
      const l = await raft.leadership.take();
      logger.info({ role: l.role, leader: l.leader, term: l.term }, 'leadership changed');
    }
  })();
  process.stdout.write(`ready ${config.nodeId}\n`);
}
