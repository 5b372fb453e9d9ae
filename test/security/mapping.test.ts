import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

// docs/security.md maps every row of the security checklist to the tests that prove it. This test
// keeps that map from rotting: every named test file exists, every named test title is written
// verbatim (as a quoted string literal) in that file, every row has a status, and every row that
// claims a proof names at least one test.

const ROOT = join(import.meta.dirname, '..', '..');
const DOC = join(ROOT, 'docs', 'security.md');
/** The checklist (SECURITY-CHECKLIST.md, ASVS 5.0 edition) has this many rows; each is mapped. */
const CHECKLIST_ROWS = 77;
/**
 * Rows mapped beyond the checklist: ASVS 13.4.5 (monitoring endpoints), with the metrics token;
 * ASVS 15.3.1 (only the fields a caller needs), with the `auth.user` allowlist; ASVS 6.2.11
 * (context-specific words in passwords), with that check.
 */
const ADDED_ROWS = 3;
const HEADER = /^\|\s*ID\s*\|\s*requirement \(short\)\s*\|\s*test\(s\)\s*\|\s*status\s*\|$/;
const STATUS = /^(✅|◐|✗|n\/a)([\s:]|$)/;
const TEST_FILE = /^(test|e2e)\/[\w./-]+\.ts$/;

/** The cells of a Markdown table row; a `|` inside a code span does not split. */
function cells(row: string): string[] {
  const out: string[] = [];
  let cell = '';
  let code = false;
  for (const ch of row.trim().replace(/^\|/, '').replace(/\|$/, '')) {
    if (ch === '`') code = !code;
    if (ch === '|' && !code) {
      out.push(cell.trim());
      cell = '';
    } else cell += ch;
  }
  out.push(cell.trim());
  return out;
}

interface Row {
  readonly line: number;
  readonly id: string;
  readonly tests: string;
  readonly status: string;
}

/** Every data row of every mapping table (tables whose header is ID | requirement | test(s) | status). */
function mappingRows(markdown: string): Row[] {
  const lines = markdown.split('\n');
  const rows: Row[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!HEADER.test(lines[i]?.trim() ?? '')) continue;
    for (let j = i + 2; j < lines.length && lines[j]?.trim().startsWith('|'); j++) {
      const [id = '', , tests = '', status = '', ...rest] = cells(lines[j] ?? '');
      assert.deepEqual(rest, [], `docs/security.md:${j + 1}: a row has four cells`);
      rows.push({ line: j + 1, id, tests, status });
    }
  }
  return rows;
}

/** The (file, title) pairs of a test(s) cell: a code span naming a file, then its titles. */
function mappedTests(row: Row): { file: string; title: string }[] {
  const pairs: { file: string; title: string }[] = [];
  let file: string | null = null;
  for (const [, span = ''] of row.tests.matchAll(/`([^`]+)`/g)) {
    if (TEST_FILE.test(span)) {
      file = span;
      continue;
    }
    assert.ok(file, `docs/security.md:${row.line}: title ${JSON.stringify(span)} names no file`);
    pairs.push({ file, title: span });
  }
  return pairs;
}

const markdown = readFileSync(DOC, 'utf8');
const rows = mappingRows(markdown);

test('docs/security.md maps every checklist row, each with a status, and its totals add up', () => {
  assert.equal(rows.length, CHECKLIST_ROWS + ADDED_ROWS, 'one table row per checklist row');
  const counts: Record<string, number> = { '✅': 0, '◐': 0, '✗': 0, 'n/a': 0 };
  for (const row of rows) {
    const status = STATUS.exec(row.status)?.[1];
    assert.ok(status, `docs/security.md:${row.line} (${row.id}): status`);
    counts[status] = (counts[status] ?? 0) + 1;
    assert.notEqual(row.id, '', `docs/security.md:${row.line}: ID`);
  }
  const totals = /\*\*Totals:\*\* ✅ (\d+) · ◐ (\d+) · ✗ (\d+) · n\/a (\d+)\./.exec(markdown);
  assert.ok(totals, 'the Totals line');
  assert.deepEqual(totals.slice(1).map(Number), [
    counts['✅'],
    counts['◐'],
    counts['✗'],
    counts['n/a'],
  ]);
});

test('every row marked proved or partly proved names at least one test', () => {
  for (const row of rows) {
    if (!/^(✅|◐)/.test(row.status)) continue;
    assert.ok(
      mappedTests(row).length > 0,
      `docs/security.md:${row.line} (${row.id}) names no test`,
    );
  }
});

test('every mapped test exists verbatim in the file it is mapped to', () => {
  const sources = new Map<string, string>();
  let checked = 0;
  for (const row of rows) {
    for (const { file, title } of mappedTests(row)) {
      const path = join(ROOT, file);
      assert.ok(existsSync(path), `docs/security.md:${row.line}: ${file} does not exist`);
      let source = sources.get(file);
      if (source === undefined) {
        source = readFileSync(path, 'utf8');
        sources.set(file, source);
      }
      const quoted = ["'", '"', '`'].some((q) => source.includes(`${q}${title}${q}`));
      assert.ok(quoted, `docs/security.md:${row.line} (${row.id}): no test "${title}" in ${file}`);
      checked++;
    }
  }
  assert.ok(checked >= CHECKLIST_ROWS, `only ${checked} mapped tests`);
});
