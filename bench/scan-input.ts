// The danger watch's scan input alone, by process CPU at the tick: one pass
// of the probes' cgroup iterator over the memory hierarchy, or one read set of
// every cgroup's usage file, or the timer only (to subtract). Run the three at
// once, side by side (bench/RESULTS-footprint.md, fifth pass):
//
//   for m in none iter files; do bun bench/scan-input.ts $m 100 60 & done; wait
//
// MODE PERIOD_MS SECONDS; UNDER=/path lists only that subtree for the files,
// ITER_ROOT=/sys/fs/cgroup/memory/path attaches the iterator there.
import { createFileSet, NUMBER_FILE_CAP } from "../src/kernel/file-set.ts";
import { detectCgroupLayout, listCgroups } from "../src/kernel/cgroups.ts";
import { openProbes } from "../src/sense/bpf-probes.ts";

const [mode, periodArg, secondsArg] = process.argv.slice(2);
if (!mode || !["none", "iter", "files"].includes(mode)) throw new Error("usage: bun bench/scan-input.ts none|iter|files PERIOD_MS SECONDS");
const period = Number(periodArg ?? 100);
const seconds = Number(secondsArg ?? 60);
const layout = detectCgroupLayout("/sys/fs/cgroup");
const hierarchy = layout.version === "v2" ? "v2" : "memory-v1";
const probes = mode === "iter" ? openProbes({ cgroupHierarchy: hierarchy, memoryRoot: process.env.ITER_ROOT ?? layout.attributionRoot }) : null;
const usageFile = layout.version === "v2" ? "memory.current" : "memory.usage_in_bytes";
const files = listCgroups(layout, { maxCount: 4096, under: process.env.UNDER ?? "" }).map((c) => `${c.slice(1)}/${usageFile}`);
const set = mode === "files" ? createFileSet(layout.attributionRoot, files, NUMBER_FILE_CAP) : null;
const ids = new Float64Array(8192);
const bytes = new Float64Array(8192);
let pass = 0;
const tick = (): void => {
  if (probes) pass = probes.cgroupMemoryUsage(ids, bytes);
  else set?.read();
};
for (let i = 0; i < 50; i++) tick();
const c0 = process.cpuUsage();
const t0 = performance.now();
let ticks = 0;
await new Promise<void>((done) => {
  const h = setInterval(() => {
    tick();
    ticks++;
    if (performance.now() - t0 >= seconds * 1000) {
      clearInterval(h);
      done();
    }
  }, period);
});
const c = process.cpuUsage(c0);
const wallS = (performance.now() - t0) / 1000;
const what = mode === "iter" ? `a pass of ${pass} cgroups` : mode === "files" ? `${files.length} usage files` : "the timer only";
console.log(`${mode} @${period} ms, ${what}: ${((c.user + c.system) / ticks).toFixed(1)} µs of CPU per tick (system ${(c.system / ticks).toFixed(1)}), ${(((c.user + c.system) / 1e6 / wallS) * 100).toFixed(3)} % of a core`);
probes?.close();
set?.close();
