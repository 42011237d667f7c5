// Crash safety under fire (issue 14): the real agent (`hosa run`, act mode)
// contains a 50 MB/s leak in a memory cgroup this process creates under its
// own cgroup, and is SIGKILLed at a random moment of escalation and
// containment. After each kill the agent is started again; it must put back
// every value its journal says it changed, before anything else, and its
// hash-chained decision log must still verify. A second trial takes a
// webhook receiver on loopback down for a while, SIGKILLs the agent once
// during the outage, and counts messages lost and accepted twice under one
// idempotency key. Used by bench/crash.ts (100 kills) and
// test/bench/crash.test.ts (a few).
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createCgroupFs } from "../../src/kernel/cgroupfs.ts";
import { Journal } from "../../src/respond/journal.ts";
import { readCurrent } from "../../src/respond/cgroup-values.ts";
import { ChildCgroups, compileLeaker, read, ROOT } from "../../test/respond/helpers.ts";
type Rng = () => number;

export interface CrashSetup {
  exe: string;
  dir: string;
  cg: ChildCgroups;
  /** The memory cgroup the leak runs in, relative to the memory hierarchy. */
  leak: string;
  leakDir: string;
  cfg: string;
  stateDir: string;
  log: string;
  leaker: string;
}

/** Files of the leak cgroup whose values the harness compares before and after (hosa's v1 memory actions). */
const WATCHED = ["memory.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.swappiness", "memory.oom_control"];

function watched(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  // oom_control's first line is the setting; the rest are counters.
  for (const f of WATCHED) if (existsSync(`${dir}/${f}`)) out[f] = read(`${dir}/${f}`).split("\n")[0]!;
  return out;
}

function config(s: { dir: string; parent: string; extra?: string }): string {
  const p = join(s.dir, "hosa.toml");
  writeFileSync(
    p,
    [
      "[paths]",
      `state_dir = "${s.dir}/state"`,
      `log_file = "${s.dir}/decisions.log"`,
      "[engine]",
      "calibration_s = 8",
      "hold_s = [1, 2, 3, 4]",
      "[respond]",
      'mode = "act"',
      "relax_s = 2",
      `cgroup_scope = "${s.parent}"`,
      "[report]",
      'metrics_listen = "127.0.0.1:0"',
      s.extra ?? "",
      "",
    ].join("\n"),
  );
  return p;
}

/** Cgroups under this process's own memory cgroup, a config that lets hosa act only there, a baseline. */
export async function setUp(exe: string, dir: string, tag: string, extraConfig = ""): Promise<CrashSetup> {
  mkdirSync(dir, { recursive: true });
  const cg = new ChildCgroups();
  try {
    const parent = cg.create("memory", `hosa-crash-${tag}-${process.pid}`);
    const leak = cg.create("memory", `hosa-crash-${tag}-${process.pid}/leak`);
    const leakDir = cg.dir("memory", leak);
    writeFileSync(`${leakDir}/memory.limit_in_bytes`, String(2 * 2 ** 30));
    const cfg = config({ dir, parent, extra: extraConfig });
    const cal = Bun.spawnSync([exe, "-c", cfg, "calibrate", "--duration", "8s"], { stderr: "pipe", stdout: "ignore" });
    if (cal.exitCode !== 0) throw new Error(`calibrate: ${cal.stderr.toString()}`);
    return { exe, dir, cg, leak, leakDir, cfg, stateDir: join(dir, "state"), log: join(dir, "decisions.log"), leaker: compileLeaker(dir) };
  } catch (e) {
    await cg.cleanup();
    throw e;
  }
}

interface Agent {
  proc: Bun.Subprocess;
  stderr: () => string;
}

async function startAgent(s: CrashSetup): Promise<Agent> {
  const proc = Bun.spawn([s.exe, "-c", s.cfg, "run"], { stdout: "ignore", stderr: "pipe" });
  let err = "";
  void (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(chunk);
  })();
  const end = Date.now() + 30_000;
  while (!err.includes("running on")) {
    if (proc.exitCode !== null || Date.now() > end) {
      proc.kill("SIGKILL");
      throw new Error(`the agent did not start (exit ${proc.exitCode}): ${err.slice(-500)}`);
    }
    await Bun.sleep(20);
  }
  return { proc, stderr: () => err };
}

function startLeaker(s: CrashSetup, rateMb = 50): Bun.Subprocess {
  return Bun.spawn(["sh", "-c", `echo $$ > ${s.leakDir}/cgroup.procs && exec ${s.leaker} --rate-mb ${rateMb} --max-mb 1800 --hold`], {
    stdout: "ignore",
    stderr: "ignore",
  });
}

async function killAndReap(p: Bun.Subprocess): Promise<void> {
  try {
    process.kill(p.pid, "SIGCONT");
  } catch {}
  p.kill("SIGKILL");
  await p.exited;
}

