// The leak scenario of issue 5 on this host's cgroup v1/hybrid hierarchy, at
// responder level: a real leaker at 50 MB/s in a child memory cgroup (2 GiB
// limit) beside a neighbour, the Responder driven through Levels 2→3→4 and
// back down with real CgroupUsage read from the cgroups. Pure cgroup v2 runs
// in the QEMU guest (scripts/guest.sh); its code paths have fixture tests here.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { detectCgroupLayout, readCgroupUsage } from "../../src/kernel/cgroups.ts";
import { createResponder } from "../../src/respond/responder.ts";
import type { ActionRecord } from "../../src/respond/types.ts";
import type { Level } from "../../src/engine/types.ts";
import { actConfig, compileLeaker, decision, hybrid, isRoot, read, tempDir, TestResources } from "./helpers.ts";

const skip = !isRoot ? "needs root to create cgroups" : !hybrid ? "this host has no v1 memory hierarchy (pure v2: see the guest test)" : "";
const res = new TestResources();
const { cg, procs, dirs } = res;
const tag = `h4leak-${process.pid}`;
let dir = "";
let leaker = "";
let leak = { mem: "", cpu: "", frz: "" };
let nb = { mem: "", cpu: "", frz: "" };

beforeAll(() => {
  if (skip) return;
  dir = tempDir("leak");
  dirs.push(dir);
  leaker = compileLeaker(dir);
  leak = { mem: cg.create("memory", tag), cpu: cg.create("cpu", tag), frz: cg.create("freezer", tag) };
  nb = { mem: cg.create("memory", `${tag}-nb`), cpu: cg.create("cpu", `${tag}-nb`), frz: cg.create("freezer", `${tag}-nb`) };
  Bun.write(`${cg.dir("memory", leak.mem)}/memory.limit_in_bytes`, String(2 * 1024 ** 3));
});

afterAll(() => res.cleanup());

/** Start a command inside the given child cgroups (it joins them before exec). */
function spawnIn(groups: { mem: string; cpu: string; frz: string }, argv: string[]): Bun.Subprocess<"ignore", "pipe", "pipe"> {
  const join = ["memory", "cpu", "freezer"]
    .map((c, i) => `echo $$ > ${cg.dir(c, [groups.mem, groups.cpu, groups.frz][i])}/cgroup.procs`)
    .join(" && ");
  const p = Bun.spawn(["sh", "-c", `${join} && exec "$@"`, "sh", ...argv], { stdout: "pipe", stderr: "pipe" });
  procs.push(p);
  return p;
}

function snapshot(g: { mem: string; cpu: string; frz: string }): Record<string, string> {
  const m = cg.dir("memory", g.mem);
  const oom = readFileSync(`${m}/memory.oom_control`, "utf8");
  return {
    limit: read(`${m}/memory.limit_in_bytes`),
    oomKillDisable: /oom_kill_disable (\d)/.exec(oom)![1],
    shares: read(`${cg.dir("cpu", g.cpu)}/cpu.shares`),
    quota: read(`${cg.dir("cpu", g.cpu)}/cpu.cfs_quota_us`),
    freezer: read(`${cg.dir("freezer", g.frz)}/freezer.state`),
  };
}

