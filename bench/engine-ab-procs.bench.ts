// Engines of several checkouts, each in a process of its own, in turn: a
// learning step's time without the in-process bench's bias (in one process
// the module instances do not run alike: two copies of the same engine
// differed by 3–5 % in bench/engine-ab.bench.ts, bench/RESULTS-footprint.md,
// branch step). Each process calibrates, warms up 300 000 steps, then times
// CHUNKS chunks of CHUNK steps (wall and thread CPU); rounds rotate the order.
// Prints per checkout the median over rounds of each process's best chunk and
// of its median chunk, and the ratio to the first checkout round by round.
//   bun bench/engine-ab-procs.bench.ts [--dims 8] [--rounds 8] [--chunk 100000] [--chunks 10] CHECKOUT...
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { xorshift32 } from "../test/prng.ts";
import { homeostaticRing, syntheticDims } from "./lib/engine-dims.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const n = Number(opt("--dims", "8"));
const CHUNK = Number(opt("--chunk", "100000"));
const CHUNKS = Number(opt("--chunks", "10"));
const ROUNDS = Number(opt("--rounds", "8"));
const roots: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--child") continue;
  if (args[i].startsWith("--")) i++;
  else roots.push(resolve(args[i]));
}
if (roots.length === 0) {
  console.error("usage: bun bench/engine-ab-procs.bench.ts [--dims 8] [--rounds 8] [--chunk 100000] [--chunks 10] CHECKOUT...");
  process.exit(2);
}
for (const r of roots) {
  if (!existsSync(`${r}/src/engine/engine.ts`)) {
    console.error(`engine-ab-procs: ${r}: no src/engine/engine.ts there`);
    process.exit(2);
  }
}
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1];
const load = (): string => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

interface Timing {
  bestNs: number;
  medianNs: number;
  cpuMedianNs: number;
  learned: number;
}

/** One engine, learning: the samples of bench/engine-step.bench.ts. */
async function child(root: string): Promise<Timing> {
  const threadCpuNs = (): number => Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]);
  const E = await import(`${root}/src/engine/engine.ts`);
  const C = await import(`${root}/src/engine/calibrate.ts`);
  const r = xorshift32(0x5eed + n);
  const dims = syntheticDims(n);
  const ring = (size: number): Float64Array[] => homeostaticRing(n, size, r);
  const cfg = E.defaultEngineConfig();
  const state = E.createEngine(C.calibrate(ring(3000).map((x, i) => ({ t: i * 0.1, x })), dims, cfg), cfg);
  const xs = ring(4096);
  const sample = { t: 0, x: xs[0] };
  let t = 300;
  let i = 0;
  let learned = 0;
  const run = (count: number): void => {
    for (let k = 0; k < count; k++) {
      t += 0.01;
      sample.t = t;
      sample.x = xs[i++ & 4095];
      if (E.step(state, sample).learning) learned++;
    }
  };
  run(300_000);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let c = 0; c < CHUNKS; c++) {
    const c0 = threadCpuNs();
    const w0 = Bun.nanoseconds();
    run(CHUNK);
    wall.push((Bun.nanoseconds() - w0) / CHUNK);
    cpu.push((threadCpuNs() - c0) / CHUNK);
  }
  return { bestNs: Math.min(...wall), medianNs: median(wall), cpuMedianNs: median(cpu), learned: learned / i };
}

if (args.includes("--child")) {
  console.log(JSON.stringify(await child(roots[0])));
} else {
  const res = roots.map(() => [] as Timing[]);
  const load0 = load();
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < roots.length; k++) {
      const which = (k + round) % roots.length;
      const p = Bun.spawnSync([process.execPath, import.meta.path, "--child", "--dims", String(n), "--chunk", String(CHUNK), "--chunks", String(CHUNKS), roots[which]]);
      if (p.exitCode !== 0) {
        const why = p.stderr.toString().trim().split("\n").filter((l) => /error/i.test(l))[0] ?? `exit ${p.exitCode}`;
        console.error(`engine-ab-procs: ${roots[which]}: the child failed: ${why}`);
        process.exit(1);
      }
      res[which].push(JSON.parse(p.stdout.toString().trim().split("\n").pop()!));
    }
  }
  console.log(`bun ${Bun.version}; ${n} dims learning; ${ROUNDS} rounds of ${CHUNKS} × ${CHUNK} steps; load ${load0} -> ${load()}`);
  for (let k = 0; k < roots.length; k++) {
    const best = res[k].map((x) => x.bestNs);
    const ratio = best.map((b, i) => b / res[0][i].bestNs);
    console.log(
      `${roots[k]}: best chunk ${median(best).toFixed(0)} ns (${Math.min(...best).toFixed(0)}–${Math.max(...best).toFixed(0)}) = ${(1e3 / median(best)).toFixed(2)} M/s; ` +
        `median chunk ${median(res[k].map((x) => x.medianNs)).toFixed(0)} ns, thread CPU ${median(res[k].map((x) => x.cpuMedianNs)).toFixed(0)} ns; ` +
        `/first ${median(ratio).toFixed(3)} (${Math.min(...ratio).toFixed(2)}–${Math.max(...ratio).toFixed(2)}); learned ${(100 * median(res[k].map((x) => x.learned))).toFixed(1)} %`,
    );
  }
}
