/**
 * A herd of `wait`s on held leases, each with the same deadline: how each ends.
 * `npx tsx bench/wait-herd.ts [waits=10000] [deadlineMs=5000] [connections=4]` (about 20 s).
 * With TENURE_HERD_NATS_URL set it drives that cluster (TENURE_HERD_CLUSTER, default `default`);
 * TENURE_HERD_PROF=DIR writes a CPU profile of each node of its own cluster there.
 *
 * Starts a private 3-node cluster (bench/cluster.ts), claims 1,000 leases for a long time, then sends
 * every wait at once, spread over the connections. Every wait should end `DeadlineExceeded`,
 * answered by the node before the client's own timer (deadline + 1 s grace) fires; a `Timeout`
 * here is a caller the node did not answer in time (docs/benchmarks.md, twenty-fourth session: 3,226
 * of 10,000 before the wait's deadline was fixed on arrival) — or one whose request reached the node
 * too late: a budget starts when the wait is called, so the time this process takes to send the
 * herd (printed) comes out of it (twenty-fifth session: 0.90 s for 29,000). Not a test: it
 * reports, asserts nothing.
 */
import { BenchCluster } from './cluster.ts';
import { NatsBus } from '../bus/nats-bus.ts';
import { TenureClient } from '../client/tenure-client.ts';
import { silentLogger } from '../log/logger.ts';

const waits = Number(process.argv[2] ?? 10_000);
const deadlineMs = Number(process.argv[3] ?? 5_000);
const connections = Number(process.argv[4] ?? 4);
const LEASES = 1_000;

// TENURE_HERD_NATS_URL (+ TENURE_HERD_CLUSTER): drive a running cluster instead, e.g. from several
// processes at once, so that no single client process has to settle the whole herd.
const target = process.env.TENURE_HERD_NATS_URL;
const cluster = await BenchCluster.start(target ? { natsUrl: target, cluster: process.env.TENURE_HERD_CLUSTER ?? 'default' } : { cpuProfDir: process.env.TENURE_HERD_PROF });
try {
  const buses = await Promise.all(Array.from({ length: connections }, () => NatsBus.connect(cluster.natsUrl, { logger: silentLogger })));
  const key = (i: number) => ({ namespace: 'application-leadership', model: 'herd', lease: `l${i % LEASES}` });
  const owner = new TenureClient(buses[0], { cluster: cluster.cluster, clientId: `owner-${process.pid}` });
  for (let i = 0; i < LEASES; i++) await owner.claim(key(i), 'holder/0', 10 * 60_000);
  const clients = buses.map((b, i) => new TenureClient(b, { cluster: cluster.cluster, clientId: `herd-${process.pid}-${i}` }));
  // This process's own event-loop lag: a client too busy to read its replies in time sees its own
  // timers fire first (Timeout) even when the nodes answered.
  let maxLagMs = 0;
  let tick = performance.now();
  const lagProbe = setInterval(() => {
    const now = performance.now();
    maxLagMs = Math.max(maxLagMs, now - tick - 10);
    tick = now;
  }, 10);
  const byCode = new Map<string, number>();
  const endedAt: number[] = [];
  const t0 = Date.now();
  const all = Promise.all(
    Array.from({ length: waits }, (_, i) =>
      clients[i % connections].wait(key(i), { deadlineMs }).then(
        () => byCode.set('released', (byCode.get('released') ?? 0) + 1),
        (err: { code?: string }) => {
          byCode.set(err.code ?? 'error', (byCode.get(err.code ?? 'error') ?? 0) + 1);
          endedAt.push(Date.now() - t0);
        },
      ),
    ),
  );
  // How long this process took to hand every wait to the server: a wait's budget starts when it
  // is called, but the node only starts counting when it reads the request.
  const issuedMs = Date.now() - t0;
  await Promise.all(buses.map((b) => b.flush()));
  const flushedMs = Date.now() - t0;
  await all;
  clearInterval(lagProbe);
  endedAt.sort((a, b) => a - b);
  console.log(`${waits} waits of ${deadlineMs} ms over ${connections} connections:`, Object.fromEntries(byCode));
  if (endedAt.length) console.log(`ended ${endedAt[0]}–${endedAt[endedAt.length - 1]} ms after the first was sent`);
  console.log(`all called within ${issuedMs} ms, flushed to the server by ${flushedMs} ms`);
  console.log(`this client's longest event-loop lag: ${Math.round(maxLagMs)} ms`);
  for (const b of buses) await b.close();
} finally {
  await cluster.stop();
}
