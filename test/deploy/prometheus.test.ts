// The fleet view: the rules pass `promtool check rules` and their unit tests
// (`promtool test rules`: recordings and alerts over a three-node fleet),
// every PromQL expression of the Grafana dashboard parses, and the real
// agent's /metrics passes `promtool check metrics` during warm-up and after.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PROMTOOL } from "../report/procs.ts";

const repo = resolve(import.meta.dir, "../..");
const exe = process.env.HOSA_BIN ?? join(repo, "dist/hosa");
const dir = mkdtempSync(join(tmpdir(), "hosa-prom-"));
const kids: number[] = [];
afterAll(() => {
  for (const p of kids) {
    try {
      process.kill(p, "SIGKILL");
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
});

function promtool(args: string[], stdin?: string): { code: number; out: string } {
  const r = Bun.spawnSync([PROMTOOL, ...args], { cwd: join(repo, "deploy/prometheus"), stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, out: `${r.stdout.toString()}${r.stderr.toString()}` };
}

describe("deploy/prometheus and deploy/grafana", () => {
  test("promtool check rules and promtool test rules pass", () => {
    const check = promtool(["check", "rules", "hosa-rules.yml"]);
    expect(check.out).toContain("SUCCESS: 17 rules found");
    expect(check.code).toBe(0);
    const unit = promtool(["test", "rules", "hosa-rules.test.yml"]);
    expect(unit.out).toContain("SUCCESS");
    expect(unit.code).toBe(0);
  });

  test("every query of the Grafana dashboard parses as PromQL and uses only hosa's metrics or the recorded ones", () => {
    const dash = JSON.parse(readFileSync(join(repo, "deploy/grafana/hosa-fleet.json"), "utf8")) as { uid: string; panels: { title: string; targets: { expr: string }[] }[] };
    expect(dash.uid).toBe("hosa-fleet");
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(12);
    // Grafana's variables are not PromQL: substitute what Grafana would.
    const rules = exprs.map((e, i) => `      - record: dashboard:expr_${i}\n        expr: ${JSON.stringify(e.replaceAll("$instance", ".*").replaceAll("$__rate_interval", "1m"))}\n`).join("");
    writeFileSync(join(dir, "dashboard-rules.yml"), `groups:\n  - name: dashboard\n    rules:\n${rules}`);
    const r = promtool(["check", "rules", join(dir, "dashboard-rules.yml")]);
    expect(r.out).toContain(`SUCCESS: ${exprs.length} rules found`);
    const recorded = new Set([...readFileSync(join(repo, "deploy/prometheus/hosa-rules.yml"), "utf8").matchAll(/record: (\S+)/g)].map((m) => m[1]));
    const metrics = new Set([...readFileSync(join(repo, "src/report/server.ts"), "utf8").matchAll(/metric\(\s*"(hosa_[a-z_]+)"/g)].map((m) => m[1]));
    for (const e of exprs) {
      for (const name of e.match(/\b(hosa[:_][a-z_:0-9]+)/g) ?? []) expect(`${name} ${recorded.has(name) || metrics.has(name)}`).toBe(`${name} true`);
    }
  });

  test("the real agent's /metrics passes promtool check metrics during warm-up (learning 1) and after", async () => {
    writeFileSync(
      join(dir, "hosa.toml"),
      `[paths]\nstate_dir = "${dir}/state"\nlog_file = "${dir}/decisions.log"\n[engine]\ncalibration_s = 3\n[report]\nmetrics_listen = "127.0.0.1:0"\n`,
    );
    const p = Bun.spawn([exe, "-c", join(dir, "hosa.toml"), "run", "--duration", "20"], { stdout: "pipe", stderr: "pipe" });
    kids.push(p.pid);
    let said = "";
    const reader = p.stderr.getReader();
    let port = 0;
    for (let i = 0; i < 200 && !port; i++) {
      const { value, done } = await reader.read();
      if (done) break;
      said += new TextDecoder().decode(value);
      port = Number(/metrics on http:\/\/[^:]+:(\d+)\/metrics/.exec(said)?.[1] ?? 0);
    }
    expect(port).toBeGreaterThan(0);
    const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const warm = await scrape();
    expect(warm).toContain("\nhosa_warmup 1\n");
    expect(warm).toContain("\nhosa_learning 1\n");
    expect(promtool(["check", "metrics"], warm)).toEqual({ code: 0, out: "" });
    let after = warm;
    for (let i = 0; i < 100 && !after.includes("\nhosa_warmup 0\n"); i++) {
      await Bun.sleep(200);
      after = await scrape();
    }
    expect(after).toContain("\nhosa_warmup 0\n");
    expect(after).toMatch(/\nhosa_tick_jitter_seconds_count \d+\n/);
    expect(promtool(["check", "metrics"], after)).toEqual({ code: 0, out: "" });
    process.kill(p.pid, "SIGTERM");
    expect(await p.exited).toBe(0);
  }, 60_000);
});
