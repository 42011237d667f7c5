// hosa.toml: every key optional, defaults safe (detection-only). Unknown keys
// and wrong types are refused with the line they are on, so a typo never
// silently becomes a default.
import { parse } from "smol-toml";
import { existsSync } from "node:fs";
import { EXIT, HosaError } from "./errors.ts";
import type { EngineSettings } from "./engine/engine.ts";
import { compression, decodeUtf8, excerpt, INPUT_LIMITS, readInput, shownPath } from "./util/input.ts";
import { ROOTS } from "./kernel/files.ts";

export interface WebhookConfig {
  url: string;
  /** "json": hosa's own body; "alertmanager": POST /api/v2/alerts body. */
  format: "json" | "alertmanager";
  /** HMAC-SHA256 of the body in X-Hosa-Signature when set. */
  hmacSecret: string;
}

/** `[profile] name`: a named set of defaults that the file's own keys override (docs/edge.md). */
export type ProfileName = "default" | "edge";

export interface HosaConfig {
  profile: {
    name: ProfileName;
  };
  paths: {
    stateDir: string;
    logFile: string;
    baseline: string;
  };
  sense: {
    tickMs: number;
    vigilanceTickMs: number;
    /** Dimension names to sample; empty means the default set. */
    dimensions: string[];
    cgroupRoot: string;
    procRoot: string;
    /** "auto": eBPF when possible, else /proc; "off": /proc only. */
    ebpf: "auto" | "off";
    /**
     * How much the eBPF probes watch: "lean" (default) runs nothing on a
     * context switch or page fault; "full" times every switch and charges
     * wake-ups, run-queue latency and faults to cgroups (docs/footprint.md).
     */
    probes: "lean" | "full";
    /**
     * "auto": at calm, libhosa's thread takes the tick's reads and wakes the
     * agent once per calmBatch ticks, or at once at a tripwire (where libhosa
     * loads and the files are the kernel's); "off": every tick read inline.
     */
    sampler: "auto" | "off";
    /** Ticks per wake of the agent at calm with the sampler (1: a wake per tick). */
    calmBatch: number;
    /**
     * At calm with the sampler, the danger watch's scan (every 100 ms) at most
     * every calmScanMs, sooner when the node's MemAvailable falls as a growth
     * the scan would catch (docs/footprint.md § The sampler); 0 or 100: every scan.
     */
    calmScanMs: number;
  };
  /** The `[engine]` section: the engine's own settings (src/engine/engine.ts, engineConfigFrom) and the agent's calibration window. */
  engine: EngineSettings & {
    ewmaTauS: number;
    shrinkage: number;
    /** Half-life of the baseline's memory in seconds; 0 keeps everything. */
    forgettingHalfLifeS: number;
    thresholdSigmas: [number, number, number, number];
    holdS: [number, number, number, number];
    ttfCriticalS: number;
    calibrationS: number;
    /** Seconds Level 1..5's threshold must hold before the level is entered (see src/engine/engine.ts). */
    escalateAfterS: [number, number, number, number, number];
    /** Excursions above a de-escalation threshold shorter than this leave the hold running, seconds. */
    holdGraceS: number;
    /** Expected false-alarm episodes per day at Level ≥ 1..4 on data like the calibration's (docs/engine.md §4). */
    falseAlarmsPerDay: [number, number, number, number];
    /** A danger holds while a resource would be exhausted within this many seconds (docs/levels.md §1). */
    dangerHorizonS: number;
    /** Level 5 after D_M > θ4 with containment failing for this long at Level 4, seconds. */
    quarantineAfterS: number;
    /** Level 1–2 this long without danger on a flat D̄_M is a new regime, judged around its new level (docs/engine.md §9); 0 is off. */
    regimeAfterS: number;
  };
  respond: {
    /** "detect": decide and log, never touch the node (the default); "act": apply actions. */
    mode: "detect" | "act";
    relaxS: number;
    /** Extra process names and cgroup paths never touched. */
    safelist: string[];
    /** Only cgroups under this path are ever targeted ("" = any not safelisted). */
    cgroupScope: string;
    /**
     * Cgroups (and what is under them) whose CPU latency matters: one that
     * keeps another cgroup's CPU use from them, measured by their own CPU
     * stall, is held by a CPU quota (docs/response.md § CPU harm). [] = no
     * CPU containment, only detection.
     */
    latencySensitive: string[];
    xdpInterface: string;
    healthcheckSources: string[];
    managementSources: string[];
    quarantineMode: "auto" | "bare-metal" | "cloud-vm" | "kubernetes" | "edge-physical" | "edge-remote" | "airgap";
    watchdogS: number;
    /** Kubernetes quarantine: API server URL ("" = https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT). */
    k8sApiUrl: string;
    /** Directory holding the pod's service-account token, ca.crt and namespace. */
    k8sServiceAccountDir: string;
    /** Node to taint ("" = $NODE_NAME, else the host name). */
    k8sNodeName: string;
  };
  /** Incidents and playbooks (docs/cortex.md). */
  cortex: {
    /** "dry-run": plans are written, never executed (the default); "act": approved or auto-allowed plans run. */
    mode: "dry-run" | "act";
    /** Operator playbooks (*.toml), on top of the shipped ones. */
    playbookDir: string;
    /** Plans whose riskiest step is at most this run without approval when confident enough ("none": always ask). */
    autoMaxRisk: "none" | "low" | "medium" | "high";
    autoMinConfidence: number;
    /** Plans executing at once. */
    maxConcurrentPlans: number;
    /** argv[0] a command step may run. */
    commandAllowlist: string[];
    /** An episode becomes an incident when it reaches this level. */
    minLevel: number;
  };
  report: {
    metricsListen: string;
    heartbeatS: number;
    logMaxBytes: number;
    logKeep: number;
    outboxMaxMessages: number;
    webhooks: WebhookConfig[];
  };
}

