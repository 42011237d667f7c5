// Issue 5's leak scenario on pure cgroup v2, with the real agent, in a QEMU
// guest (test/guest/leak.guest.sh runs inside it): a 50 MB/s leak in its own
// cgroup is contained by `hosa run` with memory.high, not killed, its
// neighbour untouched, and every value is back once the leak stops.
import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { bootGuest, compileStatic, guestSkipReason, type GuestRun, numberResult, REPO_ROOT, tail } from "./boot.ts";

const skip = guestSkipReason();
if (skip) console.warn(`skip: guest tests: ${skip}`);

interface Point {
  tMs: number;
  mb: number;
  high: string;
}

function decode(run: GuestRun, name: string): string {
  return Buffer.from(run.results.get(name) ?? "", "base64").toString("utf8");
}

function parseSeries(text: string): Point[] {
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => {
      const [t, mb, high] = l.trim().split(/\s+/);
      return { tMs: Number(t), mb: Number(mb), high: high ?? "" };
    });
}

/** MB/s between the first and last points of a window. */
function rateMbPerS(points: Point[]): number {
  const first = points[0]!;
  const last = points[points.length - 1]!;
  return ((last.mb - first.mb) * 1000) / (last.tMs - first.tMs);
}

describe.skipIf(skip !== undefined)("hosa run contains a leak on pure cgroup v2", () => {
  test("a 50 MB/s leak gets memory.high within seconds, slows below 20 %, lives, and everything is restored", async () => {
    const leaker = compileStatic(join(REPO_ROOT, "bench/leaker.c"), "leaker");
    let run: GuestRun;
    try {
      run = await bootGuest(join(REPO_ROOT, "test/guest/leak.guest.sh"), [leaker], { timeoutS: 240 });
    } finally {
      rmSync(dirname(leaker), { recursive: true, force: true });
    }
    const why = tail(run, 80);
    expect(run.exitCode, why).toBe(0);
    expect(run.results.get("hosa_started"), why).toBe("1");
    expect(run.results.get("warmup_ms"), why).toBeDefined();
    expect(run.results.get("level_at_leak_start"), why).toBe("0");

    const t0 = numberResult(run, "leak_start_ms");
    const containedMs = numberResult(run, "contained_ms");
    const tc = t0 + containedMs;
    const series = parseSeries(decode(run, "series_b64"));
    // What the leak had allocated (MB) when hosa's memory.high landed.
    const grownAtContainment = Math.max(0, ...series.filter((p) => p.tMs <= tc).map((p) => p.mb));
    // Before: the same leaker in the same cgroup, measured uncontained before
    // hosa ran (containment comes too fast to measure a rate ahead of it).
    const rateBefore = numberResult(run, "reference_rate_mb_s");
    const after = series.filter((p) => p.tMs >= tc + 1000 && p.tMs <= tc + 8000);
    expect(after.length, why).toBeGreaterThan(10);
    const rateAfter = rateMbPerS(after);
    const decisions = decode(run, "decisions_b64")
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const actions = decisions.filter((d) => d.kind === "action");
    const memoryHighOnLeak = actions.find(
      (d) => String(d.target_cgroup ?? "").endsWith("/leak") && String(d.action ?? "").includes("memory.high"),
    );
    const levels = decisions
      .filter((d) => d.kind === "level")
      .map((d) => `${Number(d.t).toFixed(1)}s:L${d.level}`)
      .join(" ");
    const onNeighbour = actions.filter((d) => String(d.target_cgroup ?? "").includes("neighbour"));

    console.log(
      `guest leak: contained ${containedMs} ms after the leak started, at ${grownAtContainment} MB; growth ${rateBefore.toFixed(1)} MB/s before, ` +
        `${rateAfter.toFixed(1)} MB/s after; relaxed ${run.results.get("relaxed_ms")} ms after the leak stopped; ` +
        `hosa stopped in ${run.results.get("stop_ms")} ms; leak frozen ${run.results.get("leak_frozen")}; levels ${levels}; guest wall ${(run.wallMs / 1000).toFixed(0)} s`,
    );

    // Containment: hosa wrote memory.high on the leak, and says so in its log.
    // About 2 s on hardware (issue 5). Under TCG on a loaded host the leaker
    // itself runs at 13-42 MB/s instead of 50 (it shares the emulated CPUs
    // with hosa), so the bound is what the leak got to allocate: at most what
    // a 50 MB/s leak allocates in 6 s (300 MB), and 15 s at the most.
    expect(grownAtContainment, why).toBeLessThanOrEqual(300);
    expect(containedMs, why).toBeLessThanOrEqual(15000);
    expect(memoryHighOnLeak, decode(run, "decisions_b64").slice(-3000)).toBeDefined();
    expect(onNeighbour).toEqual([]);
    expect(rateBefore).toBeGreaterThan(25);
    expect(rateAfter).toBeLessThan(0.2 * rateBefore);

    // Slowed or, at Level 4, frozen (leak_frozen), but not killed.
    expect(run.results.get("leaker_alive")).toBe("1");
    expect(run.results.get("leak_event_oom_kill")).toBe("0");

    // The neighbour untouched throughout.
    const neighbour = run.results.get("neighbour_before");
    expect(neighbour).toBeDefined();
    expect(run.results.get("neighbour_during")).toBe(neighbour);
    expect(run.results.get("neighbour_after")).toBe(neighbour);

    // Back to the original values once the leak stopped, then a clean stop.
    const original = run.results.get("leak_before");
    expect(run.results.get("leak_relaxed"), decode(run, "run_out_b64").slice(-3000)).toBe(original);
    expect(run.results.get("hosa_exit")).toBe("0");
    expect(run.results.get("leak_after")).toBe(original);
  }, 300_000);
});
