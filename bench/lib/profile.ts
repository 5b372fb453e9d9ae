/**
 * Reads a V8 .cpuprofile (from `node --cpu-prof`) and summarises where the time went: self time
 * per function and per file/package, and inclusive time of chosen functions. Used by
 * `npm run bench:http -- --profile` to find what a Coatcheck server spends its requests on.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** One line of a summary: a name and its share of all samples. */
export interface ProfileLine {
  readonly name: string;
  readonly percent: number;
}

/** Self time by function and by file, and inclusive time by function. */
export interface ProfileSummary {
  readonly file: string;
  readonly byFunction: readonly ProfileLine[];
  readonly byFile: readonly ProfileLine[];
  readonly inclusive: readonly ProfileLine[];
}

/** The newest .cpuprofile in `dir`. */
export function newestProfile(dir: string): string {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const newest = files.sort().at(-1);
  if (newest === undefined) throw new Error(`no .cpuprofile in ${dir}`);
  return join(dir, newest);
}

/** Summarises a profile; `top` lines per table. */
export function summariseProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const hits = new Map<number, number>();
  for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  const total = profile.samples.length || 1;

  const self = new Map<string, number>();
  const files = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, count] of hits) {
    const node = nodes.get(id);
    if (!node) continue;
    const fn = label(node);
    self.set(fn, (self.get(fn) ?? 0) + count);
    const f = fileOf(node.callFrame.url);
    files.set(f, (files.get(f) ?? 0) + count);
    // Inclusive: every distinct function on the stack gets the sample once.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = nodes.get(cur);
      if (!n) break;
      const name = label(n);
      if (!seen.has(name)) {
        seen.add(name);
        inclusive.set(name, (inclusive.get(name) ?? 0) + count);
      }
    }
  }
  const lines = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, n]) => ({ name, percent: Math.round((n / total) * 1000) / 10 }));
  return { file, byFunction: lines(self), byFile: lines(files), inclusive: lines(inclusive) };
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  return `${functionName || '(anonymous)'} ${fileOf(url)}:${lineNumber + 1}`;
}

function fileOf(url: string): string {
  if (url === '') return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, '');
}
