import type { ClusterConfig } from './types.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Config entries are tiny and rare: JSON keeps them readable in a log dump. */
export function encodeConfig(config: ClusterConfig): Uint8Array {
  return enc.encode(JSON.stringify({ voters: [...config.voters].sort() }));
}

export function decodeConfig(data: Uint8Array): ClusterConfig {
  const parsed = JSON.parse(dec.decode(data)) as ClusterConfig;
  return { voters: [...parsed.voters] };
}
