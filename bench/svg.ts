/**
 * Hand-written SVG charts: a stack of time-series panels sharing one x axis (seconds), like a
 * Grafana dashboard row, with a legend per panel and vertical markers for schedule steps. The
 * output is a standalone SVG document (no scripts, no external references).
 */

export interface ChartSeries {
  name: string;
  /** y values indexed by x position (null / NaN = gap). */
  values: (number | null)[];
  /** x values (default 0, 1, 2, …). */
  x?: number[];
  color?: string;
  /** SVG stroke-dasharray, e.g. '6 3' for a dashed line. */
  dash?: string;
}

export interface ChartPanel {
  title: string;
  /** Unit shown after the axis numbers (e.g. 'ms', '/s', 'MB', '%'). */
  unit?: string;
  series: ChartSeries[];
  /** Log-scale y axis (values ≤ 0 are gaps). */
  log?: boolean;
  /** Fixed y maximum (default: from the data). */
  yMax?: number;
}

export interface ChartMarker {
  x: number;
  label: string;
}

export interface ChartSpec {
  title: string;
  subtitle?: string;
  xLabel?: string;
  panels: ChartPanel[];
  markers?: ChartMarker[];
  width?: number;
  panelHeight?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** A "nice" step (1, 2, 2.5 or 5 × 10^k) giving about `count` ticks up to `max`. */
export function niceStep(max: number, count = 5): number {
  if (!(max > 0)) return 1;
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

/** Compact axis number: 1.5k, 2M, 0.25. */
export function formatNumber(v: number): string {
  const a = Math.abs(v);
  const trim = (x: number) => String(Number(x.toPrecision(3)));
  if (a >= 1e9) return `${trim(v / 1e9)}G`;
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e4) return `${trim(v / 1e3)}k`;
  if (a >= 1000) return `${trim(v / 1e3)}k`;
  return trim(v);
}

function finite(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

export function renderChart(spec: ChartSpec): string {
  const width = spec.width ?? 1000;
  const panelH = spec.panelHeight ?? 190;
  const left = 70;
  const legendW = 250;
  const right = width - legendW - 10;
  const plotW = right - left;
  const headerH = spec.subtitle ? 52 : 36;
  const gap = 46;
  const height = headerH + spec.panels.length * (panelH + gap) + 24;

  // Shared x range.
  let xMin = Infinity;
  let xMax = -Infinity;
  for (const p of spec.panels)
    for (const s of p.series)
      s.values.forEach((v, i) => {
        if (!finite(v)) return;
        const x = s.x?.[i] ?? i;
        xMin = Math.min(xMin, x);
        xMax = Math.max(xMax, x);
      });
  if (!Number.isFinite(xMin)) {
    xMin = 0;
    xMax = 1;
  }
  if (xMax === xMin) xMax = xMin + 1;
  const xs = (x: number) => left + ((x - xMin) / (xMax - xMin)) * plotW;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${left}" y="20" font-size="15" font-weight="bold">${escapeXml(spec.title)}</text>`);
  if (spec.subtitle) out.push(`<text x="${left}" y="38" fill="#555">${escapeXml(spec.subtitle)}</text>`);

  spec.panels.forEach((panel, pi) => {
    const top = headerH + pi * (panelH + gap) + 18;
    const bottom = top + panelH;
    out.push(`<g class="panel">`);
    out.push(`<text x="${left}" y="${top - 6}" font-size="12" font-weight="bold">${escapeXml(panel.title)}</text>`);
    out.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${panelH}" fill="#fafafa" stroke="#ccc"/>`);

    // y range
    let yMaxData = 0;
    let yMinPos = Infinity;
    for (const s of panel.series)
      for (const v of s.values)
        if (finite(v)) {
          yMaxData = Math.max(yMaxData, v);
          if (v > 0) yMinPos = Math.min(yMinPos, v);
        }
    const unit = panel.unit ? ` ${panel.unit}` : '';
    let ys: (v: number) => number;
    if (panel.log) {
      const lo = Math.floor(Math.log10(Number.isFinite(yMinPos) ? yMinPos : 1));
      const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(panel.yMax ?? yMaxData, 1e-9))));
      ys = (v) => bottom - ((Math.log10(v) - lo) / (hi - lo)) * panelH;
      for (let e = lo; e <= hi; e++) {
        const y = ys(10 ** e);
        out.push(`<line x1="${left}" x2="${right}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#e3e3e3"/>`);
        out.push(`<text x="${left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${formatNumber(10 ** e)}${escapeXml(unit)}</text>`);
      }
    } else {
      const yMax0 = panel.yMax ?? (yMaxData > 0 ? yMaxData * 1.05 : 1);
      const step = niceStep(yMax0);
      const yTop = Math.ceil(yMax0 / step) * step;
      ys = (v) => bottom - (v / yTop) * panelH;
      for (let v = 0; v <= yTop + step / 2; v += step) {
        const y = ys(v);
        out.push(`<line x1="${left}" x2="${right}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#e3e3e3"/>`);
        out.push(`<text x="${left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${formatNumber(v)}${escapeXml(unit)}</text>`);
      }
    }

    // x ticks
    const xStep = niceStep(xMax - xMin, 10);
    for (let x = Math.ceil(xMin / xStep) * xStep; x <= xMax + 1e-9; x += xStep) {
      const px = xs(x);
      out.push(`<line x1="${px.toFixed(1)}" x2="${px.toFixed(1)}" y1="${top}" y2="${bottom}" stroke="#eee"/>`);
      out.push(`<text x="${px.toFixed(1)}" y="${bottom + 14}" text-anchor="middle">${formatNumber(x)}</text>`);
    }
    if (pi === spec.panels.length - 1 && spec.xLabel) {
      out.push(`<text x="${(left + plotW / 2).toFixed(1)}" y="${bottom + 30}" text-anchor="middle" fill="#555">${escapeXml(spec.xLabel)}</text>`);
    }

    // markers
    for (const m of spec.markers ?? []) {
      if (m.x < xMin || m.x > xMax) continue;
      const px = xs(m.x).toFixed(1);
      out.push(`<line x1="${px}" x2="${px}" y1="${top}" y2="${bottom}" stroke="#888" stroke-dasharray="4 3"/>`);
      if (pi === 0) out.push(`<text x="${Number(px) + 3}" y="${top + 11}" fill="#666" font-size="10">${escapeXml(m.label)}</text>`);
    }

    // series (legend rows shrink when a panel has many series)
    const rowH = Math.min(15, (panelH + gap - 22) / Math.max(1, panel.series.length));
    const legendFont = rowH < 13 ? ' font-size="9"' : '';
    panel.series.forEach((s, si) => {
      const color = s.color ?? PALETTE[si % PALETTE.length];
      const runs: string[][] = [];
      let cur: string[] = [];
      s.values.forEach((v, i) => {
        if (!finite(v) || (panel.log && v <= 0)) {
          if (cur.length) runs.push(cur);
          cur = [];
          return;
        }
        cur.push(`${xs(s.x?.[i] ?? i).toFixed(1)},${Math.max(top, Math.min(bottom, ys(v))).toFixed(1)}`);
      });
      if (cur.length) runs.push(cur);
      const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
      for (const r of runs) {
        if (r.length === 1) out.push(`<circle cx="${r[0].split(',')[0]}" cy="${r[0].split(',')[1]}" r="2" fill="${color}"/>`);
        else out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.6"${dash} points="${r.join(' ')}"><title>${escapeXml(s.name)}</title></polyline>`);
      }
      const ly = top + 2 + si * rowH;
      out.push(`<line x1="${right + 12}" x2="${right + 36}" y1="${(ly + 4).toFixed(1)}" y2="${(ly + 4).toFixed(1)}" stroke="${color}" stroke-width="2"${dash}/>`);
      out.push(`<text x="${right + 42}" y="${(ly + 8).toFixed(1)}"${legendFont}>${escapeXml(s.name)}</text>`);
    });
    if (panel.series.length === 0) out.push(`<text x="${left + 8}" y="${top + 18}" fill="#999">no data</text>`);
    out.push(`</g>`);
  });
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}
