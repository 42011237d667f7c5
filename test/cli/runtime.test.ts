// `hosa run` execs itself once with its runtime settings (src/cli/runtime.ts,
// docs/footprint.md): the built binary's environment as the kernel holds it
// (/proc/PID/environ), the operator's own values and "off", and the clean-up
// that keeps the settings from the processes the agent starts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JIT_POLICY, RUNTIME_ENV, RUNTIME_MARK, tuneRuntime } from "../../src/cli/runtime.ts";
import { currentBinary } from "../harness.ts";

const root = mkdtempSync(join(tmpdir(), `hosa-runtime-${process.pid}-`));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const { bin, ensureBuilt } = currentBinary(root);

beforeAll(ensureBuilt, 120_000);

/** Start `hosa run` detection-only for a moment; the environment and command line its process (the PID spawned) holds once it runs. */
async function runEnv(name: string, env: Record<string, string>): Promise<{ environ: Map<string, string>; cmdline: string[]; running: boolean }> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "hosa.toml"), `[paths]\nstate_dir = "${dir}/state"\nlog_file = "${dir}/decisions.log"\n[sense]\nebpf = "off"\n[report]\nmetrics_listen = "127.0.0.1:0"\n`);
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !(k in RUNTIME_ENV) && k !== RUNTIME_MARK)) as Record<string, string>;
  const p = Bun.spawn([bin, "-c", join(dir, "hosa.toml"), "run", "--duration", "20s"], { stdout: "ignore", stderr: "pipe", env: { ...clean, ...env } });
  let err = "";
  const reader = (async () => {
    for await (const chunk of p.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(chunk);
  })();
  try {
    const end = Date.now() + 15_000;
    while (!err.includes("running on") && p.exitCode === null && Date.now() < end) await Bun.sleep(50);
    const environ = new Map<string, string>();
    for (const kv of readFileSync(`/proc/${p.pid}/environ`, "latin1").split("\0")) {
      const i = kv.indexOf("=");
      if (i > 0) environ.set(kv.slice(0, i), kv.slice(i + 1));
    }
    const cmdline = readFileSync(`/proc/${p.pid}/cmdline`, "latin1").split("\0");
    return { environ, cmdline, running: err.includes("running on") && p.exitCode === null };
  } finally {
    p.kill("SIGTERM");
    await p.exited;
    await reader;
  }
}

describe("hosa run's runtime settings", () => {
  test("the built binary runs with them, in the same process (one exec of itself), arguments intact", async () => {
    const r = await runEnv("default", {});
    expect(r.running).toBe(true);
    for (const [k, v] of Object.entries(RUNTIME_ENV)) expect(r.environ.get(k)).toBe(v);
    expect(r.environ.get(RUNTIME_MARK)).toBe(`exec:${Object.keys(RUNTIME_ENV).join(",")}`);
    expect(r.cmdline.slice(1, 6)).toEqual(["-c", join(root, "default", "hosa.toml"), "run", "--duration", "20s"]);
  }, 40_000);

  test("an operator's own value wins, and HOSA_RUNTIME_ENV=off leaves the environment alone", async () => {
    const own = await runEnv("own", { BUN_JSC_useFTLJIT: "1" });
    expect(own.running).toBe(true);
    expect(own.environ.get("BUN_JSC_useFTLJIT")).toBe("1");
    expect(own.environ.get(RUNTIME_MARK)).toBe(`exec:${Object.keys(RUNTIME_ENV).filter((k) => k !== "BUN_JSC_useFTLJIT").join(",")}`);
    const off = await runEnv("off", { [RUNTIME_MARK]: "off" });
    expect(off.running).toBe(true);
    for (const k of Object.keys(RUNTIME_ENV)) expect(off.environ.has(k)).toBe(false);
    expect(off.environ.get(RUNTIME_MARK)).toBe("off");
  }, 60_000);

  test("after the exec the added variables leave process.env (children do not inherit them); the operator's stay", () => {
    const env: NodeJS.ProcessEnv = { BUN_JSC_useFTLJIT: "0", MIMALLOC_PURGE_DELAY: "5", [RUNTIME_MARK]: "exec:BUN_JSC_useFTLJIT", PATH: "/bin" };
    try {
      expect(tuneRuntime(["run"], env)).toBe("tuned");
    } finally {
      Bun.unsafe.setJITPolicy(1);
    }
    expect(env).toEqual({ MIMALLOC_PURGE_DELAY: "5", PATH: "/bin" });
    expect(JIT_POLICY).toBeGreaterThan(1);
    const off: NodeJS.ProcessEnv = { [RUNTIME_MARK]: "off" };
    expect(tuneRuntime(["run"], off)).toBe("off");
    expect(off).toEqual({ [RUNTIME_MARK]: "off" });
  });
});
