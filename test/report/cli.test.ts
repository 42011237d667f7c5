// `hosa audit verify` and `hosa explain` through the built binary: stdout,
// stderr and exit code together.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT } from "../../src/errors.ts";
import { DecisionLog, actionEntry, levelEntry } from "../../src/report/decision-log.ts";
import { startReportServer } from "../../src/report/server.ts";
import type { AgentSnapshot } from "../../src/report/snapshot.ts";
import { makeAction, makeDecision } from "./helpers.ts";
import { freePort } from "./procs.ts";
import { currentBinary } from "../harness.ts";

const root = mkdtempSync(join(tmpdir(), "hosa-cli-"));

const { bin, ensureBuilt } = currentBinary(root);
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.reverse()) c();
  rmSync(root, { recursive: true, force: true });
});

beforeAll(ensureBuilt, 120_000);

async function hosa(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn([bin, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, HOSA_CONFIG: join(root, "none.toml") } });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

/** An episode at fixed wall times: 0→1 at 0 s, 1→2 at 5 s, an action at 5 s, 2→1 at 40 s, 1→0 at 50 s, and filler. */
function writeLog(dir: string, extra = 0): string {
  const path = join(dir, "decisions.log");
  const log = DecisionLog.open(path, { maxBytes: 1 << 20, keep: 3, stateDir: join(dir, "state") });
  const at = (s: number) => new Date(Date.UTC(2026, 10, 24, 2, 0, 0) + s * 1000).toISOString().replace("Z", "123456Z");
  log.append(levelEntry(makeDecision(1, 0), at(0), "node-a"));
  log.append(levelEntry(makeDecision(2, 1), at(5), "node-a"));
  log.append(actionEntry(makeDecision(2, 1), makeAction(1), at(5.01), "node-a"));
  for (let i = 0; i < extra; i++) log.append(actionEntry(makeDecision(2, 2), makeAction(10 + i), at(6 + i), "node-a"));
  log.append(levelEntry(makeDecision(1, 2), at(40), "node-a"));
  log.append(levelEntry(makeDecision(0, 1), at(50), "node-a"));
  log.close();
  return path;
}

function snapshot(): AgentSnapshot {
  return {
    startedAt: "2026-11-24T02:00:00.000Z",
    node: "node-live",
    hosaVersion: "0.1.0",
    mode: "act",
    warmup: false,
    decision: makeDecision(2, 1),
    actionsInForce: [makeAction(3)],
    recentActions: [makeAction(3)],
    tickMs: 10,
    tickDurationMs: { last: 0.4, max: 2.5 },
    tickJitterMs: { p50: 0.1, p99: 1.2, max: 3 },
    probes: { ebpf: true, detail: "" },
    dims: ["mem_used_ratio"],
    outboxDepth: 0,
    ticks: 10,
    lastTickAtMs: Date.now(),
  };
}

describe("hosa audit verify", () => {
  test("an intact log: entries checked on stdout, exit 0", async () => {
    const dir = join(root, "ok");
    const log = writeLog(dir, 20);
    const r = await hosa("audit", "verify", log);
    expect(r).toEqual({ code: 0, stdout: `decision log ok: 25 entries in 1 file (decisions.log in ${dir})\n`, stderr: "" });
    const j = await hosa("audit", "verify", log, "--json");
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: true, entries: 25, files: ["decisions.log"] });
  });

  test("one changed byte on line 17: one line naming it, exit TAMPERED, same with explain --verify", async () => {
    const dir = join(root, "tampered");
    const log = writeLog(dir, 20);
    const lines = readFileSync(log, "utf8").split("\n");
    lines[16] = lines[16]!.replace('"d_m":3.4', '"d_m":3.3');
    writeFileSync(log, lines.join("\n"));
    const want = { code: EXIT.TAMPERED, stdout: "", stderr: "hosa: decision log tampered: decisions.log line 17: hash mismatch\n" };
    expect(await hosa("audit", "verify", log)).toEqual(want);
    expect(await hosa("explain", "--verify", log)).toEqual(want);
    const j = await hosa("audit", "verify", log, "--json");
    expect(j.code).toBe(EXIT.TAMPERED);
    expect(JSON.parse(j.stdout).firstBroken).toEqual({ file: "decisions.log", line: 17, why: "hash mismatch" });
  });

  test("the configured log is checked against its signed head in the state dir", async () => {
    const dir = join(root, "cfg");
    const log = writeLog(dir);
    const cfg = join(dir, "hosa.toml");
    writeFileSync(cfg, `[paths]\nlog_file = "${log}"\nstate_dir = "${join(dir, "state")}"\n`);
    expect(await hosa("-c", cfg, "audit", "verify")).toEqual({ code: 0, stdout: `decision log ok: 5 entries in 1 file (decisions.log in ${dir}), signed head verified\n`, stderr: "" });
    // Cutting the last entry leaves a valid chain, but not the signed one.
    const lines = readFileSync(log, "utf8").split("\n");
    writeFileSync(log, `${lines.slice(0, 4).join("\n")}\n`);
    const r = await hosa("-c", cfg, "audit", "verify");
    expect(r).toEqual({ code: EXIT.TAMPERED, stdout: "", stderr: "hosa: decision log tampered: decisions.log: signed head not in the chain (entries removed or rewritten)\n" });
  });

  test("a missing file: one line, exit INPUT", async () => {
    expect(await hosa("audit", "verify", join(root, "nope.log"))).toEqual({ code: EXIT.INPUT, stdout: "", stderr: `hosa: cannot verify ${join(root, "nope.log")}: no such file\n` });
  });
});

