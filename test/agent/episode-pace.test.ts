// The agent's tick during an episode (src/episode-pace.ts, docs/footprint.md
// § An episode that holds still), live, in act mode on this host's cgroups:
// a 50 MB/s leak contained and pinned at hosa's ceiling is watched at the
// calm tick within seconds of its containment, still held; a second cgroup
// that starts to grow brings the vigilance tick back within one scan of the
// danger watch. The tick is what the agent's /metrics says
// (hosa_tick_interval_seconds), asked every few milliseconds.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { calibrateAndRun, tempDir } from "../harness.ts";
import { ChildCgroups, compileLeaker, hybrid, isRoot, read } from "../respond/helpers.ts";

setDefaultTimeout(180_000);

const cg = new ChildCgroups();
let tmp: ReturnType<typeof tempDir>;
let agent: ReturnType<typeof Bun.spawn> | null = null;
const leakers: ReturnType<typeof Bun.spawn>[] = [];

async function until<T>(what: string, timeoutMs: number, f: () => T | undefined | null | false | Promise<T | undefined | null | false>, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await f();
    if (v) return v;
    await Bun.sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

beforeAll(() => {
  tmp = tempDir("hosa-pace-");
});
afterAll(async () => {
  for (const l of leakers) l.kill("SIGKILL");
  agent?.kill("SIGKILL");
  await agent?.exited;
  await cg.cleanup();
  tmp.cleanup();
});

describe.skipIf(!isRoot || !hybrid)("the agent's tick during an episode (cgroup v1 memory controller)", () => {
  test("a pinned leak is watched at the calm tick; new growth elsewhere brings the vigilance tick back within one scan", async () => {
    cg.create("memory", `hosa-pace-${process.pid}`);
    const leak = cg.create("memory", `hosa-pace-${process.pid}/leak`);
    const other = cg.create("memory", `hosa-pace-${process.pid}/other`);
    const leakDir = cg.dir("memory", leak);
    const otherDir = cg.dir("memory", other);
    writeFileSync(`${leakDir}/memory.limit_in_bytes`, String(2 * 2 ** 30));
    const limitBefore = read(`${leakDir}/memory.limit_in_bytes`);
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
        "[respond]",
        'mode = "act"',
        `cgroup_scope = "${leak.slice(0, leak.lastIndexOf("/"))}"`,
        "[report]",
        'metrics_listen = "127.0.0.1:0"',
        "heartbeat_s = 0",
        "",
      ].join("\n"),
    );
    const exe = compileLeaker(tmp.dir);
    const started = calibrateAndRun(cfg, 15);
    agent = started.agent;
    const port = await until("the agent's metrics port", 30_000, () => /metrics on http:\/\/[\d.]+:(\d+)\//.exec(started.stderr())?.[1]);
    const tickS = async (): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return Number(/^hosa_tick_interval_seconds (\S+)$/m.exec(text)?.[1]);
    };
    // Calm before the leak: on a loaded machine the first seconds after a short calibration may be surprising (Level 1).
    await until("the calm tick before the leak", 20_000, async () => (await tickS()) === 0.1);

    const spawnLeak = (dir: string, args: string) => {
      const p = Bun.spawn(["sh", "-c", `echo $$ > ${dir}/cgroup.procs && exec ${exe} ${args}`], { stdout: "ignore", stderr: "ignore" });
      leakers.push(p);
      return p;
    };
    const leaker = spawnLeak(leakDir, "--rate-mb 50 --max-mb 1800 --hold");
    await until("containment of the leak", 30_000, () => read(`${leakDir}/memory.limit_in_bytes`) !== limitBefore);
    const containedMs = Date.now();
    expect(await tickS()).toBe(0.01);

    // Held still: the calm tick within a few seconds (the scan's growth fades
    // 1.5 s after the last it saw, then SETTLE_S without a level change or an action).
    await until("the calm tick while the leak is held", 15_000, async () => (await tickS()) === 0.1);
    const calmAfterS = (Date.now() - containedMs) / 1000;
    // It stays calm while the leak presses against its ceiling, and the ceiling holds.
    const usage = () => Number(read(`${leakDir}/memory.usage_in_bytes`));
    const u0 = usage();
    let vigilantTicks = 0;
    for (let i = 0; i < 30; i++) {
      if ((await tickS()) !== 0.1) vigilantTicks++;
      await Bun.sleep(100);
    }
    const heldMBps = (usage() - u0) / 2 ** 20 / 3;
    expect(vigilantTicks).toBe(0);
    expect(heldMBps).toBeLessThan(0.2 * 50);
    expect(read(`${leakDir}/memory.limit_in_bytes`)).not.toBe(limitBefore);
    expect(leaker.exitCode).toBeNull();

    // New growth in another cgroup: the vigilance tick within one scan (100 ms) of the first growth a reader sees,
    // plus the calm tick the agent may be waiting out and this loop's own step.
    const o0 = Number(read(`${otherDir}/memory.usage_in_bytes`));
    spawnLeak(otherDir, "--rate-mb 50 --max-mb 100 --hold");
    let grewMs = 0;
    const vigilantMs = await until(
      "the vigilance tick after new growth",
      5_000,
      async () => {
        if (!grewMs && Number(read(`${otherDir}/memory.usage_in_bytes`)) - o0 >= 2 * 2 ** 20) grewMs = Date.now();
        return (await tickS()) === 0.01 ? Date.now() : 0;
      },
      5,
    );
    const backS = (vigilantMs - (grewMs || vigilantMs)) / 1000;
    console.log(`episode pace: calm tick ${calmAfterS.toFixed(2)} s after containment, ${heldMBps.toFixed(2)} MiB/s held; vigilance ${backS.toFixed(3)} s after new growth was seen`);
    expect(backS).toBeLessThan(0.3);

    agent.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
    agent = null;
    expect(read(`${leakDir}/memory.limit_in_bytes`)).toBe(limitBefore);
    expect(existsSync(log) && readFileSync(log, "utf8").includes('"kind":"action"')).toBe(true);
  });
});
