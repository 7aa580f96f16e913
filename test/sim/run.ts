import { Command } from 'commander';
import { replayCommand, runSeed } from './scenario.ts';
import { leaseReplayCommand, runLeaseSeed } from './lease-scenario.ts';

/**
 * `npm run test:sim -- --seeds 10000` or `-- --seed 42` to replay one failure; `--lease` runs the
 * whole-service lease simulation (test/sim/lease-scenario.ts) instead of the Raft one.
 */
const program = new Command()
  .option('--seeds <n>', 'number of seeds to run', '200')
  .option('--from <n>', 'first seed', '1')
  .option('--seed <n>', 'run only this seed (prints details)')
  .option('--nodes <n>', 'cluster size: 3 or 5 (default: alternate by seed)')
  .option('--lease', 'the lease simulation: whole nodes, clients and holders (default: Raft alone)')
  .option('--skew-ppm <n>', 'lease simulation: each process clock runs 1 ± up to n parts per million fast or slow')
  .option('--offset-ms <n>', 'lease simulation: each process clock is offset by up to ± n ms')
  .parse();
const o = program.opts<{ seeds: string; from: string; seed?: string; nodes?: string; lease?: boolean; skewPpm?: string; offsetMs?: string }>();
const skew = { skewPpm: o.skewPpm ? Number(o.skewPpm) : undefined, offsetMs: o.offsetMs ? Number(o.offsetMs) : undefined };
const nodes = o.nodes ? (Number(o.nodes) as 3 | 5) : undefined;

const seeds = o.seed ? [Number(o.seed)] : Array.from({ length: Number(o.seeds) }, (_, i) => Number(o.from) + i);
const started = Date.now();
let failed = 0;
let acked = 0;
/** Lease simulation: claims answered Held, and how many of those without a log entry. */
const held = { told: 0, withoutLog: 0 };
/** One seed of the chosen simulation: its violations, what it checked, and how to replay it. */
const runOne = async (seed: number): Promise<{ nodes: number; violations: string[]; checked: number; detail: string; replay: string }> => {
  if (o.lease) {
    const r = await runLeaseSeed(seed, { nodes, ...skew });
    held.told += r.toldHeld;
    held.withoutLog += r.heldWithoutLog;
    return { nodes: r.nodes, violations: r.violations, checked: r.beliefs, detail: `${r.beliefs} tenures believed by ${r.holders} holders, ${r.freeWaits} waits answered free, ${r.terms} terms, ${r.toldHeld} claims answered Held (${r.heldWithoutLog} of them without a log entry)`, replay: leaseReplayCommand(seed, skew) };
  }
  const r = await runSeed(seed, { nodes });
  return { nodes: r.nodes, violations: r.violations, checked: r.acked, detail: `${r.acked} acknowledged, ${r.applied} applied, ${r.terms} terms`, replay: replayCommand(seed) };
};
for (const seed of seeds) {
  const r = await runOne(seed);
  acked += r.checked;
  if (r.violations.length) {
    failed++;
    console.log(`seed ${seed} (${r.nodes} nodes) FAILED:\n  ${r.violations.join('\n  ')}\n  replay: ${r.replay}`);
  } else if (o.seed) {
    console.log(`seed ${seed} (${r.nodes} nodes) ok: ${r.detail}`);
  }
  if (!o.seed && seeds.length >= 100 && seed % 500 === 0) console.log(`… ${seed - seeds[0] + 1}/${seeds.length} seeds, ${failed} failed`);
}
const secs = ((Date.now() - started) / 1000).toFixed(1);
const heldNote = o.lease ? ` (${held.told} claims answered Held, ${held.withoutLog} of them without a log entry)` : '';
console.log(`${seeds.length} seeds, ${failed} with violations, ${acked} ${o.lease ? 'tenures checked' : 'acknowledged proposals checked'}${heldNote}, ${secs} s`);
process.exit(failed ? 1 : 0);
