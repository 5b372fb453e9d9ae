import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

// Users may compile with `exactOptionalPropertyTypes`, which this repo's tsconfig leaves off: there
// an optional `maxAgeSeconds?: number` refuses `issued.cookieMaxAge` (`number | undefined`), and
// the README quick start would not compile, nor would passing Express's `req.ip` (`string |
// undefined`) as the client. This compiles such a caller with the flag on.
const CALLER = `
import { serializeCookie } from '../../src/core/cookie.ts';
import type { IssuedSession, SessionEngine } from '../../src/core/engine.ts';

declare const issued: IssuedSession;
declare const engine: SessionEngine;
declare const req: { ip: string | undefined; get(name: string): string | undefined };
declare const form: { remember?: boolean };
declare const config: { secure?: boolean; sameSite?: 'lax' | 'strict'; domain?: string };
serializeCookie('coatcheck', issued.token, { maxAgeSeconds: issued.cookieMaxAge });
serializeCookie('coatcheck', issued.token, { secure: config.secure, sameSite: config.sameSite });
serializeCookie('coatcheck', issued.token, { domain: config.domain, path: undefined });
const client = { ip: req.ip, userAgent: req.get('user-agent') };
engine.create({ id: 'u', email: 'a@example.com', name: null, roles: [], locked: false }, {
  ...client,
  remember: form.remember,
});
engine.validate(issued.token, client);
`;

test('cookie and client options take framework values as they are under exactOptionalPropertyTypes', () => {
  const file = join(import.meta.dirname, 'exact-optional-caller.ts');
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    exactOptionalPropertyTypes: true,
    allowImportingTsExtensions: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, language, ...rest) =>
    name === file
      ? ts.createSourceFile(name, CALLER, language)
      : getSourceFile.call(host, name, language, ...rest);
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? CALLER : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  const errors = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === file)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  assert.deepEqual(errors, []);
});
