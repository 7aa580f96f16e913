/**
 * Entry point of one bench worker process (forked by bench/run.ts). Runs the workload it is sent
 * and reports per-second ticks to the parent over IPC. Exits when told to stop or when the parent
 * goes away.
 */
import { prepare, type PreparedWorkload } from './workloads.ts';
import { Recorder } from './recorder.ts';
import type { ParentMessage, WorkerMessage } from './protocol.ts';

if (!process.send) {
  console.error('bench/worker.ts runs as a forked child of `tenure bench`');
  process.exit(2);
}

const send = (m: WorkerMessage) => {
  if (process.connected) process.send!(m);
};

let worker = -1;
let prepared: PreparedWorkload | null = null;
let recorder: Recorder | null = null;
let running: Promise<void> | null = null;

async function shutdown(code: number): Promise<void> {
  prepared?.stop();
  await running?.catch(() => {});
  recorder?.finish();
  await prepared?.close().catch(() => {});
  send({ type: 'done', worker });
  // Let the IPC channel drain before exiting.
  setTimeout(() => process.exit(code), 50);
}

process.on('disconnect', () => process.exit(0));
process.on('message', (m: ParentMessage) => {
  void (async () => {
    try {
      switch (m.type) {
        case 'init':
          worker = m.worker;
          prepared = await prepare(m);
          send({ type: 'ready', worker });
          break;
        case 'go':
          recorder = new Recorder(worker, m.startAt, send, () => prepared?.gauges() ?? {});
          recorder.start();
          running = prepared!.run(recorder, m.startAt);
          running.then(
            () => shutdown(0),
            (err) => {
              send({ type: 'error', worker, message: String(err?.stack ?? err) });
              void shutdown(1);
            },
          );
          break;
        case 'leases':
          prepared?.addLeases?.(m.from, m.to);
          break;
        case 'drop':
          prepared?.dropLeases?.(m.from, m.to);
          break;
        case 'crashHolders':
          prepared?.crashHolders?.(m.fraction);
          break;
        case 'stop':
          prepared?.stop();
          break;
      }
    } catch (err) {
      send({ type: 'error', worker, message: String((err as Error)?.stack ?? err) });
      setTimeout(() => process.exit(1), 50);
    }
  })();
});
