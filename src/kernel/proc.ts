// Per-process facts from /proc/<pid>/ (proc(5)), rooted at a directory so a
// test roots it at a fixture holding the same files: one parser for stat,
// one for cgroup, wherever sense, respond or the cortex need them.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import type { CgroupLayout } from "./cgroups.ts";
import { ROOTS, type V1Controller } from "./files.ts";

const PAGE_BYTES = 4096;
/** PF_KTHREAD in the flags field (include/linux/sched.h). */
export const PF_KTHREAD = 0x00200000;

/** The fields of /proc/<pid>/stat hosa uses. */
export interface PidStat {
  comm: string;
  /** Field 7: the controlling terminal, 0 when there is none. */
  ttyNr: number;
  /** Field 9. */
  flags: number;
  /** Fields 14 + 15, in clock ticks. */
  cpuTicks: number;
  /** Field 22, as written: with the PID it names one process for its whole life. */
  startTime: string;
  /** Field 24 (pages) in bytes. */
  rssBytes: number;
}

/** /proc/<pid>/stat: the comm is between the first "(" and the last ")" (it may hold both). */
export function parsePidStat(text: string): PidStat | undefined {
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  // Counted from field 3 (state) after the comm.
  const f = text.slice(close + 2).split(" ");
  return {
    comm: text.slice(text.indexOf("(") + 1, close),
    ttyNr: Number(f[4]),
    flags: Number(f[6]),
    cpuTicks: Number(f[11]) + Number(f[12]),
    startTime: f[19],
    rssBytes: Number(f[21]) * PAGE_BYTES,
  };
}

function readProc(procRoot: string, pid: number | "self", file: string): string | undefined {
  try {
    return readFileSync(`${procRoot}/${pid}/${file}`, "utf8");
  } catch {
    return undefined;
  }
}

export function readPidStat(procRoot: string, pid: number): PidStat | undefined {
  const text = readProc(procRoot, pid, "stat");
  return text === undefined ? undefined : parsePidStat(text);
}

/**
 * A process's cgroup per controller from /proc/<pid>/cgroup
 * (`hierarchy-id:controller,list:/path`; v2 is `0::/path`). Keys are v1
 * controller names and "" for the cgroup2 hierarchy.
 */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const a = line.indexOf(":");
    const b = line.indexOf(":", a + 1);
    if (a < 0 || b < 0) continue;
    const path = line.slice(b + 1);
    const ctrls = line.slice(a + 1, b);
    if (ctrls === "") out.set("", path);
    else for (const c of ctrls.split(",")) out.set(c, path);
  }
  return out;
}

/** /proc/<pid>/cgroup parsed; empty when the process is gone. */
export function readPidCgroups(procRoot: string, pid: number | "self"): Map<string, string> {
  return parseProcCgroup(readProc(procRoot, pid, "cgroup") ?? "");
}

const normPath = (path: string) => `/${path.replace(/^\/+|\/+$/g, "")}`;

/** The cgroup path of a process in one controller's hierarchy (v1: by controller name; v2: the "0::" line). */
export function cgroupOfPid(procRoot: string, pid: number | "self", layout: CgroupLayout, controller: V1Controller): string | undefined {
  const path = readPidCgroups(procRoot, pid).get(layout.memoryHierarchy === "v2" ? "" : controller);
  return path === undefined ? undefined : normPath(path);
}

export function commOf(procRoot: string, pid: number): string | undefined {
  return readProc(procRoot, pid, "comm")?.trim();
}

export function isKernelThread(procRoot: string, pid: number): boolean {
  const st = readPidStat(procRoot, pid);
  return st !== undefined && (st.flags & PF_KTHREAD) !== 0;
}

export function startTimeOf(procRoot: string, pid: number): string | undefined {
  return readPidStat(procRoot, pid)?.startTime;
}

export function hasControllingTty(procRoot: string, pid: number): boolean {
  const st = readPidStat(procRoot, pid);
  return st !== undefined && st.ttyNr !== 0;
}

/** Whether a process with this PID exists. */
export function pidAlive(pid: number, procRoot: string = ROOTS.proc): boolean {
  return existsSync(`${procRoot}/${pid}`);
}

/** Every PID in procRoot (an unreadable root lists none). */
export function listPids(procRoot: string): number[] {
  let names: string[] = [];
  try {
    names = readdirSync(procRoot);
  } catch {
    return [];
  }
  return names.filter((n) => /^\d+$/.test(n)).map(Number);
}

/** Top processes by RSS and by CPU time. */
export function topProcesses(procRoot: string, n = 10): { pid: number; comm: string; rssBytes: number; cpuTicks: number }[] {
  const out: { pid: number; comm: string; rssBytes: number; cpuTicks: number }[] = [];
  for (const pid of listPids(procRoot)) {
    const st = readPidStat(procRoot, pid);
    if (st) out.push({ pid, comm: st.comm, cpuTicks: st.cpuTicks, rssBytes: st.rssBytes });
  }
  const byRss = [...out].sort((a, b) => b.rssBytes - a.rssBytes).slice(0, n);
  const byCpu = [...out].sort((a, b) => b.cpuTicks - a.cpuTicks).slice(0, n);
  const seen = new Set<number>();
  return [...byRss, ...byCpu].filter((p) => (seen.has(p.pid) ? false : (seen.add(p.pid), true)));
}
