// Shared by the response tests: child cgroups under this process's own
// cgroups (per controller, from /proc/self/cgroup), the leaker, decisions.
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultConfig, type HosaConfig } from "../../src/config.ts";
import type { Contribution, Decision, Level } from "../../src/engine/types.ts";
import { LEVEL_NAMES } from "../../src/engine/types.ts";

export const ROOT = "/sys/fs/cgroup";
export const isRoot = process.getuid?.() === 0;
export const hybrid = existsSync(`${ROOT}/memory/cgroup.procs`);

/** This process's cgroup path in a v1 controller's hierarchy. */
export function ownCgroup(controller: string): string {
  for (const line of readFileSync("/proc/self/cgroup", "utf8").split("\n")) {
    const [, ctrls, path] = line.split(":");
    if (ctrls?.split(",").includes(controller)) return path === "/" ? "" : path;
  }
  throw new Error(`no ${controller} line in /proc/self/cgroup`);
}

/** A child cgroup in each controller; returns the paths relative to each hierarchy root. */
export class ChildCgroups {
  readonly made: string[] = [];
  create(controller: string, name: string): string {
    const rel = `${ownCgroup(controller)}/${name}`;
    const dir = `${ROOT}/${controller}${rel}`;
    mkdirSync(dir, { recursive: true });
    this.made.push(dir);
    return rel;
  }
  dir(controller: string, rel: string): string {
    return `${ROOT}/${controller}${rel}`;
  }
  /** Remove in reverse order; processes must be gone first. Bounded retries: rmdir waits for the kernel to uncharge. */
  async cleanup(): Promise<void> {
    // Whatever is still in these groups was started by the test (a killed
    // wrapper such as timeout(1) can leave its child behind): end it by PID.
    for (const dir of this.made) {
      for (const pid of (existsSync(`${dir}/cgroup.procs`) ? readFileSync(`${dir}/cgroup.procs`, "utf8") : "").split("\n").filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {}
      }
    }
    for (const dir of this.made.reverse()) {
      if (dir.includes("/freezer/")) {
        try {
          writeFileSync(`${dir}/freezer.state`, "THAWED");
        } catch {}
      }
      for (let i = 0; i < 50 && existsSync(dir); i++) {
        try {
          rmdirSync(dir);
        } catch {
          await Bun.sleep(50);
        }
      }
    }
  }
}

/** What a response test started and made: its processes (continued then killed), cgroups and temp dirs. */
export class TestResources {
  readonly cg = new ChildCgroups();
  readonly procs: Bun.Subprocess[] = [];
  readonly dirs: string[] = [];
  async cleanup(): Promise<void> {
    for (const p of this.procs) {
      try {
        // A stopped process must be continued for SIGKILL to reap it promptly.
        process.kill(p.pid, "SIGCONT");
        p.kill("SIGKILL");
      } catch {}
      await p.exited;
    }
    await this.cg.cleanup();
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

export function compileLeaker(dir: string): string {
  const out = join(dir, "leaker");
  const r = Bun.spawnSync(["cc", "-O2", "-o", out, join(import.meta.dir, "../../bench/leaker.c")]);
  if (r.exitCode !== 0) throw new Error(`cc bench/leaker.c: ${r.stderr.toString()}`);
  return out;
}

export function tempDir(tag: string): string {
  const d = join(tmpdir(), `h4-${tag}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(d, { recursive: true });
  return d;
}

export function actConfig(stateDir: string, over: Partial<HosaConfig["respond"]> = {}): HosaConfig {
  const cfg = defaultConfig();
  cfg.paths.stateDir = stateDir;
  cfg.paths.logFile = `${stateDir}/decisions.log`;
  cfg.respond = { ...cfg.respond, mode: "act", ...over };
  return cfg;
}

const MEMORY_DOMINANT: Contribution[] = [
  { dim: "mem_used_ratio", share: 0.72 },
  { dim: "psi_mem_some", share: 0.19 },
  { dim: "cpu_busy_ratio", share: 0.09 },
];

export function decision(t: number, level: Level, previousLevel: Level, dominant: Contribution[] = MEMORY_DOMINANT): Decision {
  return {
    t,
    level,
    levelName: LEVEL_NAMES[level],
    previousLevel,
    dmRaw: level * 2,
    dm: level * 2,
    dmDerivative: 1,
    dmAcceleration: 0.5,
    phi: 1,
    regime: level >= 3 ? 4 : 0,
    dominant,
    thresholds: { theta1: 2, theta2: 3, theta3: 4, theta4: 5 },
    ttfS: Number.POSITIVE_INFINITY,
    ttfDim: null,
    reason: level !== previousLevel ? `test drives Level ${previousLevel}→${level}` : "",
    learning: false,
  };
}

export function read(path: string): string {
  return readFileSync(path, "utf8").trim();
}
