import { describe, expect, it } from 'vitest';
import { escapeXml, formatNumber, niceStep, renderChart } from '../../bench/svg.ts';
import { dashboardSvg } from '../../bench/charts.ts';
import { SeriesBuilder } from '../../bench/aggregate.ts';
import { encodeHistogram, newHistogram, recordMs } from '../../bench/hist.ts';

/** Minimal well-formedness check: tags balance, attributes are quoted, text has no raw < or stray &. */
function assertWellFormed(xml: string): void {
  const stack: string[] = [];
  const re = /<[^>]*>|[^<]+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(xml))) {
    const tok = m[0];
    if (!tok.startsWith('<')) {
      expect(tok.replace(/&(amp|lt|gt|quot|apos);/g, '')).not.toMatch(/[&<]/);
      continue;
    }
    if (tok.startsWith('<?') || tok.startsWith('<!')) continue;
    const close = /^<\/([\w:-]+)\s*>$/.exec(tok);
    if (close) {
      expect(stack.pop()).toBe(close[1]);
      continue;
    }
    const open = /^<([\w:-]+)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>$/.exec(tok);
    expect(open, `malformed tag ${tok.slice(0, 80)}`).not.toBeNull();
    if (open![3] !== '/') stack.push(open![1]);
  }
  expect(stack).toEqual([]);
}

describe('SVG charts', () => {
  it('renders a standalone, well-formed SVG with every series, gaps and markers', () => {
    const svg = renderChart({
      title: 'claims & extends <test>',
      subtitle: 'a "quoted" subtitle',
      xLabel: 'seconds',
      markers: [{ x: 2, label: '+20 leases' }],
      panels: [
        { title: 'ok/s', unit: '/s', series: [{ name: 'claim ok', values: [1, 2, 3, null, 5] }, { name: 'extend ok', values: [10, 20, 30, 40, 50], dash: '6 3' }] },
        { title: 'latency', unit: 'ms', log: true, series: [{ name: 'p99', values: [0.5, 5, 50, NaN, 500] }] },
        { title: 'empty', series: [] },
      ],
    });
    assertWellFormed(svg);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('claims &amp; extends &lt;test&gt;');
    expect(svg).toContain('claim ok');
    expect(svg).toContain('extend ok');
    expect(svg).toContain('stroke-dasharray="6 3"');
    expect(svg).toContain('+20 leases');
    expect(svg).not.toContain('NaN');
    // The null at x=3 splits "claim ok" into a 3-point line and a lone point.
    const claimLines = [...svg.matchAll(/<polyline[^>]*points="([^"]*)"><title>claim ok<\/title>/g)];
    expect(claimLines).toHaveLength(1);
    expect(claimLines[0][1].split(' ')).toHaveLength(3);
    expect(svg).toContain('no data');
  });

  it('helpers: nice steps, compact numbers, escaping', () => {
    expect(niceStep(100, 5)).toBe(20);
    expect(niceStep(7, 5)).toBe(2);
    expect(niceStep(0)).toBe(1);
    expect(formatNumber(1500)).toBe('1.5k');
    expect(formatNumber(2_000_000)).toBe('2M');
    expect(formatNumber(0.25)).toBe('0.25');
    expect(escapeXml(`<a href="x">&'`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;');
  });

  it('a run dashboard (from aggregated worker ticks) contains its series', () => {
    const b = new SeriesBuilder(['n1']);
    const h = newHistogram();
    recordMs(h, 3);
    for (let sec = 0; sec < 3; sec++) {
      b.addTick({ type: 'tick', worker: 0, sec, counts: { 'claim.ok': 100 + sec, 'claim.err.Overloaded': sec }, hists: { claim: encodeHistogram(h) }, gauges: {} });
      b.addNodeSample(sec, [{ id: 'n1', up: true, role: 'leader', leader: 'n1', term: 1, commit: 1, pid: 1, rss: 100 * 2 ** 20, cpuMicros: sec * 500_000, fsm: null, forwarding: null }], 1000 * sec);
    }
    const svg = dashboardSvg('run', 'sub', [{ label: '', series: b.build() }], [{ x: 1, label: 'step' }]);
    assertWellFormed(svg);
    for (const s of ['claim ok', 'claim Overloaded', 'claim p99', 'n1']) expect(svg).toContain(s);
  });
});
