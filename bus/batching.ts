/**
 * Splitting batches into requests (shared by the client's coalescer and batch API and by the
 * followers' facade batcher).
 *
 * `approxSize`: a cheap upper-bound estimate of a plain object's encoded size (msgpack or JSON),
 * so batches stay under the payload limit without being encoded twice: a string counts one byte
 * per character (three when it holds any non-ASCII character), a number 9 bytes, a field its name
 * plus a few bytes of framing.
 */
export function approxSize(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return 5 + stringBytes(value);
    case 'number':
    case 'bigint':
      return 9;
    case 'boolean':
    case 'undefined':
      return 1;
    case 'object': {
      if (value === null) return 1;
      if (value instanceof Uint8Array) return 5 + value.byteLength;
      let n = 5;
      if (Array.isArray(value)) for (const v of value) n += approxSize(v);
      else for (const k in value as Record<string, unknown>) n += 3 + stringBytes(k) + approxSize((value as Record<string, unknown>)[k]);
      return n;
    }
    default:
      return 8;
  }
}

function stringBytes(s: string): number {
  // Only strings with non-ASCII characters can take more than one byte per UTF-16 unit.
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return s.length * 3;
  return s.length;
}

export interface ChunkLimits {
  maxCount: number;
  maxBytes: number;
  /**
   * Group by deadline: a chunk's deadlines lie within max(minSpreadMs, 10 % of the first one's
   * remaining time) of each other. A request is answered as a whole, so a short-deadline item must
   * not ride with long ones (it could not learn its own outcome in time). Omit to ignore deadlines.
   */
  deadlines?: { now: number; minSpreadMs: number };
}

/**
 * Splits `items` (in deadline order when grouping by deadline: sorted in place) into chunks of at
 * most `maxCount` items and about `maxBytes` (a single larger item still gets a chunk of its own).
 */
export function chunkItems<T extends { size: number; deadline?: number }>(items: T[], limits: ChunkLimits): T[][] {
  const { maxCount, maxBytes, deadlines } = limits;
  if (deadlines) items.sort((a, b) => (a.deadline ?? Infinity) - (b.deadline ?? Infinity));
  const chunks: T[][] = [];
  let chunk: T[] = [];
  let bytes = 0;
  let limit = Infinity;
  for (const item of items) {
    const late = deadlines !== undefined && (item.deadline ?? Infinity) > limit;
    if (chunk.length && (chunk.length >= maxCount || bytes + item.size > maxBytes || late)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    if (!chunk.length && deadlines) {
      const d = item.deadline ?? Infinity;
      limit = d + Math.max(deadlines.minSpreadMs, (d - deadlines.now) * 0.1);
    }
    chunk.push(item);
    bytes += item.size;
  }
  if (chunk.length) chunks.push(chunk);
  return chunks;
}
