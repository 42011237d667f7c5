// `hosa doctor`: what this node is and what will work on it, with the reason
// when something will not. It inspects only: the probes and the XDP program
// are loaded and closed again, nothing is attached to an interface, no cgroup
// is created or written.
import type { Command } from "commander";
import Table from "cli-table3";
import { readFileSync } from "node:fs";
import { loadConfig, type HosaConfig } from "../../config.ts";
import { checkProbes } from "../../sense/bpf-probes.ts";
import { type CgroupLayout, controllerAccess, detectCgroupLayout, type ControllerAccess } from "../../kernel/cgroups.ts";
import { describeSources } from "../../sense/live-source.ts";
import { ROOTS } from "../../kernel/files.ts";
import { discoverNode, type NodeFacts, psiAvailability } from "../../kernel/proprioception.ts";
import type { DimensionSource } from "../../sense/types.ts";
import * as ffi from "../../ffi/libhosa.ts";
import { color, isTty, printJson } from "../output.ts";

interface DoctorFlags {
  json?: boolean;
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface DoctorReport {
  node: NodeFacts;
  ebpf: { loaded: boolean; programs: string[]; cgroupHierarchy: CgroupLayout["memoryHierarchy"]; error?: string };
  btf: { present: boolean; path: string };
  psi: { available: boolean; detail: string };
  cgroups: {
    version: string;
    root: string;
    attributionRoot: string;
    unifiedRoot: string;
    v1Controllers: string[];
    v2Controllers: string[];
    controllers: ControllerAccess[];
  };
  xdp: { supported: boolean; programLoads: boolean; detail: string };
  dimensions: DimensionSource[];
  fallbackNotice: string;
  environment: { class: string; reason: string; quarantineMode: string };
  checks: Check[];
}

function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  return Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor);
}

/**
 * Generic (skb) XDP exists since 4.12, so every interface can take the
 * program; native mode depends on the driver and is chosen per interface when
 * the response attaches. Here the XDP program is only loaded through the
 * verifier and closed, never attached.
 */
function checkXdp(node: NodeFacts): DoctorReport["xdp"] {
  if (!kernelAtLeast(node.kernelRelease, 4, 12)) {
    return { supported: false, programLoads: false, detail: `kernel ${node.kernelRelease} is older than 4.12 (no generic XDP): network shedding falls back to cgroup-only` };
  }
  const caps = node.capabilities;
  if (!caps.sysAdmin && !caps.bpf) {
    return { supported: true, programLoads: false, detail: "kernel supports XDP, but loading and attaching need CAP_BPF (or CAP_SYS_ADMIN) and CAP_NET_ADMIN, which this process lacks: network shedding falls back to cgroup-only" };
  }
  let obj = -1;
  try {
    obj = ffi.objOpenMem(ffi.bpfObjectImage("xdp_shed"), "xdp_shed");
    ffi.objLoad(obj);
  } catch (e) {
    const why = String((e as Error).message).split("\n")[0];
    return { supported: true, programLoads: false, detail: `kernel supports XDP, but the program does not load here (${why}): network shedding falls back to cgroup-only` };
  } finally {
    if (obj >= 0) ffi.objClose(obj);
  }
  if (!node.capabilities.netAdmin) {
    return { supported: true, programLoads: true, detail: "program verified, but attaching needs CAP_NET_ADMIN, which this process lacks" };
  }
  return { supported: true, programLoads: true, detail: "program verified; native (driver) mode where the interface supports it, else generic" };
}

function checkPsi(cfg: HosaConfig): DoctorReport["psi"] {
  return psiAvailability(cfg.sense.procRoot);
}

