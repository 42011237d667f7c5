// The danger gate in the responder (issue 11), on a fixture cgroupfs (v2):
// surprise alone touches nothing, danger names the one cgroup contained,
// containment lets go once the danger is gone while the level stays up,
// quarantine needs containment failing, and detection-only counts nothing
// as in force.
import { afterAll, expect, test } from "bun:test";
import { cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { NO_DANGER } from "../../src/engine/danger.ts";
import type { Danger, Level } from "../../src/engine/types.ts";
import { detectCgroupLayout } from "../../src/kernel/cgroups.ts";
import { createResponder, DANGER_GONE_S } from "../../src/respond/responder.ts";
import { hasControllingTty } from "../../src/kernel/proc.ts";
import { interactiveReason } from "../../src/respond/targets.ts";
import type { CgroupUsage } from "../../src/sense/types.ts";
import { actConfig, decision, tempDir, TestResources } from "./helpers.ts";

const FIXTURE = join(import.meta.dir, "../fixtures/cgroupfs/respond-v2");
const res = new TestResources();
afterAll(() => res.cleanup());

const usage = (t: number): CgroupUsage[] => [
  { path: "/workload/leak", memoryBytes: 500e6 + t * 50e6, cpuUsageUs: 0, ioBytes: 0, pids: 1 },
  // The neighbour grows faster in bytes: a growth-ranked choice would pick it.
  { path: "/workload/neighbour", memoryBytes: 200e6 + t * 90e6, cpuUsageUs: 0, ioBytes: 0, pids: 1 },
];

const leakDanger = (over: Partial<Danger> = {}): Danger => ({
  ttfS: 30,
  cgroup: "/workload/leak",
  resource: "memory limit",
  containmentFailing: false,
  evidence: "/workload/leak: anon 500.0 MiB growing 47.7 MiB/s for 0.4 s, limit 2048.0 MiB: 32.4 s to exhaustion",
  ...over,
});

function setup(mode: "act" | "detect" = "act") {
  const root = tempDir("dg");
  res.dirs.push(root);
  cpSync(FIXTURE, root, { recursive: true });
  const cfg = actConfig(tempDir("dgs"), { relaxS: 6, quarantineMode: "airgap", mode });
  res.dirs.push(cfg.paths.stateDir);
  cfg.sense.cgroupRoot = root;
  const file = (cg: string, f: string) => readFileSync(join(root, "workload", cg, f), "utf8").trim();
  return { cfg, r: createResponder(cfg, { kill: () => {} }), file };
}

test("surprise alone, up to Level 5, touches no cgroup", () => {
  const { r, file } = setup();
  const before = { high: file("neighbour", "memory.high"), weight: file("neighbour", "cpu.weight") };
  let prev: Level = 0;
  const out = [];
  for (const [t, lvl] of [[0, 2], [0.1, 3], [0.2, 4], [0.3, 5], [1, 5]] as [number, Level][]) {
    out.push(...r.onDecision(decision(t, lvl, prev), usage(t), { ...NO_DANGER }));
    prev = lvl;
  }
  expect(out.filter((a) => a.outcome === "applied")).toEqual([]);
  expect(file("neighbour", "memory.high")).toBe(before.high);
  expect(file("leak", "memory.high")).toBe("max");
  expect(file("neighbour", "cpu.weight")).toBe(before.weight);
  expect(r.inForce()).toEqual([]);
});

test("a pending danger (seen, not yet steady) is no evidence: the level it is given touches nothing", () => {
  const { r, file } = setup();
  const out = [];
  let prev: Level = 0;
  for (const [t, lvl] of [[0, 1], [0.1, 2], [0.2, 3], [0.5, 3]] as [number, Level][]) {
    out.push(...r.onDecision(decision(t, lvl, prev), usage(t), leakDanger({ pending: true })));
    prev = lvl;
  }
  expect(out.filter((a) => a.outcome === "applied")).toEqual([]);
  expect(file("leak", "memory.high")).toBe("max");
  expect(r.inForce()).toEqual([]);
  // Proven: contained at once.
  out.push(...r.onDecision(decision(0.6, 3, 3), usage(0.6), leakDanger()));
  expect(file("leak", "memory.high")).not.toBe("max");
});

test("danger names the one target; it is let go after the danger while the level stays at 4; Level 5 needs containment failing", () => {
  const { r, file } = setup();
  const out = [];
  out.push(...r.onDecision(decision(0, 1, 0), usage(0), leakDanger()));
  out.push(...r.onDecision(decision(0.1, 3, 1), usage(0.1), leakDanger()));
  out.push(...r.onDecision(decision(0.2, 5, 3), usage(0.2), leakDanger()));
  const applied = out.filter((a) => a.outcome === "applied");
  expect(applied.length).toBeGreaterThan(0);
  expect(new Set(applied.map((a) => a.target))).toEqual(new Set(["/workload/leak"]));
  expect(out.some((a) => a.action === "danger target" && a.outcome.includes("32.4 s to exhaustion"))).toBe(true);
  expect(file("leak", "memory.high")).not.toBe("max");
  expect(file("neighbour", "memory.high")).toBe("max");
  // A ceiling holding it: no freeze, no quarantine.
  expect(file("leak", "cgroup.freeze")).toBe("0");
  expect(out.some((a) => a.kind === "quarantine" || a.kind === "signal")).toBe(false);
  expect(r.heldCeilings().get("/workload/leak")).toEqual({ "memory.high": Number.POSITIVE_INFINITY, "memory.max": Number.POSITIVE_INFINITY });

  // The danger is gone; the engine stays at Level 4 (its own hold): containment relaxes anyway.
  const later: typeof out = [];
  let t = 0.3;
  for (; t < 0.3 + DANGER_GONE_S + 6 + 1; t += 0.1) later.push(...r.onDecision(decision(t, 4, 4), usage(t), { ...NO_DANGER }));
  expect(file("leak", "memory.high")).toBe("max");
  expect(file("leak", "cpu.weight")).toBe("100");
  expect(later.filter((a) => a.outcome === "restored").length).toBeGreaterThanOrEqual(2);
  expect(r.inForce()).toEqual([]);
});

test("containment failing at Level 4 freezes the target; the freeze is lifted when the danger passes", () => {
  const { r, file } = setup();
  r.onDecision(decision(0, 3, 0), usage(0), leakDanger());
  r.onDecision(decision(0.1, 4, 3), usage(0.1), leakDanger({ containmentFailing: true }));
  expect(file("leak", "cgroup.freeze")).toBe("1");
  expect(file("neighbour", "cgroup.freeze")).toBe("0");
  for (let t = 0.2; t < 0.2 + DANGER_GONE_S + 0.2; t += 0.1) r.onDecision(decision(t, 4, 4), usage(t), { ...NO_DANGER });
  expect(file("leak", "cgroup.freeze")).toBe("0");
});

test("detection-only: everything would apply, nothing counts as in force or restored", () => {
  const { r, file } = setup("detect");
  const out = [...r.onDecision(decision(0, 3, 0), usage(0), leakDanger()), ...r.onDecision(decision(0.1, 4, 3), usage(0.1), leakDanger())];
  const acts = out.filter((a) => a.kind === "cgroup" && a.action !== "danger target");
  expect(acts.length).toBeGreaterThan(0);
  expect(acts.every((a) => a.outcome.startsWith("would") || a.outcome.startsWith("skipped"))).toBe(true);
  expect(file("leak", "memory.high")).toBe("max");
  expect(r.inForce()).toEqual([]);
  expect(r.restoreAll("agent stopped").every((a) => a.outcome.startsWith("would"))).toBe(true);
});

test("a login session's cgroup or a process with a controlling terminal is never frozen nor stopped", () => {
  const { cfg } = setup();
  // A cgroupfs that holds nothing: only the session name and /proc decide.
  const ctx = { fs: { root: "", read: () => undefined, write: () => {} }, layout: detectCgroupLayout(`${import.meta.dir}/../fixtures/cgroupfs/respond-v2`), procRoot: cfg.sense.procRoot };
  expect(interactiveReason("/user.slice/user-0.slice/session-3.scope", ctx)).toBe("an interactive login session");
  expect(interactiveReason("/user.slice/user-0.slice/session-3.scope/child", ctx)).toBe("an interactive login session");
  expect(interactiveReason("/system.slice/batch.service", ctx)).toBeNull();
  // This test's own process: with a terminal when run by hand, without one under CI; the check must agree with /proc.
  const tty = Number(readFileSync(`/proc/${process.pid}/stat`, "utf8").split(") ")[1].split(" ")[4]) !== 0;
  expect(hasControllingTty("/proc", process.pid)).toBe(tty);
  expect(hasControllingTty("/proc", 1)).toBe(false);
});
