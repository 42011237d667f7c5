// What a process costs: resident memory and CPU, read from /proc/<pid>/stat
// and /proc/<pid>/status (man 5 proc: utime and stime are fields 14 and 15,
// in clock ticks).
import { readFileSync } from "node:fs";

const CLK_TCK = 100;

export interface ProcSample {
  tS: number;
  rssBytes: number;
  cpuS: number;
}

export function readProc(pid: number, tS: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    return { tS, rssBytes: rss ? Number(rss[1]) * 1024 : 0, cpuS: (utime + stime) / CLK_TCK };
  } catch {
    return null;
  }
}

export interface ProcCost {
  rssMaxBytes: number;
  rssMeanBytes: number;
  /** CPU over the sampled span, percent of one core. */
  cpuPercent: number;
  spanS: number;
}

export function summariseCost(samples: ProcSample[]): ProcCost | null {
  if (samples.length < 2) return null;
  const first = samples[0];
  const last = samples[samples.length - 1];
  const spanS = last.tS - first.tS;
  return {
    rssMaxBytes: Math.max(...samples.map((s) => s.rssBytes)),
    rssMeanBytes: samples.reduce((a, s) => a + s.rssBytes, 0) / samples.length,
    cpuPercent: spanS > 0 ? ((last.cpuS - first.cpuS) / spanS) * 100 : 0,
    spanS,
  };
}

/** Is the process still there (and not a zombie)? */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Send `signal` to a process the benchmark started, ignoring one that is already gone. */
export function signalPid(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(pid, signal);
  } catch {}
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL. */
export async function stopPid(proc: { pid: number; exited: Promise<number> } | undefined, graceMs = 3000): Promise<void> {
  if (!proc) return;
  signalPid(proc.pid, "SIGTERM");
  const done = await Promise.race([proc.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
  if (!done) {
    signalPid(proc.pid, "SIGKILL");
    await Promise.race([proc.exited, Bun.sleep(2000)]);
  }
}

/** A free TCP port on loopback (the kernel picks it). */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}