/** Inspect the node; never changes it. */
export function inspectNode(cfg: HosaConfig): DoctorReport {
  const node = discoverNode(cfg.sense.procRoot, ROOTS.sys, { cgroupRoot: cfg.sense.cgroupRoot });
  const layout = detectCgroupLayout(cfg.sense.cgroupRoot);
  const hierarchy = layout.memoryHierarchy;
  const ebpf = cfg.sense.ebpf === "off" ? { loaded: false, programs: [], cgroupHierarchy: hierarchy, error: 'off in the configuration ([sense] ebpf = "off")' } : checkProbes({ cgroupHierarchy: hierarchy, mode: cfg.sense.probes });
  const { sources, fallbackNotice } = describeSources(cfg.sense, ebpf);
  const controllers = controllerAccess(layout, cfg.sense.procRoot);
  const psi = checkPsi(cfg);
  const xdp = checkXdp(node);
  const quarantineMode = cfg.respond.quarantineMode === "auto" ? node.environmentClass : cfg.respond.quarantineMode;

  const caps = node.capabilities;
  const capNames = [caps.bpf && "CAP_BPF", caps.perfmon && "CAP_PERFMON", caps.sysAdmin && "CAP_SYS_ADMIN", caps.netAdmin && "CAP_NET_ADMIN"].filter(Boolean);
  const missingCaps = [!caps.bpf && "CAP_BPF", !caps.perfmon && "CAP_PERFMON", !caps.sysAdmin && "CAP_SYS_ADMIN", !caps.netAdmin && "CAP_NET_ADMIN"].filter(Boolean);
  const writable = controllers.filter((c) => c.writable).map((c) => c.controller);
  const readOnly = controllers.filter((c) => !c.writable);
  const memoryWritable = controllers.some((c) => c.controller.startsWith("memory") && c.writable);
  const unavailable = sources.filter((s) => s.source === "unavailable");

  const checks: Check[] = [
    {
      name: "eBPF probes",
      ok: ebpf.loaded,
      detail: ebpf.loaded ? `${ebpf.programs.length} programs load and attach (${ebpf.programs.join(", ")}); cgroup ids from ${ebpf.cgroupHierarchy}` : `${ebpf.error ?? "not loaded"}: their dimensions come from /proc`,
    },
    { name: "BTF", ok: node.btf, detail: node.btf ? "/sys/kernel/btf/vmlinux: CO-RE programs relocate on this kernel" : "no /sys/kernel/btf/vmlinux: the kernel was built without CONFIG_DEBUG_INFO_BTF, eBPF probes cannot load" },
    {
      name: "capabilities",
      ok: missingCaps.length === 0,
      detail: `${capNames.length ? `has ${capNames.join(", ")}` : "none of CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, CAP_NET_ADMIN"}${missingCaps.length && capNames.length ? `; lacks ${missingCaps.join(", ")}` : ""}`,
    },
    {
      name: "cgroups",
      ok: layout.version !== "none" && memoryWritable,
      detail:
        layout.version === "none"
          ? `no cgroup hierarchy under ${cfg.sense.cgroupRoot}: no attribution, no containment`
          : `${layout.version}${layout.version === "hybrid" ? " (memory in the v1 hierarchy)" : ""}; writable: ${writable.join(", ") || "none"}${readOnly.length ? `; not writable: ${readOnly.map((c) => `${c.controller} (${c.reason})`).join(", ")}` : ""}`,
    },
    { name: "PSI", ok: psi.available, detail: psi.detail },
    { name: "XDP", ok: xdp.supported && xdp.programLoads, detail: xdp.detail },
    {
      name: "dimensions",
      ok: unavailable.length === 0,
      detail: `${sources.length - unavailable.length} of ${sources.length} measured${unavailable.length ? `; read as 0: ${unavailable.map((s) => s.dim).join(", ")}` : ""}`,
    },
    {
      name: "environment",
      ok: true,
      detail: `${node.environmentClass} (${node.environmentReason})${cfg.respond.quarantineMode !== "auto" ? `; quarantine mode set to ${cfg.respond.quarantineMode} in the configuration` : ""}`,
    },
  ];
  return {
    node,
    ebpf,
    btf: { present: node.btf, path: "/sys/kernel/btf/vmlinux" },
    psi,
    cgroups: {
      version: layout.version,
      root: layout.root,
      attributionRoot: layout.attributionRoot,
      unifiedRoot: layout.unifiedRoot,
      v1Controllers: layout.v1Controllers,
      v2Controllers: layout.v2Controllers,
      controllers,
    },
    xdp,
    dimensions: sources,
    fallbackNotice,
    environment: { class: node.environmentClass, reason: node.environmentReason, quarantineMode },
    checks,
  };
}

