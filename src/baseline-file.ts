// The baseline file: versioned JSON, written atomically so an interrupted
// calibration never leaves a half-written baseline behind.
import type { Baseline } from "./engine/types.ts";
import { EXIT, HosaError } from "./errors.ts";
import { writeFileAtomic } from "./util/atomic.ts";
import { compression, decodeUtf8, excerpt, INPUT_LIMITS, readInput, shownPath } from "./util/input.ts";
import { VERSION } from "./version.ts";

export const BASELINE_FORMAT = "hosa-baseline";

export interface BaselineFile {
  format: typeof BASELINE_FORMAT;
  version: 1;
  hosaVersion: string;
  createdAt: string;
  /** Where it was learned: "live:<host>" or the recording's path. */
  source: string;
  /** Seconds of samples it was learned from. */
  spanS: number;
  baseline: Baseline;
}

export function saveBaseline(path: string, baseline: Baseline, source: string, spanS: number, createdAt: string): void {
  const file: BaselineFile = { format: BASELINE_FORMAT, version: 1, hosaVersion: VERSION, createdAt, source, spanS, baseline };
  writeFileAtomic(path, `${JSON.stringify(file, null, 1)}\n`, 0o644);
}

const finite = (v: unknown) => typeof v === "number" && Number.isFinite(v);

export function loadBaseline(path: string): BaselineFile {
  const fail = (what: string): never => {
    throw new HosaError(`cannot load baseline ${shownPath(path)}: ${what}`, EXIT.INPUT);
  };
  const bytes = readInput(path, { action: "cannot load baseline", maxBytes: INPUT_LIMITS.baseline });
  if (bytes.length === 0) fail("empty file");
  const packed = compression(bytes);
  if (packed) fail(`${packed}-compressed, not a JSON baseline`);
  if (bytes.includes(0)) fail("binary data (a NUL byte), not a JSON baseline");
  let parsed: unknown;
  try {
    parsed = JSON.parse(decodeUtf8(bytes, fail));
  } catch (e) {
    if (e instanceof HosaError) throw e;
    fail(`not JSON (${excerpt(String((e as Error).message).split("\n")[0]!, 120)})`);
  }
  const f = parsed as BaselineFile;
  if (!f || typeof f !== "object" || f.format !== BASELINE_FORMAT) fail(`not a hosa baseline (format is ${excerpt(String(JSON.stringify((f as { format?: unknown })?.format)))})`);
  if (f.version !== 1) fail(`version ${excerpt(String(JSON.stringify(f.version)))} is not supported (expected 1)`);
  const b = f.baseline;
  if (!b || !Array.isArray(b.dims) || b.dims.length === 0) fail("no dimensions");
  const n = b.dims.length;
  for (const d of b.dims) if (!d || typeof d.name !== "string" || ![1, -1, 0].includes(d.loadSign)) fail("a dimension is malformed");
  if (!Array.isArray(b.mean) || b.mean.length !== n || !b.mean.every(finite)) fail(`mean must be ${n} finite numbers`);
  if (!Array.isArray(b.covariance) || b.covariance.length !== n * n || !b.covariance.every(finite)) fail(`covariance must be ${n}×${n} finite numbers`);
  const th = b.thresholds;
  if (!th || ![th.theta1, th.theta2, th.theta3, th.theta4].every(finite)) fail("thresholds θ1..θ4 missing");
  if (!(th.theta1 <= th.theta2 && th.theta2 <= th.theta3 && th.theta3 <= th.theta4)) fail("thresholds must rise θ1 ≤ θ2 ≤ θ3 ≤ θ4");
  if (!finite(b.dmMean) || !finite(b.dmStd) || !finite(b.count)) fail("D_M statistics missing");
  if (b.dimZeta1 !== undefined && !(finite(b.dimZeta1) && b.dimZeta1 > 0)) fail(`"dimZeta1" must be a positive number, found ${excerpt(String(JSON.stringify(b.dimZeta1)))}`);
  if (b.dmSpike1 !== undefined && !(finite(b.dmSpike1) && b.dmSpike1 > 0)) fail(`"dmSpike1" must be a positive number, found ${excerpt(String(JSON.stringify(b.dmSpike1)))}`);
  if (b.supported !== undefined && typeof b.supported !== "boolean") fail(`"supported" must be true or false, found ${JSON.stringify(b.supported)}`);
  if (b.warnings !== undefined && !(Array.isArray(b.warnings) && b.warnings.every((w) => typeof w === "string"))) fail(`"warnings" must be a list of strings`);
  return f;
}

/** The baseline's dimensions must be the ones being sampled, in the same order. */
/**
 * Whether an agent may act on this baseline (docs/engine.md §4): a baseline
 * whose calibration could not support its thresholds is for detection only.
 * Baselines written before the flag existed count as supported.
 */
export function baselineSupported(b: Baseline): boolean {
  return b.supported !== false;
}

export function checkBaselineDims(path: string, baseline: Baseline, names: string[]): void {
  const have = baseline.dims.map((d) => d.name);
  if (have.length !== names.length || have.some((n, i) => n !== names[i])) {
    throw new HosaError(
      `cannot use baseline ${path}: it was learned on dimensions [${have.join(", ")}], this input has [${names.join(", ")}]; recalibrate`,
      EXIT.INPUT,
    );
  }
}
