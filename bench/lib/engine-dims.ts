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
