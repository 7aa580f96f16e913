/**
 * The shape invariant both storages keep: the log is the contiguous run of entries
 * snapshotIndex+1 .. lastIndex (empty when lastIndex === snapshotIndex).
 *
 * Writes and snapshot installs are checked against it *before* anything is queued, so a bad
 * batch is rejected whole (RangeError) instead of leaving a gap that load() would later report
 * as corruption.
 */
import type { LogWrite } from './types.ts';

export interface LogShape {
  /** Index covered by the current snapshot, 0 without one. */
  snapshotIndex: number;
  /** Last stored entry's index, or snapshotIndex when the log is empty. */
  lastIndex: number;
}

/**
 * The shape after `batch`, or RangeError if it would break contiguity. Rules: truncate first
 * (entries >= truncateFrom go; truncating at or below the snapshot empties the log), then the
 * batch's entries must be consecutive and start in snapshotIndex+1 .. lastIndex+1 (overwriting
 * a suffix in place or appending; entries past the batch that were not truncated stay).
 */
export function shapeAfterWrite(shape: LogShape, batch: LogWrite): LogShape {
  let lastIndex = shape.lastIndex;
  if (batch.truncateFrom !== undefined) {
    const from = batch.truncateFrom;
    if (!Number.isSafeInteger(from) || from < 1) throw new RangeError(`truncateFrom must be a positive integer, got ${from}`);
    lastIndex = Math.max(shape.snapshotIndex, Math.min(lastIndex, from - 1));
  }
  const entries = batch.entries ?? [];
  if (entries.length === 0) return { snapshotIndex: shape.snapshotIndex, lastIndex };
  const first = entries[0].index;
  if (!Number.isSafeInteger(first) || first <= shape.snapshotIndex || first > lastIndex + 1) {
    throw new RangeError(
      `entries must start within ${shape.snapshotIndex + 1}..${lastIndex + 1} (snapshot at ${shape.snapshotIndex}, ` +
        `log ends at ${lastIndex} after truncation), got ${first}`,
    );
  }
  for (let i = 1; i < entries.length; i++) {
    if (entries[i].index !== first + i) {
      throw new RangeError(`entries must be consecutive: position ${i} has index ${entries[i].index}, expected ${first + i}`);
    }
  }
  return { snapshotIndex: shape.snapshotIndex, lastIndex: Math.max(lastIndex, first + entries.length - 1) };
}

/**
 * The shape after installing a snapshot at `index`. Keeping the log (no discardLog) is only
 * possible when the snapshot does not move backwards, otherwise the kept entries would start
 * after a gap.
 */
export function shapeAfterSnapshot(shape: LogShape, index: number, discardLog: boolean): LogShape {
  if (discardLog) return { snapshotIndex: index, lastIndex: index };
  if (index < shape.snapshotIndex) {
    throw new RangeError(`snapshot at ${index} is older than the current one at ${shape.snapshotIndex}; install it with discardLog`);
  }
  return { snapshotIndex: index, lastIndex: Math.max(index, shape.lastIndex) };
}
