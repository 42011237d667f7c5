// The reference of issue 10, as a numpy user would write it in 30 lines:
// train mean and covariance with shrinkage, the Mahalanobis distance of
// every row, an EWMA with α = 0.3 per sample (not per second), and an alarm
// when the smoothed distance exceeds its 99.5th percentile over the
// training rows. Plain arrays and a Cholesky solve; nothing of hosa's.

function parse(csv: string): number[][] {
  const lines = csv.split("\n").filter((l) => l.length > 0);
  return lines.slice(1).map((l) => {
    const cells = l.split(",");
    return cells.slice(1).map(Number);
  });
}

function times(csv: string): number[] {
  return csv
    .split("\n")
    .slice(1)
    .filter((l) => l.length > 0)
    .map((l) => {
      const c = l.slice(0, l.indexOf(","));
      const n = Number(c);
      return Number.isFinite(n) ? n : Math.round(Date.parse(c) / 1000);
    });
}

const SHRINK = 0.1;
const RIDGE = 1e-6;
const ALPHA = 0.3;

/** One JSON line per test row: {"t", "level"} with level 1 when the smoothed distance is above the training 99.5th percentile. */
export function referenceDecisions(trainCsv: string, testCsv: string): string {
  const train = parse(trainCsv);
  const test = parse(testCsv);
  const n = train[0].length;
  const mean = new Array(n).fill(0);
  for (const r of train) for (let j = 0; j < n; j++) mean[j] += r[j] / train.length;
  const cov = Array.from({ length: n }, () => new Array(n).fill(0));
  for (const r of train) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) cov[i][j] += ((r[i] - mean[i]) * (r[j] - mean[j])) / (train.length - 1);
  // Shrink toward the diagonal; a ridge for the constant columns.
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) cov[i][j] = i === j ? cov[i][j] + RIDGE : (1 - SHRINK) * cov[i][j];
  const L = Array.from({ length: n }, () => new Array(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = cov[i][j];
      for (let k = 0; k < j; k++) s -= L[i][k] * L[j][k];
      L[i][j] = i === j ? Math.sqrt(Math.max(s, RIDGE)) : s / L[j][j];
    }
  }
  const u = new Array(n).fill(0);
  const dist = (r: number[]) => {
    let d2 = 0;
    for (let i = 0; i < n; i++) {
      let s = r[i] - mean[i];
      for (let k = 0; k < i; k++) s -= L[i][k] * u[k];
      u[i] = s / L[i][i];
      d2 += u[i] * u[i];
    }
    return Math.sqrt(d2);
  };
  let ewma = dist(train[0]);
  const smoothedTrain = train.map((r) => (ewma = ALPHA * dist(r) + (1 - ALPHA) * ewma));
  const sorted = [...smoothedTrain].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * 0.995;
  const lo = Math.floor(pos);
  const threshold = sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (pos - lo);
  const ts = times(testCsv);
  let out = "";
  test.forEach((r, i) => {
    ewma = ALPHA * dist(r) + (1 - ALPHA) * ewma;
    out += `{"t":${ts[i]},"level":${ewma > threshold ? 1 : 0}}\n`;
  });
  return out;
}
