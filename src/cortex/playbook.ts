// Playbooks (docs/cortex.md §playbooks): TOML files naming the failure mode
// they match, pre-checks, idempotent steps, a verification and a rollback.
// A malformed playbook is reported in one line naming the file, the key and
// the problem, and left out; it never stops the agent.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { FAILURE_MODES, RISKS, type FailureMode, type Risk } from "./types.ts";

export type StepKind = "cgroup_set" | "signal" | "command";

export interface PlaybookStep {
  id: string;
  kind: StepKind;
  risk: Risk;
  /** cgroup_set: the v2 file name and, on v1/hybrid hosts, the v1 one. */
  file?: string;
  v1File?: string;
  /** cgroup_set: a literal, or `usage*F` (the cgroup's memory usage times F, page-aligned). */
  value?: string;
  /** signal: processes of the target cgroup named so (comm). */
  service?: string;
  signal?: string;
  /** command: argv; argv[0] must be in [cortex] command_allowlist. */
  argv?: string[];
  timeoutS?: number;
}

export interface Precheck {
  kind: "cgroup_exists" | "level_at_least" | "confidence_at_least";
  value?: number;
}

export interface Playbook {
  name: string;
  version: number;
  file: string;
  signature: FailureMode;
  description: string;
  minConfidence: number;
  prechecks: Precheck[];
  steps: PlaybookStep[];
  verify: { withinS: number; maxLevel: number; dimsNotDominant: string[] };
  rollback: { restore: boolean; argv?: string[] };
}

const DEFAULT_RISK: Record<StepKind, Risk> = { cgroup_set: "low", signal: "medium", command: "high" };
const SIGNALS = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGTERM", "SIGSTOP", "SIGCONT"];
const CGROUP_FILE = /^(memory|cpu|io|pids|blkio|freezer|cgroup)\.[a-z_.]+$/;
const VALUE = /^(usage\*\d+(\.\d+)?|[A-Za-z0-9 :._+-]{1,64})$/;

export class PlaybookError extends Error {}

/**
 * The 1-based line of a key path for the one-line error: `step[1].id` is the
 * first `id =` after the second `[[step]]`, `verify.within_s` the first
 * `within_s =` after `[verify]`, `name` the first `name =` before any table.
 */
