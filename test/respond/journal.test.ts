// The action journal: crash safety on a real cgroup (a responder process is
// SIGKILLed while a limit is applied, a new start restores it), damaged lines,
// and values an operator changed meanwhile (left alone, and said so).
import { afterAll, expect, test } from "bun:test";
import { appendFileSync, cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createCgroupFs } from "../../src/kernel/cgroupfs.ts";
import { createResponder } from "../../src/respond/responder.ts";
import { recoverFromJournal } from "../../src/respond/restore.ts";
import type { Level } from "../../src/engine/types.ts";
import type { CgroupUsage } from "../../src/sense/types.ts";
import { actConfig, compileLeaker, decision, hybrid, isRoot, read, tempDir, TestResources } from "./helpers.ts";

const FIXTURE = join(import.meta.dir, "../fixtures/cgroupfs/respond-v2");
const res = new TestResources();
const { cg, procs, dirs } = res;
afterAll(() => res.cleanup());

const usage = (t: number): CgroupUsage[] => [
  { path: "/workload/leak", memoryBytes: 500e6 + t * 50e6, cpuUsageUs: 0, ioBytes: 0, pids: 1 },
  { path: "/workload/cpuhog", memoryBytes: 400e6 + t * 40e6, cpuUsageUs: 0, ioBytes: 0, pids: 1 },
];

/** A fixture copy contained at Level 4 by a responder that then "crashes" (is dropped without restoreAll). */
function containedFixture(): { root: string; cfg: ReturnType<typeof actConfig> } {
  const root = tempDir("jfix");
  const state = tempDir("jstate");
  dirs.push(root, state);
  cpSync(FIXTURE, root, { recursive: true });
  const cfg = actConfig(state);
  const r = createResponder(cfg, { fs: createCgroupFs(root) });
  let prev: Level = 0;
  for (const [t, lvl] of [[0, 1], [1, 2], [2, 3], [3, 4]] as [number, Level][]) {
    r.onDecision(decision(t, lvl, prev), usage(t));
    prev = lvl;
  }
  return { root, cfg };
}

const val = (root: string, cgp: string, f: string) => readFileSync(join(root, cgp, f), "utf8").trim();

test("a truncated and a corrupted journal line give warnings and the rest is still restored", () => {
  const { root, cfg } = containedFixture();
  const path = `${cfg.paths.stateDir}/actions.journal`;
  const lines = readFileSync(path, "utf8").split("\n").filter(Boolean);
  expect(lines.length).toBeGreaterThanOrEqual(6);
  // Corrupt the line of the cpuhog's memory.max, then a crash mid-append leaves half a line at the end.
  const i = lines.findIndex((l) => l.includes("cpuhog") && l.includes("memory.max"));
  lines[i] = `{"op":"set","dir":"workload/cpuhog","fi\u0000garbage`;
  writeFileSync(path, `${lines.join("\n")}\n`);
  appendFileSync(path, `{"op":"set","id":"x","t":9,"level":4,"dir":"workload/leak","file":"cpu.max","prev":"max 1000`);
  const { records, warnings } = recoverFromJournal(cfg, { fs: createCgroupFs(root) });
  expect(warnings.length).toBe(2);
  expect(warnings[0]).toMatch(/line \d+: not JSON, skipped/);
  expect(warnings[1]).toMatch(/line \d+: truncated entry, skipped/);
  for (const c of ["workload/leak", "workload/cpuhog"]) {
    expect(val(root, c, "cpu.weight")).toBe("100");
    expect(val(root, c, "memory.high")).toBe("max");
    expect(val(root, c, "cgroup.freeze")).toBe("0");
  }
  expect(val(root, "workload/leak", "memory.max")).toBe("max");
  // The one whose line was lost cannot be known: it stays as hosa left it.
  expect(val(root, "workload/cpuhog", "memory.max")).not.toBe("max");
  expect(records.every((r) => r.outcome.startsWith("restored"))).toBe(true);
  // Compacted atomically once everything known is restored.
  expect(readFileSync(path, "utf8")).toBe("");
});

test("a SIGKILL between an entry's fsync and its write: the value hosa wrote before is still hosa's, and restored", () => {
  const { root, cfg } = containedFixture();
  const path = `${cfg.paths.stateDir}/actions.journal`;
  const high = val(root, "workload/leak", "memory.high");
  expect(high).not.toBe("max");
  // The agent journals a tighter memory.high, and is killed before it writes it (found by bench/crash.ts --guest).
  appendFileSync(path, `${JSON.stringify({ op: "set", id: "cut", t: 5, level: 4, dir: "workload/leak", file: "memory.high", prev: "max", value: String(Number(high) - 4096 * 256) })}\n`);
  const { records, warnings } = recoverFromJournal(cfg, { fs: createCgroupFs(root) });
  expect(warnings).toEqual([]);
  expect(val(root, "workload/leak", "memory.high")).toBe("max");
  expect(records.find((x) => x.target === "/workload/leak" && x.action.startsWith("memory.high"))?.outcome).toBe("restored");
  expect(readFileSync(path, "utf8")).toBe("");
});

