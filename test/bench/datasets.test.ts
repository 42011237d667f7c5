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
  // 0.862 / 0.8 / 1.88 before the raw single-sample path (docs/engine.md §10)
  // and the sustained rise by θ1 − mean.
  "smd/machine-1-2": { paF1: 0.893, recall: 0.9, fpPerDay: 1.28 },
  "nab/nyc_taxi": { paF1: 0.864, recall: 1, fpPerDay: 0.37 },
  // 0.98 / 0.17 before the raw single-sample path: a one-sample spike every
  // 24 hours, twice in the two days of train, now alarms once a day (within
  // the once-a-day budget of Level 1).
  "nab/ec2_cpu_utilization_53ea38": { paF1: 0.956, recall: 1, fpPerDay: 0.84 },
  "nab/speed_7578": { paF1: 0.896, recall: 1, fpPerDay: 0.42 },
  // 0.659 before the new-regime rule (docs/engine.md §9), 0.7 before a regime ended nearer home.
  "nab/ambient_temperature_system_failure": { paF1: 0.733, recall: 1, fpPerDay: 0.13 },
  // The test sits on a new level: 0.224 (held at Level 2 to the end) before
  // the new-regime rule, the reference detector too; 0.911 / 0.5 before the
  // raw single-sample path (four one-sample crossings of θ1s).
  "nab/rds_cpu_utilization_e47b3b": { paF1: 0.907, recall: 1, fpPerDay: 0.59 },
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
