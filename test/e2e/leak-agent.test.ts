// Issue 5's scenario with the real agent on this host's cgroups (v1/hybrid
// here; the pure v2 run is test/guest/leak-v2.test.ts): a process leaking
// 50 MB/s in its own memory cgroup (2 GiB limit) is named by the danger and
// contained by `hosa run --act` within a second or two, not killed, its
// neighbour untouched; once the leak stops every value hosa changed is back
// while the agent still runs (issue 11), and every apply and restore reached
// the webhook (a receiver on loopback).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { calibrateAndRun, hosaExe, tempDir } from "../harness.ts";
import { ChildCgroups, compileLeaker, hybrid, isRoot, ownCgroup, read } from "../respond/helpers.ts";

setDefaultTimeout(180_000);

const cg = new ChildCgroups();
let tmp: ReturnType<typeof tempDir>;
let agent: ReturnType<typeof Bun.spawn> | null = null;
let leaker: ReturnType<typeof Bun.spawn> | null = null;

interface LogEntry {
  kind: string;
  timestamp: string;
  level: number;
  target_cgroup?: string | null;
  action_id?: string;
  action?: string | null;
  outcome?: string;
}

function logEntries(path: string): LogEntry[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.endsWith("}"))
    .map((l) => JSON.parse(l));
}

async function until<T>(what: string, timeoutMs: number, f: () => T | undefined | null | false): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = f();
    if (v) return v;
    await Bun.sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

beforeAll(() => {
  tmp = tempDir("hosa-e2e-");
});
afterAll(async () => {
  leaker?.kill("SIGKILL");
  agent?.kill("SIGKILL");
  await agent?.exited;
  await cg.cleanup();
  if (!process.env.HOSA_KEEP) tmp.cleanup();
  else console.log(`kept ${tmp.dir}`);
});

