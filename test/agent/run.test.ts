// The agent end to end through the built executable, on the live node:
// calibrate, run, record, replay the recording, a second instance, signals.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { hosaExe, runHosa, tempDir, writeTestConfig } from "../harness.ts";

const root = process.getuid?.() === 0;
setDefaultTimeout(90_000);
let tmp: ReturnType<typeof tempDir>;
let cfg: string;

async function waitFor(stream: ReadableStream<Uint8Array>, pattern: RegExp, timeoutMs: number): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline) {
      const r = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => null)]);
      if (!r || r.done) break;
      text += new TextDecoder().decode(r.value);
      if (pattern.test(text)) return text;
    }
  } finally {
    reader.releaseLock();
  }
  throw new Error(`timed out waiting for ${pattern}; got: ${text}`);
}

/** BPF program ids a process holds, from /proc/<pid>/fdinfo. */
function bpfProgIdsOf(pid: number): number[] {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^prog_id:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"));
      if (m) ids.add(Number(m[1]));
    } catch {}
  }
  return [...ids];
}

beforeAll(() => {
  tmp = tempDir("hosa-agent-");
  cfg = writeTestConfig(tmp.dir, "\n[engine]\ncalibration_s = 3\n");
});
afterAll(() => tmp.cleanup());

describe.skipIf(!root)("hosa run (root, live node)", () => {
  test("calibrate live writes a baseline with progress, then run --record is reproduced by replay", () => {
    const c = runHosa(["-c", cfg, "calibrate", "--duration", "3s"]);
    expect(c.code).toBe(0);
    expect(c.stderr).toContain("calibrating for 3 s");
    expect(c.stderr).toMatch(/100%/);
    expect(c.stdout).toContain(`baseline written to ${tmp.dir}/state/baseline.json`);
    const rec = join(tmp.dir, "run.rec");
    const r = runHosa(["-c", cfg, "run", "--duration", "4s", "--record", rec], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("detection-only");
    expect(r.stderr).toMatch(/stopped after \d+ ticks/);
    expect(existsSync(rec)).toBe(true);
    // Every level change the agent logged is a level change replay finds, at the same t.
    const log = join(tmp.dir, "decisions.log");
    const live = existsSync(log)
      ? readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l))
          .filter((e) => e.kind === "level")
          .map((e) => `${e.t} ${e.previous_level}->${e.level}`)
      : [];
    // The agent learns in homeostasis from the baseline file it started with: --learn does the same.
    const rp = runHosa(["-c", cfg, "replay", rec, "--baseline", join(tmp.dir, "state/baseline.json"), "--learn", "--json"]);
    expect(rp.code).toBe(0);
    const judged = rp.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(judged.length).toBeGreaterThan(20); // 4 s at 100 ms (or faster in vigilance)
    const replayed = judged.filter((d) => d.level !== d.previous_level).map((d) => `${d.t} ${d.previous_level}->${d.level}`);
    expect(replayed).toEqual(live);
  });

  test("a second instance on the same state directory is refused with the first one's PID; SIGTERM stops cleanly", async () => {
    const first = Bun.spawn([hosaExe(), "-c", cfg, "run"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
    try {
      await waitFor(first.stderr, /running on/, 20_000);
      // Its probes are loaded and held by it while it runs (prog ids from its fds).
      const ids = bpfProgIdsOf(first.pid);
      expect(ids.length).toBeGreaterThan(3);
      const second = runHosa(["-c", cfg, "run"]);
      expect(second.code).toBe(6);
      expect(second.stderr).toBe(`hosa: another hosa (pid ${first.pid}) holds ${tmp.dir}/state\n`);
      first.kill("SIGTERM");
      const code = await Promise.race([first.exited, Bun.sleep(10_000).then(() => -1)]);
      expect(code).toBe(0);
      expect(existsSync(join(tmp.dir, "state/hosa.pid"))).toBe(false);
      // And gone from the kernel once it stopped: nothing left attached.
      // (the kernel frees programs after an RCU grace period: allow it a few seconds)
      let left: number[] = ids;
      for (let i = 0; i < 50 && left.length; i++) {
        const loaded = new Set((JSON.parse(Bun.spawnSync(["bpftool", "prog", "list", "-j"]).stdout.toString() || "[]") as { id: number }[]).map((p) => p.id));
        left = ids.filter((id) => loaded.has(id));
        if (left.length) await Bun.sleep(100);
      }
      expect(left).toEqual([]);
    } finally {
      first.kill("SIGKILL");
    }
  });

  test("Ctrl-C during calibration leaves the previous baseline intact", async () => {
    const path = join(tmp.dir, "state/baseline.json");
    const before = readFileSync(path, "utf8");
    const p = Bun.spawn([hosaExe(), "-c", cfg, "calibrate", "--duration", "60s"], { stdout: "pipe", stderr: "pipe" });
    await waitFor(p.stderr, /calibrating for 60 s/, 20_000);
    await Bun.sleep(500);
    p.kill("SIGINT");
    const code = await Promise.race([p.exited, Bun.sleep(10_000).then(() => -1)]);
    expect(code).toBe(130);
    expect(readFileSync(path, "utf8")).toBe(before);
  });

  test("a stale PID file from a crashed agent does not block the next start", () => {
    Bun.write(join(tmp.dir, "state/hosa.pid"), "999999999\n");
    const r = runHosa(["-c", cfg, "run", "--duration", "1s"], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
  });
});

describe("hosa run: bad input", () => {
  test("a bad config file is one line and exit 3", () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = join(dir, "bad.toml");
      Bun.write(p, "[sense]\ntick_mz = 100\n");
      const r = runHosa(["-c", p, "run"]);
      expect(r.code).toBe(3);
      expect(r.stderr).toBe(`hosa: cannot load ${p}: line 2: unknown key "tick_mz" in [sense]\n`);
    } finally {
      cleanup();
    }
  });

  test("a bad duration is a usage error", () => {
    const r = runHosa(["run", "--duration", "soon"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('hosa: invalid --duration "soon": expected a duration like 30s, 5m or 2h\n');
  });

  test("--help works for every command", () => {
    for (const c of ["run", "calibrate", "explain", "replay", "quarantine", "doctor", "audit"]) {
      const r = runHosa([c, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Usage: hosa");
    }
  });
});
