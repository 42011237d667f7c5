import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type CgroupFacts, DangerTracker } from "./danger.ts";
import type { Danger } from "./types.ts";
import { prng } from "../../test/prng.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

interface Scene {
  tickS: number;
  seconds: number;
  avail?: (t: number) => number;
  cgroups: (t: number) => CgroupFacts[];
}

/** Runs a scene through a fresh tracker and returns the danger of every tick. */
function run(scene: Scene, tracker = new DangerTracker()): { t: number; d: Danger }[] {
  const out: { t: number; d: Danger }[] = [];
  const n = Math.round(scene.seconds / scene.tickS);
  for (let i = 0; i <= n; i++) {
    const t = 100 + i * scene.tickS;
    out.push({ t, d: tracker.update({ t, cgroups: scene.cgroups(t - 100), nodeAvailableBytes: scene.avail?.(t - 100) ?? 22 * GiB }) });
  }
  return out;
}

const cg = (path: string, anonBytes: number, limitBytes = Number.POSITIVE_INFINITY, extra: Partial<CgroupFacts> = {}): CgroupFacts => ({
  path,
  anonBytes,
  limitBytes,
  pressing: false,
  contained: false,
  ...extra,
});

/** A deterministic jitter of ±1 MiB, so the regression has noise to see through. */
const noise = (t: number) => Math.sin(t * 37.1) * MiB;

