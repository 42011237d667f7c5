// Where one tick of `hosa run` spends its time, stage by stage: the same
// objects the agent builds (src/agent.ts), driven at the configured tick on
// the live node, each stage timed with the monotonic clock; and the process's
// CPU over the run (what the stages do not show: timers, GC, the JIT).
//
//   bun bench/tick-stages.ts -c CONFIG [--seconds 20] [--json] [--act] [--sampler [--warmup S] [--jit-policy N] [--settle N]]
//
// CONFIG is a hosa.toml with a baseline in its state directory (run
// `hosa calibrate` first); detection-only whatever it says, unless --act.
//
// --sampler: the path of `hosa run` at calm (docs/footprint.md § The sampler):
// the tick loop (src/tick-loop.ts) with libhosa's sampler, the snapshots
// processed in batches of [sense] calm_batch, the agent's per-tick
// bookkeeping too (EpisodePace, the wall clock's milliseconds); "loop" is
// what the tick loop itself spends around the stages (serving a snapshot,
// the clock), "wake" the wake's time outside the snapshots. Compiled
// (`bun build --compile`) and run with src/cli/runtime.ts's environment it
// times what the executable runs.
import { readdirSync, readFileSync } from "node:fs";
import { heapStats } from "bun:jsc";
import { baselinePath, loadConfig } from "../src/config.ts";
import { loadBaseline } from "../src/baseline-file.ts";
import { DangerTracker, NO_DANGER } from "../src/engine/danger.ts";
import { createEngine, engineConfigFrom, step } from "../src/engine/engine.ts";
import { discoverNode } from "../src/kernel/proprioception.ts";
import { Notifier } from "../src/report/notifier.ts";
import { createAgentResponder } from "../src/respond/agent-responder.ts";
import { CgroupWatch } from "../src/sense/cgroup-watch.ts";
import { createLiveSource } from "../src/sense/live-source.ts";
import { monoS, TickLoop } from "../src/tick-loop.ts";
import { EpisodePace } from "../src/episode-pace.ts";
import { createSampler } from "../src/sense/sampler.ts";
import type { Decision, Sample } from "../src/engine/types.ts";

const argv = process.argv;
const ci = argv.indexOf("-c");
if (ci < 0) throw new Error("usage: bun bench/tick-stages.ts -c CONFIG [--seconds 20] [--json]");
const si = argv.indexOf("--seconds");
const seconds = si >= 0 ? Number(argv[si + 1]) : 20;
// --warmup S (--sampler): the first S seconds are not counted (start-up, the JIT's first tiers).
const wi = argv.indexOf("--warmup");
const warmupS = wi >= 0 ? Number(argv[wi + 1]) : 0;
// --jit-policy N: Bun.unsafe.setJITPolicy(N), as `hosa run` does (src/cli/runtime.ts: 20).
const ji = argv.indexOf("--jit-policy");
if (ji >= 0) (Bun.unsafe as { setJITPolicy?: (n: number) => void }).setJITPolicy?.(Number(argv[ji + 1]));
// --settle N (--sampler): Bun.unsafe.setJITPolicy(N) once the tick loop starts, as `hosa run` does (src/cli/runtime.ts settleRuntime).
const sti = argv.indexOf("--settle");
const settlePolicy = sti >= 0 ? Number(argv[sti + 1]) : 0;
const cfg = await loadConfig(argv[ci + 1]);
// --act: the configuration's mode as it says (act mode wants a [respond] cgroup_scope of your own: an episode's stages).
if (!argv.includes("--act")) cfg.respond.mode = "detect";
const facts = discoverNode(cfg.sense.procRoot);
const live = createLiveSource(cfg.sense);
const watch = new CgroupWatch(live.layout, { procRoot: cfg.sense.procRoot, scope: cfg.respond.cgroupScope, sensitive: cfg.respond.latencySensitive, memoryUsage: process.env.TICK_NO_ITER ? undefined : live.cgroupMemoryUsage, nodeAvailable: process.env.TICK_NO_ITER ? undefined : (t) => live.memAvailableAt(t) });
const danger = new DangerTracker();
const engine = createEngine(loadBaseline(baselinePath(cfg)).baseline, engineConfigFrom(cfg.engine));
const { responder } = createAgentResponder(cfg, facts, () => {});
const notifier = Notifier.open(cfg.report, cfg.paths.stateDir, "bench");

