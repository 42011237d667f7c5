// Durable execution on real cgroups (issue 17): kill the executor with
// SIGKILL in the middle of a plan, start it again, and check it resumes or
// rolls back, never runs a completed step twice, and records what it did.
// v1/hybrid memory hierarchy (this host and CI); the executor's v2 paths are
// the same file writes under one tree.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readExecutionState } from "../../src/cortex/executor.ts";
import { hybrid, isRoot, ownCgroup, tempDir, TestResources } from "../respond/helpers.ts";
import { REPO } from "../harness.ts";

const skip = !isRoot ? "needs root to create cgroups" : !hybrid ? "this host has no v1 memory hierarchy (pure v2 runs in the guest)" : "";
const res = new TestResources();
let dir = "";
const tag = `cortex-exec-${process.pid}`;
const SOFT = "memory.soft_limit_in_bytes";
const SWAP = "memory.swappiness";

const PLAYBOOK = (slow: boolean) => `
name = "crash-test"
signature = "memory_leak"
[[precheck]]
kind = "cgroup_exists"
[[step]]
id = "soft-limit"
kind = "cgroup_set"
file = "memory.high"
v1_file = "${SOFT}"
value = "268435456"
[[step]]
id = "note"
kind = "command"
argv = ["/bin/sh", "-c", "echo note >> \\"$MARKER\\"${slow ? "; sleep 20" : ""}"]
[[step]]
id = "swappiness"
kind = "cgroup_set"
file = "memory.low"
v1_file = "${SWAP}"
value = "7"
[rollback]
restore = true
`;

beforeAll(() => {
  if (skip) return;
  dir = tempDir("cortex-exec");
  res.dirs.push(dir);
  writeFileSync(join(dir, "fast.toml"), PLAYBOOK(false));
  writeFileSync(join(dir, "slow.toml"), PLAYBOOK(true));
  // The same playbook edited by an operator after a stop: its last step writes another value.
  writeFileSync(join(dir, "edited.toml"), PLAYBOOK(false).replace('value = "7"', 'value = "9"'));
});
afterAll(() => res.cleanup());

/** A fresh child memory cgroup for one case, with its original values. */
function freshCgroup(name: string): { rel: string; path: (f: string) => string; orig: { soft: string; swap: string } } {
  const rel = res.cg.create("memory", `${tag}-${name}`);
  const path = (f: string) => `${res.cg.dir("memory", rel)}/${f}`;
  return { rel, path, orig: { soft: readFileSync(path(SOFT), "utf8").trim(), swap: readFileSync(path(SWAP), "utf8").trim() } };
}

function runChild(caseName: string, rel: string, pb: "fast" | "slow" | "edited", crash = ""): Bun.Subprocess<"ignore", "pipe", "pipe"> {
  return Bun.spawn(
    [process.execPath, join(REPO, "test/cortex/exec-child.ts"), join(dir, `${caseName}.state.json`), rel, join(dir, `${pb}.toml`), ownCgroup("memory") || "/", join(dir, `${caseName}.marker`)],
    { env: { ...process.env, HOSA_CORTEX_CRASH: crash }, stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
}

async function finish(p: Bun.Subprocess<"ignore", "pipe", "pipe">): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  await p.exited;
  return { code: p.exitCode, signal: p.signalCode === null ? null : String(p.signalCode), out, err };
}

/** The killed executor's command (sh and its sleep) lives on as orphans: end them by PID, found by the MARKER only they carry. */
function killByMarker(caseName: string): void {
  const needle = `MARKER=${join(dir, `${caseName}.marker`)}\0`;
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      if (`${readFileSync(`/proc/${pid}/environ`, "latin1")}\0`.includes(needle) && Number(pid) !== process.pid) process.kill(Number(pid), "SIGKILL");
    } catch {}
  }
}

const marks = (caseName: string) => (existsSync(join(dir, `${caseName}.marker`)) ? readFileSync(join(dir, `${caseName}.marker`), "utf8").split("\n").filter(Boolean).length : 0);

test.skipIf(Boolean(skip))("killed after a cgroup write was recorded but before it was made: the restart makes it and completes", async () => {
  const cg = freshCgroup("a");
  const first = await finish(runChild("a", cg.rel, "fast", "soft-limit:started"));
  expect(first.signal).toBe("SIGKILL");
  expect(readExecutionState(join(dir, "a.state.json"))!.steps[0]!.status).toBe("started");
  expect(readFileSync(cg.path(SOFT), "utf8").trim()).toBe(cg.orig.soft);
  const second = await finish(runChild("a", cg.rel, "fast"));
  expect(second.err).toBe("");
  expect(JSON.parse(second.out)).toEqual({ status: "completed", runs: 2 });
  expect(readFileSync(cg.path(SOFT), "utf8").trim()).toBe("268435456");
  expect(readFileSync(cg.path(SWAP), "utf8").trim()).toBe("7");
  expect(marks("a")).toBe(1);
  const s = readExecutionState(join(dir, "a.state.json"))!;
  expect(s.events.map((e) => e.what).join("\n")).toContain("had not taken effect before the stop");
});

