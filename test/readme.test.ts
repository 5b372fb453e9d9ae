import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const ROOT = join(import.meta.dirname, '..');

test('the README library quick start runs as written', async () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Library quick start'));
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, 'no ts block in the quick start');
  // Inside the package, so `import 'coatcheck'` resolves to this checkout (the "source" condition).
  const dir = join(ROOT, 'test', '.tmp');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `quickstart-${process.pid}.ts`);
  writeFileSync(file, code);
  const cwd = mkdtempSync(join(tmpdir(), 'coatcheck-readme-'));
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=source', file], {
      cwd,
    });
    assert.match(stdout, /ada@example\.com is signed in as user/);
    assert.match(stdout, /Firefox 131 on Linux/);
    assert.match(stdout, /^false$/m);
    assert.doesNotMatch(stdout, /ccs_[A-Za-z0-9_-]{10}/, 'the quick start must not print a token');
  } finally {
    rmSync(file, { force: true });
    rmSync(cwd, { recursive: true, force: true });
  }
});
