import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

// ASVS v5.0.0-7.2.3 / 11.5.1: tokens come from the CSPRNG (crypto.randomBytes) only. Math.random
// is predictable, and a UUID is a format, not an entropy guarantee, so neither may appear in src/.
const SRC = join(import.meta.dirname, '..', '..', 'src');
const BANNED = /\bMath\s*\.\s*random\b|\brandomUUID\b/;

test('no source file uses Math.random or randomUUID (tokens come from crypto.randomBytes)', () => {
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) =>
    f.endsWith('.ts'),
  );
  assert.ok(files.length > 0, 'found no source files to check');
  const offenders: string[] = [];
  for (const file of files) {
    const lines = readFileSync(join(SRC, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (BANNED.test(line))
        offenders.push(`${relative(process.cwd(), join(SRC, file))}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(offenders, [], `weak or non-CSPRNG randomness:\n${offenders.join('\n')}`);
});