test.skipIf(Boolean(skip))("killed after a step completed: the restart never repeats it", async () => {
  const cg = freshCgroup("b");
  expect((await finish(runChild("b", cg.rel, "fast", "note:done"))).signal).toBe("SIGKILL");
  expect(marks("b")).toBe(1);
  // An operator changes the soft limit meanwhile: a repeated step 1 would overwrite it.
  writeFileSync(cg.path(SOFT), "134217728");
  const second = await finish(runChild("b", cg.rel, "fast"));
  expect(JSON.parse(second.out)).toEqual({ status: "completed", runs: 2 });
  expect(marks("b")).toBe(1);
  expect(readFileSync(cg.path(SOFT), "utf8").trim()).toBe("134217728");
  expect(readFileSync(cg.path(SWAP), "utf8").trim()).toBe("7");
  // A third start finds the plan complete and does nothing.
  const third = await finish(runChild("b", cg.rel, "fast"));
  expect(JSON.parse(third.out)).toEqual({ status: "completed", runs: 2 });
  expect(marks("b")).toBe(1);
});

test.skipIf(Boolean(skip))("kill -9 from outside while a command runs: the restart never reruns it and rolls the plan back", async () => {
  const cg = freshCgroup("c");
  const p = runChild("c", cg.rel, "slow");
  // Bounded wait for the command to have started (it writes the marker first).
  for (let i = 0; i < 200 && marks("c") === 0; i++) await Bun.sleep(50);
  expect(marks("c")).toBe(1);
  expect(readFileSync(cg.path(SOFT), "utf8").trim()).toBe("268435456");
  p.kill("SIGKILL");
  await finish(p);
  killByMarker("c");
  const second = await finish(runChild("c", cg.rel, "slow"));
  expect(JSON.parse(second.out)).toEqual({ status: "rolled_back", runs: 2 });
  expect(marks("c")).toBe(1);
  expect(readFileSync(cg.path(SOFT), "utf8").trim()).toBe(cg.orig.soft);
  expect(readFileSync(cg.path(SWAP), "utf8").trim()).toBe(cg.orig.swap);
  const s = readExecutionState(join(dir, "c.state.json"))!;
  expect(s.steps.map((x) => x.status)).toEqual(["rolled_back", "unknown", "pending"]);
  expect(s.events.map((e) => e.what).join("\n")).toMatch(/note \(command\) was interrupted; not repeated: rolling back[\s\S]*soft-limit rolled back/);
}, 30_000);

test.skipIf(Boolean(skip))("a cgroup that is gone fails the pre-check: nothing is done", async () => {
  const gone = `${ownCgroup("memory")}/${tag}-never-created`;
  const r = await finish(runChild("d", gone, "fast"));
  expect(JSON.parse(r.out)).toEqual({ status: "precheck_failed", runs: 1 });
  expect(marks("d")).toBe(0);
  expect(readExecutionState(join(dir, "d.state.json"))!.events.at(-1)!.what).toBe(`pre-check failed: ${gone} does not exist; nothing done`);
});

test.skipIf(Boolean(skip))("the playbook edited between the stop and the restart: nothing new runs, what was done is undone", async () => {
  const cg = freshCgroup("e");
  expect((await finish(runChild("e", cg.rel, "fast", "note:done"))).signal).toBe("SIGKILL");
  expect(readFileSync(cg.path(SOFT), "utf8").trim()).toBe("268435456");
  const second = await finish(runChild("e", cg.rel, "edited"));
  expect(JSON.parse(second.out)).toEqual({ status: "rolled_back", runs: 2 });
  expect(marks("e")).toBe(1);
  expect(readFileSync(cg.path(SOFT), "utf8").trim()).toBe(cg.orig.soft);
  expect(readFileSync(cg.path(SWAP), "utf8").trim()).toBe(cg.orig.swap);
  const s = readExecutionState(join(dir, "e.state.json"))!;
  expect(s.steps.map((x) => x.status)).toEqual(["rolled_back", "done", "pending"]);
  expect(s.events.map((e) => e.what).join("\n")).toContain("rollback: the plan changed since it started (step swappiness changed); not continued");
});
