/**
 * Summarises V8 CPU profiles (`--cpu-prof` output, e.g. from `tenure bench … --cpu-prof`): share
 * of idle, GC and program time, then the functions with the most self time and the files with the
 * most total self time.
 *
 *   node --import tsx bench/profile-top.ts bench/results/profiles/<dir>/*.cpuprofile [--top 25]
 *     [--inclusive] [--under <function name>]
 *
 * `--inclusive` adds inclusive time by function, `--under NAME` the self time of what runs below
 * NAME (bench/profile-tree.ts).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { inclusive, under, type TreeProfile, type TreeRow } from './profile-tree.ts';

/** A `.cpuprofile` file: the call tree and samples (bench/profile-tree.ts) and the time span. */
interface Profile extends TreeProfile {
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  idlePct: number;
  gcPct: number;
  programPct: number;
  topFunctions: { name: string; where: string; selfMs: number; pct: number }[];
  topFiles: { file: string; selfMs: number; pct: number }[];
}

function shortUrl(url: string): string {
  if (!url) return '(native)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return `dep:${m[1]}`;
  const i = url.indexOf('/work/main/');
  if (i >= 0) return url.slice(i + '/work/main/'.length);
  return url.replace(/^file:\/\//, '').replace(/^node:/, 'node:');
}

export function summarizeProfile(file: string, top = 20): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  let total = 0;
  let idle = 0;
  let gc = 0;
  let program = 0;
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const files = new Map<string, number>();
  for (const [id, us] of self) {
    total += us;
    const n = byId.get(id)!;
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    if (name === '(garbage collector)') gc += us;
    if (name === '(program)') program += us;
    const where = `${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    const key = `${name}@${where}`;
    const e = fn.get(key) ?? { name, where, us: 0 };
    e.us += us;
    fn.set(key, e);
    const f = shortUrl(n.callFrame.url);
    files.set(f, (files.get(f) ?? 0) + us);
  }
  const pct = (us: number) => (total ? Math.round((us / total) * 1000) / 10 : 0);
  return {
    file: basename(file),
    totalMs: Math.round(total / 1000),
    idlePct: pct(idle),
    gcPct: pct(gc),
    programPct: pct(program),
    topFunctions: [...fn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, selfMs: Math.round(e.us / 1000), pct: pct(e.us) })),
    topFiles: [...files.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([f, us]) => ({ file: f, selfMs: Math.round(us / 1000), pct: pct(us) })),
  };
}

const isMain = process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]));
if (isMain) {
  const args = process.argv.slice(2);
  const ti = args.indexOf('--top');
  const top = ti >= 0 ? Number(args.splice(ti, 2)[1]) : 20;
  const ii = args.indexOf('--inclusive');
  const withInclusive = ii >= 0 && args.splice(ii, 1).length > 0;
  const ui = args.indexOf('--under');
  const underFn = ui >= 0 ? args.splice(ui, 2)[1] : undefined;
  const print = (rs: TreeRow[]) => {
    for (const r of rs) console.log(`    ${String(r.pct).padStart(5)} %  ${String(r.ms).padStart(6)} ms  ${r.name}`);
  };
  for (const f of args) {
    const s = summarizeProfile(f, top);
    console.log(`\n== ${s.file}: ${s.totalMs} ms sampled, idle ${s.idlePct} %, GC ${s.gcPct} %, (program) ${s.programPct} %`);
    console.log('  self time by file:');
    for (const e of s.topFiles.slice(0, 12)) console.log(`    ${String(e.pct).padStart(5)} %  ${String(e.selfMs).padStart(6)} ms  ${e.file}`);
    console.log('  self time by function:');
    for (const e of s.topFunctions) console.log(`    ${String(e.pct).padStart(5)} %  ${String(e.selfMs).padStart(6)} ms  ${e.name}  ${e.where}`);
    if (withInclusive || underFn) {
      const profile = JSON.parse(readFileSync(f, 'utf8')) as Profile;
      if (withInclusive) {
        const inc = inclusive(profile, top);
        console.log(`  inclusive time by function (share of ${inc.busyMs} ms busy):`);
        print(inc.rows);
      }
      if (underFn) {
        const u = under(profile, underFn, top);
        console.log(`  self time below ${underFn} (${u.ms} ms in all):`);
        print(u.rows);
      }
    }
  }
}
