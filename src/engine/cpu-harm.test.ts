// The CPU harm rule on synthetic facts (pure: time is data). The live check,
// a real runaway starving a real neighbour on this host, is in
// test/respond/cpu-harm.test.ts.
import { describe, expect, test } from "bun:test";
import { type CpuFacts, CpuHarmTracker } from "./cpu-harm.ts";

/** Cumulative counters for a scenario: per step of dt, each cgroup's CPU use (CPUs) and stall fraction. */
function feed(tr: CpuHarmTracker, steps: { s: number; use: Record<string, number>; stall: Record<string, number>; throttled?: Record<string, number> }[], dt = 0.5, useScale = 1e6) {
  const acc: Record<string, { u: number; st: number; th: number }> = {};
  let t = 0;
  const out: { t: number; culprit: string | null }[] = [];
  for (const step of steps) {
    for (let i = 0; i < step.s / dt; i++) {
      t += dt;
      const facts: CpuFacts[] = [];
      for (const p of new Set([...Object.keys(step.use), ...Object.keys(step.stall)])) {
        acc[p] ??= { u: 0, st: 0, th: 0 };
        acc[p].u += (step.use[p] ?? 0) * dt * useScale;
        acc[p].st += (step.stall[p] ?? 0) * dt * 1e6;
        acc[p].th += (step.throttled?.[p] ?? 0) * dt * 1e6;
        facts.push({ path: p, usage: acc[p].u, stallUs: p in step.stall ? acc[p].st : Number.NaN, throttledUs: step.throttled && p in step.throttled ? acc[p].th : Number.NaN, sensitive: p in step.stall });
      }
      out.push({ t, culprit: tr.update(t, facts)?.culprit ?? null });
    }
  }
  return out;
}
const firstNamed = (o: { t: number; culprit: string | null }[]) => o.find((x) => x.culprit)?.t ?? null;

