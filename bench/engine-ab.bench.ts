// Two engines side by side in one process: the engine of another checkout
// (BEFORE, e.g. a `git archive` of an older commit) and this one, on the
// same samples, alternating chunks, timed by the main thread's CPU time
// (/proc/thread-self/schedstat), so a loaded machine disturbs both alike.
//   bun bench/engine-ab.bench.ts BEFORE [--dims 8,32] [--chunk 100000] [--rounds 8]
// Each engine is its own module instance (its own JIT code). Prints, per
// size and mode, the median and best ns per step of each and the median of
// the after/before ratios of paired chunks.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { xorshift32 } from "../test/prng.ts";
import { homeostaticRing, syntheticDims } from "./lib/engine-dims.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
if (!args[0] || args[0].startsWith("--")) {
  console.error("usage: bun bench/engine-ab.bench.ts BEFORE_CHECKOUT [--dims 8,32] [--chunk 100000] [--rounds 8]");
  process.exit(2);
}
const roots = [resolve(args[0]), resolve(import.meta.dir, "..")];
const SIZES = opt("--dims", "8,32").split(",").map(Number);
const CHUNK = Number(opt("--chunk", "100000"));
const ROUNDS = Number(opt("--rounds", "8"));

const mods = await Promise.all(
  roots.map(async (r) => ({ e: await import(`${r}/src/engine/engine.ts`), c: await import(`${r}/src/engine/calibrate.ts`) })),
);
const threadCpuNs = (): number => Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]);

/** xorshift32 (test/prng.ts): the same samples every run. */
const prng = xorshift32;
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1];

console.log(`bun ${Bun.version}; before ${roots[0]}, after ${roots[1]}; load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
for (const n of SIZES) {
  for (const anomaly of [false, true]) {
    const dims = syntheticDims(n);
    const ring = (size: number, r: () => number): Float64Array[] => homeostaticRing(n, size, r);
    const engines = mods.map((m) => {
      const r = prng(0x5eed + n);
      const cfg = m.e.defaultEngineConfig();
      const b = m.c.calibrate(
        ring(3000, r).map((x, i) => ({ t: i * 0.1, x })),
        dims,
        cfg,
      );
      const xs = ring(4096, r);
      if (anomaly) for (const x of xs) x[2] += 1000;
      return { state: m.e.createEngine(b, cfg), step: m.e.step, xs, t: 300, learned: 0 };
    });
    const run = (k: number, count: number): void => {
      const o = engines[k];
      const sample = { t: 0, x: o.xs[0] };
      for (let i = 0; i < count; i++) {
        o.t += 0.01;
        sample.t = o.t;
        sample.x = o.xs[i & 4095];
        if (o.step(o.state, sample).learning) o.learned++;
      }
    };
    for (let k = 0; k < 2; k++) run(k, 300_000); // warm-up: both compiled before timing
    const ns: number[][] = [[], []];
    for (let r = 0; r < ROUNDS; r++) {
      for (const k of r % 2 ? [1, 0] : [0, 1]) {
        const c0 = threadCpuNs();
        run(k, CHUNK);
        ns[k].push((threadCpuNs() - c0) / CHUNK);
      }
    }
    const ratio = median(ns[0].map((b, i) => ns[1][i] / b));
    const show = (a: number[]): string => `${median(a).toFixed(0)} ns = ${(1e3 / median(a)).toFixed(2)} M/s (best ${(1e3 / Math.min(...a)).toFixed(2)} M/s)`;
    console.log(
      `${String(n).padStart(2)} dims ${anomaly ? "judging " : "learning"}: before ${show(ns[0])}; after ${show(ns[1])}; after/before ${ratio.toFixed(2)}` +
        `; learned ${engines.map((o) => o.learned).join(" / ")}`,
    );
  }
}
