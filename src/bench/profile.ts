/**
 * Summarises a V8 `.cpuprofile` (written by `node --cpu-prof`): the functions with the most
 * self time, and self time by source (our files, each npm package, V8's own work such as GC).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: CpuNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** One line of a profile summary. */
export interface ProfileRow {
  name: string;
  /** Share of all samples, percent. */
  pct: number;
  ms: number;
}

/** A profile's summary. */
export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Self time, excluding `(idle)`, as a share of all samples. */
  busyPct: number;
  topFunctions: ProfileRow[];
  bySource: ProfileRow[];
}

/** Where a frame's code comes from: `src/...` file, npm package, `node:` module, or V8. */
function sourceOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const src = /\/(src\/.*)$/.exec(url);
  if (src) return src[1]!;
  if (url.startsWith('node:')) return url;
  return path.basename(url);
}

/** Summarises the profile at `file`, keeping the `top` largest rows of each list. */
export async function summariseProfile(file: string, top = 15): Promise<ProfileSummary> {
  const prof = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < prof.samples.length; i++) selfUs.set(prof.samples[i]!, (selfUs.get(prof.samples[i]!) ?? 0) + (prof.timeDeltas[i] ?? 0));
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0) || 1;
  const fn = new Map<string, number>();
  const src = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') idleUs += us;
    const s = sourceOf(url, functionName);
    const key = `${functionName || '(anonymous)'} ${s}${url ? `:${lineNumber + 1}` : ''}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    src.set(s, (src.get(s) ?? 0) + us);
  }
  const rows = (m: Map<string, number>) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => ({ name, pct: Math.round((us / totalUs) * 1000) / 10, ms: Math.round(us / 1000) }));
  return { file, totalMs: Math.round(totalUs / 1000), busyPct: Math.round(((totalUs - idleUs) / totalUs) * 1000) / 10, topFunctions: rows(fn), bySource: rows(src) };
}

/**
 * The newest main-thread `.cpuprofile` in `dir`, or null. Node names them
 * CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main thread — the others
 * are helper threads such as tsx's module loader.
 */
export async function newestProfile(dir: string): Promise<string | null> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f)).sort();
  return files.length === 0 ? null : path.join(dir, files[files.length - 1]!);
}
