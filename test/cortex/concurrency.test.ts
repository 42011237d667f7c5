// The concurrency limit across restarts (issue 17): with [cortex]
// max_concurrent_plans = 1, a plan killed in the middle (SIGKILL, through the
// executor's fault injection, in `hosa incident approve`) still counts as
// running; a second incident approved meanwhile (the cortex's approve(), as
// an agent's cortex would) waits, says why, and touches nothing; the next
// sync resumes the first, although its incident was closed, without
// repeating its done step, then runs the second, once.
// Two replayed leaks (test/cortex/replay-leak.ts) in two real v1 memory
// cgroups, one rotated decision log.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultConfig } from "../../src/config.ts";
import { Cortex, liveExecutorContext, readDecisionLog } from "../../src/cortex/cortex.ts";
import { readExecutionState } from "../../src/cortex/executor.ts";
import { runHosa, tempDir } from "../harness.ts";
import { hybrid, isRoot, ownCgroup, TestResources } from "../respond/helpers.ts";
import { replayLeakLog } from "./replay-leak.ts";

const skip = !isRoot ? "needs root to create cgroups" : !hybrid ? "this host has no v1 memory hierarchy (pure v2 runs in the guest)" : "";
const res = new TestResources();
const SOFT = "memory.soft_limit_in_bytes";
let dir = "";
let cfgPath = "";
const cg: { rel: string; path: string }[] = [];

beforeAll(() => {
  if (skip) return;
  dir = tempDir("hosa-cortex-conc-").dir;
  res.dirs.push(dir);
  for (const name of ["a", "b"]) {
    const rel = res.cg.create("memory", `cortex-conc-${process.pid}-${name}`);
    cg.push({ rel, path: res.cg.dir("memory", rel) });
  }
  // One log, rotated: the first leak in decisions.log.1, the second in decisions.log.
  const a = replayLeakLog(join(dir, "a"), cg[0]!.rel);
  // An hour later: the same replay opens with the same log line (the engine's
  // first Level 1 sample names no cgroup yet), and the incident id is the
  // episode's start and its first line's hash.
  const b = replayLeakLog(join(dir, "b"), cg[1]!.rel, 3600);
  copyFileSync(a.logFile, join(dir, "decisions.log.1"));
  copyFileSync(b.logFile, join(dir, "decisions.log"));
  cfgPath = join(dir, "hosa.toml");
  writeFileSync(
    cfgPath,
    `[paths]\nstate_dir = "${dir}/state"\nlog_file = "${dir}/decisions.log"\n\n[respond]\ncgroup_scope = "${ownCgroup("memory") || "/"}"\n\n[cortex]\nmode = "act"\nplaybook_dir = ""\nmax_concurrent_plans = 1\n\n[report]\nmetrics_listen = ""\n`,
  );
}, 60_000);
afterAll(() => res.cleanup(), 30_000);

const soft = (i: number) => readFileSync(join(cg[i]!.path, SOFT), "utf8").trim();
let ids: string[] = [];
const state = (id: string) => readExecutionState(join(dir, "state", "incidents", id, "execution-state.json"));

test.skipIf(Boolean(skip))("a plan killed mid-way holds the only slot; the second waits, then runs once the first is resumed", () => {
  const list = JSON.parse(runHosa(["-c", cfgPath, "incident", "list", "--json"]).stdout).incidents as { id: string; cgroup: string; status: string }[];
  const idA = list.find((i) => i.cgroup === cg[0]!.rel)!.id;
  const idB = list.find((i) => i.cgroup === cg[1]!.rel)!.id;
  ids = [idA, idB];
  expect(list.map((i) => i.status)).toEqual(["resolved", "resolved"]);
  const origB = soft(1);

  // A: approved, its executor killed right after its step was done (the plan stays "running").
  const killed = runHosa(["-c", cfgPath, "incident", "approve", idA], { env: { HOSA_CORTEX_CRASH: "cap-memory:done" } });
  expect(killed.code).not.toBe(0);
  expect(state(idA)).toMatchObject({ status: "running", runs: 1 });
  const capA = soft(0);

  // B: approved while A counts as running: it waits, says why, and nothing is written to its cgroup.
  const cfg = defaultConfig();
  cfg.paths.stateDir = join(dir, "state");
  cfg.cortex.mode = "act";
  cfg.cortex.playbookDir = "";
  cfg.cortex.maxConcurrentPlans = 1;
  cfg.respond.cgroupScope = ownCgroup("memory") || "/";
  const said: string[] = [];
  const cx = new Cortex(cfg, { exec: liveExecutorContext(cfg), say: (l) => said.push(l) });
  const { entries } = readDecisionLog(join(dir, "decisions.log"));
  expect(cx.approve(idB, "tester", entries)).toMatchObject({ plan: "approved", execution: "not executed" });
  expect(said).toEqual([`incident ${idB}: plan waits, 1 plan(s) already running (max_concurrent_plans 1)`]);
  expect(state(idB)).toBeNull();
  expect(soft(1)).toBe(origB);

  // The next sync resumes A (closed, but its plan was cut short; its done step not repeated), then, the slot free, runs B.
  writeFileSync(join(cg[0]!.path, SOFT), "536870912");
  cx.sync(entries);
  expect(state(idA)).toMatchObject({ status: "completed", runs: 2 });
  expect(soft(0)).toBe("536870912");
  expect(capA).not.toBe("536870912");
  expect(state(idB)).toMatchObject({ status: "completed", runs: 1 });
  expect(soft(1)).not.toBe(origB);
  // And never again.
  writeFileSync(join(cg[1]!.path, SOFT), "536870912");
  cx.sync(entries);
  expect(soft(1)).toBe("536870912");
  expect(state(idB)).toMatchObject({ status: "completed", runs: 1 });
});

test.skipIf(Boolean(skip))("an execution state edited by hand: that incident is named in one line and left alone, the other goes on", () => {
  const [idA, idB] = ids as [string, string];
  const file = join(dir, "state", "incidents", idA, "execution-state.json");
  writeFileSync(file, "{ edited by hand");
  const cfg = defaultConfig();
  cfg.paths.stateDir = join(dir, "state");
  cfg.cortex.mode = "act";
  cfg.cortex.playbookDir = "";
  cfg.respond.cgroupScope = ownCgroup("memory") || "/";
  const said: string[] = [];
  const cx = new Cortex(cfg, { exec: liveExecutorContext(cfg), say: (l) => said.push(l) });
  const out = cx.sync(readDecisionLog(join(dir, "decisions.log")).entries);
  expect(out.map((s) => s.id)).toEqual([idB]);
  expect(said).toHaveLength(1);
  expect(said[0]).toStartWith(`incident ${idA} left as it is: `);
  expect(readFileSync(file, "utf8")).toBe("{ edited by hand");
  // The command line says the same and exits 0.
  const r = runHosa(["-c", cfgPath, "incident", "list"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(idB);
});
