import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LmdbStorage } from '../../storage/lmdb.ts';
import { readAll } from './contract.ts';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Runs crash-writer.ts against `dir` and SIGKILLs it after `killAfterAcks` durable writes. */
function runAndKill(dir: string, killAfterAcks: number): Promise<number> {
  const script = fileURLToPath(new URL('./crash-writer.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let acked = 0;
    let acks = 0;
    let buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      buffered += text;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        acked = Math.max(acked, Number(line.slice(4)));
        if (++acks === killAfterAcks) child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve(acked) : reject(new Error(`writer exited early: ${code}`))));
  });
}

describe('LmdbStorage under SIGKILL', () => {
  it('keeps every acknowledged write and loads cleanly after being killed mid-stream', async () => {
    let snapshots = 0;
    for (const killAfterAcks of [300, 700, 1500]) {
      const dir = await mkdtemp(join(tmpdir(), 'tenure-crash-'));
      dirs.push(dir);
      const acked = await runAndKill(dir, killAfterAcks);
      const storage = await LmdbStorage.open(dir);
      const { hardState, snapshot, entries } = await storage.load(); // verifies checksums and contiguity
      const lastIndex = entries.at(-1)?.index ?? snapshot?.index ?? 0;
      expect(lastIndex).toBeGreaterThanOrEqual(acked);
      expect(hardState.commit).toBeGreaterThanOrEqual(acked); // every write carried commit = its last index
      for (const e of entries) expect(e.data.every((b) => b === (e.index & 0xff))).toBe(true);
      if (snapshot !== null) {
        snapshots++;
        expect((await readAll(storage))?.data.length).toBe(snapshot.size); // checksum verified while reading
      }
      await storage.close();
    }
    expect(snapshots).toBeGreaterThan(0);
  });
});
