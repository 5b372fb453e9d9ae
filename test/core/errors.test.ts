import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  ERROR_CODES,
  InvalidInputError,
  NotFoundError,
  ThrottledError,
} from '../../src/core/errors.ts';
import { PROBLEM_STATUS, toProblem } from '../../src/core/problem.ts';

describe('error codes', () => {
  it('documents exactly the codes the code defines, with the same statuses', () => {
    const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|/gm)].map((m) => [
      m[1],
      Number(m[2]),
    ]);
    assert.deepEqual(rows.map(([code]) => code).sort(), [...ERROR_CODES].sort());
    for (const [code, status] of rows) {
      assert.equal(
        PROBLEM_STATUS[code as keyof typeof PROBLEM_STATUS].status,
        status,
        String(code),
      );
    }
  });

  it('maps errors to RFC 9457 problem details with the stable code', () => {
    const problem = toProblem(
      new InvalidInputError([{ field: 'email', message: 'must be a string' }]),
    );
    assert.equal(problem.status, 400);
    assert.equal(problem.code, 'invalid_input');
    assert.deepEqual(problem.errors, [{ field: 'email', message: 'must be a string' }]);
    assert.equal(toProblem(new ThrottledError(2.2)).retryAfter, 3);
    assert.equal(toProblem(new NotFoundError()).status, 404);
  });

  it('reveals nothing of an unexpected error', () => {
    const problem = toProblem(new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2'));
    assert.equal(problem.status, 500);
    assert.equal(problem.code, 'internal_error');
    assert.ok(!JSON.stringify(problem).includes('hunter2'));
  });
});
