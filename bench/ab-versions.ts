/**
 * A/B of two code versions on this box: runs the same `tenure bench` workload alternately from
 * another checkout (`--base`, e.g. `git worktree add` or a clone of an older commit, with its own
 * node_modules or a symlink to these) and from this one, in interleaved pairs (base first in odd
 * pairs, new first in even ones, so a drifting box does not favour one side), then prints the
 * per-pair new/base ratios and their medians (bench/ab-compare.ts). Result JSONs and logs stay in
 * `--out-dir`. Prints numbers; asserts nothing.
 *
 *   npm run bench:versions -- --base /tmp/tenure-base --pairs 4 -- claim --concurrency 128 --connections 1 --seconds 10
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { comparePairs, figuresOf, formatComparison, type RunFigures } from './ab-compare.ts';

const here = resolve(import.meta.dirname, '..');
const program = new Command()
  .usage('--base <dir> [--pairs N] [--max-steal PCT] [--out-dir DIR] -- <bench workload and options>')
  .requiredOption('--base <dir>', 'checkout of the base version (with node_modules)')
  .option('--pairs <n>', 'interleaved pairs', '3')
  .option('--max-steal <pct>', 'leave out pairs where a run lost more than this % of the machine to other guests', '5')
  .option('--out-dir <dir>', 'where result JSONs and logs go (default: a new temp dir)')
  .argument('<bench...>', 'the workload and its options, as given to `npm run bench --`')
  .parse();
const o = program.opts<{ base: string; pairs: string; maxSteal: string; outDir?: string }>();
const benchArgs = program.args;
const base = resolve(o.base);
if (!existsSync(join(base, 'cli', 'main.ts')) || !existsSync(join(base, 'node_modules'))) {
  console.error(`--base ${base}: not a Tenure checkout with node_modules (cli/main.ts and node_modules are needed)`);
  process.exit(2);
}
const pairsWanted = Number(o.pairs);
const maxSteal = Number(o.maxSteal);
if (!Number.isInteger(pairsWanted) || pairsWanted < 1 || !Number.isFinite(maxSteal)) {
  console.error('--pairs must be a positive integer and --max-steal a number');
  process.exit(2);
}
const outDir = o.outDir ? resolve(o.outDir) : mkdtempSync(join(tmpdir(), 'tenure-ab-versions-'));
mkdirSync(outDir, { recursive: true });

/** One bench run from `dir`; resolves with its result JSON's figures. */
function run(dir: string, name: string): Promise<RunFigures> {
  const out = join(outDir, name);
  const log = createWriteStream(`${out}.log`);
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'bench', ...benchArgs, '--out-dir', out, '--no-progress'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  return new Promise((ok, fail) => {
    child.on('error', fail);
    child.on('close', (code) => {
      const json = existsSync(out) ? readdirSync(out).find((f) => f.endsWith('.json')) : undefined;
      if (code !== 0 || json === undefined) fail(new Error(`${name}: bench exited with ${code}; see ${out}.log`));
      else ok(figuresOf(JSON.parse(readFileSync(join(out, json), 'utf8'))));
    });
  });
}

const brief = (f: RunFigures) =>
  `${Object.entries(f.ops)
    .map(([op, s]) => `${op} ${Math.round(s.okPerSec)}/s p99 ${s.p99ms.toFixed(1)} ms`)
    .join(', ')}; machine ${f.machineMicros ?? '—'} µs, leader ${f.leaderMicros ?? '—'} µs per op, steal ${f.stealPct ?? '—'} %`;

console.log(`A/B ${base} (base) against ${here} (new): ${pairsWanted} pair(s) of \`bench ${benchArgs.join(' ')}\` → ${outDir}`);
const pairs: [RunFigures, RunFigures][] = [];
for (let i = 1; i <= pairsWanted; i++) {
  const baseFirst = i % 2 === 1;
  const first = baseFirst ? await run(base, `base-${i}`) : await run(here, `new-${i}`);
  const second = baseFirst ? await run(here, `new-${i}`) : await run(base, `base-${i}`);
  const pair: [RunFigures, RunFigures] = baseFirst ? [first, second] : [second, first];
  pairs.push(pair);
  console.log(`pair ${i}: base ${brief(pair[0])}`);
  console.log(`pair ${i}: new  ${brief(pair[1])}`);
}
const comparison = comparePairs(pairs, maxSteal);
for (const line of formatComparison(comparison)) console.log(line);
writeFileSync(join(outDir, 'ab-versions.json'), JSON.stringify({ base, new: here, bench: benchArgs, maxStealPct: maxSteal, pairs, comparison }, null, 1));
