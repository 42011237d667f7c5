// hosa's scores on public server telemetry are pinned: replays are
// deterministic, so a change that lowers them fails here. The data are a
// subset of the development set, committed in bench/datasets-subset/ (its
// README); the whole set is scored by bench/datasets.ts
// (bench/RESULTS-datasets.md). The judgement is the code `hosa calibrate
// --from train` and `hosa replay test --baseline` run, in process; the
// metrics are score.py's (bench/datasets-score.ts).
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { scoreInProcess } from "../../bench/datasets.ts";

const DATA = join(import.meta.dir, "../../bench/datasets-subset");

interface Pin {
  /** Level ≥ 1: point-adjusted F1 and event recall at least, false-alarm episodes a day at most. */
  paF1: number;
  recall: number;
  fpPerDay: number;
}

// Measured at this commit (bench/RESULTS-datasets.md); a drop fails.
const PINS: Record<string, Pin> = {
  // machine-1-2: 0.783 / 0.5 / 0.18 before the single-dimension statistic and
  // the per-block thresholds; both raise F1 and recall and cost false alarms here.
  "smd/machine-1-2": { paF1: 0.862, recall: 0.8, fpPerDay: 1.88 },
  "nab/nyc_taxi": { paF1: 0.86, recall: 1, fpPerDay: 0.37 },
  "nab/ec2_cpu_utilization_53ea38": { paF1: 0.98, recall: 1, fpPerDay: 0.17 },
  "nab/speed_7578": { paF1: 0.879, recall: 1, fpPerDay: 0.56 },
  // 0.659 before the new-regime rule (docs/engine.md §9).
  "nab/ambient_temperature_system_failure": { paF1: 0.7, recall: 1, fpPerDay: 0.16 },
  // The test sits on a new level: 0.224 (held at Level 2 to the end) before
  // the new-regime rule, the reference detector too.
  "nab/rds_cpu_utilization_e47b3b": { paF1: 0.911, recall: 1, fpPerDay: 0.5 },
};

describe("scores on public telemetry (calibrate on train, judge test with that baseline)", () => {
  for (const [name, pin] of Object.entries(PINS)) {
    test(`${name}: Level ≥ 1 PA-F1 ≥ ${pin.paF1}, event recall ≥ ${pin.recall}, ≤ ${pin.fpPerDay} false-alarm episodes a day; never Level 3 without danger`, () => {
      const r = scoreInProcess(join(DATA, name));
      expect(r.l1.pa_f1).toBeGreaterThanOrEqual(pin.paF1 - 5e-4);
      expect(r.l1.event_recall).toBeGreaterThanOrEqual(pin.recall);
      expect(r.l1.fp_episodes_per_day).toBeLessThanOrEqual(pin.fpPerDay + 5e-3);
      // No capacity dimension, no danger: surprise alone never contains.
      expect(r.maxLevel).toBeLessThanOrEqual(2);
      expect(r.l3.fp_episodes_per_day).toBe(0);
      expect(r.lastLevel).toBeLessThan(3);
      expect(r.supported).toBe(true);
    }, 60_000);
  }
});