const useSampler = argv.includes("--sampler");
const stages = ["source.read", "watch.read", "danger.update", "engine.step", "responder", "notifier", "pace", "loop"] as const;
const ns = new Float64Array(stages.length);
let ticks = 0;
let candidatesTicks = 0;
let actionCount = 0;
let maxLevel = 0;
let c0 = process.cpuUsage();
let h0 = heapStats();
let t0 = monoS();
let wakes = 0;
let samplerNote = "";
/** CPU ticks (1/100 s) of each thread of this process by name: the sampler's thread apart from the main one. */
function threadTicks(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const st = readFileSync(`/proc/self/task/${tid}/stat`, "latin1");
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      const name = tid === String(process.pid) ? "main" : st.slice(st.indexOf("(") + 1, st.lastIndexOf(")"));
      out.set(name, (out.get(name) ?? 0) + Number(f[11]) + Number(f[12]));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}
let threads0 = threadTicks();
/** The stages after the read, each timed into ns[1..5] from `a` (ns): the watch, the danger, the step, the responder, the notifier. */
function afterRead(s: Sample, t: number, held: ReturnType<typeof responder.heldCeilings>, a: number): Decision {
  const f = watch.read(t, held);
  let b = Bun.nanoseconds();
  ns[1] += b - a;
  a = b;
  s.danger = danger.update(f);
  b = Bun.nanoseconds();
  ns[2] += b - a;
  a = b;
  const d = step(engine, s);
  b = Bun.nanoseconds();
  ns[3] += b - a;
  a = b;
  const actions = responder.onDecision(d, [], s.danger ?? NO_DANGER);
  actionCount += actions.length;
  if (d.level > maxLevel) maxLevel = d.level;
  b = Bun.nanoseconds();
  ns[4] += b - a;
  a = b;
  notifier.onDecision(d, actions, () => "");
  ns[5] += Bun.nanoseconds() - a;
  return d;
}
/** --sampler: a snapshot's time (read to pace) by its place in its wake's batch: the first pays for caches the others find warm. */
const byPosition = new Float64Array(32);
const byPositionN = new Float64Array(32);
let position = 0;
let snapStart = 0;
if (useSampler) await runSampled();
let scheduled = t0;
while (!useSampler && monoS() - t0 < seconds) {
  scheduled += cfg.sense.tickMs / 1000;
  const wait = scheduled - monoS();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait * 1000));
  let a = Bun.nanoseconds();
  const t = a / 1e9;
  const s = live.read(t);
  const b = Bun.nanoseconds();
  ns[0] += b - a;
  afterRead(s, t, responder.heldCeilings(), b);
  if (watch.candidates > 0) candidatesTicks++;
  ticks++;
}
async function runSampled(): Promise<void> {
  const sampler = createSampler();
  if (!sampler || !live.sampled) throw new Error("--sampler: libhosa's sampler cannot run here");
  const pace = new EpisodePace(cfg.sense.tickMs, cfg.sense.vigilanceTickMs);
  let tickMs = cfg.sense.tickMs;
  let lastTickAtMs = 0;
  /** When the last stage of the last snapshot ended: the loop's own time is from there to the next read. */
  let lastEnd = NaN;
  const source = {
    read(t: number): Sample {
      const a = Bun.nanoseconds();
      // Within a wake (a gap over a millisecond is the wait for the next one).
      if (a - lastEnd < 1e6) ns[7] += a - lastEnd;
      position = a - lastEnd < 1e6 ? position + 1 : 0;
      snapStart = a;
      const s = live.read(t);
      ns[0] += Bun.nanoseconds() - a;
      return s;
    },
  };
  let warm = false;
  let wakes0 = 0;
  const loopT0 = monoS();
  const loop: TickLoop = new TickLoop({
    source,
    tickMs: () => tickMs,
    durationS: seconds + warmupS,
    onStart: () => {
      if (settlePolicy >= 1) (Bun.unsafe as { setJITPolicy?: (n: number) => void }).setJITPolicy?.(settlePolicy);
    },
    sampler,
    batch: () => (pace.calm ? cfg.sense.calmBatch : 1),
    onTick(s, t) {
      if (warmupS > 0 && !warm && t - loopT0 >= warmupS) {
        warm = true;
        ns.fill(0);
        byPosition.fill(0);
        byPositionN.fill(0);
        ticks = 0;
        candidatesTicks = 0;
        wakes0 = loop.batched.wakes;
        c0 = process.cpuUsage();
        threads0 = threadTicks();
        h0 = heapStats();
        t0 = monoS();
      }
      const held = responder.heldCeilings();
      const d = afterRead(s, t, held, Bun.nanoseconds());
      const a = Bun.nanoseconds();
      tickMs = pace.tickMs(t, { level: d.level, previousLevel: d.previousLevel, danger: s.danger ?? NO_DANGER, held, candidates: watch.candidates, moving: watch.moving });
      lastTickAtMs = Date.now();
      const b = Bun.nanoseconds();
      ns[6] += b - a;
      lastEnd = b;
      if (position < byPosition.length) {
        byPosition[position] += b - snapStart;
        byPositionN[position]++;
      }
      if (watch.candidates > 0) candidatesTicks++;
      ticks++;
    },
  });
  const r = await loop.run();
  void lastTickAtMs;
  wakes = loop.batched.wakes - wakes0;
  const st = sampler.status();
  samplerNote = `${loop.batched.snapshots} of ${r.ticks} ticks from snapshots, ${loop.batched.dropped} dropped; the last run of the thread: ${st.taken} taken, ${st.tripped} tripwires, ${st.skipped} skipped`;
  sampler.close();
  if (r.ticks === 0) throw new Error("--sampler: no tick");
}
const c1 = process.cpuUsage(c0);
const threads1 = threadTicks();
const h1 = heapStats();
const wallS = monoS() - t0;
const out = {
  tickMs: cfg.sense.tickMs,
  ticks,
  seconds: wallS,
  scope: cfg.respond.cgroupScope,
  watched: watch.size,
  candidateTicks: candidatesTicks,
  usPerTick: Object.fromEntries(stages.map((n, i) => [n, ns[i]! / ticks / 1000])),
  cpuUsPerTick: (c1.user + c1.system) / ticks,
  cpuPct: ((c1.user + c1.system) / 1e6 / wallS) * 100,
  heapObjectsPerTick: (h1.objectCount - h0.objectCount) / ticks,
  threadsPct: Object.fromEntries([...threads1].map(([k, v]) => [k, (v - (threads0.get(k) ?? 0)) / (monoS() - t0)]).filter(([, v]) => (v as number) > 0)),
  wakes,
  maxLevel,
  actions: actionCount,
};
responder.restoreAll("bench ended");
watch.close();
live.close();
await notifier.close({ wallTime: "", why: "bench", drainMs: 0 });
if (argv.includes("--json")) console.log(JSON.stringify(out));
else {
  console.log(`${useSampler ? `sampler, ${wakes} wakes, ` : ""}tick ${out.tickMs} ms, ${ticks} ticks in ${wallS.toFixed(1)} s, scope "${out.scope}", ${out.watched} cgroups watched, candidates on ${candidatesTicks} ticks, highest level ${maxLevel}, ${actionCount} actions`);
  if (samplerNote) console.log(`  ${samplerNote}`);
  for (const [k, v] of Object.entries(out.usPerTick)) console.log(`  ${k.padEnd(16)} ${v.toFixed(1)} µs`);
  console.log(`  threads (% of a core; those alive at both ends): ${Object.entries(out.threadsPct).map(([k, v]) => `${k} ${(v as number).toFixed(2)}`).join(", ")}`);
  console.log(`  process CPU      ${out.cpuUsPerTick.toFixed(1)} µs per tick (${out.cpuPct.toFixed(2)} % of a core), heap objects ${out.heapObjectsPerTick.toFixed(1)} per tick`);
  if (useSampler) {
    const used = [...byPositionN].findLastIndex((n) => n > 0) + 1;
    console.log(`  by place in the batch (µs, read to pace): ${Array.from(byPosition.subarray(0, used), (v, i) => (v / Math.max(1, byPositionN[i]!) / 1000).toFixed(0)).join(" ")}`);
  }
}
const __ls = (globalThis as any).__ls as Float64Array | undefined;
if (__ls) console.log("live-source µs/tick: fast read, fast parse, slow read, slow parse, psi, probes, limits, compute:", Array.from(__ls.subarray(0, 8), (v) => (v / ticks / 1000).toFixed(1)).join(" "), "slow reads", __ls[9]);
