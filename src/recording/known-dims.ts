import type { DimensionSpec } from "../engine/types.ts";
import { ALL_DIMENSIONS } from "../sense/dimensions.ts";

/** Dimensions hosa itself samples: a CSV column with one of these names gets its unit, load sign and capacity. */
export function knownDimensions(): DimensionSpec[] {
  return ALL_DIMENSIONS.map((d) => ({ ...d }));
}