export function defaultConfig(): HosaConfig {
  return {
    profile: { name: "default" },
    paths: {
      stateDir: "/var/lib/hosa",
      logFile: "/var/log/hosa/decisions.log",
      baseline: "",
    },
    sense: {
      tickMs: 100,
      vigilanceTickMs: 10,
      dimensions: [],
      cgroupRoot: ROOTS.cgroup,
      procRoot: ROOTS.proc,
      ebpf: "auto",
      probes: "lean",
      sampler: "auto",
      calmBatch: 10,
      calmScanMs: 500,
    },
    engine: {
      ewmaTauS: 0.3,
      shrinkage: 0.05,
      forgettingHalfLifeS: 0,
      thresholdSigmas: [2, 3, 4, 5],
      holdS: [10, 30, 20, 20],
      ttfCriticalS: 30,
      calibrationS: 300,
      escalateAfterS: [0, 0.3, 0.3, 0.3, 0],
      holdGraceS: 2,
      falseAlarmsPerDay: [1, 0.1, 1 / 365, 0.1 / 365],
      dangerHorizonS: 120,
      quarantineAfterS: 60,
      regimeAfterS: 3600,
    },
    respond: {
      mode: "detect",
      relaxS: 30,
      safelist: [],
      cgroupScope: "",
      latencySensitive: [],
      xdpInterface: "",
      healthcheckSources: [],
      managementSources: [],
      quarantineMode: "auto",
      watchdogS: 1800,
      k8sApiUrl: "",
      k8sServiceAccountDir: "/var/run/secrets/kubernetes.io/serviceaccount",
      k8sNodeName: "",
    },
    cortex: {
      mode: "dry-run",
      playbookDir: "/etc/hosa/playbooks",
      autoMaxRisk: "none",
      autoMinConfidence: 0.8,
      maxConcurrentPlans: 1,
      commandAllowlist: [],
      minLevel: 2,
    },
    report: {
      metricsListen: "127.0.0.1:9465",
      heartbeatS: 60,
      logMaxBytes: 16 * 1024 * 1024,
      logKeep: 5,
      outboxMaxMessages: 10000,
      webhooks: [],
    },
  };
}

/**
 * The edge profile's dimensions: a 1 GiB arm64 board has no use for the
 * scheduler, allocation-syscall, block-latency and TCP detail of a server,
 * and every dimension costs a read per tick and a row of the covariance.
 * Kept: CPU, memory and its limits, pressure, faults, I/O and network volume,
 * forks (docs/edge.md).
 */
export const EDGE_DIMENSIONS: readonly string[] = [
  "cpu_busy_ratio",
  "mem_used_ratio",
  "mem_available_bytes",
  "psi_cpu_some_ratio",
  "psi_mem_some_ratio",
  "psi_io_some_ratio",
  "page_faults_per_s",
  "blk_ios_per_s",
  "net_rx_bytes_per_s",
  "net_tx_bytes_per_s",
  "forks_per_s",
  "cgroup_mem_limit_ratio",
];

/** What each profile changes from the defaults, before the file's own keys apply. */
const PROFILES: Record<ProfileName, (cfg: HosaConfig) => void> = {
  default: () => {},
  edge: (cfg) => {
    cfg.sense.tickMs = 500;
    cfg.sense.vigilanceTickMs = 50;
    cfg.sense.dimensions = [...EDGE_DIMENSIONS];
    cfg.respond.quarantineMode = "edge-remote";
    cfg.respond.watchdogS = 900;
    cfg.report.heartbeatS = 300;
    cfg.report.logMaxBytes = 2 * 1024 * 1024;
    cfg.report.logKeep = 2;
    cfg.report.outboxMaxMessages = 1000;
  },
};

