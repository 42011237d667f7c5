// The metrics of the datasets' score.py, in TypeScript, so the pinned test
// (test/bench/datasets.test.ts) runs without python. bench/datasets.ts
// scores with score.py itself; the test checks this port against it when
// python3 and the data are there. Same alignment: each labelled row takes
// the latest decision at or before its time, if at most 1.5 median steps
// old; several decisions at one time count as their highest level.

export interface Metrics {
  pa_f1: number;
  event_recall: number;
  fp_episodes_per_day: number;
  segments: number;
  segments_detected: number;
  fp_episodes: number;
}

function runs(flags: boolean[]): [number, number][] {
  const out: [number, number][] = [];
  let start = -1;
  for (let i = 0; i < flags.length; i++) {
    if (flags[i] && start < 0) start = i;
    else if (!flags[i] && start >= 0) {
      out.push([start, i]);
      start = -1;
    }
  }
  if (start >= 0) out.push([start, flags.length]);
  return out;
}

const r6 = (v: number) => Math.round(v * 1e6) / 1e6;

/** Labels (t, 0/1) and decisions (t, level), both sorted by t. */
export function scoreDecisions(labelT: number[], truth: boolean[], decT: number[], decLevel: number[], minLevel: number): Metrics {
  // Highest level per decision time.
  const dt: number[] = [];
  const dl: number[] = [];
  for (let i = 0; i < decT.length; i++) {
    if (dt.length > 0 && dt[dt.length - 1] === decT[i]) dl[dl.length - 1] = Math.max(dl[dl.length - 1], decLevel[i]);
    else {
      dt.push(decT[i]);
      dl.push(decLevel[i]);
    }
  }
  const steps = labelT.slice(1).map((t, i) => t - labelT[i]).sort((a, b) => a - b);
  const m = steps.length;
  const step = m === 0 ? 60 : m % 2 === 1 ? steps[(m - 1) / 2] : (steps[m / 2 - 1] + steps[m / 2]) / 2;
  const maxGap = 1.5 * step;
  const alarm: boolean[] = [];
  let k = -1;
  for (const ti of labelT) {
    while (k + 1 < dt.length && dt[k + 1] <= ti) k++;
    alarm.push(k >= 0 && ti - dt[k] <= maxGap && dl[k] >= minLevel);
  }
  const segments = runs(truth);
  const adjusted = alarm.slice();
  let detected = 0;
  for (const [a, b] of segments) {
    if (alarm.slice(a, b).some(Boolean)) {
      detected++;
      for (let i = a; i < b; i++) adjusted[i] = true;
    }
  }
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < truth.length; i++) {
    if (adjusted[i] && truth[i]) tp++;
    else if (adjusted[i]) fp++;
    else if (truth[i]) fn++;
  }
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  const fpEpisodes = runs(alarm).filter(([a, b]) => !truth.slice(a, b).some(Boolean)).length;
  const days = (labelT[labelT.length - 1] - labelT[0] + step) / 86400;
  return {
    pa_f1: r6(f1),
    event_recall: segments.length ? r6(detected / segments.length) : NaN,
    fp_episodes_per_day: r6(fpEpisodes / days),
    segments: segments.length,
    segments_detected: detected,
    fp_episodes: fpEpisodes,
  };
}

/** timestamp,label CSV text. */
export function parseLabels(csv: string): { t: number[]; truth: boolean[] } {
  const t: number[] = [];
  const truth: boolean[] = [];
  for (const line of csv.split("\n").slice(1)) {
    if (!line) continue;
    const c = line.indexOf(",");
    t.push(Number(line.slice(0, c)));
    truth.push(line.slice(c + 1).trim() === "1");
  }
  return { t, truth };
}