function lineOf(text: string, path: string): string {
  const lines = text.split("\n");
  const esc = (k: string) => k.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const parts = path.split(".");
  let from = 0;
  let to = lines.length;
  if (parts.length > 1) {
    const m = /^(\w+)(?:\[(\d+)\])?$/.exec(parts[0]!);
    if (m) {
      const header = new RegExp(`^\\s*\\[\\[?\\s*${esc(m[1]!)}\\s*\\]\\]?\\s*$`);
      let k = Number(m[2] ?? 0);
      from = lines.findIndex((l) => header.test(l) && k-- === 0);
      if (from < 0) return "";
      const next = lines.findIndex((l, i) => i > from && /^\s*\[/.test(l));
      to = next < 0 ? lines.length : next;
    }
  } else {
    const firstTable = lines.findIndex((l) => /^\s*\[/.test(l));
    const key = new RegExp(`^\\s*"?${esc(path)}"?\\s*=`);
    const inTop = lines.findIndex((l, i) => (firstTable < 0 || i < firstTable) && key.test(l));
    const header = new RegExp(`^\\s*\\[\\[?\\s*${esc(path)}\\s*\\]\\]?`);
    const i = inTop >= 0 ? inTop : lines.findIndex((l) => header.test(l) || key.test(l));
    return i >= 0 ? `line ${i + 1}: ` : "";
  }
  const key = new RegExp(`^\\s*"?${esc(parts[parts.length - 1]!)}"?\\s*=`);
  for (let i = from; i < to; i++) if (key.test(lines[i]!)) return `line ${i + 1}: `;
  return `line ${from + 1}: `;
}

/** Parse one playbook's text; throws PlaybookError with `<file>: line N: key "k": problem`. */
export function parsePlaybook(text: string, file: string): Playbook {
  const fail = (key: string, what: string): never => {
    throw new PlaybookError(`${file}: ${lineOf(text, key)}key "${key}": ${what}`);
  };
  let raw: Record<string, unknown>;
  try {
    raw = parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new PlaybookError(`${file}: ${String((e as Error).message ?? e).split("\n")[0]}`);
  }
  const known = ["name", "version", "signature", "description", "min_confidence", "precheck", "step", "verify", "rollback"];
  for (const k of Object.keys(raw)) if (!known.includes(k)) fail(k, `unknown key (expected one of ${known.join(", ")})`);
  const str = (o: Record<string, unknown>, k: string, path: string, required: boolean): string | undefined => {
    const v = o[k];
    if (v === undefined) return required ? fail(path, "missing") : undefined;
    if (typeof v !== "string" || v === "") fail(path, "must be a non-empty string");
    return v as string;
  };
  const numIn = (o: Record<string, unknown>, k: string, path: string, lo: number, hi: number, dflt: number): number => {
    const v = o[k];
    if (v === undefined) return dflt;
    if (typeof v !== "number" || !Number.isFinite(v) || v < lo || v > hi) fail(path, `must be a number from ${lo} to ${hi}`);
    return v as number;
  };
  const name = str(raw, "name", "name", true)!;
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) fail("name", "must be lower-case letters, digits and dashes");
  const signature = str(raw, "signature", "signature", true)! as FailureMode;
  if (!FAILURE_MODES.includes(signature)) fail("signature", `must be one of ${FAILURE_MODES.join(", ")}`);
  const tables = (k: string): Record<string, unknown>[] => {
    const v = raw[k];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "object" || x === null || Array.isArray(x))) fail(k, `must be an array of tables ([[${k}]])`);
    return v as Record<string, unknown>[];
  };
  const prechecks = tables("precheck").map((p, i): Precheck => {
    const path = `precheck[${i}]`;
    for (const k of Object.keys(p)) if (!["kind", "value"].includes(k)) fail(`${path}.${k}`, "unknown key");
    const kind = str(p, "kind", `${path}.kind`, true)! as Precheck["kind"];
    if (!["cgroup_exists", "level_at_least", "confidence_at_least"].includes(kind)) fail(`${path}.kind`, "must be cgroup_exists, level_at_least or confidence_at_least");
    if (kind === "cgroup_exists") return { kind };
    return { kind, value: numIn(p, "value", `${path}.value`, 0, kind === "level_at_least" ? 5 : 1, NaN) };
  });
  for (const [i, p] of prechecks.entries()) if (p.value !== undefined && Number.isNaN(p.value)) fail(`precheck[${i}].value`, "missing");
  const ids = new Set<string>();
  const steps = tables("step").map((s, i): PlaybookStep => {
    const path = `step[${i}]`;
    const allowed = ["id", "kind", "risk", "file", "v1_file", "value", "service", "signal", "argv", "timeout_s"];
    for (const k of Object.keys(s)) if (!allowed.includes(k)) fail(`${path}.${k}`, "unknown key");
    const id = str(s, "id", `${path}.id`, true)!;
    if (ids.has(id)) fail(`${path}.id`, `"${id}" used twice`);
    ids.add(id);
    const kind = str(s, "kind", `${path}.kind`, true)! as StepKind;
    if (!["cgroup_set", "signal", "command"].includes(kind)) fail(`${path}.kind`, "must be cgroup_set, signal or command");
    const risk = (str(s, "risk", `${path}.risk`, false) ?? DEFAULT_RISK[kind]) as Risk;
    if (!RISKS.includes(risk)) fail(`${path}.risk`, `must be one of ${RISKS.join(", ")}`);
    const step: PlaybookStep = { id, kind, risk };
    if (kind === "cgroup_set") {
      step.file = str(s, "file", `${path}.file`, true)!;
      if (!CGROUP_FILE.test(step.file)) fail(`${path}.file`, `"${step.file}" is not a cgroup control file`);
      step.v1File = str(s, "v1_file", `${path}.v1_file`, false);
      if (step.v1File && !CGROUP_FILE.test(step.v1File)) fail(`${path}.v1_file`, `"${step.v1File}" is not a cgroup control file`);
      step.value = str(s, "value", `${path}.value`, true)!;
      if (!VALUE.test(step.value)) fail(`${path}.value`, `"${step.value}" is neither a literal nor usage*F`);
    } else if (kind === "signal") {
      step.service = str(s, "service", `${path}.service`, true)!;
      step.signal = str(s, "signal", `${path}.signal`, true)!;
      if (!SIGNALS.includes(step.signal)) fail(`${path}.signal`, `must be one of ${SIGNALS.join(", ")}`);
    } else {
      const argv = s.argv;
      if (!Array.isArray(argv) || argv.length === 0 || argv.some((a) => typeof a !== "string")) fail(`${path}.argv`, "must be a non-empty array of strings");
      step.argv = argv as string[];
      step.timeoutS = numIn(s, "timeout_s", `${path}.timeout_s`, 1, 3600, 30);
    }
    return step;
  });
  if (steps.length === 0) fail("step", "a playbook needs at least one [[step]]");
  const verifyRaw = raw.verify ?? {};
  if (typeof verifyRaw !== "object" || Array.isArray(verifyRaw)) fail("verify", "must be a table");
  const v = verifyRaw as Record<string, unknown>;
  for (const k of Object.keys(v)) if (!["within_s", "max_level", "dims_not_dominant"].includes(k)) fail(`verify.${k}`, "unknown key");
  const dnd = v.dims_not_dominant ?? [];
  if (!Array.isArray(dnd) || dnd.some((d) => typeof d !== "string")) fail("verify.dims_not_dominant", "must be an array of dimension names");
  const rbRaw = raw.rollback ?? {};
  if (typeof rbRaw !== "object" || Array.isArray(rbRaw)) fail("rollback", "must be a table");
  const rb = rbRaw as Record<string, unknown>;
  for (const k of Object.keys(rb)) if (!["restore", "argv"].includes(k)) fail(`rollback.${k}`, "unknown key");
  if (rb.restore !== undefined && typeof rb.restore !== "boolean") fail("rollback.restore", "must be true or false");
  if (rb.argv !== undefined && (!Array.isArray(rb.argv) || rb.argv.length === 0 || rb.argv.some((a) => typeof a !== "string"))) fail("rollback.argv", "must be a non-empty array of strings");
  const version = numIn(raw, "version", "version", 1, 1e6, 1);
  if (!Number.isInteger(version)) fail("version", "must be an integer");
  return {
    name,
    version,
    file,
    signature,
    description: str(raw, "description", "description", false) ?? "",
    minConfidence: numIn(raw, "min_confidence", "min_confidence", 0, 1, 0.5),
    prechecks,
    steps,
    verify: {
      withinS: numIn(v, "within_s", "verify.within_s", 1, 86400, 300),
      maxLevel: numIn(v, "max_level", "verify.max_level", 0, 5, 0),
      dimsNotDominant: dnd as string[],
    },
    rollback: { restore: rb.restore !== false, argv: rb.argv as string[] | undefined },
  };
}

