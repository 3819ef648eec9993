// What dominates the CPU profiles (--cpu-prof) the children wrote: self time
// by function, per role directory under BENCH_PROFILE_DIR.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  startTime: number;
  endTime: number;
}

// "function file:line" (or what `name` makes of a node) → share of the samples, the largest `top` of them.
export function selfTimes(profile: CpuProfile, top: number, name: (node: ProfileNode) => string = frameName): { frame: string; share: number }[] {
  const frames = new Map(profile.nodes.map((n) => [n.id, name(n)]));
  const counts = new Map<string, number>();
  for (const id of profile.samples) {
    const frame = frames.get(id) ?? '?';
    counts.set(frame, (counts.get(frame) ?? 0) + 1);
  }
  return [...counts]
    .map(([frame, count]) => ({ frame, share: count / Math.max(1, profile.samples.length) }))
    .sort((a, b) => b.share - a.share)
    .slice(0, top);
}

function fileName(url: string): string {
  return url ? relative(process.cwd(), url.replace(/^file:\/\//, '')) : '';
}

function frameName({ callFrame: { functionName, url, lineNumber } }: ProfileNode): string {
  const file = fileName(url);
  return `${functionName || '(anonymous)'}${file ? ` ${file}:${lineNumber + 1}` : ''}`;
}

// Self time by source file (node_modules by package), or by V8's own category.
function fileOf({ callFrame: { functionName, url } }: ProfileNode): string {
  const file = fileName(url);
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  return dependency ? `${dependency[1]} (dependency)` : file || (functionName.startsWith('(') ? functionName : `${functionName} (native)`);
}

// One block of lines per profile found under `dir`.
export function profileReport(dir: string, top = 12): string[] {
  const lines: string[] = [];
  for (const role of readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory())) {
    for (const file of readdirSync(join(dir, role.name)).filter((f) => f.endsWith('.cpuprofile'))) {
      const path = join(dir, role.name, file);
      const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
      const seconds = (profile.endTime - profile.startTime) / 1e6;
      lines.push(`${role.name} (${file}, ${seconds.toFixed(1)} s, ${profile.samples.length} samples): self time`);
      for (const { frame, share } of selfTimes(profile, top)) lines.push(`  ${(share * 100).toFixed(1).padStart(5)}%  ${frame}`);
      lines.push('  by file:');
      for (const { frame, share } of selfTimes(profile, top, fileOf)) lines.push(`  ${(share * 100).toFixed(1).padStart(5)}%  ${frame}`);
    }
  }
  return lines;
}
