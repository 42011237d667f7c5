import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { prng } from "../../test/prng.ts";
import { exp, log } from "./detmath.ts";

const view = new DataView(new ArrayBuffer(8));
function bits(x: number): bigint {
  view.setFloat64(0, x);
  return view.getBigInt64(0);
}
/** Distance in units in the last place between two finite doubles of the same sign. */
function ulps(a: number, b: number): number {
  const d = bits(a) - bits(b);
  return Number(d < 0n ? -d : d);
}

/** Worst ulp distance of f from the C library's g (Math.*) over xs, and how many differ at all. */
function compare(f: (x: number) => number, g: (x: number) => number, xs: number[]): { worst: number; at: number; differ: number } {
  let worst = 0;
  let at = NaN;
  let differ = 0;
  for (const x of xs) {
    const u = ulps(f(x), g(x));
    if (u > 0) differ++;
    if (u > worst) {
      worst = u;
      at = x;
    }
  }
  return { worst, at, differ };
}

describe("detmath: exp and log from IEEE basic operations", () => {
  test("exp is within 1 ulp of Math.exp from underflow to overflow", () => {
    const r = prng(16);
    const xs: number[] = [];
    for (let i = 0; i < 100_000; i++) xs.push((r() * 2 - 1) * 745);
    for (let i = 0; i < 100_000; i++) xs.push((r() * 2 - 1) * 2); // the EWMA's −Δt/τ and the forgetting decay live here
    for (let i = 0; i < 20_000; i++) xs.push((r() * 2 - 1) * 1e-6);
    for (let i = -7450; i <= 7090; i++) xs.push(i / 10);
    const c = compare(exp, Math.exp, xs);
    expect(c.worst, `worst at x = ${c.at}`).toBeLessThanOrEqual(1);
    // Not a copy of Math.exp: most results agree, but not all (fdlibm is < 1 ulp, glibc nearer 0.5).
    expect(c.differ).toBeLessThan(xs.length / 5);
  });

  test("log is within 1 ulp of Math.log over every binade, subnormals included, and near 1", () => {
    const r = prng(61);
    const xs: number[] = [];
    for (let e = -1074; e <= 1023; e++) for (let i = 0; i < 40; i++) xs.push(2 ** e * (1 + r()));
    for (let i = 0; i < 50_000; i++) xs.push(1 + (r() - 0.5) * 1e-3);
    for (let i = 0; i < 20_000; i++) xs.push(1 + (r() - 0.5) * 4e-6); // fdlibm's |f| < 2^-20 branch
    for (let i = 0; i < 20_000; i++) xs.push(r()); // the calibration's probability ratios
    const c = compare(log, Math.log, xs.filter((x) => x > 0 && Number.isFinite(x)));
    expect(c.worst, `worst at x = ${c.at}`).toBeLessThanOrEqual(1);
  });

  test("special values are exact", () => {
    expect(exp(0)).toBe(1);
    expect(exp(-0)).toBe(1);
    expect(exp(NaN)).toBeNaN();
    expect(exp(Infinity)).toBe(Infinity);
    expect(exp(-Infinity)).toBe(0);
    expect(exp(709.78)).toBe(Math.exp(709.78));
    expect(exp(709.7827128933841)).toBe(Infinity);
    expect(exp(710)).toBe(Infinity);
    expect(exp(-745.1)).toBe(5e-324);
    expect(exp(-746)).toBe(0);
    expect(exp(-708.5)).toBe(Math.exp(-708.5)); // a subnormal result, rounded once
    expect(exp(1e-300)).toBe(1);
    expect(log(1)).toBe(0);
    expect(Object.is(log(1), 0)).toBe(true);
    expect(log(0)).toBe(-Infinity);
    expect(log(-0)).toBe(-Infinity);
    expect(log(-1)).toBeNaN();
    expect(log(-Infinity)).toBeNaN();
    expect(log(NaN)).toBeNaN();
    expect(log(Infinity)).toBe(Infinity);
    expect(log(2)).toBe(Math.LN2);
    expect(log(10)).toBe(Math.LN10);
    expect(log(Math.E)).toBe(1);
    expect(log(5e-324)).toBe(-744.4400719213812);
    expect(log(Number.MAX_VALUE)).toBe(709.782712893384);
    for (let k = -1074; k <= 1023; k += 7) expect(ulps(log(2 ** k), k * Math.LN2)).toBeLessThanOrEqual(1);
  });

  test("the same bits as when this test was written (a change of algorithm or constant shows here)", () => {
    // Plain IEEE arithmetic, so these bits are the same on x86-64 and arm64;
    // the cross-architecture proof is test/recording/cross-arch.test.ts.
    const r = prng(7);
    const h = createHash("sha256");
    for (let i = 0; i < 10_000; i++) {
      const x = (r() * 2 - 1) * 40;
      h.update(bits(exp(x)).toString(16)).update(bits(log(Math.abs(x) + 1e-9)).toString(16));
    }
    expect(h.digest("hex")).toBe("25f635cd937a41223951dc1ed5c5bfdcd5c2a9c14fbc67b7ee452560e531df5c");
  });

  test("the engine calls no transcendental function of the C library", () => {
    const dir = import.meta.dir;
    const offenders = readdirSync(dir)
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && f !== "detmath.ts")
      .flatMap((f) =>
        readFileSync(join(dir, f), "utf8")
          .split("\n")
          .map((line, i) => [`${f}:${i + 1}`, line.replace(/\/\/.*$/, "")] as const)
          .filter(([, line]) => /Math\.(exp|expm1|log|log1p|log2|log10|pow|sinh|cosh|tanh|asinh|acosh|atanh|sin|cos|tan|asin|acos|atan|atan2|cbrt|hypot)\b/.test(line))
          .map(([where]) => where),
      );
    expect(offenders).toEqual([]);
  });
});
