/**
 * Lease FSM throughput: `npx tsx lease/bench-fsm.ts [commands] [batch]`.
 * Applies mixed commands in Raft-sized batches (only apply is timed, not generation), then
 * snapshots and restores 100k leases, then times clock ticks over a large table (100k and 1M held
 * leases, expiries spread over a minute — each 1 s tick expires ≈ 1/60 of them — or over an hour).
 * Prints numbers; asserts nothing.
 */
import { Rng } from '../clock/clock.ts';
import { fullCollection } from '../actors/memory-governor.ts';
import { decodeValidCommand, encodeLeaseCommand } from './command-codec.ts';
import { LeaseFsm } from './fsm.ts';
import type { LeaseCommand, LeaseKey } from './types.ts';

const TOTAL = Number(process.argv[2] ?? 1_000_000);
const BATCH = Number(process.argv[3] ?? 256);
const KEYS = 10_000;
const CLIENTS = 2_000;

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function benchApply(): void {
  const rng = new Rng(42);
  const fsm = new LeaseFsm();
  const keys: LeaseKey[] = [];
  for (let i = 0; i < KEYS; i++) keys.push({ namespace: 'application-leadership', model: `model-${i % 50}`, lease: `app-${i}` });
  const seqs = new Array<number>(CLIENTS).fill(0);
  const clientIds = Array.from({ length: CLIENTS }, (_, i) => `client-${i}`);
  let clockSeq = 0;
  let index = 0;
  let applied = 0;
  let events = 0;
  let okCount = 0;
  let applyMs = 0;

  while (applied < TOTAL) {
    const n = Math.min(BATCH, TOTAL - applied);
    const cmds: LeaseCommand[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const c = rng.int(0, CLIENTS - 1);
      const clientId = clientIds[c];
      const seq = ++seqs[c];
      const key = keys[rng.int(0, KEYS - 1)];
      const holder = `unit-${rng.int(0, 3)}`;
      const r = rng.next();
      if (i === 0 && index % 40 === 0) {
        // roughly one clock tick per 10k commands, as a 1 s tick would be at ~10k ops/s
        cmds[i] = { op: 'setTime', oldTime: fsm.time(), newTime: fsm.time() + 1000, clientId: 'clock', seq: ++clockSeq };
      } else if (r < 0.55) cmds[i] = { op: 'extend', key, holder, durationMs: 30_000, clientId, seq };
      else if (r < 0.85) cmds[i] = { op: 'claim', key, holder, durationMs: 30_000, clientId, seq };
      else if (r < 0.97) cmds[i] = { op: 'revoke', key, holder, clientId, seq };
      else if (r < 0.985) cmds[i] = { op: 'pin', key, entity: `machine-${c % 5}`, clientId, seq };
      else if (r < 0.995) cmds[i] = { op: 'unpin', key, entity: `machine-${c % 5}`, clientId, seq };
      else cmds[i] = { op: 'claim', key, holder, durationMs: 30_000, clientId, seq: seq - 1 }; // a retry
    }
    const start = process.hrtime.bigint();
    const out = fsm.apply(++index, cmds);
    applyMs += ms(start);
    events += out.events.length;
    for (const r of out.results) if (r.ok) okCount++;
    applied += n;
  }
  const s = fsm.stats();
  console.log(`apply: ${applied.toLocaleString()} commands in ${index.toLocaleString()} batches of ${BATCH}`);
  console.log(`  ${Math.round(applied / (applyMs / 1000)).toLocaleString()} commands/s (${applyMs.toFixed(0)} ms in apply)`);
  console.log(`  ${events.toLocaleString()} events, ${okCount.toLocaleString()} ok results; held ${s.leases}, clients ${s.clients}, time ${s.time}`);
}

/**
 * Claims `leases` leases (lease i for `durationOf(i)`) from `clients` clients, in batches of 256;
 * returns the last Raft index used.
 */