describe("DangerTracker", () => {
  test("a 50 MB/s leak in a 2 GiB cgroup is seen within 0.5 s and proven steady by 0.7 s, named at the leaf, not its parent", () => {
    const rate = 50e6;
    const res = run({
      tickS: 0.1,
      seconds: 3,
      cgroups: (s) => [
        cg("/svc", 300 * MiB + rate * s + noise(s)),
        cg("/svc/leak", 10 * MiB + rate * s + noise(s), 2 * GiB),
        cg("/other", 500 * MiB + noise(s + 1)),
      ],
    });
    const first = res.find((r) => Number.isFinite(r.d.ttfS));
    expect(first).toBeDefined();
    expect(first!.t - 100).toBeLessThanOrEqual(0.5);
    expect(first!.d.cgroup).toBe("/svc/leak");
    expect(first!.d.resource).toBe("memory limit");
    expect(first!.d.pending).toBe(true);
    expect(first!.d.evidence).toContain("if it lasts");
    const proven = res.find((r) => Number.isFinite(r.d.ttfS) && !r.d.pending)!;
    expect(proven.t - 100).toBeLessThanOrEqual(0.7);
    expect(proven.d.cgroup).toBe("/svc/leak");
    expect(proven.d.evidence).toContain("steady over the last 0.50 s");
    const at2 = res.find((r) => r.t - 100 >= 2)!;
    expect(at2.d.ttfS).toBeGreaterThan(35);
    expect(at2.d.ttfS).toBeLessThan(42);
    expect(at2.d.evidence).toContain("/svc/leak");
    expect(at2.d.containmentFailing).toBe(false);
  });

  test("a 2 GiB burst on a node with 22 GiB available, no limit, is never danger; a leak that lasts is", () => {
    const burst = run({
      tickS: 0.1,
      seconds: 30,
      cgroups: (s) => [cg("/stress", Math.min(2 * GiB, 400e6 * s) + noise(s))],
      avail: (s) => 22 * GiB - Math.min(2 * GiB, 400e6 * s),
    });
    expect(burst.every((r) => r.d.cgroup === null && r.d.ttfS === Number.POSITIVE_INFINITY)).toBe(true);

    const leak = run({
      tickS: 0.1,
      seconds: 40,
      cgroups: (s) => [cg("/leak", 400e6 * s + noise(s))],
      avail: (s) => 22 * GiB - 400e6 * s,
    });
    const first = leak.find((r) => Number.isFinite(r.d.ttfS));
    expect(first).toBeDefined();
    expect(first!.d.cgroup).toBe("/leak");
    // Lasting: at least a quarter of the time to failure, well before the node runs out (≈ 59 s).
    expect(first!.t - 100).toBeGreaterThan(5);
    expect(first!.t - 100).toBeLessThan(20);
    expect(first!.d.evidence).toContain("node MemAvailable");
  });

  test("a parent's usage adds its children's: a burst beside a neighbour that keeps growing is never a node danger of the parent", () => {
    // /b: a 2 GiB burst filling in 2 s from s = 8, then flat; /n: grows 40 MB/s all along; /p = both.
    const burst = (s: number) => Math.min(2 * GiB, GiB * Math.max(0, s - 8));
    const res = run({
      tickS: 0.1,
      seconds: 20,
      cgroups: (s) => [cg("/p", burst(s) + 40e6 * s + noise(s), Number.POSITIVE_INFINITY, { parent: true }), cg("/p/b", burst(s) + noise(s)), cg("/p/n", 40e6 * s + noise(s))],
      avail: (s) => 22 * GiB - burst(s) - 40e6 * s,
    });
    expect(res.filter((r) => r.d.cgroup !== null).map((r) => r.d.cgroup)).toEqual([]);
    // Without the flag the same parent, growing for long enough, is named: the flag is what keeps it out.
    const flagless = run({
      tickS: 0.1,
      seconds: 20,
      cgroups: (s) => [cg("/p", burst(s) + 40e6 * s + noise(s))],
      avail: (s) => 22 * GiB - burst(s) - 40e6 * s,
    });
    expect(flagless.some((r) => r.d.cgroup === "/p")).toBe(true);
  });

  test("memory that stops growing (a cache warm that levels off) is danger no longer", () => {
    const res = run({
      tickS: 0.1,
      seconds: 10,
      cgroups: (s) => [cg("/warm", Math.min(1500 * MiB, 300e6 * s) + noise(s), 2 * GiB)],
    });
    expect(res.some((r) => Number.isFinite(r.d.ttfS))).toBe(true);
    expect(res.filter((r) => r.t - 100 > 7).every((r) => r.d.cgroup === null)).toBe(true);
  });

  test("held back and pressing: the projection from before containment stands; let go once it stops pressing", () => {
    const tracker = new DangerTracker();
    const rate = 50e6;
    const containAt = 1;
    const stopAt = 6;
    const usage = (s: number) => 10 * MiB + rate * Math.min(s, containAt) + 2 * MiB * Math.max(0, Math.min(s, stopAt) - containAt);
    const res = run(
      {
        tickS: 0.01,
        seconds: 12,
        cgroups: (s) => [cg("/leak", usage(s), 2 * GiB, { contained: s >= containAt, pressing: s >= containAt && s < stopAt })],
      },
      tracker,
    );
    const at = (s: number) => res.find((r) => r.t - 100 >= s)!.d;
    const before = at(0.99).ttfS;
    expect(before).toBeGreaterThan(30);
    expect(at(4).cgroup).toBe("/leak");
    expect(Math.abs(at(4).ttfS - before)).toBeLessThan(0.1);
    expect(at(4).containmentFailing).toBe(false);
    expect(at(4).evidence).toContain("pressing against the ceiling");
    // Stopped pressing at 6 s: gone after releaseS (2 s).
    expect(at(7).cgroup).toBe("/leak");
    expect(at(8.5).cgroup).toBeNull();
    expect(at(8.5).ttfS).toBe(Number.POSITIVE_INFINITY);
  });

  test("growing on despite containment is containment failing", () => {
    const rate = 50e6;
    const res = run({
      tickS: 0.01,
      seconds: 6,
      cgroups: (s) => [cg("/leak", 10 * MiB + rate * Math.min(s, 1) + 0.5 * rate * Math.max(0, s - 1), 2 * GiB, { contained: s >= 1, pressing: s >= 1 })],
    });
    const late = res.filter((r) => r.t - 100 > 4.5);
    expect(late.every((r) => r.d.containmentFailing)).toBe(true);
    expect(res.filter((r) => r.t - 100 < 2.5).some((r) => r.d.containmentFailing)).toBe(false);
  });

  test("a slow leak crawling under the v1 rising ceiling (2 MiB/s) is held, not failing", () => {
    const res = run({
      tickS: 0.01,
      seconds: 8,
      cgroups: (s) => [cg("/slow", 20 * MiB + 5e6 * Math.min(s, 2) + 2 * MiB * Math.max(0, s - 2), 256 * MiB, { contained: s >= 2, pressing: s >= 2 })],
    });
    const late = res.filter((r) => r.t - 100 > 5);
    expect(late.every((r) => r.d.cgroup === "/slow" && !r.d.containmentFailing)).toBe(true);
  });

  test("a fork storm heading to pids.max is danger on pids", () => {
    const res = run({
      tickS: 0.1,
      seconds: 2,
      cgroups: (s) => [cg("/storm", 50 * MiB, Number.POSITIVE_INFINITY, { pids: Math.round(300 * s), pidsMax: 1024 })],
    });
    const d = res.find((r) => r.t - 100 >= 1)!.d;
    expect(d.cgroup).toBe("/storm");
    expect(d.resource).toBe("pids limit");
    expect(d.ttfS).toBeLessThan(4);
  });

  // The scene of the quiet-machine run that was never contained: the storm
  // reached pids.max before its first read, so the watch only ever saw 1024
  // tasks, flat, while the kernel refused its forks.
  test("a fork storm already at pids.max when first read (no rise seen) is exhausted, named at once", () => {
    const res = run({
      tickS: 0.01,
      seconds: 1,
      cgroups: (s) => [cg("/storm", 50 * MiB, Number.POSITIVE_INFINITY, { pids: 1024, pidsMax: 1024, pidsPressing: s >= 0.01 })],
    });
    const first = res.find((r) => r.d.cgroup !== null)!;
    expect(first.t - 100).toBeLessThanOrEqual(0.02);
    expect(first.d.cgroup).toBe("/storm");
    expect(first.d.resource).toBe("pids limit");
    expect(first.d.ttfS).toBe(0);
    expect(first.d.evidence).toContain("forks refused");
    // A cgroup merely at its limit, refusing nothing, is not danger.
    const idle = run({ tickS: 0.01, seconds: 1, cgroups: () => [cg("/full", 50 * MiB, Number.POSITIVE_INFINITY, { pids: 1024, pidsMax: 1024, pidsPressing: false })] });
    expect(idle.every((r) => r.d.cgroup === null)).toBe(true);
  });

  test("a fork storm held by hosa's quota stands while its forks are refused, and is let go once they stop", () => {
    // 0–0.5 s uncontained at the limit; 0.5–6 s under hosa's quota, refused; then the storm ends (tasks gone).
    const res = run({
      tickS: 0.01,
      seconds: 10,
      cgroups: (s) => [
        cg("/storm", 50 * MiB, Number.POSITIVE_INFINITY, { pids: s < 6 ? 1024 : 1, pidsMax: 1024, pidsPressing: s > 0 && s < 6, pidsContained: s >= 0.5 }),
      ],
    });
    const held = res.filter((r) => r.t - 100 > 0.5 && r.t - 100 < 6);
    expect(held.every((r) => r.d.cgroup === "/storm" && r.d.ttfS === 0 && !r.d.containmentFailing)).toBe(true);
    expect(held.at(-1)!.d.evidence).toContain("forks refused at its limit");
    const after = res.filter((r) => r.t - 100 > 6 + 2.1);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((r) => r.d.cgroup === null)).toBe(true);
  });

  /** The longest run of consecutive ticks at or after `fromS` whose danger is inside the 120 s horizon, in seconds. */
  const longestDanger = (res: { t: number; d: Danger }[], fromS: number, tickS: number) => {
    let best = 0;
    let run = 0;
    for (const r of res) {
      if (r.t - 100 < fromS) continue;
      run = r.d.ttfS < 120 ? run + tickS : 0;
      best = Math.max(best, run);
    }
    return best;
  };

  test("a build's sawtooth (a compiler climbing 40 MiB/s, exiting, the next one) in a 2 GiB cgroup: after its first release, never danger for Level 3's dwell", () => {
    // One compiler after the other, each growing to 60 MiB in 1.5 s and giving
    // it all back when it exits, for 20 s at the vigilance tick.
    const tickS = 0.05;
    const file = 1.5;
    const cc = (s: number) => 60 * MiB * ((s % file) / file);
    const res = run({ tickS, seconds: 20, cgroups: (s) => [cg("/build", 5 * MiB + cc(s) + noise(s), 2 * GiB)] });
    // Its first climb, before anything was given back, is a steady 40 MiB/s
    // from nothing for 1.5 s: for that long, the 50 MB/s leak above
    // (a real compiler's first climb pauses: the cc1 scenes below).
    const firstRelease = file;
    expect(longestDanger(res, 0, tickS)).toBeGreaterThan(0);
    // From then on it only climbs ground it had covered.
    expect(longestDanger(res, firstRelease + tickS, tickS)).toBeLessThan(0.3);
    expect(res.filter((r) => r.t - 100 > 2 && r.d.ttfS < 120).length).toBeLessThanOrEqual(3);
  });

  test("a leak that gives memory back now and then (a runtime's collection) is danger again once past its old peak", () => {
    const tickS = 0.1;
    // 50 MB/s, and every 2 s a collection frees 30 MiB: net 20 MiB/s... still a leak.
    const leak = (s: number) => 10 * MiB + 50e6 * s - 30 * MiB * Math.floor(s / 2);
    const res = run({ tickS, seconds: 10, cgroups: (s) => [cg("/app", leak(s) + noise(s), 2 * GiB)] });
    // Danger within 0.5 s, as for any leak.
    expect(res.find((r) => r.d.ttfS < 120)!.t - 100).toBeLessThanOrEqual(0.5);
    // After each collection it regains the 30 MiB in 0.63 s, then passes its old peak: danger again, each time.
    for (const k of [3, 5, 7, 9]) {
      const back = res.filter((r) => r.t - 100 > k && r.t - 100 < k + 1 && r.d.ttfS < 120);
      expect(back.length).toBeGreaterThanOrEqual(3);
    }
  });

  // Real curves (test/fixtures/danger/cc1-anon.json): the anon memory of the
  // cortex bench's compile and of bench/leaker at 50 MB/s, each in a 2 GiB
  // cgroup, read every 10 ms on this kind of machine. Fed as the agent
  // feeds them: every 100 ms until something is seen, then every 10 ms.
  const fixture = JSON.parse(readFileSync(join(import.meta.dir, "../../test/fixtures/danger/cc1-anon.json"), "utf8")) as Record<string, [number, number][]>;
  const replayCurve = (pts: [number, number][], limit: number, tracker = new DangerTracker()) => {
    const out: { t: number; d: Danger }[] = [];
    let lastT = Number.NEGATIVE_INFINITY;
    let fast = false;
    for (const [t, kib] of pts) {
      if (!fast && t - lastT < 0.1 - 1e-9) continue;
      lastT = t;
      const d = tracker.update({ t: 100 + t, cgroups: [cg("/cc", kib * 1024, limit)], nodeAvailableBytes: 20 * GiB });
      fast ||= d.cgroup !== null;
      out.push({ t, d });
    }
    return out;
  };
  const proven = (res: { t: number; d: Danger }[]) => res.filter((r) => r.d.cgroup !== null && r.d.ttfS < 120 && !r.d.pending);

  test("a compiler's first climb (cc1: 28 MiB in 0.3 s, a pause, 17 MiB in 0.3 s, flat) and its slower later phase are seen, never proven: no danger", () => {
    for (const name of ["compile_quiet", "compile_loaded"]) {
      const res = replayCurve(fixture[name]!, 2 * GiB);
      // Seen (vigilance) in its first half second, as the leak is...
      expect(res.find((r) => r.d.cgroup !== null)!.t).toBeLessThan(0.5);
      // ...never proven, over 12 s and 20 s (its later phase: 20–60 MiB/s, after eight to ten seconds of 5–7 MiB/s).
      expect(proven(res)).toEqual([]);
    }
  });

  test("the real 50 MB/s leak, a 500 MB/s leak and a 5 MB/s leak in 256 MiB are proven in time", () => {
    const leakRes = replayCurve(fixture.leak_50!, 2 * GiB);
    const leak = proven(leakRes);
    expect(leak[0]!.t).toBeGreaterThan(0.5);
    expect(leak[0]!.t).toBeLessThanOrEqual(0.7);
    expect(leak[0]!.d.ttfS).toBeGreaterThan(35);
    expect(leak[0]!.d.ttfS).toBeLessThan(45);
    // Proven, it stays proven while it grows.
    expect(leak.length).toBe(leakRes.filter((r) => r.t >= leak[0]!.t).length);
    const line = (rate: number, secs: number): [number, number][] => Array.from({ length: secs * 100 + 1 }, (_, i) => [i / 100, Math.round((rate * Math.max(0, i / 100 - 0.05)) / 1024)]);
    // 4 s from exhaustion: its window is 0.2 s, proven at first sight.
    const fast = replayCurve(line(500e6, 2), 2 * GiB);
    const seen = fast.find((r) => r.d.cgroup !== null)!;
    expect(seen.t).toBeLessThanOrEqual(0.4);
    expect(proven(fast)[0]!.t - seen.t).toBeLessThanOrEqual(0.05);
    expect(proven(fast)[0]!.d.ttfS).toBeLessThan(5);
    const slow = proven(replayCurve(line(5e6, 5), 256 * MiB));
    expect(slow[0]!.t).toBeLessThanOrEqual(0.7);
    expect(slow[0]!.d.ttfS).toBeLessThan(60);
  });

  test("far from exhaustion, a steady growth is proven once it has lasted a quarter of its time to failure, or once it comes within a minute", () => {
    // 20 MiB/s from 100 MiB in a 2 GiB cgroup: 97 s out, pending; proven after ≈ 24 s (a quarter).
    const res = run({ tickS: 0.05, seconds: 40, cgroups: (s) => [cg("/grow", 100 * MiB + 20 * MiB * s + noise(s), 2 * GiB)] });
    const first = res.find((r) => r.d.cgroup !== null && !r.d.pending)!;
    expect(res.find((r) => r.d.cgroup !== null)!.t - 100).toBeLessThan(0.5);
    expect(first.t - 100).toBeGreaterThan(15);
    expect(first.t - 100).toBeLessThan(30);
    expect(first.d.evidence).toContain("a quarter of its time to failure");
    // The same growth 1.8 GiB in: 12 s out, proven within a second.
    const near = run({ tickS: 0.05, seconds: 3, cgroups: (s) => [cg("/grow", 1800 * MiB + 20 * MiB * s + noise(s), 2 * GiB)] });
    expect(near.find((r) => r.d.cgroup !== null && !r.d.pending)!.t - 100).toBeLessThan(1);
  });

  test("growth that pauses is not steady: bursts of 0.3 s every second, 60 MiB/s while they last, never proven; the same rate without pauses is", () => {
    const bursts = (s: number) => 60 * MiB * (Math.floor(s) * 0.3 + Math.min(s % 1, 0.3));
    const res = run({ tickS: 0.01, seconds: 6, cgroups: (s) => [cg("/b", 10 * MiB + bursts(s), 2 * GiB)] });
    expect(res.some((r) => r.d.cgroup !== null)).toBe(true);
    expect(res.filter((r) => r.d.cgroup !== null && !r.d.pending)).toEqual([]);
    const steady = run({ tickS: 0.01, seconds: 2, cgroups: (s) => [cg("/b", 10 * MiB + 60 * MiB * s, 2 * GiB)] });
    expect(steady.some((r) => r.d.cgroup !== null && !r.d.pending)).toBe(true);
  });

  // What a leak starved of CPU looks like (the suite's e2e leak test at a
  // 1-minute load of 27: contained at 3.43 s): the leaker runs on an absolute
  // schedule, is descheduled for a few tenths of a second at a time and
  // catches up at once when it runs again, so its memory climbs in steps; the
  // agent, starved too, now and then ticks late. A step can fail a 0.5 s
  // window's thirds like a pause; over thirds of 0.5 s it is steady.
  test("a leak starved of CPU (stalls of 0.3–0.5 s, caught up at once) is proven within 2.25 s of its start, 40 runs each; a compiler's pauses still are not", () => {
    const proofAt = (seed: number, stallS: number, gapS: number, withRule: boolean): number => {
      const r = prng(seed);
      const stalls: [number, number][] = [];
      for (let s = r() * gapS; s < 12; s += stallS + r() * 2 * gapS) stalls.push([s, s + stallS]);
      const ranUntil = (s: number) => stalls.find(([a, b]) => s >= a && s < b)?.[0] ?? s;
      const tracker = new DangerTracker(withRule ? {} : { steppedWindowFactor: 1 });
      let t = 0;
      let seen = false;
      while (t < 10) {
        t += seen ? 0.01 : 0.1;
        if (r() < 0.1) t += 0.05 + r() * 0.15;
        const d = tracker.update({ t: 100 + t, cgroups: [cg("/leak", 10 * MiB + 50e6 * ranUntil(t), 2 * GiB)], nodeAvailableBytes: 20 * GiB });
        seen ||= d.cgroup !== null;
        if (d.cgroup !== null && d.ttfS < 120 && !d.pending) return t;
      }
      return Number.POSITIVE_INFINITY;
    };
    let worstBefore = 0;
    for (const [stallS, gapS] of [
      [0.3, 0.35],
      [0.4, 0.6],
      [0.5, 0.6],
    ] as const) {
      const runs = (withRule: boolean) => Array.from({ length: 40 }, (_, i) => proofAt(i + 1, stallS, gapS, withRule)).sort((x, y) => x - y);
      const now = runs(true);
      const before = runs(false);
      // The short window still proves most runs as before; the stepped one bounds the rest.
      expect(now[20]!).toBeLessThanOrEqual(before[20]! + 1e-9);
      expect(now[39]!).toBeLessThan(2.25);
      worstBefore = Math.max(worstBefore, before[39]!);
    }
    // Without it a run waited over 3 s for a calm moment (the e2e test's 3.43 s).
    expect(worstBefore).toBeGreaterThan(3);
    for (const name of ["compile_quiet", "compile_loaded"]) expect(proven(replayCurve(fixture[name]!, 2 * GiB))).toEqual([]);
  });

  test("same facts, same danger, bit for bit", () => {
    const scene: Scene = { tickS: 0.05, seconds: 5, cgroups: (s) => [cg("/a", 80e6 * s + noise(s), 2 * GiB), cg("/b", 30e6 * s + noise(s * 3), GiB)] };
    expect(JSON.stringify(run(scene))).toBe(JSON.stringify(run(scene)));
  });
});
