// Two engines on the same samples, every decision compared to the byte: the
// engine of another checkout (BEFORE, e.g. a `git archive` of main) and this
// one. For a change meant to be speed only: any difference is a bug.
//   bun bench/engine-same.ts BEFORE [--samples 60000] [--levels]
// Each engine is its own module instance. The samples move the levels
// through every path: a 50-unit jump one block in four, a NaN now and then,
// repeated timestamps, a jittery clock at odd sizes, a danger carried by the
// samples (pending, proven, critical, containment failing, up to Level 5 and
// the operator's release), and a short regime window so that level shifts
// become regimes and end; forgetting (a half-life), and refactorisations at
// every sample and every 100 (more than Welford.defer holds), and the
// default period with forgetting. The dominant dimensions are read at every
// step in one pass and one step in seven in another (they are computed when
// read).
// Prints the count of decisions compared and of differences (the first few
// shown); exits 1 on any difference. For a change that is not meant to be
// bit for bit (the numbers move in their last digits), it also counts the
// decisions whose level, previous level or learning differ, and the level
// changes that moved; with --levels only those make it exit 1.
//   bun bench/engine-same.ts BEFORE --levels
import { resolve } from "node:path";
import { xorshift32 } from "../test/prng.ts";
import { homeostaticSample } from "./lib/engine-dims.ts";

const args = process.argv.slice(2);
if (!args[0] || args[0].startsWith("--")) {
  console.error("usage: bun bench/engine-same.ts BEFORE_CHECKOUT [--samples 60000] [--levels]");
  process.exit(2);
}
const si = args.indexOf("--samples");
const SAMPLES = si >= 0 ? Number(args[si + 1]) : 60_000;
const LEVELS_ONLY = args.includes("--levels");
const roots = [resolve(args[0]), resolve(import.meta.dir, "..")];
const mods = await Promise.all(
  roots.map(async (r) => ({ e: await import(`${r}/src/engine/engine.ts`), c: await import(`${r}/src/engine/calibrate.ts`) })),
);

/** Every number exactly (String round-trips a double), −0, NaN and ±Infinity included. */
const exact = (d: unknown): string => JSON.stringify(d, (_k, v) => (typeof v === "number" ? (Object.is(v, -0) ? "-0" : String(v)) : v));

interface Case {
  n: number;
  jitter: boolean;
  danger: boolean;
  regimeS: number;
  dominantEvery: number;
  /** Settings over the defaults: forgetting (every learned sample decays the baseline) and other refactorisation periods. */
  extra?: { forgettingHalfLifeS?: number; refactorEvery?: number };
}
const cases: Case[] = [];
for (const n of [3, 7, 8, 32, 33]) {
  for (const dominantEvery of [1, 7]) {
    cases.push({ n, jitter: n % 2 === 1, danger: false, regimeS: 0, dominantEvery });
    cases.push({ n, jitter: n % 2 === 1, danger: true, regimeS: 0, dominantEvery });
    cases.push({ n, jitter: true, danger: false, regimeS: 40, dominantEvery });
  }
}
for (const n of [8, 33]) {
  cases.push({ n, jitter: true, danger: false, regimeS: 0, dominantEvery: 7, extra: { forgettingHalfLifeS: 600, refactorEvery: 100 } });
  cases.push({ n, jitter: false, danger: false, regimeS: 0, dominantEvery: 7, extra: { refactorEvery: 1 } });
  // Forgetting with the default period: the weight levels off (about 8 700 samples here), and the period with it.
  cases.push({ n, jitter: true, danger: false, regimeS: 0, dominantEvery: 7, extra: { forgettingHalfLifeS: 600 } });
}

