// `hosa incident` end to end with the built executable (issue 17): list and
// show from a decision log, a bad operator playbook named in one line that
// stops nothing, the policy gate holding a plan for approval, and
// `hosa incident approve` running it on a real cgroup (this host's v1/hybrid
// memory hierarchy) under [respond] cgroup_scope, once.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readExecutionState } from "../../src/cortex/executor.ts";
import { runHosa, tempDir } from "../harness.ts";
import { hybrid, isRoot, ownCgroup, TestResources } from "../respond/helpers.ts";
import { replayLeakLog } from "./replay-leak.ts";

const skip = !isRoot ? "needs root to create cgroups" : !hybrid ? "this host has no v1 memory hierarchy (pure v2 runs in the guest)" : "";
const res = new TestResources();
let dir = "";
let cfgPath = "";
let cgPath = "";
let leakRel = "";

beforeAll(() => {
  if (skip) return;
  const t = tempDir("hosa-cortex-cli-");
  dir = t.dir;
  res.dirs.push(dir);
  leakRel = res.cg.create("memory", `cortex-cli-${process.pid}`);
  cgPath = res.cg.dir("memory", leakRel);
  const { logFile } = replayLeakLog(dir, leakRel);
  mkdirSync(join(dir, "playbooks"), { recursive: true });
  writeFileSync(join(dir, "playbooks", "broken.toml"), 'name = "broken"\nsignature = "memory_leak"\n[[step]]\nid = "x"\nkind = "cgroup_set"\nfile = "memory.high"\n');
  cfgPath = join(dir, "hosa.toml");
  writeFileSync(
    cfgPath,
    `[paths]\nstate_dir = "${dir}/cli-state"\nlog_file = "${logFile}"\n\n[respond]\ncgroup_scope = "${ownCgroup("memory") || "/"}"\n\n[cortex]\nmode = "act"\nplaybook_dir = "${dir}/playbooks"\n\n[report]\nmetrics_listen = ""\n`,
  );
});
afterAll(() => res.cleanup());

const BROKEN = () => `hosa: playbook skipped: ${join(dir, "playbooks", "broken.toml")}: line 3: key "step[0].value": missing\n`;

test.skipIf(Boolean(skip))("list: the incident waits for approval; the bad playbook is one line and stops nothing", () => {
  const r = runHosa(["-c", cfgPath, "incident", "list"]);
  expect(r.stderr).toBe(BROKEN());
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(new RegExp(`^inc-20261101T121839-[0-9a-f]{8}  2026-11-01 12:18:40  L4  resolved    memory leak in ${leakRel.replace(/[/]/g, "\\/")} \\(\\d+%\\); plan awaiting_approval, not executed, verification passed\\n$`));
  const j = JSON.parse(runHosa(["-c", cfgPath, "incident", "list", "--json"]).stdout);
  expect(j.incidents).toHaveLength(1);
  expect(j.incidents[0]).toMatchObject({ mode: "memory_leak", cgroup: leakRel, plan: "awaiting_approval" });
});

test.skipIf(Boolean(skip))("approve runs the plan once on the real cgroup; show tells the chain", () => {
  const before = readFileSync(join(cgPath, "memory.soft_limit_in_bytes"), "utf8").trim();
  const usage = Number(readFileSync(join(cgPath, "memory.usage_in_bytes"), "utf8"));
  const r = runHosa(["-c", cfgPath, "incident", "approve", "inc-2026", "--by", "tester"]);
  expect(r.stderr).toStartWith(BROKEN());
  expect(r.stderr).toContain(": memory-leak on ");
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^inc-20261101T121839-[0-9a-f]{8}: approved by tester; plan approved, completed, verification passed\n$/);
  const after = readFileSync(join(cgPath, "memory.soft_limit_in_bytes"), "utf8").trim();
  expect(after).not.toBe(before);
  expect(Number(after)).toBe(Math.ceil((usage * 1.1) / 4096) * 4096);
  const id = /^(inc-\S+):/.exec(r.stdout)![1]!;
  // Approving again, or any later sync, never runs it a second time.
  writeFileSync(join(cgPath, "memory.soft_limit_in_bytes"), "536870912");
  expect(runHosa(["-c", cfgPath, "incident", "approve", id]).code).toBe(0);
  expect(runHosa(["-c", cfgPath, "incident", "list"]).code).toBe(0);
  expect(readFileSync(join(cgPath, "memory.soft_limit_in_bytes"), "utf8").trim()).toBe("536870912");
  expect(readExecutionState(join(dir, "cli-state", "incidents", id, "execution-state.json"))).toMatchObject({ status: "completed", runs: 1 });
  const show = runHosa(["-c", cfgPath, "incident", "show", id]);
  expect(show.code).toBe(0);
  for (const part of ["1. Observation", "3. Hypothesis", "memory leak in", "4. Proposal", "memory-leak@1 (shipped:memory-leak.toml)", "5. Plan", "approved by tester", "6. Execution", "step cap-memory: done", "7. Verification", "8. Report"]) {
    expect(show.stdout).toContain(part);
  }
  const artifacts = JSON.parse(runHosa(["-c", cfgPath, "incident", "show", id, "--json"]).stdout).artifacts;
  expect(artifacts.map((a: { kind: string }) => a.kind)).toHaveLength(8);
});

test.skipIf(Boolean(skip))("watch follows the log and prints each incident once while it does not change", () => {
  const r = runHosa(["-c", cfgPath, "incident", "watch", "--interval", "0.3", "--duration", "1"]);
  expect(r.code).toBe(0);
  expect(r.stdout.trim().split("\n")).toHaveLength(1);
  expect(r.stdout).toMatch(/^inc-20261101T121839-[0-9a-f]{8} .* memory leak in /);
});

test("bad arguments: one line, exit 2; a missing log given by hand: exit 4", () => {
  const t = tempDir("hosa-cortex-cli-args-");
  try {
    const c = join(t.dir, "hosa.toml");
    writeFileSync(c, `[paths]\nstate_dir = "${t.dir}/s"\nlog_file = "${t.dir}/none.log"\n`);
    expect(runHosa(["-c", c, "incident", "show", "inc-x"])).toEqual({ code: 2, stdout: "", stderr: 'hosa: no incident "inc-x" (none recorded)\n' });
    expect(runHosa(["-c", c, "incident", "list"])).toEqual({ code: 0, stdout: "no incidents\n", stderr: "" });
    expect(runHosa(["-c", c, "incident", "list", "--log", `${t.dir}/absent.log`])).toEqual({ code: 4, stdout: "", stderr: `hosa: cannot read ${t.dir}/absent.log: no such file\n` });
    writeFileSync(c, `[cortex]\nmode = "yolo"\n`);
    const bad = runHosa(["-c", c, "incident", "list"]);
    expect(bad).toEqual({ code: 3, stdout: "", stderr: `hosa: cannot load ${c}: line 2: "mode" must be one of dry-run, act\n` });
  } finally {
    t.cleanup();
  }
});
