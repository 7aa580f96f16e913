// Loopback TCP ping-pong between two Node processes, one 64-byte message in flight: round-trip time
// and CPU per round trip on each side — the floor of one message hop on this machine, next to which
// the nodes' per-op costs can be read (docs/benchmarks.md, fifteenth session).
//   node bench/loopback-pingpong.mjs [gapMs]   gapMs > 0: pause between messages (a lightly loaded box)
import net from 'node:net';
import { fork } from 'node:child_process';
if (process.argv[2] === 'echo') {
  const srv = net.createServer((s) => { s.setNoDelay(true); s.on('data', (d) => s.write(d)); });
  srv.listen(0, '127.0.0.1', () => process.send(srv.address().port));
  process.on('message', (m) => { if (m === 'cpu') process.send(process.cpuUsage()); });
} else {
  const child = fork(new URL(import.meta.url).pathname, ['echo']);
  const port = await new Promise((r) => child.once('message', r));
  const s = net.connect(port, '127.0.0.1');
  s.setNoDelay(true);
  await new Promise((r) => s.once('connect', r));
  const msg = Buffer.alloc(64, 1);
  const gap = Number(process.argv[2] ?? 0);
  // n round trips, one message in flight; returns the mean round trip in µs.
  const run = (n) =>
    new Promise((resolve) => {
      let left = n;
      const t0 = process.hrtime.bigint();
      const onData = () => {
        if (--left === 0) {
          s.off('data', onData);
          resolve(Number(process.hrtime.bigint() - t0) / 1e3 / n);
        } else if (gap) setTimeout(() => s.write(msg), gap);
        else s.write(msg);
      };
      s.on('data', onData);
      s.write(msg);
    });
  await run(gap ? 200 : 2000);
  const childCpu = () => new Promise((r) => { child.once('message', r); child.send('cpu'); });
  const c0 = process.cpuUsage(); const e0 = await childCpu();
  const N = gap ? 1000 : 10000; const rtt = await run(N);
  const c1 = process.cpuUsage(c0); const e1 = await childCpu();
  console.log(`gap ${gap} ms: round trip ${rtt.toFixed(1)} µs; CPU per round: sender ${((c1.user + c1.system) / N).toFixed(1)} µs (system ${(c1.system / N).toFixed(1)}), echo ${((e1.user - e0.user + e1.system - e0.system) / N).toFixed(1)} µs`);
  s.destroy(); child.kill();
}
