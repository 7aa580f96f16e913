import { BenchCluster } from '../cluster.ts';
const c = await BenchCluster.start({ cluster: 'default', env: JSON.parse(process.env.NODE_ENV_JSON ?? '{}') });
console.log('URL', c.natsUrl);
const leader = await c.waitForLeader();
const end = Date.now() + Number(process.env.PROBE_SECONDS ?? 40) * 1000;
let prev: any = null;
while (Date.now() < end) {
  await new Promise((r) => setTimeout(r, 2000));
  try {
    const st: any = await c.bus.request(c.subj.control('status', leader), {}, { deadlineMs: 1000 });
    const f = st.forwarding.facade.leader;
    const line = { commit: st.commit, batches: f.batches, cmds: f.batchedCommands, maxBatch: f.maxBatch, lastBatch: f.lastBatch, drain: f.drainPerSec, cl: f.commitLatency, infl: f.inflightProposals, queued: st.queued, pending: st.pending };
    if (prev) console.log(JSON.stringify({ ...line, dBatches: f.batches - prev.batches, dCmds: f.batchedCommands - prev.cmds, dCommit: st.commit - prev.commit }));
    prev = line;
  } catch (e) { console.log('status err', (e as Error).message); }
}
await c.stop();
