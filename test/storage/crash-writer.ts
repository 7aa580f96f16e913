/**
 * Child process for lmdb-crash.test.ts: writes to LmdbStorage at `argv[2]` as fast as it can,
 * with snapshots streaming in alongside, and prints `ack <index>` once each write is durable.
 * The test SIGKILLs it at an arbitrary moment.
 */
import { EntryType } from '../../machines/raft/types.ts';
import { crc32 } from '../../storage/crc32.ts';
import { LmdbStorage } from '../../storage/lmdb.ts';

const storage = await LmdbStorage.open(process.argv[2]);
let next = 1;
let acked = 0;
let snapshots = 0;

async function writer(): Promise<void> {
  for (;;) {
    const first = next;
    const count = 1 + (first % 5);
    next += count;
    const entries = Array.from({ length: count }, (_, i) => ({
      index: first + i,
      term: 1,
      type: EntryType.Command,
      data: new Uint8Array(100 + ((first + i) % 300)).fill((first + i) & 0xff),
    }));
    await storage.write({ entries, hardState: { term: 1, vote: 'a', commit: first + count - 1 } });
    acked = Math.max(acked, first + count - 1);
    process.stdout.write(`ack ${acked}\n`);
  }
}

async function snapshotter(): Promise<void> {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (acked < 20) continue;
    const data = new Uint8Array(200_000 + snapshots * 1000).fill(snapshots & 0xff);
    const chunks = Array.from({ length: 20 }, (_, i) => data.subarray(i * 10_000, (i + 1) * 10_000));
    chunks.push(data.subarray(200_000));
    const index = acked - 10;
    await storage.saveSnapshot({ index, term: 1, config: { voters: ['a'] }, size: data.length, checksum: crc32(data) }, chunks);
    snapshots++;
  }
}

await Promise.all([writer(), writer(), writer(), snapshotter()]);
