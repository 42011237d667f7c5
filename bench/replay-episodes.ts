// Detection latency over many injected episodes, replayed: synthetic CSV
// recordings of a node's normal behaviour with a memory leak injected at a
// known instant, run through the engine by `hosa replay FILE --json`. The
// recordings are seeded, so every suite replays the same episodes.
//
// One file per episode, so each one starts from the baseline in homeostasis
// (a batch in one file would make the next episode wait out the hold times,
// up to 5 min at 100 ms ticks). An episode already above level 0 when the
// leak starts (a false alarm in the rest just before it) is not counted as a
// detection but reported.
import { rmSync, writeFileSync } from "node:fs";
import { gaussian, percentile, rng } from "./lib/stats.ts";
import { SYNTH_DIMS } from "../test/recordings/synthetic.ts";
import { HOSA_BIN } from "./systems/hosa.ts";

const TICK_S = 0.1;
const MEM_TOTAL = 24 * 1024 ** 3;
const PAGE = 4096;
const REST_S = 3;
const LEAK_S = 15;

// The same eight dimensions as the tests' synthetic recordings.
const DIMS = SYNTH_DIMS;

export interface ReplayGroup {
  rateMbPerS: number;
  episodes: number;
  detected: number;
  /** Episodes that were not at level 0 when the leak was injected. */
  notAtRest: number;
  /** Episodes where a level >= 1 came before the injection in the normal stretch. */
  earlyAlarms: number;
  p50S: number | null;
  p99S: number | null;
  p999S: number | null;
}

export interface ReplayLatency {
  groups: ReplayGroup[];
  method: string;
  error?: string;
}

/** A node at rest: slowly wandering memory, noisy CPU and I/O, as AR(1) processes. */
class NormalNode {
  private cpu = 0;
  private mem = 0;
  private pf = 0;
  private io = 0;
  private net = 0;
  constructor(private readonly u: () => number) {}
  next(leakBytes: number, leakRate: number): number[] {
    const g = () => gaussian(this.u);
    this.cpu = 0.8 * this.cpu + 0.6 * g();
    this.mem = 0.995 * this.mem + 0.1 * g();
    this.pf = 0.7 * this.pf + 0.7 * g();
    this.io = 0.6 * this.io + 0.8 * g();
    this.net = 0.7 * this.net + 0.7 * g();
    const used = 0.3 * MEM_TOTAL + this.mem * 8e6 + leakBytes;
    const cpu = Math.min(1, Math.max(0, 0.15 + 0.03 * this.cpu + (leakRate > 0 ? 0.02 : 0)));
    const faults = Math.max(0, 2000 * (1 + 0.15 * this.pf) + leakRate / PAGE);
    const allocs = Math.max(0, 300 + 60 * this.pf + (leakRate > 0 ? 100 : 0));
    const psiMem = Math.max(0, 0.002 * g() + (used / MEM_TOTAL > 0.9 ? (used / MEM_TOTAL - 0.9) * 2 : 0));
    return [
      cpu,
      used / MEM_TOTAL,
      MEM_TOTAL - used - 2e9,
      psiMem,
      faults,
      allocs,
      Math.max(0, 50 + 20 * this.io),
      Math.max(0, 50000 + 20000 * this.net),
    ];
  }
}

function row(t: number, x: number[]): string {
  return `${t.toFixed(3)},${x.map((v) => (Number.isInteger(v) ? String(v) : v.toPrecision(8))).join(",")}\n`;
}

/** The calibration recording: `seconds` of the node at rest. */
export function calibrationCsv(seconds: number, seed: number): string {
  const node = new NormalNode(rng(seed));
  let s = `t,${DIMS.join(",")}\n`;
  for (let i = 0; i < seconds / TICK_S; i++) s += row(1000 + i * TICK_S, node.next(0, 0));
  return s;
}

export interface EpisodePlan {
  /** Injection instants, seconds, in the file's timeline. */
  injections: number[];
  csv: string;
}

/** `count` episodes of a `rateMb` MB/s leak, each after `restS` of rest and followed by `leakS` of leak. */
export function episodesCsv(count: number, rateMb: number, seed: number, restS = REST_S, leakS = LEAK_S): EpisodePlan {
  const u = rng(seed);
  const node = new NormalNode(u);
  const rate = rateMb * 1e6;
  let s = `t,${DIMS.join(",")}\n`;
  let t = 1000;
  const injections: number[] = [];
  for (let e = 0; e < count; e++) {
    for (let i = 0; i < restS / TICK_S; i++) {
      t += TICK_S;
      s += row(t, node.next(0, 0));
    }
    // The leak starts at a random instant inside the next tick.
    const inject = t + u() * TICK_S;
    injections.push(inject);
    for (let i = 0; i < leakS / TICK_S; i++) {
      t += TICK_S;
      s += row(t, node.next(rate * (t - inject), rate));
    }
  }
  return { injections, csv: s };
}

