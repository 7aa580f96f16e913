/**
 * Latency histograms for the bench: HDR histograms of microseconds (1 µs .. 10 min, 3 significant
 * digits), shipped between processes as compressed base64 and summarised in milliseconds.
 */
import * as hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

const HIGHEST_US = 600_000_000;

export function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3 });
}

/** Records a latency given in milliseconds (clamped into the trackable range). */
export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(clampUs(ms * 1000));
}

/**
 * Records a latency measured from the SEND time while sends were meant to happen every
 * `expectedIntervalMs`: HDR's coordinated-omission correction back-fills the samples a stalled
 * closed-loop sender never took (value − interval, value − 2·interval, … down to the interval).
 */
export function recordMsCorrected(h: Histogram, ms: number, expectedIntervalMs: number): void {
  h.recordValueWithExpectedInterval(clampUs(ms * 1000), Math.max(1, Math.round(expectedIntervalMs * 1000)));
}

function clampUs(us: number): number {
  if (!(us >= 1)) return 1;
  return Math.min(HIGHEST_US, Math.round(us));
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(s: string): Histogram {
  return hdr.decodeFromCompressedBase64(s);
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Percentiles in milliseconds (3 decimals); zeros for an empty histogram. */
export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}
