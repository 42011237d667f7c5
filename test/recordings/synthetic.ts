// Synthetic recordings with a known story, generated from a seeded PRNG so
// the same arguments always give the same samples. Used by the golden test,
// the CLI tests and bench/ (1M-sample replay).
import type { DimensionSpec, Sample } from "../../src/engine/types.ts";
import { ALL_DIMENSIONS } from "../../src/sense/dimensions.ts";
import { gaussian, prng } from "../prng.ts";

export const SYNTH_DIMS = [
  "cpu_busy_ratio",
  "mem_used_ratio",
  "mem_available_bytes",
  "psi_mem_some_ratio",
  "page_faults_per_s",
  "alloc_syscalls_per_s",
  "blk_ios_per_s",
  "net_rx_bytes_per_s",
];

export function synthDims(names = SYNTH_DIMS): DimensionSpec[] {
  return names.map((n) => {
    const d = ALL_DIMENSIONS.find((x) => x.name === n);
    if (!d) throw new Error(`unknown dimension ${n}`);
    return { ...d };
  });
}

export interface LeakStory {
  seed: number;
  /** Calm seconds before the leak. */
  calmS: number;
  /** Leak seconds (memory climbing at `leakMBps`), then containment holds it flat. */
  leakS: number;
  /** Seconds after the leak is contained (de-escalation happens here). */
  afterS: number;
  tickS: number;
  leakMBps: number;
}

export const DEFAULT_STORY: LeakStory = { seed: 42, calmS: 360, leakS: 30, afterS: 600, tickS: 0.1, leakMBps: 50 };

const MEM_TOTAL = 24 * 2 ** 30;

/** Calm node, a 50 MB/s leak, then a contained plateau and recovery. Timestamps start at 1000 s. */
export function* leakRecording(story: LeakStory = DEFAULT_STORY): Generator<Sample> {
  const r = prng(story.seed);
  const g = () => gaussian(r);
  const n = Math.round((story.calmS + story.leakS + story.afterS) / story.tickS);
  let leaked = 0;
  for (let i = 0; i < n; i++) {
    // Irregular ticks (±5 %), as a real agent sees them.
    const t = 1000 + i * story.tickS + (r() - 0.5) * story.tickS * 0.1;
    const tRel = i * story.tickS;
    const leaking = tRel >= story.calmS && tRel < story.calmS + story.leakS;
    const recovering = tRel >= story.calmS + story.leakS;
    if (leaking) leaked += story.leakMBps * 2 ** 20 * story.tickS;
    if (recovering) leaked *= 0.98; // the leaker is stopped and its memory reclaimed within seconds
    const used = 0.18 * MEM_TOTAL + 40e6 * g() * 0.05 + leaked;
    const faults = 900 + 60 * g() + (leaking ? (story.leakMBps * 2 ** 20) / 4096 : 0);
    const psiMem = Math.max(0, 0.001 + 0.0005 * g() + (leaking ? 0.02 * ((tRel - story.calmS) / story.leakS) : 0));
    yield {
      t: Math.round(t * 1e6) / 1e6,
      x: Float64Array.from([
        Math.min(1, Math.max(0, 0.22 + 0.03 * g() + (leaking ? 0.05 : 0))),
        used / MEM_TOTAL,
        MEM_TOTAL - used,
        psiMem,
        Math.max(0, faults),
        Math.max(0, 300 + 25 * g() + (leaking ? 400 : 0)),
        Math.max(0, 40 + 6 * g()),
        Math.max(0, 2e5 + 2e4 * g()),
      ]),
    };
  }
}
