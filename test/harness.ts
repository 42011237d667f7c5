// Shared by CLI tests: run the built executable and collect stdout, stderr
// and exit code together (as oven-sh/bun's harness spawns bunExe()).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const REPO = resolve(import.meta.dir, "..");

/** dist/hosa, built by scripts/build.sh (scripts/test.sh builds it before the suite). */
export function hosaExe(): string {
  const p = process.env.HOSA_EXE ?? join(REPO, "dist", "hosa");
  if (!existsSync(p)) throw new Error(`${p} is missing: run scripts/build.sh first`);
  return p;
}

/**
 * dist/hosa when it is newer than every source file (scripts/test.sh builds
 * it first), else `<dir>/hosa`, which `ensureBuilt()` compiles (for a test
 * file run alone after an edit). HOSA_BIN names another executable.
 */
export function currentBinary(dir: string): { bin: string; ensureBuilt: () => Promise<void> } {
  const dist = join(REPO, "dist/hosa");
  const fresh = join(dir, "hosa");
  const newest = (d: string): number =>
    readdirSync(d, { withFileTypes: true }).reduce((m, e) => Math.max(m, e.isDirectory() ? newest(join(d, e.name)) : statSync(join(d, e.name)).mtimeMs), 0);
  const bin = process.env.HOSA_BIN ?? (existsSync(dist) && statSync(dist).mtimeMs > newest(join(REPO, "src")) ? dist : fresh);
  return {
    bin,
    ensureBuilt: async () => {
      if (bin !== fresh) return;
      const b = Bun.spawn([process.execPath, "build", "--compile", join(REPO, "src/cli/main.ts"), "--outfile", bin], { stdout: "pipe", stderr: "pipe" });
      if ((await b.exited) !== 0) throw new Error(`build failed: ${await new Response(b.stderr).text()}`);
    },
  };
}

/**
 * `hosa calibrate` for `calibrateS` seconds, then `hosa run`, on config `cfg`
 * (throws when the calibration fails): the running agent, and what it has
 * written to stderr so far (collected as it comes).
 */
export function calibrateAndRun(cfg: string, calibrateS: number): { agent: Bun.Subprocess<"ignore", "ignore", "pipe">; stderr: () => string } {
  const cal = Bun.spawnSync([hosaExe(), "-c", cfg, "calibrate", "--duration", `${calibrateS}s`], { stderr: "pipe" });
  if (cal.exitCode !== 0) throw new Error(`hosa calibrate exited ${cal.exitCode}: ${cal.stderr.toString().trim()}`);
  const agent = Bun.spawn([hosaExe(), "-c", cfg, "run"], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  let err = "";
  void (async () => {
    for await (const chunk of agent.stderr) err += new TextDecoder().decode(chunk);
  })();
  return { agent, stderr: () => err };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runHosa(args: string[], opts: { cwd?: string; env?: Record<string, string>; stdin?: string; timeoutMs?: number } = {}): RunResult {
  const r = Bun.spawnSync([hosaExe(), ...args], {
    cwd: opts.cwd,
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    stdin: opts.stdin !== undefined ? Buffer.from(opts.stdin) : "ignore",
    timeout: opts.timeoutMs ?? 60_000,
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

export function tempDir(prefix = "hosa-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A config that keeps every path inside `dir` (tests never touch /var/lib/hosa). */
export function writeTestConfig(dir: string, extra = ""): string {
  const path = join(dir, "hosa.toml");
  writeFileSync(
    path,
    `[paths]\nstate_dir = "${dir}/state"\nlog_file = "${dir}/decisions.log"\n\n[report]\nmetrics_listen = "127.0.0.1:0"\n${extra}\n`,
  );
  return path;
}

/**
 * The golden file test/golden/<name>: its text, read for comparison. With
 * UPDATE_GOLDEN=1 it is (re)written from `actual` first, on purpose; a
 * missing golden file fails, it is never written on the quiet.
 */
export function golden(name: string, actual: string): string {
  const path = join(REPO, "test", "golden", name);
  if (process.env.UPDATE_GOLDEN === "1") writeFileSync(path, actual);
  if (!existsSync(path)) throw new Error(`test/golden/${name} is missing: regenerate it on purpose with UPDATE_GOLDEN=1 bun test <this test file>, and review the diff`);
  return readFileSync(path, "utf8");
}