describe("CpuHarmTracker", () => {
  test("a runaway that keeps a sensitive neighbour waiting is named after holdS; a 20 s burst doing the same to it is only a burst if holdS is longer", () => {
    const calm = { s: 30, use: { "/a/hog": 0.05, "/a": 0.15 }, stall: { "/a/vic": 0.25 } };
    const hog = { s: 40, use: { "/a/hog": 1.8, "/a": 1.9 }, stall: { "/a/vic": 0.6 } };
    const o = feed(new CpuHarmTracker(), [calm, hog]);
    const at = firstNamed(o);
    expect(at).not.toBeNull();
    // Named 10 s (holdS) after the stall shows over the 2 s window, the deepest cgroup (not /a, its parent).
    expect(at! - 30).toBeGreaterThanOrEqual(10);
    expect(at! - 30).toBeLessThan(13);
    expect(o.find((x) => x.culprit)!.culprit).toBe("/a/hog");
    const burst = feed(new CpuHarmTracker({ holdS: 25 }), [calm, { ...hog, s: 20 }, calm]);
    expect(firstNamed(burst)).toBeNull();
  });

  test("busyness alone is not harm: all cores busy while the neighbour waits no more than it used to", () => {
    const o = feed(new CpuHarmTracker(), [
      { s: 30, use: { "/hog": 0.1 }, stall: { "/vic": 0.45 } },
      { s: 40, use: { "/hog": 2 }, stall: { "/vic": 0.5 } },
    ]);
    expect(firstNamed(o)).toBeNull();
    // No sensitive neighbour at all: nothing is ever harm.
    expect(firstNamed(feed(new CpuHarmTracker(), [{ s: 40, use: { "/hog": 2, "/other": 0.2 }, stall: {} }]))).toBeNull();
  });

  test("held: the harm stands while the quota throttles the culprit, and is gone releaseS after", () => {
    const calm = { s: 30, use: { "/hog": 0.05 }, stall: { "/vic": 0.2 } };
    const hog = { s: 15, use: { "/hog": 1.8 }, stall: { "/vic": 0.6 } };
    const held = { s: 20, use: { "/hog": 0.9 }, stall: { "/vic": 0.3 }, throttled: { "/hog": 0.5 } };
    const ended = { s: 10, use: { "/hog": 0 }, stall: { "/vic": 0.2 }, throttled: { "/hog": 0 } };
    const o = feed(new CpuHarmTracker(), [calm, hog, held, ended]);
    const inHeld = o.filter((x) => x.t > 45 && x.t <= 65);
    expect(inHeld.every((x) => x.culprit === "/hog")).toBe(true);
    const after = o.filter((x) => x.t > 65 + 2 + 3 + 0.5);
    expect(after.every((x) => x.culprit === null)).toBe(true);
  });

  test("same facts, same harm, bit for bit", () => {
    const steps = [
      { s: 20, use: { "/h": 0.1 }, stall: { "/v": 0.2 } },
      { s: 20, use: { "/h": 1.5 }, stall: { "/v": 0.55 } },
    ];
    expect(JSON.stringify(feed(new CpuHarmTracker(), steps))).toBe(JSON.stringify(feed(new CpuHarmTracker(), steps)));
  });

  test("I/O: the same rule on io.pressure and bytes; under a throttle the harm stands while the flood still does half the floor", () => {
    const MiB = 1024 * 1024;
    const calm = { s: 30, use: { "/flood": 0.5 * MiB }, stall: { "/db": 0.05 } };
    const flood = { s: 15, use: { "/flood": 150 * MiB }, stall: { "/db": 0.7 } };
    const held = { s: 10, use: { "/flood": 60 * MiB }, stall: { "/db": 0.3 } };
    const ended = { s: 10, use: { "/flood": 0 }, stall: { "/db": 0.05 } };
    const o = feed(new CpuHarmTracker({ kind: "io" }), [calm, flood, held, ended], 0.5, 1);
    const at = firstNamed(o)!;
    expect(at - 30).toBeGreaterThanOrEqual(10);
    expect(o.filter((x) => x.t > 45 && x.t <= 55).every((x) => x.culprit === "/flood")).toBe(true);
    expect(o.filter((x) => x.t > 55 + 2 + 3 + 0.5).every((x) => x.culprit === null)).toBe(true);
    // 150 KiB/s of I/O is under the floor, even as the scope's whole I/O.
    expect(firstNamed(feed(new CpuHarmTracker({ kind: "io" }), [calm, { ...flood, use: { "/flood": 150 * 1024 } }], 0.5, 1))).toBeNull();
  });

  test("a host that gives the scope little CPU: a runaway with most of the scope's use is the culprit; one with a small share is not", () => {
    const calm = { s: 30, use: { "/s": 0.1, "/s/hog": 0.01, "/s/vic": 0.08, "/s/other": 0.01 }, stall: { "/s/vic": 0.3 } };
    const starved = { s: 15, use: { "/s": 0.3, "/s/hog": 0.22, "/s/vic": 0.05, "/s/other": 0.03 }, stall: { "/s/vic": 0.6 } };
    expect(feed(new CpuHarmTracker(), [calm, starved]).find((x) => x.culprit)?.culprit).toBe("/s/hog");
    // The neighbour's own use is no competition: what the others used is 0.45 CPU here.
    const shared = { s: 15, use: { "/s": 0.5, "/s/hog": 0.2, "/s/vic": 0.05, "/s/other": 0.19, "/s/third": 0.06 }, stall: { "/s/vic": 0.6 } };
    // /s/hog uses the most, but under half of the others' with /s/other beside it: none has the share to explain it alone.
    expect(firstNamed(feed(new CpuHarmTracker(), [calm, shared]))).toBeNull();
    // /s/other quieter: /s/hog has most of what the others used (0.2 of 0.31), though the neighbour's own use would make it under half of the scope's.
    const third = { ...shared, use: { "/s": 0.45, "/s/hog": 0.2, "/s/vic": 0.14, "/s/other": 0.05, "/s/third": 0.06 } };
    expect(feed(new CpuHarmTracker(), [calm, third]).find((x) => x.culprit)?.culprit).toBe("/s/hog");
  });
  /** Facts with the neighbour's schedstat: per step, CPU use, and for the sensitive one its run (CPUs) and run-queue wait per unit of run. */
  function feedWait(tr: CpuHarmTracker, steps: { s: number; use: Record<string, number>; run: number; ratio: number; stall?: number; throttled?: number }[], dt = 0.5) {
    const acc: Record<string, number> = {};
    let run = 0;
    let wait = 0;
    let stall = 0;
    let thr = 0;
    let t = 0;
    const out: { t: number; culprit: string | null; evidence: string }[] = [];
    for (const step of steps) {
      for (let i = 0; i < step.s / dt; i++) {
        t += dt;
        run += step.run * dt * 1e6;
        wait += step.run * step.ratio * dt * 1e6;
        stall += (step.stall ?? 1) * dt * 1e6;
        thr += (step.throttled ?? 0) * dt * 1e6;
        const facts: CpuFacts[] = Object.entries(step.use).map(([p, u]) => {
          acc[p] = (acc[p] ?? 0) + u * dt * 1e6;
          return { path: p, usage: acc[p], stallUs: Number.NaN, throttledUs: step.throttled === undefined ? Number.NaN : thr, sensitive: false };
        });
        acc["/svc"] = (acc["/svc"] ?? 0) + step.run * dt * 1e6;
        facts.push({ path: "/svc", usage: acc["/svc"], stallUs: stall, throttledUs: Number.NaN, sensitive: true, waitUs: wait, runUs: run });
        const h = tr.update(t, facts);
        out.push({ t, culprit: h?.culprit ?? null, evidence: h?.evidence ?? "" });
      }
    }
    return out;
  }

  test("run-queue wait: a service that needs CPU, kept waiting by a runaway's spinning threads, is harm the saturated stall fraction cannot show", () => {
    // A loaded node: the service's stall fraction is pinned at 100 % before and during (what the
    // stall rule sees: no rise), but each ms it runs it waited 0.4 ms before, 1.5 ms with the runaway.
    const before = { s: 30, use: { "/hog": 0.05, "/other": 0.6 }, run: 0.7, ratio: 0.4, stall: 1 };
    const runaway = { s: 20, use: { "/hog": 1.2, "/other": 0.3 }, run: 0.45, ratio: 1.5, stall: 1 };
    const o = feedWait(new CpuHarmTracker(), [before, runaway]);
    const at = o.find((x) => x.culprit)!;
    expect(at.culprit).toBe("/hog");
    expect(at.t - 30).toBeGreaterThanOrEqual(10);
    expect(at.t - 30).toBeLessThan(13);
    expect(at.evidence).toContain("ms per ms it ran");
    // Waiting no more than twice its own usual ratio is not harm (a node that was already busy), nor is
    // an idle neighbour (it runs under minRun: its ratio means nothing), nor all cores busy with no neighbour running.
    expect(firstNamed(feedWait(new CpuHarmTracker(), [before, { ...runaway, ratio: 0.75 }]))).toBeNull();
    expect(firstNamed(feedWait(new CpuHarmTracker(), [{ ...before, run: 0.01 }, { ...runaway, run: 0.01, ratio: 5 }]))).toBeNull();
    // Suffering for 20 s with no culprit in scope (the competition is outside it): the usual level
    // is learnt ten times slower, so a runaway that then takes the share is still measured against the level before.
    const outside = { s: 20, use: { "/hog": 0.05, "/other": 0.05 }, run: 0.45, ratio: 1.5, stall: 1 };
    const late = feedWait(new CpuHarmTracker(), [before, outside, runaway]);
    expect(late.find((x) => x.culprit)?.culprit).toBe("/hog");
    // Held by a quota that throttles it: stands; the runaway gone: let go.
    const held = { s: 10, use: { "/hog": 0.6, "/other": 0.3 }, run: 0.7, ratio: 0.5, throttled: 0.4 };
    const gone = { s: 10, use: { "/hog": 0, "/other": 0.3 }, run: 0.7, ratio: 0.4, throttled: 0 };
    const h = feedWait(new CpuHarmTracker(), [before, runaway, held, gone]);
    expect(h.filter((x) => x.t > 50 && x.t <= 60).every((x) => x.culprit === "/hog")).toBe(true);
    expect(h.filter((x) => x.t > 60 + 2 + 3 + 0.5).every((x) => x.culprit === null)).toBe(true);
  });
});

