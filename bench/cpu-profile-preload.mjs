// Preload for profiling processes whose command line the bench cannot change (the node processes):
// NODE_OPTIONS="--import /abs/bench/cpu-profile-preload.mjs" TENURE_CPU_PROF_DIR=<dir>.
// Node 20 refuses --cpu-prof in NODE_OPTIONS, so this starts the V8 sampling profiler through the
// in-process inspector and writes <dir>/<pid>.cpuprofile when the process exits (the in-process
// session answers synchronously, so this works inside an 'exit' handler). With TENURE_HEAP_PROF=1
// it also samples allocations (collected objects included) into <dir>/<pid>.heapprofile.
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.TENURE_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: Number(process.env.TENURE_CPU_PROF_INTERVAL_US ?? 1000) });
  session.post('Profiler.start');
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    session.post('Profiler.stop', (err, res) => {
      if (err || !res) return;
      mkdirSync(dir, { recursive: true });
      const name = `${process.env.TENURE_CPU_PROF_NAME ?? 'proc'}-${process.pid}.cpuprofile`;
      writeFileSync(join(dir, name), JSON.stringify(res.profile));
    });
  };
  process.on('exit', write);
  if (process.env.TENURE_HEAP_PROF) {
    // Allocation sampling, objects already collected included: where the garbage comes from.
    session.post('HeapProfiler.enable');
    session.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    process.on('exit', () =>
      session.post('HeapProfiler.stopSampling', (err, res) => {
        if (err || !res) return;
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, `${process.env.TENURE_CPU_PROF_NAME ?? 'proc'}-${process.pid}.heapprofile`), JSON.stringify(res.profile));
      }),
    );
  }
}
