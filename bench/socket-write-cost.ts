/**
 * What one socket write to nats-server costs this process: publishes one batch per event-loop
 * turn (one nats.js flush, one write) to a subject nobody subscribes to, on a nats-server of its
 * own, and prints the system CPU time per write for several batch shapes. User time is printed
 * too but is mostly the timer loop around the writes. Prints numbers; asserts nothing
 * (docs/benchmarks.md, twenty-second session).
 *   npx tsx bench/socket-write-cost.ts [writes per shape, default 2000]
 */
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../cli/nats-server.ts';

const writes = Number(process.argv[2] ?? 2000);
const server = await startNatsServer();
const nc = await connect({ servers: server.url, noAsyncTraces: true });
try {
  for (const [messages, size] of [[1, 200], [1, 20_000], [80, 250], [8, 2_500], [1, 100_000]] as const) {
    const payload = new Uint8Array(size);
    await new Promise((r) => setTimeout(r, 200));
    const before = process.cpuUsage();
    for (let i = 0; i < writes; i++) {
      for (let k = 0; k < messages; k++) nc.publish('bench.write-cost', payload);
      await new Promise((r) => setTimeout(r, 1)); // the flush (one write) happens before the timer fires
    }
    const used = process.cpuUsage(before);
    console.log(`${messages} × ${size} B per write: system ${(used.system / writes).toFixed(1)} µs, user ${(used.user / writes).toFixed(1)} µs per write`);
  }
} finally {
  await nc.close();
  await server.stop();
}