test("a value an operator changed meanwhile is left alone, and the record says so", () => {
  const { root, cfg } = containedFixture();
  writeFileSync(join(root, "workload/leak/memory.high"), "1073741824\n");
  const { records, warnings } = recoverFromJournal(cfg, { fs: createCgroupFs(root) });
  expect(warnings).toEqual([]);
  expect(val(root, "workload/leak", "memory.high")).toBe("1073741824");
  const r = records.find((x) => x.target === "/workload/leak" && x.action.startsWith("memory.high"));
  expect(r?.outcome).toMatch(/^skipped: changed by someone else since hosa wrote it \(now 1073741824, hosa wrote \d+\); left as is$/);
  expect(val(root, "workload/leak", "cpu.weight")).toBe("100");
});

test("a live responder stops managing a value the operator changed, during relaxation", () => {
  const root = tempDir("jop");
  const state = tempDir("jopstate");
  dirs.push(root, state);
  cpSync(FIXTURE, root, { recursive: true });
  const cfg = actConfig(state, { relaxS: 30 });
  const r = createResponder(cfg, { fs: createCgroupFs(root) });
  let prev: Level = 0;
  for (const [t, lvl] of [[0, 1], [1, 2], [2, 3]] as [number, Level][]) {
    r.onDecision(decision(t, lvl, prev), usage(t));
    prev = lvl;
  }
  writeFileSync(join(root, "workload/leak/cpu.weight"), "70\n");
  const out = [];
  prev = 3;
  for (const [t, lvl] of [[10, 2], [20, 1], [30, 0], [70, 0]] as [number, Level][]) {
    out.push(...r.onDecision(decision(t, lvl, prev), []));
    prev = lvl;
  }
  expect(val(root, "workload/leak", "cpu.weight")).toBe("70");
  expect(out.some((x) => x.action.startsWith("cpu.weight") && x.outcome.startsWith("skipped: changed by someone else"))).toBe(true);
  expect(val(root, "workload/leak", "memory.high")).toBe("max");
  expect(val(root, "workload/cpuhog", "cpu.weight")).toBe("100");
});

const skip = !isRoot ? "needs root to create cgroups" : !hybrid ? "no v1 memory hierarchy here" : "";
test.skipIf(Boolean(skip))("a responder SIGKILLed with a limit applied: the next start restores it from the journal", async () => {
  const state = tempDir("crash");
  dirs.push(state);
  const leaker = compileLeaker(state);
  const mem = cg.create("memory", `h4crash-${process.pid}`);
  const dir = cg.dir("memory", mem);
  writeFileSync(`${dir}/memory.limit_in_bytes`, String(2 * 1024 ** 3));
  const before = { limit: read(`${dir}/memory.limit_in_bytes`), oom: read(`${dir}/memory.oom_control`).split("\n")[0] };
  const leak = Bun.spawn(["sh", "-c", `echo $$ > ${dir}/cgroup.procs && exec ${leaker} --rate-mb 50 --max-mb 400 --hold`], { stdout: "ignore" });
  procs.push(leak);
  await Bun.sleep(300);
  const child = Bun.spawn([process.execPath, join(import.meta.dir, "crash-child.ts"), state, mem], { stdout: "pipe", stderr: "pipe" });
  procs.push(child);
  const reader = child.stdout.getReader();
  const first = await Promise.race([reader.read(), Bun.sleep(10_000).then(() => null)]);
  expect(first).not.toBeNull();
  const records = JSON.parse(new TextDecoder().decode(first!.value).split("\n")[0]);
  expect(records.some((r: { action: string; outcome: string }) => r.action.startsWith("memory.limit_in_bytes") && r.outcome === "applied")).toBe(true);
  child.kill("SIGKILL");
  await child.exited;
  const during = { limit: read(`${dir}/memory.limit_in_bytes`), oom: read(`${dir}/memory.oom_control`).split("\n")[0] };
  expect(during.oom).toBe("oom_kill_disable 1");
  expect(Number(during.limit)).toBeLessThan(Number(before.limit));
  const { records: restored, warnings } = recoverFromJournal(actConfig(state));
  expect(warnings).toEqual([]);
  expect(restored.map((r) => r.outcome)).toEqual(["restored", "restored"]);
  expect({ limit: read(`${dir}/memory.limit_in_bytes`), oom: read(`${dir}/memory.oom_control`).split("\n")[0] }).toEqual(before);
  // The leak, blocked at the ceiling, is alive and was never OOM-killed.
  process.kill(leak.pid, 0);
  expect(read(`${dir}/memory.oom_control`)).toContain("oom_kill 0");
  leak.kill("SIGKILL");
  await leak.exited;
}, 20000);