/**
 * The shipped playbooks, then every playbook of the directories (`*.toml`,
 * sorted by name); a later one replaces an earlier one of the same name, so
 * an operator can override a shipped playbook. Bad files
 * are named in `errors` and skipped.
 */
export function loadPlaybooks(dirs: string[], builtin: { file: string; text: string }[] = []): { playbooks: Playbook[]; errors: string[] } {
  const byName = new Map<string, Playbook>();
  const errors: string[] = [];
  for (const b of builtin) {
    try {
      const p = parsePlaybook(b.text, b.file);
      byName.set(p.name, p);
    } catch (e) {
      errors.push(e instanceof PlaybookError ? e.message : `${b.file}: ${String((e as Error).message ?? e).split("\n")[0]}`);
    }
  }
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith(".toml")).sort();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") errors.push(`${dir}: cannot read the playbook directory (${code ?? String(e)})`);
      continue;
    }
    for (const n of names) {
      const file = join(dir, n);
      try {
        const p = parsePlaybook(readFileSync(file, "utf8"), file);
        byName.set(p.name, p);
      } catch (e) {
        errors.push(e instanceof PlaybookError ? e.message : `${file}: ${String((e as Error).message ?? e).split("\n")[0]}`);
      }
    }
  }
  return { playbooks: [...byName.values()].sort((a, b) => a.name.localeCompare(b.name)), errors };
}

/** The playbook for a failure mode: the first (by name) whose signature matches. */
export function matchPlaybook(playbooks: Playbook[], mode: FailureMode): Playbook | null {
  return playbooks.find((p) => p.signature === mode) ?? null;
}
