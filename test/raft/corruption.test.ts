import { afterAll, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { LmdbStorage, LOG_DB } from '../../storage/lmdb.ts';
import { EntryType } from '../../machines/raft/types.ts';
import { ENTRY_PAYLOAD_OFFSET } from '../../storage/records.ts';
import { natsUrl } from '../support/nats.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'tenure-corrupt-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** A node whose disk holds a damaged log entry refuses to start and names the record. */
it('reports a flipped byte in a stored entry clearly and does not start', async () => {
  const dir = join(dataDir, 'n1');
  const storage = await LmdbStorage.open(dir);
  const enc = new TextEncoder();
  await storage.write({
    hardState: { term: 1, vote: 'n1', commit: 5 },
    entries: [1, 2, 3, 4, 5].map((index) => ({ index, term: 1, type: EntryType.Command, data: enc.encode(`payload ${index}`) })),
  });
  await storage.close();

  const root = open({ path: dir, encoding: 'binary', maxDbs: 4 });
  const log = root.openDB<Uint8Array, number>(LOG_DB, { encoding: 'binary' });
  const copy = new Uint8Array(log.get(3)!);
  copy[ENTRY_PAYLOAD_OFFSET + 2] ^= 0x01;
  log.putSync(3, copy);
  await root.close();

  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'node', '--node-id', 'n1', '--nodes', 'n1', '--data-dir', dataDir, '--nats-url', natsUrl(), '--cluster', 'corrupt'], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, TENURE_LOG_LEVEL: 'silent' },
  });
  expect(r.status).not.toBe(0);
  expect(r.stdout).not.toContain('ready');
  expect(r.stderr).toMatch(/storage corruption in log entry 3: checksum mismatch/);
}, 30_000);