let compared = 0;
let differences = 0;
/** Decisions whose level, previous level or learning differ; level changes (t, from, to) in one run and not the other. */
let levelDifferences = 0;
let changesMoved = 0;
let changes = 0;
for (const c of cases) {
  const { n } = c;
  const dims = Array.from({ length: n }, (_, j) => ({
    name: `dim_${j}`,
    unit: "1",
    loadSign: (j % 3 === 2 ? -1 : j % 5 === 4 ? 0 : 1) as 1 | -1 | 0,
    ...(j === 0 ? { capacity: 1 } : {}),
    ...(j === 1 || j === 6 ? { propagation: true } : {}),
  }));
  const r = xorshift32(0x5a3e + n);
  const vec = (): Float64Array => homeostaticSample(n, r);
  const cal = Array.from({ length: 3000 }, (_, i) => ({ t: i * 0.1, x: vec() }));
  // The samples, made once and given to both engines.
  type S = { t: number; x: Float64Array; danger?: Record<string, unknown> };
  const samples: S[] = [];
  let t = 300;
  const block = 2000;
  for (let i = 0; i < SAMPLES; i++) {
    const x = vec();
    const b = Math.floor(i / block);
    const inBlock = i % block;
    if (b % 4 === 3) x[2] += 50;
    if (c.regimeS > 0 && b % 8 >= 5) x[3] += 6; // a long plateau: a regime
    if (b % 4 === 1 && inBlock > 200 && inBlock < 900) x[0] = Math.min(0.99, 0.5 + inBlock * 0.0007); // exhaustion of dim 0
    if (i % 997 === 13) x[i % n] = NaN;
    if (i % 1499 === 7) x[(i + 1) % n] = 400;
    const s: S = { t, x };
    if (c.danger && b % 4 !== 0) {
      const phase = inBlock / block;
      const ttfS = phase < 0.1 ? Infinity : phase < 0.3 ? 100 : phase < 0.8 ? 10 : 500;
      s.danger = {
        ttfS,
        cgroup: b % 3 === 0 ? "" : "work.slice/leak",
        resource: "memory limit",
        containmentFailing: phase > 0.4 && phase < 0.75,
        evidence: `usage ${i}`,
        ...(phase > 0.1 && phase < 0.15 ? { pending: true } : {}),
      };
    }
    samples.push(s);
    if (i % 503 !== 0) t += c.jitter ? 0.1 + (r() - 0.5) * 0.004 : 0.1;
    if (b % 4 === 2) t = Math.round(t * 1e3) / 1e3;
  }
  const runs = mods.map((m) => {
    const cfg = { ...m.e.defaultEngineConfig(), ...(c.regimeS > 0 ? { regimeAfterS: c.regimeS } : {}), ...c.extra };
    const baseline = m.c.calibrate(cal, dims, cfg);
    const state = m.e.createEngine(baseline, cfg);
    const out: string[] = [];
    let atFive = 0;
    for (let i = 0; i < samples.length; i++) {
      const d = m.e.step(state, samples[i]);
      if (i % c.dominantEvery === 0) void d.dominant;
      out.push(exact(d));
      if (d.level === 5 && ++atFive === 50) {
        out.push(exact(m.e.releaseQuarantine(state, samples[i].t)));
        atFive = 0;
      }
    }
    return out;
  });
  let diff = 0;
  const [a, b] = runs;
  if (a.length !== b.length) {
    console.log(`n=${n}: ${a.length} decisions before, ${b.length} after`);
    diff++;
  }
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) {
      if (diff < 3) console.log(`n=${n} ${JSON.stringify(c)} decision ${i}:\n  before ${a[i]}\n  after  ${b[i]}`);
      diff++;
    }
  }
  const da = a.map((s) => JSON.parse(s));
  const db = b.map((s) => JSON.parse(s));
  let levelDiff = 0;
  for (let i = 0; i < Math.min(da.length, db.length); i++) {
    const x = da[i];
    const y = db[i];
    if (x.level !== y.level || x.previousLevel !== y.previousLevel || x.learning !== y.learning) levelDiff++;
  }
  const changeSet = (ds: { t: number; level: number; previousLevel: number }[]): Set<string> =>
    new Set(ds.filter((d) => d.level !== d.previousLevel).map((d) => `${d.t} ${d.previousLevel}>${d.level}`));
  const ca = changeSet(da);
  const cb = changeSet(db);
  const moved = [...ca].filter((k) => !cb.has(k)).length + [...cb].filter((k) => !ca.has(k)).length;
  const levels = new Set(da.map((d) => d.level));
  const regimes = a.filter((s) => s.includes("new regime")).length;
  const reasons = new Set(da.map((d) => d.reason)).size;
  console.log(
    `${JSON.stringify(c)}: ${a.length} decisions, levels ${[...levels].sort().join(",")}, ${regimes} regimes, ${reasons} reasons, ${diff} differences, ` +
      `${levelDiff} in level or learning, ${ca.size} level changes (${moved} not in both)`,
  );
  compared += a.length;
  differences += diff;
  levelDifferences += levelDiff;
  changesMoved += moved;
  changes += ca.size;
}
console.log(`${compared} decisions compared, ${differences} differences; ${levelDifferences} differ in level or learning, ${changesMoved} of ${changes} level changes not in both`);
process.exit((LEVELS_ONLY ? levelDifferences + changesMoved : differences) === 0 ? 0 : 1);
