/**
 * A cheap upper-bound estimate of a plain object's encoded size (msgpack or JSON), used to split
 * batches below the payload limit without encoding them twice: strings count their UTF-16 length
 * three times over for multi-byte characters only when they have any, numbers 9 bytes, every
 * field 8 bytes of framing plus its name.
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
