// Restores outside a decision reach the webhook (issue 11): a run that
// crashed with a ceiling in force on a real child cgroup, then `hosa run`
// recovers it at start; the restore is posted to a receiver on loopback.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createResponder } from "../../src/respond/responder.ts";
import { hosaExe, tempDir } from "../harness.ts";
import { actConfig, decision, hybrid, isRoot, read, TestResources } from "../respond/helpers.ts";

setDefaultTimeout(60_000);
const res = new TestResources();
afterAll(() => res.cleanup());

describe.skipIf(!isRoot || !hybrid)("restores reach the webhook", () => {
  test("what start-up recovery puts back after a crash is posted", async () => {
    const tmp = tempDir("hosa-rw-");
    res.dirs.push(tmp.dir);
    const leak = res.cg.create("memory", `hosa-rw-${process.pid}`);
    const dir = res.cg.dir("memory", leak);
    const idle = Bun.spawn(["sh", "-c", `echo $$ > ${dir}/cgroup.procs && exec sleep 60`]);
    res.procs.push(idle);
    await Bun.sleep(100);
    const limitBefore = read(`${dir}/memory.limit_in_bytes`);

    // The run that "crashed": a ceiling applied through the real cgroupfs and journaled, never restored.
    const cfg = actConfig(join(tmp.dir, "state"), { cgroupScope: leak });
    const danger = { ttfS: 20, cgroup: leak, resource: "memory limit", containmentFailing: false, evidence: "test" };
    const crashed = createResponder(cfg);
    crashed.onDecision(decision(0, 3, 0), [], danger);
    expect(read(`${dir}/memory.limit_in_bytes`)).not.toBe(limitBefore);

    const hooked: { outcome?: string; target_cgroup?: string; type?: string }[] = [];
    const hook = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        hooked.push((await req.json()) as (typeof hooked)[number]);
        return new Response("ok");
      },
    });
    const conf = join(tmp.dir, "hosa.toml");
    writeFileSync(
      conf,
      [
        "[paths]",
        `state_dir = "${join(tmp.dir, "state")}"`,
        `log_file = "${join(tmp.dir, "decisions.log")}"`,
        "[respond]",
        'mode = "act"',
        `cgroup_scope = "${leak}"`,
        "[report]",
        "heartbeat_s = 0",
        `webhooks = [{ url = "http://127.0.0.1:${hook.port}/", format = "json" }]`,
        "",
      ].join("\n"),
    );
    // Not spawnSync: the receiver lives in this process's event loop.
    const p = Bun.spawn([hosaExe(), "-c", conf, "run", "--duration", "2"], { stderr: "pipe" });
    const run = { exitCode: await p.exited, stderr: await new Response(p.stderr).text() };
    hook.stop(true);
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain("recovered");
    expect(read(`${dir}/memory.limit_in_bytes`)).toBe(limitBefore);
    const restored = hooked.filter((h) => h.type === "action" && h.outcome?.startsWith("restored"));
    expect(restored.length, JSON.stringify(hooked).slice(0, 800) + run.stderr).toBeGreaterThanOrEqual(1);
  });
});
