// The plain reference hosa is measured against (issue 11): every 10 ms, each
// cgroup under a v1 memory directory; growth > 20 MB/s held for 0.5 s →
// memory.limit_in_bytes = usage + 64 MiB. Prints "contained <name> <unix ms>";
// on SIGTERM puts back every limit it wrote.
//   bun bench/systems/rate-watcher.ts <memory cgroup dir>
import { readdirSync, readFileSync, writeFileSync } from "node:fs";

const root = process.argv[2];
const num = (p: string) => Number(readFileSync(p, "utf8").trim());
const first = new Map<string, { u: number; t: number; since: number }>();
const wrote = new Map<string, string>();
let running = true;
process.on("SIGTERM", () => (running = false));
while (running) {
  const t = performance.now();
  for (const e of readdirSync(root, { withFileTypes: true })) {
    if (!e.isDirectory() || wrote.has(e.name)) continue;
    const dir = `${root}/${e.name}`;
    try {
      const u = num(`${dir}/memory.usage_in_bytes`);
      // The rate over the last 100 ms: a 10 ms step may land between two of the workload's writes.
      const p = first.get(e.name);
      if (!p) first.set(e.name, { u, t, since: Number.NaN });
      if (!p || t - p.t < 100) continue;
      const fast = (u - p.u) / ((t - p.t) / 1000) > 20e6;
      const since = fast ? (Number.isNaN(p.since) ? p.t : p.since) : Number.NaN;
      first.set(e.name, { u, t, since });
      if (fast && t - since >= 500) {
        wrote.set(e.name, readFileSync(`${dir}/memory.limit_in_bytes`, "utf8").trim());
        writeFileSync(`${dir}/memory.limit_in_bytes`, String(u + 64 * 2 ** 20));
        console.log(`contained ${e.name} ${Date.now()}`);
      }
    } catch {}
  }
  await Bun.sleep(Math.max(0, 10 - (performance.now() - t)));
}
for (const [name, v] of wrote) writeFileSync(`${root}/${name}/memory.limit_in_bytes`, v);
