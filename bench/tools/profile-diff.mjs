// Where the extra time goes between two servers: self time per request of every function in two
// V8 CPU profiles (pinned-load.sh --profile), B minus A, largest differences first.
//
// usage: node bench/tools/profile-diff.mjs a.cpuprofile <requests A> b.cpuprofile <requests B> [rows]
import { readFileSync } from 'node:fs';

/** Self µs per request by "function file:line" (idle time left out). */
function perRequest(file, requests) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const selfTime = new Map();
  profile.samples.forEach((id, i) => {
    selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const byFunction = new Map();
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    const where = url
      .replace(/.*node_modules\//, '')
      .replace(/^file:\/\/.*?\/(src|bench)\//, '$1/');
    const key = `${functionName || '(anonymous)'} ${where || '(native)'}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + (selfTime.get(node.id) ?? 0) / requests);
  }
  return byFunction;
}

const [fileA, requestsA, fileB, requestsB, rows = '40'] = process.argv.slice(2);
const a = perRequest(fileA, Number(requestsA));
const b = perRequest(fileB, Number(requestsB));
const total = (m) => [...m.values()].reduce((x, y) => x + y, 0);
console.log(`busy µs per request: A ${total(a).toFixed(2)}, B ${total(b).toFixed(2)}`);
console.log('   B−A       A       B  function');
const keys = [...new Set([...a.keys(), ...b.keys()])];
keys.sort(
  (x, y) =>
    Math.abs((b.get(y) ?? 0) - (a.get(y) ?? 0)) - Math.abs((b.get(x) ?? 0) - (a.get(x) ?? 0)),
);
for (const key of keys.slice(0, Number(rows))) {
  const [x, y] = [a.get(key) ?? 0, b.get(key) ?? 0];
  console.log(
    `${(y - x).toFixed(3).padStart(7)} ${x.toFixed(3).padStart(7)} ${y.toFixed(3).padStart(7)}  ${key}`,
  );
}