/** The defaults of a profile: `[profile] name = "edge"` and nothing else gives this. */
export function profileConfig(name: ProfileName): HosaConfig {
  const cfg = defaultConfig();
  cfg.profile.name = name;
  PROFILES[name](cfg);
  return cfg;
}

/** Resolved paths: empty ones derive from the state directory. */
export function baselinePath(cfg: HosaConfig): string {
  return cfg.paths.baseline || `${cfg.paths.stateDir}/baseline.json`;
}

function lineOf(text: string, key: string): number {
  const lines = text.split("\n");
  const re = new RegExp(`^\\s*"?${key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"?\\s*=`);
  const i = lines.findIndex((l) => re.test(l));
  return i + 1;
}

function where(text: string, key: string): string {
  const n = lineOf(text, key);
  return n > 0 ? `line ${n}: ` : "";
}

function checkValue(expected: unknown, value: unknown): boolean {
  if (Array.isArray(expected)) {
    if (!Array.isArray(value)) return false;
    if (expected.length === 0) return true;
    return value.every((v) => typeof v === typeof expected[0]);
  }
  return typeof value === typeof expected;
}

const ENUMS: Record<string, readonly string[]> = {
  "profile.name": Object.keys(PROFILES),
  "sense.ebpf": ["auto", "off"],
  "sense.probes": ["lean", "full"],
  "sense.sampler": ["auto", "off"],
  "respond.mode": ["detect", "act"],
  "respond.quarantine_mode": ["auto", "bare-metal", "cloud-vm", "kubernetes", "edge-physical", "edge-remote", "airgap"],
  "webhook.format": ["json", "alertmanager"],
  "cortex.mode": ["dry-run", "act"],
  "cortex.auto_max_risk": ["none", "low", "medium", "high"],
};

/** Parse hosa.toml text over the defaults. `origin` names the file in errors. */
export function parseConfig(text: string, origin: string): HosaConfig {
  let raw: Record<string, unknown>;
  try {
    raw = parse(text) as Record<string, unknown>;
  } catch (e) {
    // smol-toml's TomlError carries line and column; its message repeats them in a code block after the first line.
    const err = e as Error & { line?: number; column?: number };
    const m = String(err.message ?? e)
      .split("\n")[0]!
      .replace(/^Invalid TOML document: /, "");
    const at = typeof err.line === "number" ? `line ${err.line}, column ${err.column ?? 0}: ` : "";
    throw new HosaError(`cannot load ${origin}: ${at}${excerpt(m, 200)}`, EXIT.CONFIG);
  }
  const fail = (key: string, what: string): never => {
    throw new HosaError(`cannot load ${origin}: ${where(text, key)}${what}`, EXIT.CONFIG);
  };
  // The profile first, wherever [profile] stands in the file: its values are
  // defaults, and every key the file sets overrides them.
  const profile = (raw.profile as Record<string, unknown> | undefined)?.name ?? "default";
  if (typeof profile !== "string" || !(profile in PROFILES)) fail("name", `"name" in [profile] must be one of ${ENUMS["profile.name"].join(", ")}`);
  const cfg = profileConfig(profile as ProfileName) as unknown as Record<string, Record<string, unknown>>;
  for (const [section, body] of Object.entries(raw)) {
    const target = cfg[section];
    if (!Object.hasOwn(cfg, section)) fail(section, `unknown section [${excerpt(section)}]`);
    if (typeof body !== "object" || body === null || Array.isArray(body)) fail(section, `[${excerpt(section)}] must be a table`);
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      const camel = key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
      if (!Object.hasOwn(target, camel)) fail(key, `unknown key "${excerpt(key)}" in [${excerpt(section)}]`);
      if (section === "report" && camel === "webhooks") {
        target.webhooks = parseWebhooks(value, (what) => fail(key, what));
        continue;
      }
      const expected = target[camel];
      if (!checkValue(expected, value)) {
        const want = Array.isArray(expected) ? `an array of ${typeof expected[0] === "number" ? "numbers" : "strings"}` : `a ${typeof expected}`;
        fail(key, `"${key}" must be ${want}`);
      }
      const allowed = ENUMS[`${section}.${key}`];
      if (allowed && !allowed.includes(value as string)) fail(key, `"${key}" must be one of ${allowed.join(", ")}`);
      if (typeof value === "number" && (!Number.isFinite(value) || value < 0)) fail(key, `"${key}" must be a finite, non-negative number, not ${value}`);
      if (Array.isArray(value)) {
        const bad = value.findIndex((v) => typeof v === "number" && (!Number.isFinite(v) || v < 0));
        if (bad >= 0) fail(key, `"${key}" must hold finite, non-negative numbers, not ${value[bad]} (item ${bad + 1})`);
      }
      if (Array.isArray(expected) && expected.length > 0 && typeof expected[0] === "number" && (value as unknown[]).length !== expected.length) {
        fail(key, `"${key}" must have ${expected.length} numbers`);
      }
      target[camel] = value;
    }
  }
  const out = cfg as unknown as HosaConfig;
  if (out.sense.tickMs < 1 || out.sense.vigilanceTickMs < 1) fail("tick_ms", "tick must be at least 1 ms");
  if (!Number.isInteger(out.sense.calmBatch) || out.sense.calmBatch < 1 || out.sense.calmBatch > 100) fail("calm_batch", `"calm_batch" must be a whole number from 1 to 100`);
  if (!Number.isInteger(out.sense.calmScanMs) || out.sense.calmScanMs < 0 || out.sense.calmScanMs > 1000) fail("calm_scan_ms", `"calm_scan_ms" must be a whole number from 0 to 1000`);
  for (const p of out.respond.latencySensitive as unknown[]) {
    if (typeof p !== "string" || !p.startsWith("/")) fail("latency_sensitive", `"latency_sensitive" must be an array of cgroup paths starting with "/", found ${excerpt(JSON.stringify(p))}`);
  }
  // A cgroup path as /proc/PID/cgroup names it. A cgroupfs directory (/sys/fs/cgroup/memory/x) would be walked, but its
  // link counts and every target's "under the scope" check would be against a path no cgroup has: nothing noticed, nothing acted on.
  const scope = out.respond.cgroupScope;
  if (scope !== "" && !scope.startsWith("/")) fail("cgroup_scope", `"cgroup_scope" must be a cgroup path starting with "/" (as in /proc/self/cgroup), not ${excerpt(JSON.stringify(scope))}`);
  if (/^\/sys\/fs\/cgroup(\/|$)/.test(scope)) {
    fail("cgroup_scope", `"cgroup_scope" is a cgroup path as in /proc/self/cgroup (e.g. "/system.slice/app.service"), not a cgroupfs directory: drop the mount point from ${excerpt(JSON.stringify(scope))}`);
  }
  if (out.cortex.autoMinConfidence > 1) fail("auto_min_confidence", `"auto_min_confidence" must be at most 1`);
  if (!Number.isInteger(out.cortex.minLevel) || out.cortex.minLevel < 1 || out.cortex.minLevel > 5) fail("min_level", `"min_level" must be a level from 1 to 5`);
  if (!Number.isInteger(out.cortex.maxConcurrentPlans) || out.cortex.maxConcurrentPlans < 1) fail("max_concurrent_plans", `"max_concurrent_plans" must be a whole number of at least 1`);
  return out;
}

