#!/usr/bin/env node
// The `coatcheck` command. Plain JavaScript so that any Node can at least say what is wrong.
// In a checkout it runs the TypeScript in src/ directly (Node 24 strips the types); installed
// under node_modules, where Node refuses to strip types, it runs the build in dist/
// (`npm run build`). `npm start` and `npx coatcheck` in the repo run it on the pinned Node 24,
// because npm puts node_modules/.bin (where the `node` devDependency lives) first on PATH.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `coatcheck: needs Node.js 24 or later, this is ${process.version}. ` +
      'In the repository, run it through npm (npm start, npx coatcheck), which uses the pinned Node 24.\n',
  );
  process.exit(1);
}

const installed = fileURLToPath(import.meta.url)
  .split(/[\\/]/)
  .includes('node_modules');
const entry = new URL(installed ? '../dist/cli/main.js' : '../src/cli/main.ts', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(`coatcheck: ${fileURLToPath(entry)} is missing; run npm run build first.\n`);
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