describe("hosa explain", () => {
  test("--log tells the episode as a timeline; --since counts back from the last entry", async () => {
    const log = writeLog(join(root, "timeline"));
    const r = await hosa("explain", "--log", log);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("5 entries from 2026-11-24T02:00:00.000123456Z to 2026-11-24T02:00:50.000123456Z");
    expect(lines[1]).toMatch(/^02:00:00\.000 \+   0\.0s  level 0→1  VIGILANCE +D_M +2\.20  dD\/dt \+2\.10  mem_used_ratio:68%, psi_mem_some_ratio:19%, io_latency_us:8%/);
    expect(lines[3]).toContain("action   /hosa-test/leaker-1  memory.high max→1.6G  applied");
    expect(lines[6]).toBe("peak level 2, 1 action, now level 0");
    const since = await hosa("explain", "--log", log, "--since", "10s");
    expect(since.stdout.split("\n")[0]).toBe("2 entries from 2026-11-24T02:00:40.000123456Z to 2026-11-24T02:00:50.000123456Z");
    const j = await hosa("explain", "--log", log, "--since", "46s", "--json");
    expect(JSON.parse(j.stdout).entries.map((e: { level: number }) => e.level)).toEqual([2, 2, 1, 0]);
  });

  test("bad --since and a bad log: one line, meaningful exit codes", async () => {
    const log = writeLog(join(root, "bad"));
    expect(await hosa("explain", "--log", log, "--since", "ten minutes")).toEqual({
      code: EXIT.USAGE,
      stdout: "",
      stderr: 'hosa: bad --since "ten minutes": expected a duration such as 30s, 10m or 2h\n',
    });
    writeFileSync(join(root, "bad", "junk.log"), "hello\n");
    expect(await hosa("explain", "--log", join(root, "bad", "junk.log"))).toEqual({
      code: EXIT.INPUT,
      stdout: "",
      stderr: `hosa: cannot read ${join(root, "bad", "junk.log")}: not a hosa decision log: line 1 is not a hash-chained entry\n`,
    });
  });

  test("live: asks the agent over loopback and explains in plain words", async () => {
    const srv = startReportServer("127.0.0.1:0", snapshot);
    cleanups.push(srv.stop);
    const cfg = join(root, "live.toml");
    writeFileSync(cfg, `[report]\nmetrics_listen = "127.0.0.1:${srv.port}"\n`);
    const r = await hosa("-c", cfg, "explain");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("hosa on node-live (acting)");
    expect(r.stdout).toContain("Level 2 SOFT_CONTAINMENT (was 1 VIGILANCE)");
    expect(r.stdout).toContain("Why: D_M 3.40 is above θ1 2.60; rising +2.10/s, accelerating +0.50/s²; mem_used_ratio runs out in 38 s at this rate.");
    expect(r.stdout).toContain("  mem_used_ratio      ██████████████······  68%");
    expect(r.stdout).toContain("Way out: back to level 1 when D_M stays below θ1 2.60 and is not rising for 30 s.");
    expect(r.stdout).toContain("in force  /hosa-test/leaker-3  memory.high max→1.6G  (applied, level 2)");
    const j = await hosa("-c", cfg, "explain", "--json");
    expect(JSON.parse(j.stdout)).toMatchObject({ source: "agent", node: "node-live", decision: { level: 2 } });
    srv.stop();
  });

  test("agent down: says so in one line on stderr and explains from the log; no log either: exit AGENT", async () => {
    const dir = join(root, "down");
    const log = writeLog(dir);
    const port = await freePort();
    const cfg = join(dir, "hosa.toml");
    writeFileSync(cfg, `[paths]\nlog_file = "${log}"\nstate_dir = "${join(dir, "state")}"\n[report]\nmetrics_listen = "127.0.0.1:${port}"\n`);
    const r = await hosa("-c", cfg, "explain");
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^hosa: agent not reachable at 127\\.0\\.0\\.1:${port} \\([^\\n]+\\): explaining from ${log.replace(/[.]/g, "\\.")}\\n$`));
    expect(r.stdout).toContain("Last logged state (2026-11-24T02:00:50.000123456Z):\nLevel 0 HOMEOSTASIS (was 1 VIGILANCE)");
    expect(r.stdout).toContain("Last episode:\n5 entries");
    const cfg2 = join(dir, "nolog.toml");
    writeFileSync(cfg2, `[paths]\nlog_file = "${join(dir, "absent.log")}"\n[report]\nmetrics_listen = "127.0.0.1:${port}"\n`);
    const r2 = await hosa("-c", cfg2, "explain");
    expect(r2.code).toBe(EXIT.AGENT);
    expect(r2.stdout).toBe("");
    expect(r2.stderr).toMatch(/^hosa: agent not reachable at 127\.0\.0\.1:\d+ \([^\n]+\) and no decision log at .*absent\.log\n$/);
  });
});
