// Detection-only tells the truth (issue 14), through the built executable on
// the live node: `hosa run` without act mode sees a real 50 MB/s leak in a v1
// memory cgroup under this test's own cgroup, decides and logs what it would
// do, and changes nothing; everything it says (decision log, /metrics,
// `hosa explain`, the stop line) says "would", and counts nothing as in force.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hosaExe, runHosa, tempDir } from "../harness.ts";
import { ChildCgroups, compileLeaker, hybrid, isRoot, read } from "../respond/helpers.ts";

setDefaultTimeout(90_000);
const tmp = tempDir(`hosa-detect-${process.pid}-`);
const cg = new ChildCgroups();
afterAll(async () => {
  await cg.cleanup();
  tmp.cleanup();
});

function logEntries(path: string): Record<string, unknown>[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.endsWith("}"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe.skipIf(!isRoot || !hybrid)("detection-only on a real leak (root, v1 memory controller)", () => {
  test("would apply everywhere, nothing changed, nothing counted in force or restored", async () => {
    const parent = cg.create("memory", `hosa-detect-${process.pid}`);
    const leakRel = cg.create("memory", `hosa-detect-${process.pid}/leak`);
    const leakDir = cg.dir("memory", leakRel);
    writeFileSync(`${leakDir}/memory.limit_in_bytes`, String(2 * 2 ** 30));
    const limitBefore = read(`${leakDir}/memory.limit_in_bytes`);
    const port = 20000 + (process.pid % 20000);
    const log = join(tmp.dir, "decisions.log");
    const cfg = join(tmp.dir, "hosa.toml");
    // The scope a real act-mode run would have: detection-only decides for it, and never writes.
    writeFileSync(
      cfg,
      `[paths]\nstate_dir = "${tmp.dir}/state"\nlog_file = "${log}"\n[engine]\ncalibration_s = 8\nhold_s = [1, 2, 3, 4]\n` +
        `[respond]\ncgroup_scope = "${parent}"\n[report]\nmetrics_listen = "127.0.0.1:${port}"\n`,
    );
    expect(runHosa(["-c", cfg, "calibrate", "--duration", "8s"], { timeoutMs: 60_000 }).code).toBe(0);
    const leaker = compileLeaker(tmp.dir);
    const agent = Bun.spawn([hosaExe(), "-c", cfg, "run"], { stdout: "ignore", stderr: "pipe" });
    let err = "";
    void (async () => {
      for await (const c of agent.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(c);
    })();
    let leak: Bun.Subprocess | null = null;
    try {
      for (let i = 0; i < 300 && !err.includes("running on"); i++) await Bun.sleep(100);
      expect(err).toContain("detection-only");
      leak = Bun.spawn(["sh", "-c", `echo $$ > ${leakDir}/cgroup.procs && exec ${leaker} --rate-mb 50 --max-mb 1500 --hold`], { stdout: "ignore", stderr: "ignore" });
      // Until the agent has decided memory actions on the leak (at most 30 s).
      let would: Record<string, unknown>[] = [];
      for (let i = 0; i < 300 && would.length === 0; i++) {
        await Bun.sleep(100);
        would = logEntries(log).filter((e) => e.kind === "action" && String(e.target).endsWith("/leak") && String(e.outcome).startsWith("would apply"));
      }
      expect(would.length).toBeGreaterThan(0);
      // Nothing written: the leak's limit is what it was.
      expect(read(`${leakDir}/memory.limit_in_bytes`)).toBe(limitBefore);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/^hosa_actions_in_force 0$/m);
      const explain = runHosa(["-c", cfg, "explain"]);
      expect(explain.code).toBe(0);
      expect(explain.stdout).toContain("would apply");
      expect(explain.stdout).not.toMatch(/^\s*in force /m);
    } finally {
      if (leak) {
        leak.kill("SIGKILL");
        await leak.exited;
      }
      agent.kill("SIGTERM");
    }
    expect(await agent.exited).toBe(0);
    expect(err).toMatch(/stopped after \d+ ticks/);
    expect(err).not.toContain("actions restored");
    // "danger target" records the target chosen, not a change.
    const actions = logEntries(log).filter((e) => e.kind === "action" && e.action !== "danger target");
    expect(actions.length).toBeGreaterThan(0);
    const claimed = actions.filter((e) => !/^(would |skipped)/.test(String(e.outcome)));
    expect(claimed.map((e) => `${e.action}: ${e.outcome}`)).toEqual([]);
    expect(read(`${leakDir}/memory.limit_in_bytes`)).toBe(limitBefore);
  });
});
