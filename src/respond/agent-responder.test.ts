// The agent's responder: start-up recovery from the journal, except while a
// quarantine is in force (Level 5 survives restarts; only release lifts it).
import { afterAll, expect, test } from "bun:test";
import { cpSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createAgentResponder } from "./agent-responder.ts";
import { createCgroupFs } from "../kernel/cgroupfs.ts";
import { manualQuarantine, releaseQuarantine } from "./quarantine.ts";
import { createResponder } from "./responder.ts";
import type { Level } from "../engine/types.ts";
import { actConfig, decision, tempDir } from "../../test/respond/helpers.ts";

const FIXTURE = join(import.meta.dir, "../../test/fixtures/cgroupfs/respond-v2");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("createAgentResponder() keeps a quarantine in force until release, yet a clean stop leaves no other value behind", async () => {
  const root = tempDir("ar");
  const state = tempDir("ars");
  dirs.push(root, state);
  cpSync(FIXTURE, root, { recursive: true });
  const cfg = actConfig(state, { quarantineMode: "airgap" });
  cfg.sense.cgroupRoot = root;
  const crashed = createResponder(cfg);
  let prev: Level = 0;
  for (const [t, lvl] of [[0, 1], [1, 2], [2, 3]] as [number, Level][]) {
    crashed.onDecision(decision(t, lvl, prev), [{ path: "/workload/leak", memoryBytes: 5e8 + t * 5e7, cpuUsageUs: 0, ioBytes: 0, pids: 1 }]);
    prev = lvl;
  }
  const high = () => readFileSync(join(root, "workload/leak/memory.high"), "utf8").trim();
  expect(high()).not.toBe("max");

  await manualQuarantine(cfg, { cgroups: [], who: "test", fs: createCgroupFs(root) });
  const said: string[] = [];
  const held = createAgentResponder(cfg, {}, (l) => said.push(l));
  expect(held.recovered).toEqual([]);
  expect(held.warnings[0]).toMatch(/^quarantine in force since .* \(airgap\); journaled actions stay until `hosa quarantine release`$/);
  expect(high()).not.toBe("max");
  // A clean stop with the quarantine in force: the quarantine stays, no other value is left behind (issue 11).
  const atStop = held.responder.restoreAll("agent stopped");
  expect(atStop.some((r) => r.action.startsWith("memory.high") && r.outcome.startsWith("restored"))).toBe(true);
  expect(high()).toBe("max");

  await releaseQuarantine(cfg, { who: "test", fs: createCgroupFs(root) });
  expect(high()).toBe("max");
  // Nothing left: a later start has nothing to recover.
  const fresh = createAgentResponder(cfg, {}, (l) => said.push(l));
  expect(fresh.recovered).toEqual([]);
  expect(fresh.warnings).toEqual([]);
});

test("createAgentResponder() after a crash: the journal is replayed back and the run starts clean", () => {
  const root = tempDir("ar2");
  const state = tempDir("ar2s");
  dirs.push(root, state);
  cpSync(FIXTURE, root, { recursive: true });
  const cfg = actConfig(state);
  cfg.sense.cgroupRoot = root;
  const crashed = createResponder(cfg);
  crashed.onDecision(decision(0, 1, 0), [{ path: "/workload/leak", memoryBytes: 5e8, cpuUsageUs: 0, ioBytes: 0, pids: 1 }]);
  crashed.onDecision(decision(1, 4, 1), [{ path: "/workload/leak", memoryBytes: 6e8, cpuUsageUs: 0, ioBytes: 0, pids: 1 }]);
  expect(readFileSync(join(root, "workload/leak/cgroup.freeze"), "utf8").trim()).toBe("1");
  const said: string[] = [];
  const r = createAgentResponder(cfg, {}, (l) => said.push(l));
  expect(r.recovered.map((a) => a.outcome)).toEqual(["restored", "restored", "restored", "restored"]);
  expect(said).toEqual(["recovered 4 actions left in force by a previous run"]);
  for (const [f, v] of [["cgroup.freeze", "0"], ["memory.max", "max"], ["memory.high", "max"], ["cpu.weight", "100"]]) {
    expect(readFileSync(join(root, "workload/leak", f), "utf8").trim()).toBe(v);
  }
});

test("createAgentResponder(): the edge-remote watchdog releases a quarantine entered by hand while the engine is below Level 5", async () => {
  const root = tempDir("ar3");
  const state = tempDir("ar3s");
  dirs.push(root, state);
  cpSync(FIXTURE, root, { recursive: true });
  // watchdog_s = 0: the deadline is the moment of entry, already past at the first decision.
  const cfg = actConfig(state, { quarantineMode: "edge-remote", watchdogS: 0 });
  cfg.sense.cgroupRoot = root;
  const entered = await manualQuarantine(cfg, { cgroups: [], who: "test", fs: createCgroupFs(root) });
  expect(entered.state?.active).toBe(true);
  const said: string[] = [];
  const { responder } = createAgentResponder(cfg, {}, (l) => said.push(l));
  // The engine never reached Level 5: the quarantine came from another process.
  responder.onDecision(decision(0, 0, 0), []);
  for (let i = 0; i < 200 && !said.some((l) => l.includes("watchdog")); i++) await Bun.sleep(5);
  expect(said).toContain("quarantine released by the watchdog; holding at Level 3");
  const st = JSON.parse(readFileSync(join(state, "quarantine.json"), "utf8"));
  expect(st.active).toBe(false);
  expect(st.released).toMatchObject({ by: "watchdog", how: "watchdog" });
  // Checked at most once a second of decision time.
  said.length = 0;
  responder.onDecision(decision(0.5, 0, 0), []);
  await Bun.sleep(20);
  expect(said).toEqual([]);
});
