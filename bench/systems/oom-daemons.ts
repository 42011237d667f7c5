// earlyoom and nohang, each with its usual settings (PEERS.md): earlyoom
// `-m 10 -r 1`, nohang with its soft/hard thresholds at 10 % / 5 % of
// MemAvailable. Both watch the whole machine, never a cgroup limit.
//
// This machine is shared, so neither may kill anything the benchmark did not
// start: earlyoom runs with --dryrun (it still decides and prints whom it
// would kill, and when), and nohang's badness of every process outside the
// benchmark's temp dir is lowered by 3000 (below its min_badness of 1), so
// only our own workloads are eligible victims.
import { readFileSync, writeFileSync } from "node:fs";
import { collectLines, type StampedLine } from "../lib/lines.ts";
import { stopPid } from "../lib/procstat.ts";

export interface DaemonHandle {
  name: "earlyoom" | "nohang";
  proc: Bun.Subprocess;
  lines: StampedLine[];
  /** Harness time of the first line saying it acted (or would act), else null. */
  actedAtS(): number | null;
  actedLine(): string | null;
  stop(): Promise<void>;
}

// earlyoom 1.7 prints "Low memory! Killing process <pid> <name>" (then, with
// --dryrun, "dryrun, not actually sending any signal"); nohang 0.2 prints
// "Implementing a corrective action:" and the signal it sends.
const ACTED: Record<DaemonHandle["name"], RegExp> = {
  earlyoom: /Low memory! Killing/,
  nohang: /Implementing a corrective action/,
};

function handle(name: DaemonHandle["name"], proc: Bun.Subprocess, now: () => number): DaemonHandle {
  const lines: StampedLine[] = [];
  void collectLines(proc.stdout as ReadableStream<Uint8Array>, now, lines);
  void collectLines(proc.stderr as ReadableStream<Uint8Array>, now, lines);
  const first = () => lines.find((l) => ACTED[name].test(l.line));
  return {
    name,
    proc,
    lines,
    actedAtS: () => first()?.tS ?? null,
    actedLine: () => first()?.line ?? null,
    stop: () => stopPid(proc),
  };
}

export function startEarlyoom(now: () => number): DaemonHandle {
  const proc = Bun.spawn(["earlyoom", "-m", "10", "-r", "1", "--dryrun"], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  return handle("earlyoom", proc, now);
}

/** nohang's packaged config with the thresholds and the guard of this benchmark. */
export function nohangConfig(guardDir: string, base = readFileSync("/etc/nohang/nohang.conf", "utf8")): string {
  const esc = guardDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return (
    base
      .replace(/^soft_threshold_min_mem\s*=.*$/m, "soft_threshold_min_mem = 10 %")
      .replace(/^hard_threshold_min_mem\s*=.*$/m, "hard_threshold_min_mem = 5 %") +
    `\n@BADNESS_ADJ_RE_REALPATH -3000 /// ^(?!${esc}/)\n`
  );
}

export function startNohang(confPath: string, guardDir: string, now: () => number): DaemonHandle {
  writeFileSync(confPath, nohangConfig(guardDir));
  const proc = Bun.spawn(["nohang", "--monitor", "-c", confPath], {
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
    env: { ...process.env, PYTHONWARNINGS: "ignore" },
  });
  return handle("nohang", proc, now);
}

export async function daemonVersions(): Promise<Record<string, string>> {
  const pkg = async (name: string) => {
    try {
      const p = Bun.spawn(["dpkg-query", "-W", "-f=${Version}", name], { stdout: "pipe", stderr: "ignore" });
      const v = await new Response(p.stdout).text();
      await p.exited;
      return v.trim() || "not installed";
    } catch {
      return "not installed";
    }
  };
  return { earlyoom: await pkg("earlyoom"), nohang: await pkg("nohang") };
}
