// The synthetic dimensions the engine benches step through: n of them, a
// third with a negative load sign, the first a capacity, the second a
// propagation dimension (bench/engine-step.bench.ts, engine-ab*.bench.ts).
import type { DimensionSpec } from "../../src/engine/types.ts";

export function syntheticDims(n: number): DimensionSpec[] {
  return Array.from({ length: n }, (_, j) => ({
    name: `dim_${j}`,
    unit: "1",
    loadSign: (j % 3 === 2 ? -1 : 1) as 1 | -1,
    ...(j === 0 ? { capacity: 1 } : {}),
    ...(j === 1 ? { propagation: true } : {}),
  }));
}

/** A standard normal from two draws of `r` (Box–Muller), in this order: log first, then cos. */
export const gaussian = (r: () => number): number => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());

/** One homeostatic sample of n dimensions (correlated pairs), drawn from `r`. */
export function homeostaticSample(n: number, r: () => number): Float64Array {
  const x = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const g = gaussian(r);
    x[j] = j === 0 ? 0.5 + 0.01 * g : j % 2 === 1 ? x[j - 1] * 2 + g * 0.3 : 10 + g;
  }
  return x;
}

/** A ring of `size` homeostatic samples, made ahead so a bench's loop allocates nothing itself. */
export function homeostaticRing(n: number, size: number, r: () => number): Float64Array[] {
  return Array.from({ length: size }, () => homeostaticSample(n, r));
}
