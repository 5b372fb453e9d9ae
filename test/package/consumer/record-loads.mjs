// Preloaded with --import: records every module URL this process resolves (import and require),
// then prints them as JSON on exit. Uses the synchronous in-thread hooks of Node 24.
import { registerHooks } from 'node:module';

const seen = new Set();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    seen.add(result.url);
    return result;
  },
});
process.once('exit', () => {
  process.stdout.write(`\n${JSON.stringify([...seen])}\n`);
});