function claimMany(fsm: LeaseFsm, leases: number, clients: number, durationOf: (i: number) => number): number {
  const cmds: LeaseCommand[] = [];
  let index = 0;
  for (let i = 0; i < leases; i++) {
    const key = { namespace: 'application-leadership', model: `model-${i % 500}`, lease: `application-${i}` };
    cmds.push({ op: 'claim', key, holder: `application-${i}/0`, durationMs: durationOf(i), clientId: `client-${i % clients}`, seq: Math.floor(i / clients) + 1 });
    if (cmds.length === 256) fsm.apply(++index, cmds.splice(0));
  }
  if (cmds.length) fsm.apply(++index, cmds);
  return index;
}

async function benchSnapshot(leases: number): Promise<void> {
  const fsm = new LeaseFsm();
  claimMany(fsm, leases, leases, () => 60_000);

  let start = process.hrtime.bigint();
  let bytes = 0;
  let chunks = 0;
  let largest = 0;
  const kept: Uint8Array[] = [];
  for (const chunk of fsm.snapshotChunks()) {
    bytes += chunk.length;
    chunks++;
    largest = Math.max(largest, chunk.length);
    kept.push(chunk);
  }
  const snapMs = ms(start);
  start = process.hrtime.bigint();
  const restored = await LeaseFsm.restore(kept);
  const restoreMs = ms(start);
  const clients = restored.stats().clients;
  console.log(`snapshot: ${leases.toLocaleString()} leases + ${clients.toLocaleString()} dedupe entries`);
  console.log(`  ${snapMs.toFixed(0)} ms, ${(bytes / 1024 / 1024).toFixed(2)} MiB in ${chunks} chunks (largest ${largest} bytes)`);
  console.log(`  restore ${restoreMs.toFixed(0)} ms`);
}

function benchTicks(leases: number, spreadMs: number): void {
  const fsm = new LeaseFsm();
  let index = claimMany(fsm, leases, 1000, (i) => 1_000 + ((i * 7919) % spreadMs));
  const times: number[] = [];
  let expired = 0;
  for (let t = 1; t <= 30; t++) {
    const tick: LeaseCommand = { op: 'setTime', oldTime: fsm.time(), newTime: fsm.time() + 1000, clientId: 'clock', seq: t };
    const start = process.hrtime.bigint();
    const out = fsm.apply(++index, [tick]);
    times.push(ms(start));
    expired += out.events.length;
  }
  times.sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  console.log(`ticks: ${leases.toLocaleString()} held leases expiring over ${spreadMs / 1000} s, 30 ticks of 1 s, ${Math.round(expired / 30).toLocaleString()} expiring per tick`);
  console.log(`  per tick mean ${mean.toFixed(1)} ms, max ${times[times.length - 1].toFixed(1)} ms`);
}

/**
 * Live heap per held lease, with commands as a node sees them: encoded for the log and decoded
 * again (names are then fresh strings, as they are in a node, not literals shared by the test).
 */
function benchHeapPerLease(leases: number): void {
  const gc = fullCollection();
  gc();
  const before = process.memoryUsage().heapUsed;
  const fsm = new LeaseFsm();
  let cmds: LeaseCommand[] = [];
  let index = 0;
  for (let i = 0; i < leases; i++) {
    const key = { namespace: 'application-leadership', model: `model-${i % 50}`, lease: `claim-w${i % 3}-${i}` };
    const cmd: LeaseCommand = { op: 'claim', key, holder: `holder-${i % 3}-${i % 128}`, durationMs: 600_000, clientId: `client-${i % 128}`, seq: Math.floor(i / 128) + 1 };
    cmds.push(decodeValidCommand(encodeLeaseCommand(cmd)));
    if (cmds.length === 256) fsm.apply(++index, cmds.splice(0));
  }
  fsm.apply(++index, cmds);
  cmds = [];
  gc();
  const bytes = process.memoryUsage().heapUsed - before;
  console.log(`heap: ${leases.toLocaleString()} held leases (decoded commands) → ${(bytes / 1024 / 1024).toFixed(1)} MiB live, ${Math.round(bytes / leases)} bytes per lease (${fsm.stats().leases} held)`);
}

benchApply();
benchHeapPerLease(100_000);
await benchSnapshot(100_000);
benchTicks(100_000, 60_000);
benchTicks(1_000_000, 60_000);
benchTicks(1_000_000, 3_600_000); // long leases, kept alive: almost nothing expires