test.skipIf(Boolean(skip))("a 50 MB/s leak is contained at Level 3 without a kill, the neighbour untouched, all restored on the way down", async () => {
  const stateDir = tempDir("leak-state");
  dirs.push(stateDir);
  const cfg = actConfig(stateDir, { relaxS: 2, cgroupScope: leak.mem.slice(0, leak.mem.lastIndexOf("/")) || "/" });
  const layout = detectCgroupLayout();
  const responder = createResponder(cfg);
  const leakBefore = snapshot(leak);
  const nbBefore = snapshot(nb);
  const parent = leak.mem.slice(0, leak.mem.lastIndexOf("/")) || "/";
  const neighbour = spawnIn(nb, ["sleep", "60"]);
  const p = spawnIn(leak, [leaker, "--rate-mb", "50", "--max-mb", "1500"]);
  const t0 = Bun.nanoseconds() / 1e9;
  const now = () => Bun.nanoseconds() / 1e9 - t0;
  const usage = () => [readCgroupUsage(layout, leak.mem), readCgroupUsage(layout, nb.mem), readCgroupUsage(layout, parent)];
  const mem = () => readCgroupUsage(layout, leak.mem).memoryBytes;

  // Level schedule in seconds from the leak's start: the engine's part is
  // played by the test; everything else is the real kernel.
  const schedule: [number, Level][] = [[0, 0], [0.6, 1], [1.0, 2], [1.4, 3], [5.0, 4], [6.0, 3], [6.6, 2], [7.2, 1], [7.8, 0]];
  const levelAt = (t: number) => schedule.filter(([s]) => s <= t).at(-1)![1];
  const records: ActionRecord[] = [];
  const samples: { t: number; mem: number }[] = [];
  let prev: Level = 0;
  let nbDuring: Record<string, string> | null = null;
  let leakAtL4: Record<string, string> | null = null;
  let aliveAtL4 = false;
  while (now() < 11) {
    const t = now();
    const lvl = levelAt(t);
    records.push(...responder.onDecision(decision(t, lvl, prev), usage()));
    prev = lvl;
    samples.push({ t, mem: mem() });
    if (lvl === 4 && t > 5.6 && !nbDuring) {
      nbDuring = snapshot(nb);
      leakAtL4 = snapshot(leak);
      process.kill(p.pid, 0);
      aliveAtL4 = true;
    }
    await Bun.sleep(100);
  }
  const memAt = (t: number) => samples.reduce((a, b) => (Math.abs(b.t - t) < Math.abs(a.t - t) ? b : a)).mem;
  const before = (memAt(1.4) - memAt(0.4)) / 1.0;
  const after = (memAt(5.0) - memAt(3.0)) / 2.0;
  const contained = records.find((r) => r.outcome === "applied" && r.action.startsWith("memory.limit_in_bytes"));
  console.log(
    `leak v1: growth before ${(before / 2 ** 20).toFixed(1)} MiB/s, after ${(after / 2 ** 20).toFixed(1)} MiB/s (${((100 * after) / before).toFixed(1)} %), ` +
      `containment at t=${contained?.t.toFixed(2)} s after the leak started`,
  );
  if (process.env.H4_DEBUG) for (const r of records) console.log(JSON.stringify(r));
  expect(before).toBeGreaterThan(30 * 2 ** 20);
  expect(after).toBeLessThan(0.2 * before);
  expect(contained).toBeDefined();
  expect(contained!.t).toBeLessThan(2.5);
  expect(contained!.target).toBe(leak.mem);
  // Level 2 lowered the share, Level 3 turned the v1 OOM killer off under a ceiling, Level 4 froze.
  expect(leakAtL4!.shares).toBe(String(Math.floor(Number(leakBefore.shares) / 4)));
  expect(leakAtL4!.oomKillDisable).toBe("1");
  expect(Number(leakAtL4!.limit)).toBeLessThan(2 * 1024 ** 3);
  expect(["FROZEN", "FREEZING"]).toContain(leakAtL4!.freezer);
  expect(aliveAtL4).toBe(true);
  // Never targeted: the neighbour (it did not grow) and this process's own cgroup (hosa's, and the parent of both).
  expect(nbDuring).toEqual(nbBefore);
  expect(records.some((r) => r.target === nb.mem && r.outcome === "applied")).toBe(false);
  expect(records.some((r) => r.target === parent && r.outcome === "applied")).toBe(false);
  // Not killed, at any point.
  process.kill(p.pid, 0);
  expect(readFileSync(`${cg.dir("memory", leak.mem)}/memory.oom_control`, "utf8")).toContain("oom_kill 0");
  // Everything back after the relaxation (relax_s = 2 s).
  expect(snapshot(leak)).toEqual(leakBefore);
  expect(snapshot(nb)).toEqual(nbBefore);
  expect(responder.inForce()).toEqual([]);
  expect(readFileSync(`${stateDir}/actions.journal`, "utf8")).toBe("");
  const restored = records.filter((r) => r.outcome === "restored");
  expect(restored.length).toBeGreaterThanOrEqual(4);
  p.kill("SIGTERM");
  neighbour.kill("SIGTERM");
  await p.exited;
  await neighbour.exited;
  expect(existsSync(stateDir)).toBe(true);
}, 30000);