function bytes(n: number): string {
  if (!n) return "unknown";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

const NO_ROW_LINES = { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" };
const PLAIN = {
  top: "", "top-mid": "", "top-left": "", "top-right": "",
  bottom: "", "bottom-mid": "", "bottom-left": "", "bottom-right": "",
  left: "", "left-mid": "", mid: "", "mid-mid": "", right: "", "right-mid": "", middle: "  ",
};

/** Boxed and wrapped on a terminal; plain aligned columns otherwise, one line per row for grep. */
function table(head: string[], rows: string[][], widths?: number[]): string {
  const t = isTty()
    ? new Table({ head, chars: NO_ROW_LINES, style: { head: ["cyan"] }, wordWrap: true, ...(widths ? { colWidths: widths } : {}) })
    : new Table({ head, chars: PLAIN, style: { head: [], border: [], "padding-left": 0, "padding-right": 0 } });
  for (const r of rows) t.push(r);
  return t.toString().split("\n").map((l) => l.trimEnd()).join("\n");
}

function renderHuman(r: DoctorReport): string {
  const n = r.node;
  const facts: string[][] = [
    ["host", n.hostname],
    ["kernel", n.kernelRelease],
    ["cores", String(n.cores)],
    ["NUMA nodes", String(n.numaNodes)],
    ["caches", n.cacheSource === "sysfs" ? `L1d ${bytes(n.cacheL1dBytes)}, L1i ${bytes(n.cacheL1iBytes)}, L2 ${bytes(n.cacheL2Bytes)}, L3 ${bytes(n.cacheL3Bytes)}` : n.cacheSource === "cpuinfo" ? `${bytes(n.cacheL2Bytes)} (from /proc/cpuinfo, level not given)` : "unknown"],
    ["memory", bytes(n.memoryBytes)],
    ["machine", `${n.machine}${n.vendor || n.product ? ` (${[n.vendor, n.product].filter(Boolean).join(" ")})` : ""}`],
    ["container", n.container || "none"],
    ["Kubernetes", n.kubernetes ? "yes" : "no"],
    ["cgroups", n.cgroupVersion],
    ["IPMI / watchdog", `${n.ipmi ? "/dev/ipmi0" : "no IPMI"} / ${n.watchdog ? "/dev/watchdog" : "no watchdog"}`],
    ["default route", n.defaultRoute ? "yes" : "no"],
    ["environment class", n.environmentClass],
  ];
  const mark = (ok: boolean) => (ok ? color.green("ok") : color.yellow("no"));
  const checks = r.checks.map((c) => [c.name, mark(c.ok), c.detail]);
  const dims = r.dimensions.map((d) => [d.dim, d.source === "unavailable" ? color.yellow(d.source) : d.source, d.detail]);
  return [
    color.bold("This node"),
    table(["fact", "value"], facts, [20, 70]),
    "",
    color.bold("What will work here"),
    table(["capability", "", "detail"], checks, [14, 4, 82]),
    "",
    color.bold("Dimensions"),
    table(["dimension", "source", "detail"], dims, [24, 12, 64]),
    "",
  ].join("\n");
}

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("what this node is and what will work on it (eBPF, BTF, cgroups, PSI, XDP, each dimension's source)")
    .option("--json", "one JSON object: node facts, ebpf, btf, psi, cgroups, xdp, dimensions, environment, checks")
    .addHelpText("after", "\nInspects only: the probes are loaded and closed, nothing is attached or written.\nExit codes: 0 inspected, 3 bad config.\nExample: hosa doctor --json")
    .action(async (flags: DoctorFlags, cmd: Command) => {
      const cfg = await loadConfig(cmd.optsWithGlobals().config);
      const report = inspectNode(cfg);
      if (flags.json) printJson(report);
      else process.stdout.write(renderHuman(report));
    });
}
