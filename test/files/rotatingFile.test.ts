/** The rotating file on a real file system: bounded size, N kept, every line whole and none lost. */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRotatingFile } from '@handoff/files';

describe('rotating file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'handoff-rotate-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('writing past the size rotates; the newest lines are all there, whole, in order', async () => {
    const file = path.join(dir, 'audit.jsonl');
    const rotating = createRotatingFile(file, { maxBytes: 1000, keep: 3 });
    // 100 lines of 50 bytes, appended without waiting for each other: 5000 bytes through 1000-byte files
    const lines = Array.from(
      { length: 100 },
      (_, i) => `${JSON.stringify({ n: i, pad: 'x'.repeat(30) })}`.padEnd(49) + '\n',
    );
    await Promise.all(lines.map((l) => rotating.append(l)));

    const names = (await readdir(dir)).filter((n) => n.startsWith('audit.jsonl')).sort();
    assert.deepEqual(names, ['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2', 'audit.jsonl.3']);
    const kept: number[] = [];
    for (const name of ['audit.jsonl.3', 'audit.jsonl.2', 'audit.jsonl.1', 'audit.jsonl']) {
      const text = await readFile(path.join(dir, name), 'utf8');
      assert.ok(Buffer.byteLength(text) <= 1000, `${name} is ${Buffer.byteLength(text)} bytes`);
      assert.ok(text.endsWith('\n'));
      for (const line of text.trimEnd().split('\n')) kept.push((JSON.parse(line) as { n: number }).n);
    }
    // 4 files of 20 lines: the last 80 lines, consecutive, nothing lost or cut between them
    assert.deepEqual(
      kept,
      Array.from({ length: 80 }, (_, i) => i + 20),
    );
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  });

  test('a write bigger than the limit goes whole into a file of its own', async () => {
    const file = path.join(dir, 'big.jsonl');
    const rotating = createRotatingFile(file, { maxBytes: 10, keep: 2 });
    await rotating.append('first\n');
    await rotating.append(`${'y'.repeat(50)}\n`);
    assert.equal(await readFile(file, 'utf8'), `${'y'.repeat(50)}\n`);
    assert.equal(await readFile(`${file}.1`, 'utf8'), 'first\n');
  });

  test('an existing file counts towards the limit after a restart', async () => {
    const file = path.join(dir, 'restart.jsonl');
    await createRotatingFile(file, { maxBytes: 20 }).append('0123456789abcdef\n');
    await createRotatingFile(file, { maxBytes: 20 }).append('next\n');
    assert.equal(await readFile(file, 'utf8'), 'next\n');
    assert.equal(await readFile(`${file}.1`, 'utf8'), '0123456789abcdef\n');
  });
});