describe.skipIf(!isRoot || !hybrid)("leak contained by the real agent (cgroup v1 memory controller)", () => {
  test("50 MB/s leak: contained in seconds, alive, neighbour untouched, all restored", async () => {
    const parent = cg.create("memory", `hosa-e2e-${process.pid}`);
    const leak = cg.create("memory", `hosa-e2e-${process.pid}/leak`);
    const neighbour = cg.create("memory", `hosa-e2e-${process.pid}/neighbour`);
    const leakDir = cg.dir("memory", leak);
    const nbDir = cg.dir("memory", neighbour);
    writeFileSync(`${leakDir}/memory.limit_in_bytes`, String(2 * 2 ** 30));
    writeFileSync(`${nbDir}/memory.limit_in_bytes`, String(2 ** 30));
    const leakBefore = { limit: read(`${leakDir}/memory.limit_in_bytes`), oom: read(`${leakDir}/memory.oom_control`) };
    const nbBefore = { limit: read(`${nbDir}/memory.limit_in_bytes`), oom: read(`${nbDir}/memory.oom_control`) };

    // The webhook receiver: every action body hosa posts.
    const hooked: LogEntry[] = [];
    const hook = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        const body = (await req.json()) as LogEntry & { type?: string };
        if (body.type === "action") hooked.push(body);
        return new Response("ok");
      },
    });
    // hosa may act only inside the cgroup this test created.
    const cfg = join(tmp.dir, "hosa.toml");
    const log = join(tmp.dir, "decisions.log");
    writeFileSync(
      cfg,
      [
        "[paths]",
        `state_dir = "${tmp.dir}/state"`,
        `log_file = "${log}"`,
        "[engine]",
        "calibration_s = 15",
        "hold_s = [1, 2, 3, 4]",
        "[respond]",
        'mode = "act"',
        "relax_s = 2",
        `cgroup_scope = "${parent}"`,
        "[report]",
        'metrics_listen = "127.0.0.1:0"',
        "heartbeat_s = 0",
        `webhooks = [{ url = "http://127.0.0.1:${hook.port}/hook", format = "json" }]`,
        "",
      ].join("\n"),
    );
    const exe = compileLeaker(tmp.dir);
    const started = calibrateAndRun(cfg, 15);
    agent = started.agent;
    await until("the agent to start", 30_000, () => started.stderr().includes("running on"));
    await Bun.sleep(2000);

    const leakStartMs = Date.now();
    leaker = Bun.spawn(["sh", "-c", `echo $$ > ${leakDir}/cgroup.procs && exec ${exe} --rate-mb 50 --max-mb 1800 --hold`], {
      stdout: "pipe",
      stderr: "pipe",
    });
    // Contained: the first applied memory action on the leaking cgroup.
    const contained = await until("containment of the leak", 30_000, () =>
      logEntries(log).find((e) => e.kind === "action" && e.target_cgroup === leak && /^memory\./.test(e.action ?? "") && e.outcome === "applied"),
    );
    const containS = (Date.parse(contained.timestamp) - leakStartMs) / 1000;
    const detected = logEntries(log).find((e) => e.kind === "level" && e.level >= 1 && Date.parse(e.timestamp) >= leakStartMs);
    const usage = () => Number(read(`${leakDir}/memory.usage_in_bytes`));
    // Growth after containment, over 3 s.
    await Bun.sleep(1000);
    const u0 = usage();
    await Bun.sleep(3000);
    const afterMBps = (usage() - u0) / 2 ** 20 / 3;
    console.log(
      `leak e2e (v1): detected ${detected ? ((Date.parse(detected.timestamp) - leakStartMs) / 1000).toFixed(2) : "?"} s, ` +
        `contained ${containS.toFixed(2)} s after the leak started; growth 50 MB/s before, ${afterMBps.toFixed(1)} MiB/s after`,
    );
    // The danger named the leak, with its figures, before anything was applied.
    const chosen = logEntries(log).find((e) => e.kind === "action" && e.action === "danger target");
    expect(chosen?.target_cgroup).toBe(leak);
    expect(chosen?.outcome).toMatch(/^chosen: .*growing .* s to exhaustion/);
    // Issue 11 asks for ≤ 1 s (bench/RESULTS-trust.md, median of 5 on the bench). On a loaded machine the leak
    // itself is starved and grows in steps: first sight ≤ 0.5 s, the proof over three windows ≤ 1.5 s after
    // the growth began (docs/response.md § Growth that lasts), the write: 3 s leaves the agent's own lateness.
    expect(containS).toBeLessThan(3);
    expect(afterMBps).toBeLessThan(0.2 * 50);
    // Alive, never OOM-killed.
    expect(leaker.exitCode).toBeNull();
    process.kill(leaker.pid, 0);
    expect(read(`${leakDir}/memory.oom_control`)).toMatch(/oom_kill 0/);
    // The neighbour's values never changed.
    expect(read(`${nbDir}/memory.limit_in_bytes`)).toBe(nbBefore.limit);
    expect(read(`${nbDir}/memory.oom_control`)).toBe(nbBefore.oom);

    // The leak ends; hosa lets go (relax_s 2 in this config) while it runs.
    leaker.kill("SIGKILL");
    await leaker.exited;
    leaker = null;
    const stoppedMs = Date.now();
    await until("the leak cgroup's values restored while the agent runs", 60_000, () => {
      const limit = read(`${leakDir}/memory.limit_in_bytes`);
      const oom = read(`${leakDir}/memory.oom_control`);
      return limit === leakBefore.limit && oom.split("\n")[0] === leakBefore.oom.split("\n")[0] ? true : undefined;
    });
    console.log(`leak e2e (v1): original values back ${((Date.now() - stoppedMs) / 1000).toFixed(1)} s after the leak stopped`);
    expect(agent.exitCode).toBeNull();
    agent.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
    agent = null;
    // Restored by de-escalation, or at the latest by the clean stop.
    expect(read(`${leakDir}/memory.limit_in_bytes`)).toBe(leakBefore.limit);
    expect(read(`${leakDir}/memory.oom_control`).split("\n")[0]).toBe(leakBefore.oom.split("\n")[0]);
    expect(read(`${nbDir}/memory.limit_in_bytes`)).toBe(nbBefore.limit);
    // Every apply and every restore reached the webhook.
    const sent = logEntries(log).filter((e) => e.kind === "action" && (e.outcome === "applied" || e.outcome?.startsWith("restored")));
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.some((e) => e.outcome?.startsWith("restored"))).toBe(true);
    await until("every action at the webhook", 10_000, () => sent.every((e) => hooked.some((h) => h.action_id === e.action_id)));
    hook.stop(true);
    // Every action is in the hash-chained log.
    const v = Bun.spawnSync([hosaExe(), "-c", cfg, "audit", "verify", log]);
    expect(v.exitCode).toBe(0);
  });
});
