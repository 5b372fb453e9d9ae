import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { batchedDestination, stdoutSink } from '../../src/server/log-destination.ts';
import { createLogger } from '../../src/server/logger.ts';

describe('batched log destination', () => {
  it('writes the lines of one event-loop turn with one write, in order, by the end of the turn', async () => {
    const writes: string[] = [];
    const logger = createLogger({
      destination: batchedDestination({ write: (s) => writes.push(s) }),
    });
    for (let i = 0; i < 5; i++) logger.info({ i }, 'line');
    assert.equal(writes.length, 0, 'nothing written mid-turn');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(writes.length, 1);
    const lines = (writes[0] ?? '')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).i);
    assert.deepEqual(lines, [0, 1, 2, 3, 4]);
    logger.info({ i: 5 }, 'next turn');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(writes.length, 2);
  });

  it('lines still pending when the process exits (process.exit, an uncaught error) reach stdout', () => {
    const script = `
      import { createLogger } from ${JSON.stringify(new URL('../../src/server/logger.ts', import.meta.url).href)};
      const logger = createLogger();
      logger.info('before exit');
      if (process.argv[1] === 'throw') { logger.fatal('crashing'); throw new Error('boom'); }
      process.exit(3);
    `;
    for (const mode of ['exit', 'throw']) {
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script, mode], {
        encoding: 'utf8',
      });
      assert.match(run.stdout, /"msg":"before exit"/, mode);
      if (mode === 'throw') {
        assert.match(run.stdout, /"msg":"crashing"/);
        assert.equal(run.status, 1);
      } else assert.equal(run.status, 3);
    }
  });

  it('the stdout sink writes each text whole and in order, multi-byte characters included', () => {
    const dir = mkdtempSync(join(tmpdir(), 'coatcheck-sink-'));
    try {
      const file = join(dir, 'out.log');
      const fd = openSync(file, 'w');
      const sink = stdoutSink(fd);
      const texts = ['{"msg":"a"}\n', '{"msg":"é ✓ 𝄞"}\n', `${'x'.repeat(100_000)}\n`];
      for (const text of texts) sink.write(text);
      closeSync(fd);
      assert.equal(readFileSync(file, 'utf8'), texts.join(''));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