export interface KillTrial {
  /** Seconds after the leak started that the agent was SIGKILLed. */
  killAtS: number;
  /** Seconds after the first alarm (Level ≥ 1 logged); null when none came in 20 s. */
  afterAlarmS: number | null;
  /** Changes the journal held open at the kill (hosa's values in force). */
  openAtKill: number;
  /** Highest level the decision log reached before the kill. */
  levelAtKill: number;
  /** Journaled values not back after the restart (must be 0). */
  notRestored: string[];
  /** Watched files that differ from before the trial after the restart (must be none). */
  changed: string[];
  /** `hosa audit verify` on the log after the restart, and what it said when it failed. */
  logVerified: boolean;
  logWhy: string;
  /** Wall time from the restart to "running on", ms. */
  restartMs: number;
}

function highestLevel(log: string, sinceMs: number): number {
  if (!existsSync(log)) return 0;
  let max = 0;
  for (const line of readFileSync(log, "utf8").split("\n")) {
    if (!line.endsWith("}")) continue;
    try {
      const e = JSON.parse(line) as { kind: string; level: number; timestamp: string };
      if (e.kind === "level" && Date.parse(e.timestamp) >= sinceMs && e.level > max) max = e.level;
    } catch {}
  }
  return max;
}

/** When the decision log first shows a level above 0 at or after `sinceMs`, or null. */
function firstAlarmMs(log: string, sinceMs: number): number | null {
  if (!existsSync(log)) return null;
  for (const line of readFileSync(log, "utf8").split("\n")) {
    if (!line.endsWith("}")) continue;
    try {
      const e = JSON.parse(line) as { kind: string; level: number; timestamp: string };
      const at = Date.parse(e.timestamp);
      if (e.kind === "level" && e.level >= 1 && at >= sinceMs) return at;
    } catch {}
  }
  return null;
}

/**
 * One kill: agent up, leak on, SIGKILL at a random moment `delayS` (uniform
 * in the window) after the first alarm, so every kill lands in escalation
 * (the first second: Level 1 to 4 and the first actions) or containment
 * (after); then leak off, agent up again, compare.
 */
export async function killTrial(s: CrashSetup, rng: Rng, windowS: [number, number]): Promise<KillTrial> {
  const before = watched(s.leakDir);
  let agent = await startAgent(s);
  const leakStart = Date.now();
  const leaker = startLeaker(s);
  const delayS = windowS[0] + rng() * (windowS[1] - windowS[0]);
  let alarm: number | null = null;
  const alarmEnd = leakStart + 20_000;
  while ((alarm = firstAlarmMs(s.log, leakStart)) === null && Date.now() < alarmEnd) await Bun.sleep(20);
  await Bun.sleep(Math.max(0, (alarm ?? Date.now()) + delayS * 1000 - Date.now()));
  const killAtS = (Date.now() - leakStart) / 1000;
  agent.proc.kill("SIGKILL");
  await agent.proc.exited;
  const levelAtKill = highestLevel(s.log, leakStart - 1000);
  const journal = Journal.open(join(s.stateDir, "actions.journal")).load();
  await killAndReap(leaker);
  const t0 = Date.now();
  agent = await startAgent(s);
  const restartMs = Date.now() - t0;
  // Recovery runs before "running on": every journaled change must hold its first value again.
  const notRestored: string[] = [];
  const fs = createCgroupFs(ROOT);
  for (const c of journal.open) {
    if (c.first.op !== "set") continue;
    // In the form hosa journals it (oom_control's setting, one device's io line), as its own restore compares.
    const now = readCurrent(fs, c.first.dir, c.first.file, c.first.dev) ?? "(gone)";
    if (now !== c.first.prev) notRestored.push(`${c.first.dir}/${c.first.file}: ${now}, journaled ${c.first.prev}`);
  }
  const after = watched(s.leakDir);
  const changed = Object.keys(before).filter((f) => before[f] !== after[f]).map((f) => `${f}: ${before[f]} → ${after[f]}`);
  agent.proc.kill("SIGTERM");
  await agent.proc.exited;
  // A log with no entry yet (a kill before the first alarm) has nothing to verify: `audit verify` says so with exit 4.
  const empty = !existsSync(s.log) || statSync(s.log).size === 0;
  const v = empty ? null : Bun.spawnSync([s.exe, "-c", s.cfg, "audit", "verify", s.log], { stdout: "ignore", stderr: "pipe" });
  const logVerified = v === null || v.exitCode === 0;
  return {
    killAtS,
    afterAlarmS: alarm === null ? null : killAtS - (alarm - leakStart) / 1000,
    openAtKill: journal.open.length,
    levelAtKill,
    notRestored,
    changed,
    logVerified,
    logWhy: v?.stderr.toString().trim() ?? "",
    restartMs,
  };
}

export interface OutageResult {
  outageS: number;
  killAtS: number;
  /** Distinct idempotency keys seen in the outbox during the run. */
  queued: number;
  /** Distinct keys the receiver accepted (2xx). */
  delivered: number;
  /** Keys seen in the outbox and never accepted. */
  lost: number;
  /** Keys accepted more than once. */
  duplicated: number;
  /** Requests the receiver saw during the outage (must be 0: it was down). */
  duringOutage: number;
  /** The lost keys and the X-Hosa-Event of each when known, for the report. */
  lostKeys: string[];
  /** Messages a clean stop left in the outbox (queued at the stop; delivered by the next start). */
  leftAtStop: number;
  /** Messages still in the outbox at the very end. */
  leftInOutbox: number;
}

