// Two builds of `hosa replay` in turn on one recording (A B, B A, …, after
// one discarded pair): CPU time (user + system of the finished process),
// wall time and peak RSS, and the md5 of what each printed (the decisions
// must not change).
//   bun bench/replay-ab.bench.ts BEFORE_EXE AFTER_EXE RECORDING [--runs 5] [-- extra replay flags]
// RECORDING: e.g. bench/out/replay-1000000.rec, made by bench/replay.bench.ts.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const args = dash >= 0 ? argv.slice(0, dash) : argv;
const extra = dash >= 0 ? argv.slice(dash + 1) : [];
const [before, after, file] = args;
if (!before || !after || !file) {
  console.error("usage: bun bench/replay-ab.bench.ts BEFORE_EXE AFTER_EXE RECORDING [--runs 5] [-- extra replay flags]");
  process.exit(2);
}
const ri = args.indexOf("--runs");
const runs = ri >= 0 ? Number(args[ri + 1]) : 5;
const exes = [before, after];
const res = exes.map(() => ({ cpu: [] as number[], wall: [] as number[], rss: [] as number[], md5: new Set<string>() }));
const load = (): string => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
console.log(`replay ${file} ${extra.join(" ")}; load at start ${load()}`);
for (let i = 0; i <= runs; i++) {
  for (const k of i % 2 ? [1, 0] : [0, 1]) {
    const t0 = Bun.nanoseconds();
    const r = Bun.spawnSync([exes[k], "replay", file, "--calibrate", "300s", ...extra], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
    const wall = (Bun.nanoseconds() - t0) / 1e9;
    if (r.exitCode !== 0) throw new Error(`${exes[k]}: ${r.stderr.toString()}`);
    if (i === 0) continue;
    const u = r.resourceUsage;
    if (!u) throw new Error("no resource usage from the finished process");
    res[k].cpu.push(Number(u.cpuTime.user + u.cpuTime.system) / 1e6);
    res[k].wall.push(wall);
    res[k].rss.push(u.maxRSS / 2 ** 20);
    res[k].md5.add(createHash("md5").update(r.stdout).digest("hex"));
  }
}
const median = (x: number[]): number => [...x].sort((p, q) => p - q)[x.length >> 1];
const span = (x: number[]): string => `${median(x).toFixed(2)} (${Math.min(...x).toFixed(2)}–${Math.max(...x).toFixed(2)})`;
exes.forEach((exe, k) => {
  const r = res[k];
  console.log(`${k ? "after " : "before"} ${exe}: CPU s ${span(r.cpu)}, wall s ${span(r.wall)}, peak RSS ${median(r.rss).toFixed(0)} MiB, md5 ${[...r.md5].join(" ")}`);
});
const pairs = res[1].cpu.map((c, i) => c / res[0].cpu[i]);
const wallPairs = res[1].wall.map((w, i) => w / res[0].wall[i]);
console.log(`after/before pair by pair: CPU ${span(pairs)}, wall ${span(wallPairs)}; load at end ${load()}`);
