// Does JavaScriptCore's WebAssembly run the learning step's kernels faster
// than its optimising JIT runs the engine's JavaScript? bench/wasm/kernels.c
// is the pass over the dimensions (DimSurprise.pass with the forward
// substitution) and the learning (Welford.defer, then every refactorEvery
// samples the flush, the covariance and Mahalanobis.factor) in the
// JavaScript's order of operations; this builds it with clang and wasm-ld
// (Debian's lld-14) into a temporary directory, runs both on the same
// calibrated baseline and samples, checks every output to the bit, then
// times them in alternating chunks in one process (a loaded machine
// disturbs both alike): per sample, the JavaScript's pass and learning
// against one wasm call each (the sample copied into the module's memory).
// The samples come from a ring of --ring arrays: 1024 stay in the caches
// (the kernels' own speed); the engine benches' 4096 do not on a busy
// machine, and then the copy into the module's memory waits for each
// sample where the JavaScript's pass overlaps the wait with its work.
//   bun bench/wasm-kernels.bench.ts [--dims 8,32] [--rounds 10] [--chunk 200000] [--ring 1024]
// Measured, not used: the engine stays JavaScript (bench/RESULTS-footprint.md, branch wasm).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { calibrate } from "../src/engine/calibrate.ts";
import { defaultEngineConfig } from "../src/engine/engine.ts";
import { AlphaMemo } from "../src/engine/ewma.ts";
import { Mahalanobis, mahalanobisOptions } from "../src/engine/mahalanobis.ts";
import { DimSurprise } from "../src/engine/surprise.ts";
import { Welford } from "../src/engine/welford.ts";
import { xorshift32 } from "../test/prng.ts";
import { homeostaticRing, syntheticDims } from "./lib/engine-dims.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const SIZES = opt("--dims", "8,32").split(",").map(Number);
const ROUNDS = Number(opt("--rounds", "10"));
const CHUNK = Number(opt("--chunk", "200000"));
const RING = Number(opt("--ring", "1024"));

