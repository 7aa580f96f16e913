/**
 * `npm run bench:raft`: three node processes on a private nats-server (loopback), a closed-loop
 * proposer at increasing concurrency sending small lease commands to the leader's propose RPC.
 * Reports committed commands/s and commit latency (request sent → applied on the leader).
 *
 *   npm run bench:raft -- --seconds 5 --concurrency 1,16,64,256 --batch 1,16
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { encodeLeaseCommand } from '../lease/command-codec.ts';
import * as hdr from 'hdr-histogram-js';
import { NatsBus } from '../bus/nats-bus.ts';
import { subjects } from '../bus/subjects.ts';
import { silentLogger } from '../log/logger.ts';
import { NodeProcess } from '../cli/node-processes.ts';
import { startNatsServer } from '../cli/nats-server.ts';

const o = new Command()
  .option('--seconds <n>', 'seconds per step', '5')
  .option('--concurrency <list>', 'outstanding requests per step', '1,4,16,64,256')
  .option('--batch <list>', 'commands per request', '1,16')
  .option('--out <file>', 'JSON result file', `bench/results/raft-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
  .parse()
  .opts<{ seconds: string; concurrency: string; batch: string; out: string }>();

const cluster = 'bench';
const s = subjects(cluster);
const server = await startNatsServer({});
const dataDir = mkdtempSync(join(tmpdir(), 'tenure-bench-'));
const ids = ['n1', 'n2', 'n3'];
const nodes = ids.map((id) => new NodeProcess({ id, nodes: ids, natsUrl: server.url, dataDir, cluster, env: { TENURE_LOG_LEVEL: 'warn' } }));
const bus = await NatsBus.connect(server.url, { logger: silentLogger, name: 'raft-bench' });

async function leader(): Promise<string> {
  for (;;) {
    for (const id of ids) {
      try {
        const st = await bus.request<{ role: string }>(s.control('status', id), {}, { deadlineMs: 500 });
        if (st.role === 'leader') return id;
      } catch {
        /* not up yet */
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Step {
  concurrency: number;
  batch: number;
  commandsPerSec: number;
  requestsPerSec: number;
  p50ms: number;
  p99ms: number;
  maxMs: number;
  errors: number;
}

async function step(target: string, concurrency: number, batch: number, seconds: number): Promise<Step> {
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  let commands = 0;
  let requests = 0;
  let errors = 0;
  const end = Date.now() + seconds * 1000;
  const subject = s.raft(target, 'propose');
  const worker = async (w: number) => {
    let seq = 0;
    const clientId = `bench-${concurrency}-${batch}-${w}`;
    while (Date.now() < end) {
      const cmds = [];
      for (let i = 0; i < batch; i++) {
        // extend of a lease nobody holds: a real FSM command that leaves the state small (NotHeld).
        cmds.push(encodeLeaseCommand({ op: 'extend', clientId, seq: ++seq, key: { namespace: 'bench', model: 'm', lease: `l${w}` }, holder: 'h', durationMs: 10_000 }));
      }
      const t0 = process.hrtime.bigint();
      try {
        await bus.request(subject, { commands: cmds }, { deadlineMs: 5000 });
        hist.recordValue(Number(process.hrtime.bigint() - t0) / 1000); // µs
        commands += batch;
        requests++;
      } catch (err) {
        if (errors++ === 0) console.error(`first error: ${(err as Error).message}`);
      }
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const secs = (Date.now() - started) / 1000;
  const r = {
    concurrency,
    batch,
    commandsPerSec: Math.round(commands / secs),
    requestsPerSec: Math.round(requests / secs),
    p50ms: hist.getValueAtPercentile(50) / 1000,
    p99ms: hist.getValueAtPercentile(99) / 1000,
    maxMs: hist.maxValue / 1000,
    errors,
  };
  hist.destroy();
  return r;
}

const results: Step[] = [];
try {
  await Promise.all(nodes.map((n) => n.start()));
  const target = await leader();
  console.log(`leader ${target}; ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB`);
  await step(target, 16, 1, 1); // warm-up
  for (const batch of o.batch.split(',').map(Number)) {
    for (const c of o.concurrency.split(',').map(Number)) {
      const r = await step(target, c, batch, Number(o.seconds));
      results.push(r);
      console.log(
        `batch ${String(batch).padStart(3)}  concurrency ${String(c).padStart(4)}  ${String(r.commandsPerSec).padStart(7)} cmds/s  ` +
          `${String(r.requestsPerSec).padStart(6)} req/s  p50 ${r.p50ms.toFixed(2)} ms  p99 ${r.p99ms.toFixed(2)} ms  max ${r.maxMs.toFixed(1)} ms  errors ${r.errors}`,
      );
    }
  }
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(o.out, JSON.stringify({ date: new Date().toISOString(), cpus: cpus()[0]?.model, cores: cpus().length, results }, null, 2));
  console.log(`results: ${o.out}`);
} finally {
  await bus.close();
  await Promise.all(nodes.map((n) => n.stop()));
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