/** A receiver on loopback that can be taken down (connection refused) and brought back on the same port. */
class Receiver {
  accepted = new Map<string, number>();
  requests = 0;
  private server: ReturnType<typeof Bun.serve> | null = null;
  port = 0;
  up(): void {
    this.server = Bun.serve({
      hostname: "127.0.0.1",
      port: this.port,
      fetch: async (req) => {
        this.requests++;
        await req.arrayBuffer();
        const key = req.headers.get("x-hosa-idempotency-key") ?? "(none)";
        this.accepted.set(key, (this.accepted.get(key) ?? 0) + 1);
        return new Response("ok");
      },
    });
    this.port = this.server.port!;
  }
  down(): void {
    this.server?.stop(true);
    this.server = null;
  }
}

function outboxKeys(stateDir: string, into: Set<string>): void {
  const root = join(stateDir, "outbox");
  if (!existsSync(root)) return;
  for (const d of readdirSync(root)) {
    let names: string[] = [];
    try {
      names = readdirSync(join(root, d)).filter((n) => /^\d{16}\.json$/.test(n));
    } catch {}
    for (const n of names) {
      try {
        into.add((JSON.parse(readFileSync(join(root, d, n), "utf8")) as { key: string }).key);
      } catch {}
    }
  }
}

function outboxDepth(stateDir: string): number {
  const keys = new Set<string>();
  outboxKeys(stateDir, keys);
  return keys.size;
}

/**
 * The webhook outage: heartbeats every second and a leak's level changes and
 * actions are queued while the receiver is down for `outageS`; the agent is
 * SIGKILLed once at a random moment of it and started again at once.
 */
export async function webhookOutage(exe: string, dir: string, rng: Rng, outageS: number): Promise<OutageResult> {
  const rx = new Receiver();
  rx.up();
  const s = await setUp(exe, dir, "hook", `heartbeat_s = 1\n[[report.webhooks]]\nurl = "http://127.0.0.1:${rx.port}/hook"\nformat = "json"\n`);
  const seen = new Set<string>();
  let polling = true;
  const poller = (async () => {
    while (polling) {
      outboxKeys(s.stateDir, seen);
      await Bun.sleep(50);
    }
  })();
  let agent: Agent | null = null;
  let leaker: Bun.Subprocess | null = null;
  try {
    agent = await startAgent(s);
    const firstEnd = Date.now() + 20_000;
    while (rx.accepted.size === 0 && Date.now() < firstEnd) await Bun.sleep(50);
    if (rx.accepted.size === 0) throw new Error("the receiver got no heartbeat before the outage");
    rx.down();
    const requestsBefore = rx.requests;
    const outageStart = Date.now();
    leaker = startLeaker(s);
    const killAtS = 0.15 * outageS + rng() * 0.7 * outageS;
    await Bun.sleep(killAtS * 1000);
    agent.proc.kill("SIGKILL");
    await agent.proc.exited;
    agent = await startAgent(s);
    await Bun.sleep(Math.max(0, outageStart + outageS * 1000 - Date.now()));
    await killAndReap(leaker);
    leaker = null;
    outboxKeys(s.stateDir, seen);
    const duringOutage = rx.requests - requestsBefore;
    rx.up();
    const drainEnd = Date.now() + 60_000;
    while (outboxDepth(s.stateDir) > 0 && Date.now() < drainEnd) await Bun.sleep(100);
    agent.proc.kill("SIGTERM");
    await agent.proc.exited;
    agent = null;
    // The clean stop queues its own messages (the restores) and exits without
    // waiting for them: they stay on disk for the next start. Start it once
    // more to see them delivered, as an operator's next start would.
    const leftAtStop = outboxDepth(s.stateDir);
    outboxKeys(s.stateDir, seen);
    if (leftAtStop > 0) {
      agent = await startAgent(s);
      const againEnd = Date.now() + 30_000;
      while (outboxDepth(s.stateDir) > 0 && Date.now() < againEnd) await Bun.sleep(100);
      agent.proc.kill("SIGTERM");
      await agent.proc.exited;
      agent = null;
    }
    polling = false;
    await poller;
    outboxKeys(s.stateDir, seen);
    const lostKeys = [...seen].filter((k) => !rx.accepted.has(k));
    const duplicated = [...rx.accepted.values()].filter((n) => n > 1).length;
    return { outageS, killAtS, queued: seen.size, delivered: rx.accepted.size, lost: lostKeys.length, duplicated, duringOutage, lostKeys, leftAtStop, leftInOutbox: outboxDepth(s.stateDir) };
  } finally {
    polling = false;
    if (leaker) await killAndReap(leaker);
    if (agent) await killAndReap(agent.proc);
    rx.down();
    await s.cg.cleanup();
  }
}
