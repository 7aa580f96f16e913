/**
 * What happened second by second in a bench result JSON, for the seconds that matter: when each
 * node took a snapshot, the seconds in which the leader's own log write was slow, and the seconds in
 * which extensions failed — with the failing extensions' budget and latency, each node's longest
 * event-loop delay and the load generator's. Written for the leaseclaimer's seed timing (thirtieth
 * session, docs/benchmarks.md); works on any run.
 *
 *   node --import tsx bench/seconds-report.ts bench/results/<run>.json [more.json…] [--min-failures 300]
 *
 * Prints; asserts nothing.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';

interface Hist {
  count: (number | null)[];
  p50: (number | null)[];
}
interface NodeSeries {
  role: (string | null)[];
  snapshots: (number | null)[];
  loopMaxMs: (number | null)[];
  stages?: Record<string, { p50Ms: (number | null)[] }>;
}
export interface Result {
  summary: { ops: Record<string, { ok: number; failed: number; errors?: Record<string, number> }>; peakRssMB: Record<string, number> };
  series: {
    t: number[];
    counts: Record<string, (number | null)[]>;
    latency: Record<string, Hist>;
    gauges: Record<string, (number | null)[]>;
    nodes: Record<string, NodeSeries>;
  };
}

/** The report of one result, as lines. */
export function secondsReport(r: Result, name: string, minFailures = 300): string[] {
  const out: string[] = [];
  const { nodes, counts, latency, gauges, t } = r.series;
  const ids = Object.keys(nodes).sort();
  const leaderSeconds = (id: string) => nodes[id].role.filter((x) => x === 'leader').length;
  const leader = ids.reduce((best, id) => (leaderSeconds(id) > leaderSeconds(best) ? id : best), ids[0]);
  const snapSeconds = (id: string) => {
    const s = nodes[id].snapshots;
    const found: number[] = [];
    for (let i = 1; i < s.length; i++) if (at(s, i) > at(s, i - 1)) found.push(i);
    return found;
  };
  const ext = r.summary.ops.extend;
  out.push(`== ${name}`);
  if (ext) out.push(`  extensions ok ${ext.ok}, failed ${ext.failed} ${JSON.stringify(ext.errors ?? {})}; peak RSS ${JSON.stringify(r.summary.peakRssMB)}`);
  out.push(`  snapshots (second of the run): ${ids.map((id) => `${id}@${snapSeconds(id).join(',') || '-'}`).join('  ')}`);
  const ownWrite = nodes[leader].stages?.ownWrite?.p50Ms;
  const slow = t.map((_, i) => i).filter((i) => at(ownWrite, i) > 150);
  out.push(`  leader ${leader}: seconds with its own log write p50 > 150 ms: ${slow.map((i) => `${i} (${Math.round(at(ownWrite, i))} ms)`).join(', ') || 'none'}`);
  for (let i = 0; i < t.length; i++) {
    const failed = at(counts['extend.err.Timeout'], i) + at(counts['extend.err.DeadlineExceeded'], i);
    if (failed < minFailures) continue;
    const budget = latency['extend.err.budget']?.p50[i];
    const lat = latency['extend.err']?.p50[i];
    const loops = ids.map((id) => `${id} ${Math.round(at(nodes[id].loopMaxMs, i))}`).join(' ');
    out.push(
      `  second ${i}: extensions failed ${failed}, ok ${at(counts['extend.ok'], i)}; failing budget p50 ${budget ?? '-'} ms, latency p50 ${lat == null ? '-' : Math.round(lat)} ms; ` +
        `claims ok ${at(counts['claim.ok'], i)}, held ${at(counts['claim.held'], i)}; loop max ms ${loops}, generator ${Math.round(at(gauges.generatorLoopDelayMsMax, i))}`,
    );
  }
  return out;
}

const at = (a: (number | null)[] | undefined, i: number): number => a?.[i] ?? 0;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const minAt = args.indexOf('--min-failures');
  const minFailures = minAt >= 0 ? Number(args[minAt + 1]) : 300;
  const files = args.filter((a, i) => !a.startsWith('--') && (minAt < 0 || i !== minAt + 1));
  if (files.length === 0) {
    console.error('usage: bench/seconds-report.ts <result.json>… [--min-failures N]');
    process.exit(2);
  }
  for (const file of files) console.log(secondsReport(JSON.parse(readFileSync(file, 'utf8')) as Result, basename(file), minFailures).join('\n'));
}