function parseWebhooks(value: unknown, fail: (what: string) => never): WebhookConfig[] {
  if (!Array.isArray(value)) fail(`"webhooks" must be an array of tables`);
  return (value as unknown[]).map((w, i) => {
    if (typeof w !== "object" || w === null) fail(`webhooks[${i}] must be a table`);
    const o = w as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!["url", "format", "hmac_secret"].includes(k)) fail(`unknown key "${excerpt(k)}" in webhooks[${i}]`);
    if (typeof o.url !== "string" || !/^https?:\/\//.test(o.url)) fail(`webhooks[${i}].url must be an http(s) URL`);
    const format = (o.format ?? "json") as string;
    if (!ENUMS["webhook.format"].includes(format)) fail(`webhooks[${i}].format must be json or alertmanager`);
    if (o.hmac_secret !== undefined && typeof o.hmac_secret !== "string") fail(`webhooks[${i}].hmac_secret must be a string`);
    return { url: o.url as string, format: format as WebhookConfig["format"], hmacSecret: (o.hmac_secret as string) ?? "" };
  });
}

/** Load the config file; a missing file at the default path means all defaults. */
export async function loadConfig(path: string | undefined): Promise<HosaConfig> {
  const file = path ?? process.env.HOSA_CONFIG ?? "/etc/hosa/hosa.toml";
  if (!path && !existsSync(file)) return defaultConfig();
  const fail = (what: string): never => {
    throw new HosaError(`cannot load ${shownPath(file)}: ${what}`, EXIT.CONFIG);
  };
  const bytes = readInput(file, { action: "cannot load", maxBytes: INPUT_LIMITS.config, exitCode: EXIT.CONFIG, allowStdin: false });
  const packed = compression(bytes);
  if (packed) fail(`${packed}-compressed, not TOML`);
  if (bytes.includes(0)) fail("binary data (a NUL byte), not TOML");
  return parseConfig(decodeUtf8(bytes, fail), shownPath(file));
}