function buildWasm(): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "hosa-wasm-"));
  try {
    const src = join(import.meta.dir, "wasm", "kernels.c");
    const cc = Bun.spawnSync(["clang", "--target=wasm32", "-O2", "-ffp-contract=off", "-fno-fast-math", "-nostdlib", "-Wall", "-c", src, "-o", join(dir, "k.o")]);
    if (cc.exitCode !== 0) throw new Error(`clang: ${cc.stderr.toString().trim()}`);
    const exports = ["hosa_bind", "hosa_set_weight", "hosa_pass", "hosa_learn", "hosa_chol", "hosa_inv_diag", "__heap_base"].map((e) => `--export=${e}`);
    const ld = ["wasm-ld", "wasm-ld-14"].find((l) => Bun.which(l));
    if (!ld) throw new Error("no wasm-ld on PATH (Debian: lld-14)");
    const link = Bun.spawnSync([ld, "--no-entry", "--import-memory", ...exports, "-o", join(dir, "k.wasm"), join(dir, "k.o")]);
    if (link.exitCode !== 0) throw new Error(`${ld}: ${link.stderr.toString().trim()}`);
    return readFileSync(join(dir, "k.wasm"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Kernels {
  hosa_bind(n: number, buf: number, flags: number): void;
  hosa_set_weight(w: number): void;
  hosa_pass(smooth: number, median: number, a: number): void;
  hosa_learn(every: number, keep: number, floorRel: number, floorAbs: number): number;
  hosa_chol(): number;
  hosa_inv_diag(): number;
  /** Where the module's own data and stack end: the caller's state goes after. */
  __heap_base: WebAssembly.Global;
}

let wasmBytes: Uint8Array;
try {
  wasmBytes = buildWasm();
} catch (err) {
  console.error(`wasm-kernels: cannot build bench/wasm/kernels.c: ${(err as Error).message}`);
  process.exit(2);
}
const module = new WebAssembly.Module(wasmBytes);

const same = (a: ArrayLike<number>, b: ArrayLike<number>, len: number): boolean => {
  for (let i = 0; i < len; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
};

function bench(n: number): void {
  const r = xorshift32(0x5eed + n);
  const ring = (size: number): Float64Array[] => homeostaticRing(n, size, r);
  const dims = syntheticDims(n);
  const cfg = defaultEngineConfig();
  const base = calibrate(ring(3000).map((x, i) => ({ t: i * 0.1, x })), dims, cfg);
  const xs = ring(RING);
  const every = Math.max(8, n);
  const opts = mahalanobisOptions(cfg, dims);
  const keep = 1 - opts.shrinkage;

  // The JavaScript, as the engine builds it.
  const welford = Welford.fromCovariance(base.mean, base.covariance, base.count, Math.min(every, 64));
  const maha = new Mahalanobis(n, opts);
  const covariance = Float64Array.from(base.covariance);
  maha.factor(welford.mean, covariance);
  const memo = new AlphaMemo(cfg.ewmaTauS, cfg.ewmaMinSamples);
  const dz = new DimSurprise(n, cfg.ewmaTauS, cfg.ewmaMinSamples, true, memo);
  const signs = Float64Array.from(dims, (d) => d.loadSign);
  const flags = Uint8Array.from(dims, (d) => (d.propagation ? 1 : 0));
  let learned = 0;
  let tJs = 300;
  const stepJs = (x: Float64Array): void => {
    tJs += 0.01;
    dz.pass(tJs, x, maha.mean, maha.delta, maha.invStd, signs, flags, true, maha.chol, maha.invDiag, maha.work);
    welford.defer(x, 1);
    if (++learned >= every) {
      learned = 0;
      maha.factor(welford.mean, welford.covarianceInto(covariance));
    }
  };

  // The module: one memory, the state at fixed offsets, copied from the same start.
  const doubles = 16 * n + 5 * n * n + 128 * n + 16;
  const memory = new WebAssembly.Memory({ initial: 2 });
  const k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Kernels;
  const bufAt = (Number(k.__heap_base.value) + 7) & ~7;
  memory.grow(Math.ceil((bufAt + doubles * 8 + n) / 65536));
  const flagsAt = bufAt + doubles * 8;
  const at = (off: number, len: number): Float64Array => new Float64Array(memory.buffer, bufAt + off * 8, len);
  let off = 0;
  const take = (len: number): Float64Array => {
    const v = at(off, len);
    off += len;
    return v;
  };
  const wx = take(n), wmeanD = take(n), wdelta = take(n), winvStd = take(n), wsigns = take(n), _p1 = take(n), _p2 = take(n), wzs = take(n);
  const wchol = take(n * n), winvDiag = take(n), _u = take(n), wout = take(8);
  const wwmean = take(n), wm2 = take(n * n);
  take(64 * n);
  take(64 * n);
  take(n * n);
  take(n);
  const wdimRel = take(n), wdimAbs = take(n);
  new Uint8Array(memory.buffer, flagsAt, n).set(flags);
  k.hosa_bind(n, bufAt, flagsAt);
  wmeanD.set(maha.mean);
  winvStd.set(maha.invStd);
  wsigns.set(signs);
  wchol.set(maha.chol);
  winvDiag.set(maha.invDiag);
  wwmean.set(welford.mean);
  wm2.set(welford.m2);
  wdimRel.set(opts.dimFloorRel ?? new Float64Array(n));
  wdimAbs.set(opts.dimFloorAbs ?? new Float64Array(n));
  k.hosa_set_weight(welford.weight);
  let tW = 300;
  let lastW = NaN;
  const stepWasm = (x: Float64Array): void => {
    tW += 0.01;
    for (let j = 0; j < n; j++) wx[j] = x[j];
    // α as the pass's memo gives it (the same Δt: the same α).
    const a = lastW === lastW ? memo.alpha(tW - lastW) : 0;
    k.hosa_pass(lastW === lastW ? 1 : 0, 1, a);
    lastW = tW;
    k.hosa_learn(every, keep, opts.stdFloorRel, opts.stdFloorAbs);
  };

  // Same bits first: a few thousand samples through both, every output compared.
  let diffs = 0;
  for (let i = 0; i < 5000; i++) {
    const x = xs[i % RING];
    stepJs(x);
    stepWasm(x);
    const cholNow = new Float64Array(memory.buffer, k.hosa_chol(), n * n);
    const invNow = new Float64Array(memory.buffer, k.hosa_inv_diag(), n);
    if (!same(maha.delta, wdelta, n) || !same(dz.smoothed, wzs, n) || !Object.is(dz.d2, wout[2]) || !Object.is(dz.phiSum, wout[0]) || !Object.is(dz.value, wout[3])) diffs++;
    if (!same(maha.chol, cholNow, n * n) || !same(maha.invDiag, invNow, n) || !same(maha.invStd, winvStd, n) || !same(welford.mean, wwmean, n)) diffs++;
  }

  // Each kernel alone too: the pass (its state moves on, the factor stays) and the learning.
  const passJs = (x: Float64Array): void => {
    tJs += 0.01;
    dz.pass(tJs, x, maha.mean, maha.delta, maha.invStd, signs, flags, true, maha.chol, maha.invDiag, maha.work);
  };
  const learnJs = (x: Float64Array): void => {
    welford.defer(x, 1);
    if (++learned >= every) {
      learned = 0;
      maha.factor(welford.mean, welford.covarianceInto(covariance));
    }
  };
  const passWasm = (x: Float64Array): void => {
    tW += 0.01;
    for (let j = 0; j < n; j++) wx[j] = x[j];
    k.hosa_pass(1, 1, memo.alpha(tW - lastW));
    lastW = tW;
  };
  const learnWasm = (x: Float64Array): void => {
    for (let j = 0; j < n; j++) wx[j] = x[j];
    k.hosa_learn(every, keep, opts.stdFloorRel, opts.stdFloorAbs);
  };
  const run = (f: (x: Float64Array) => void, count: number): number => {
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < count; i++) f(xs[i % RING]);
    return (Bun.nanoseconds() - t0) / count;
  };
  const med = (a: number[]): number => [...a].sort((p, q) => p - q)[a.length >> 1];
  console.log(`${String(n).padStart(2)} dims: ${diffs === 0 ? "same bits (5000 samples, every output)" : `${diffs} samples differ`}`);
  if (diffs !== 0) process.exitCode = 1;
  for (const [what, fJs, fWasm] of [
    ["pass + learning", stepJs, stepWasm],
    ["pass", passJs, passWasm],
    ["learning", learnJs, learnWasm],
  ] as const) {
    run(fJs, 300_000);
    run(fWasm, 300_000);
    const js: number[] = [];
    const wasm: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        js.push(run(fJs, CHUNK));
        wasm.push(run(fWasm, CHUNK));
      } else {
        wasm.push(run(fWasm, CHUNK));
        js.push(run(fJs, CHUNK));
      }
    }
    const ratios = js.map((v, i) => wasm[i] / v);
    console.log(
      `   ${what.padEnd(15)} JavaScript ${med(js).toFixed(1)} ns (best ${Math.min(...js).toFixed(1)}), ` +
        `wasm ${med(wasm).toFixed(1)} ns (best ${Math.min(...wasm).toFixed(1)}); wasm/JS ${med(ratios).toFixed(3)} ` +
        `(${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
    );
  }
}

const load = (): string => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
console.log(`bun ${Bun.version}; ${ROUNDS} rounds of ${CHUNK} samples from a ring of ${RING}, alternating; load ${load()}`);
for (const n of SIZES) bench(n);
console.log(`load ${load()}`);