async function run(cmd: string[], timeoutMs: number, onLine?: (l: string) => void): Promise<{ code: number; err: string }> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const errP = new Response(p.stderr).text();
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of p.stdout) {
    buf += decoder.decode(chunk, { stream: true });
    let i = buf.indexOf("\n");
    while (i >= 0) {
      onLine?.(buf.slice(0, i));
      buf = buf.slice(i + 1);
      i = buf.indexOf("\n");
    }
  }
  const code = await p.exited;
  clearTimeout(timer);
  return { code, err: (await errP).trim() };
}

const T_RE = /"t":(-?[0-9.e+-]+)/;
const LEVEL_RE = /"level":(\d)/;

/** Replay `episodes` per rate through `hosa replay --json` and measure each detection's latency. */
export async function replayLatency(
  dir: string,
  plan: { rateMbPerS: number; episodes: number }[],
  log: (l: string) => void,
  bin = HOSA_BIN,
  concurrency = 4,
): Promise<ReplayLatency> {
  const method =
    `Synthetic recordings (seeded, ${DIMS.length} dimensions: ${DIMS.join(", ")}; 100 ms ticks; a node at rest as AR(1) noise), ` +
    "a baseline learned by `hosa calibrate --from` on 300 s of rest, then each episode (its own file and `hosa replay` process) is 3 s of rest and 15 s of leak " +
    "(memory used grows at the rate, page faults by rate/4 KiB per second) injected at a random instant within a tick; " +
    "latency is the first judged sample at level ≥ 1 minus the injection instant.";
  const out: ReplayLatency = { groups: [], method };
  writeFileSync(`${dir}/replay.toml`, "");
  writeFileSync(`${dir}/replay-calibration.csv`, calibrationCsv(300, 7));
  const cal = await run([bin, "-c", `${dir}/replay.toml`, "calibrate", "--from", `${dir}/replay-calibration.csv`, "--out", `${dir}/replay-baseline.json`], 120000);
  if (cal.code !== 0) {
    out.error = `hosa calibrate --from failed (exit ${cal.code}): ${cal.err.split("\n").pop()}`;
    return out;
  }
  let seed = 100;
  for (const p of plan) {
    const latencies: number[] = [];
    let notAtRest = 0;
    let earlyAlarms = 0;
    let episodes = 0;
    let next = 0;
    let finished = 0;
    const one = async (k: number, episodeSeed: number) => {
      const ep = episodesCsv(1, p.rateMbPerS, episodeSeed);
      const inj = ep.injections[0];
      const file = `${dir}/replay-${p.rateMbPerS}-${k}.csv`;
      writeFileSync(file, ep.csv);
      let before = 0;
      let early = false;
      let latency: number | null = null;
      const r = await run([bin, "-c", `${dir}/replay.toml`, "replay", file, "--baseline", `${dir}/replay-baseline.json`, "--json"], 120000, (l) => {
        const tm = T_RE.exec(l);
        const lm = LEVEL_RE.exec(l);
        if (!tm || !lm) return;
        const t = Number(tm[1]);
        const level = Number(lm[1]);
        if (t < inj) {
          if (level >= 1) early = true;
          before = level;
        } else if (latency === null && before === 0 && level >= 1 && t < inj + LEAK_S + 0.05) latency = t - inj;
      });
      rmSync(file, { force: true });
      if (r.code !== 0) {
        out.error = `hosa replay ${file} exited ${r.code}: ${r.err.split("\n").pop()}`;
        return;
      }
      episodes++;
      if (early) earlyAlarms++;
      if (before > 0) notAtRest++;
      else if (latency !== null) latencies.push(latency);
      finished++;
      if (finished % 100 === 0 || finished === p.episodes) log(`  replay ${p.rateMbPerS} MB/s: ${finished}/${p.episodes} episodes`);
    };
    const seeds = Array.from({ length: p.episodes }, () => seed++);
    // A few replays at once: each is mostly process start-up, not CPU.
    const worker = async () => {
      while (next < p.episodes && !out.error) {
        const k = next++;
        await one(k, seeds[k]);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    out.groups.push({
      rateMbPerS: p.rateMbPerS,
      episodes,
      detected: latencies.length,
      notAtRest,
      earlyAlarms,
      p50S: percentile(latencies, 50),
      p99S: percentile(latencies, 99),
      p999S: percentile(latencies, 99.9),
    });
    if (out.error) break;
  }
  return out;
}
