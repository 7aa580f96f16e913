/**
 * Re-renders dashboards from saved JSON results (after a chart change, or to compare two runs):
 *
 *   node --import tsx bench/rechart.ts <result.json> [out.svg]
 *   node --import tsx bench/rechart.ts --ab <legacy.json> <facade.json> <out.svg>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dashboardSvg } from './charts.ts';
import type { RunResult } from './run.ts';

const load = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as RunResult;
const args = process.argv.slice(2);
if (args[0] === '--ab') {
  const [a, b, out] = [load(args[1]), load(args[2]), args[3]];
  writeFileSync(
    out,
    dashboardSvg(`${a.title}: ${a.transport} (dashed) vs ${b.transport} (solid)`, `${a.date.slice(0, 19)}Z · ${a.command}`, [
      { label: a.transport === 'legacy-pubsub' ? 'legacy' : a.transport, series: a.series, dash: '6 3' },
      { label: b.transport === 'legacy-pubsub' ? 'legacy' : b.transport, series: b.series },
    ], a.markers),
  );
  console.log(out);
} else {
  const r = load(args[0]);
  const out = args[1] ?? r.files.svg;
  writeFileSync(out, dashboardSvg(`${r.title} (${r.transport})`, `${r.transport} · ${r.date.slice(0, 19)}Z · ${r.command}`, [{ label: '', series: r.series }], r.markers));
  console.log(out);
}
