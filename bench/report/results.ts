// RESULTS-lethal.md, generated from one suite's run records: the tables, the
// command, the machine and versions, links to the SVG timelines. Nothing in it
// is typed by hand; a figure that was not measured says so.
import type { RunRecord, SystemEvent } from "../harness.ts";
import type { Scenario } from "../scenarios/index.ts";
import type { ReplayLatency } from "../replay-episodes.ts";
import { RULES_SUMMARY } from "../systems/prometheus.ts";
import { fmt, median, percentile } from "../lib/stats.ts";

export interface SuiteReport {
  command: string;
  startedAt: string;
  finishedAt: string;
  machine: Record<string, string>;
  versions: Record<string, string>;
  unavailable: Record<string, string>;
  hosaCalibration: string;
  scenarios: Scenario[];
  runs: RunRecord[];
  skipped: { scenario: string; why: string }[];
  replay: ReplayLatency | null;
  figuresDir: string;
}

type Sys = SystemEvent["system"];

const sec = (v: number | null) => (v === null ? "—" : `${v.toFixed(3)} s`);
const sec2 = (v: number | null) => (v === null ? "—" : `${v.toFixed(2)} s`);

function eventTimes(runs: RunRecord[], system: Sys, kinds: SystemEvent["kind"][]): (number | null)[] {
  return runs.map((r) => {
    const e = r.events.find((x) => x.system === system && kinds.includes(x.kind) && x.tS >= 0);
    return e ? e.tS : null;
  });
}

/** `42.53 s (42.51–42.55) 3/3`, or `never (0/3)`. */
function timeCell(times: (number | null)[], never = "never"): string {
  const got = times.filter((t): t is number => t !== null);
  if (got.length === 0) return `${never} (0/${times.length})`;
  const m = median(got) as number;
  const range = got.length > 1 ? ` (${Math.min(...got).toFixed(2)}–${Math.max(...got).toFixed(2)})` : "";
  return `${m.toFixed(2)} s${range} ${got.length}/${times.length}`;
}

function neighbourCell(runs: RunRecord[]): string {
  const p50 = median(runs.map((r) => r.neighbour.during.p50Ms ?? NaN));
  const p99 = median(runs.map((r) => r.neighbour.during.p99Ms ?? NaN));
  const fails = runs.reduce((a, r) => a + r.neighbour.during.failures, 0);
  return `${fmt(p50, 1)} / ${fmt(p99, 1)}${fails ? ` (${fails} failed)` : ""}`;
}

function workCell(s: Scenario, runs: RunRecord[]): string {
  if (s.kind !== "memory") return "—";
  const killed = runs.filter((r) => r.workload.killed);
  const lost = killed.map((r) => r.workload.reportedMb ?? NaN);
  const kept = runs.filter((r) => !r.workload.killed).map((r) => r.workload.reportedMb ?? NaN);
  const parts: string[] = [];
  if (killed.length) parts.push(`lost ${fmt(median(lost), 0)} MB`);
  if (kept.length) parts.push(`kept ${fmt(median(kept), 0)} MB`);
  return parts.join(", ") || "—";
}

function killedCell(runs: RunRecord[], by?: string): string {
  const k = runs.filter((r) => r.workload.killed && (!by || (r.workload.killedBy ?? "").includes(by))).length;
  return `${k}/${runs.length}`;
}

function costCell(runs: RunRecord[], who: string): string {
  const c = runs.map((r) => r.cost[who]).filter((x) => !!x);
  if (c.length === 0) return "—";
  const rss = Math.max(...c.map((x) => x!.rssMaxBytes)) / 1048576;
  const cpu = median(c.map((x) => x!.cpuPercent));
  return `${rss.toFixed(1)} MiB, ${fmt(cpu, 1)} % CPU`;
}

function kernelContainment(s: Scenario, runs: RunRecord[]): string {
  if (s.kind === "memory") return timeCell(eventTimes(runs, "kernel", ["kill"]), "no OOM kill");
  if (s.kind === "fork") return `${timeCell(eventTimes(runs, "kernel", ["containment"]), "never")} (pids.max)`;
  return "none (no limit applies)";
}

function scenarioTable(s: Scenario, runs: RunRecord[], unavailable: Record<string, string>): string[] {
  const base = runs.filter((r) => r.group === "baseline");
  const hosa = runs.filter((r) => r.group === "hosa");
  const lines: string[] = [];
  lines.push(
    "| system | runs | detection | containment | alert | process killed | memory | neighbour p50 / p99 (ms) | own cost |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  if (base.length) {
    lines.push(
      `| kernel alone (cgroup limit) | ${base.length} | — | ${kernelContainment(s, base)} | — | ${killedCell(base, "kernel")} | ${workCell(s, base)} | ${neighbourCell(base)} | — |`,
    );
    if (s.kind === "memory") {
      for (const d of ["earlyoom", "nohang"] as const) {
        const t = eventTimes(base, d, ["kill", "would-kill"]);
        const label = d === "earlyoom" ? "earlyoom `-m 10 -r 1` (--dryrun)" : "nohang 10 % / 5 %";
        lines.push(`| ${label} | ${base.length} | ${timeCell(t, "never acted")} | — | — | ${killedCell(base, d)} | — | (same runs) | ${costCell(base, d)} |`);
      }
    }
  }
  const promRuns = runs.filter((r) => r.watchedByPrometheus);
  if (promRuns.length) {
    lines.push(
      `| Prometheus + Alertmanager (15 s, for: 1m, group_wait 30s), watching every run | ${promRuns.length} | ${timeCell(eventTimes(promRuns, "prometheus", ["pending"]), "never pending")} | — | ${timeCell(eventTimes(promRuns, "prometheus", ["alert"]), "never alerted")} | — | — | (same runs) | — |`,
    );
  } else if (unavailable.prometheus) {
    lines.push(`| Prometheus + Alertmanager | 0 | not run: ${unavailable.prometheus} | | | | | | |`);
  }
  if (hosa.length) {
    lines.push(
      `| **hosa** (act) | ${hosa.length} | ${timeCell(eventTimes(hosa, "hosa", ["detection"]))}; at rest at t=0 in ${hosa.filter((x) => (x.hosa?.levelAtStart ?? 0) === 0).length}/${hosa.length} | ${timeCell(eventTimes(hosa, "hosa", ["containment"]))} | — | ${killedCell(hosa)} | ${workCell(s, hosa)} | ${neighbourCell(hosa)} | ${costCell(hosa, "hosa")} |`,
    );
  } else if (unavailable.hosa) {
    lines.push(`| **hosa** | 0 | not run: ${unavailable.hosa} | | | | | | |`);
  }
  return lines;
}

function neverNotes(s: Scenario, runs: RunRecord[]): string[] {
  const notes: string[] = [];
  const base = runs.filter((r) => r.group === "baseline");
  const promRuns = runs.filter((r) => r.watchedByPrometheus);
  if (promRuns.length && eventTimes(promRuns, "prometheus", ["alert"]).every((t) => t === null)) notes.push("Prometheus: no alert within the episode");
  if (s.kind === "memory" && base.length) {
    for (const d of ["earlyoom", "nohang"] as const) {
      if (eventTimes(base, d, ["kill", "would-kill"]).every((t) => t === null)) notes.push(`${d}: never acted (it watches the whole machine, not the cgroup limit)`);
    }
  }
  const hosa = runs.filter((r) => r.group === "hosa");
  if (hosa.length && eventTimes(hosa, "hosa", ["detection"]).every((t) => t === null)) {
    const raised = hosa.find((x) => (x.hosa?.levelAtStart ?? 0) > 0);
    notes.push(raised ? `hosa: already at level ${raised.hosa!.levelAtStart} when the episode started (see the per-run notes), no detection of it` : "hosa: no level change within the episode");
  }
  return notes;
}

export { neverNotes };

function headline(r: SuiteReport): string[] {
  const runs = r.runs.filter((x) => x.scenario === "leak-50");
  if (runs.length === 0) return [];
  const base = runs.filter((x) => x.group === "baseline");
  const hosa = runs.filter((x) => x.group === "hosa");
  const med = (ts: (number | null)[]) => median(ts.filter((t): t is number => t !== null));
  const kill = med(eventTimes(base, "kernel", ["kill"]));
  const det = med(eventTimes(hosa, "hosa", ["detection"]));
  const cont = med(eventTimes(hosa, "hosa", ["containment"]));
  const alertRuns = r.runs.filter((x) => x.scenario === "leak-50-12g");
  const alert = med(eventTimes(alertRuns, "prometheus", ["alert"]));
  const alert2g = med(eventTimes(runs, "prometheus", ["alert"]));
  const out = [
    "## The Lethal Interval at a glance (leak of 50 MB/s, medians of this run)",
    "",
    "| event | time since the leak started | ratio to hosa |",
    "| --- | --- | --- |",
    `| hosa detects (first level ≥ 1) | ${sec2(det)} | 1 |`,
    `| hosa contains (first applied limit on the leaking cgroup) | ${sec2(cont)} | ${det && cont ? `${(cont / det).toFixed(1)}× detection` : "—"} |`,
    `| kernel OOM killer kills (2 GiB limit) | ${sec2(kill)} | ${kill && cont ? `${(kill / cont).toFixed(1)}× hosa's containment` : "—"} |`,
    `| Prometheus alert reaches the webhook, 2 GiB limit | ${alert2g === null ? "never (the process is killed first)" : `${fmt(alert2g)} s`} | ${alert2g && det ? `${(alert2g / det).toFixed(0)}× hosa's detection` : "—"} |`,
    `| Prometheus alert reaches the webhook, cgroup limit lifted to 12 GiB (rule still on 2 GiB) | ${alertRuns.length ? (alert === null ? "never within the episode" : `${fmt(alert)} s`) : "not run (optional scenario leak-50-12g)"} | ${alert && det ? `${(alert / det).toFixed(0)}× hosa's detection` : "—"} |`,
    "",
  ];
  if (!hosa.length) out.push("hosa did not run in this suite (see *Systems not run*), so its rows are empty rather than estimated.", "");
  return out;
}

function latencySection(r: SuiteReport): string[] {
  const out = ["## Detection latency over many episodes", ""];
  const live = r.runs
    .filter((x) => x.group === "hosa" && !r.scenarios.find((s) => s.name === x.scenario)?.benign)
    .map((x) => x.events.find((e) => e.system === "hosa" && e.kind === "detection" && e.tS >= 0)?.tS ?? null);
  const liveGot = live.filter((t): t is number => t !== null);
  const liveAbove = r.runs.filter((x) => x.group === "hosa" && (x.hosa?.levelAtStart ?? 0) > 0 && !r.scenarios.find((s) => s.name === x.scenario)?.benign).length;
  out.push("| source | episodes | detected | above level 0 before the leak | p50 | p99 | p999 |", "| --- | --- | --- | --- | --- | --- | --- |");
  if (r.replay) {
    for (const g of r.replay.groups) {
      out.push(
        `| replay, synthetic leak ${g.rateMbPerS} MB/s (\`hosa replay --json\`) | ${g.episodes} | ${g.detected} | ${g.notAtRest} | ${sec(g.p50S)} | ${sec(g.p99S)} | ${sec(g.p999S)} |`,
      );
    }
  }
  out.push(
    `| live, every failure scenario above | ${live.length} | ${liveGot.length} | ${liveAbove} | ${sec(percentile(liveGot, 50))} | ${sec(percentile(liveGot, 99))} | ${sec(percentile(liveGot, 99.9))} |`,
    "",
  );
  if (r.replay) {
    out.push(
      r.replay.method,
      "An episode whose replay was already above level 0 when the leak started (the engine alarmed on the rest data) is not counted as detected; the column says how many.",
      "",
    );
    if (r.replay.error) out.push(`Replay: ${r.replay.error}`, "");
  } else out.push("Replay episodes were not run in this suite.", "");
  if (live.length && live.length < 1000) out.push(`With ${live.length} live episodes the live p99 and p999 are the largest observed values, not true tail estimates.`, "");
  return out;
}

function fpSection(r: SuiteReport): string[] {
  const benign = r.scenarios.filter((s) => s.benign).map((s) => s.name);
  const hosa = r.runs.filter((x) => x.group === "hosa" && benign.includes(x.scenario));
  const out = ["## False positives on benign bursts", ""];
  if (!hosa.length) return [...out, "No benign episode ran under hosa in this suite.", ""];
  out.push(
    "| scenario | episodes | observed | hosa at rest at t=0 | episodes with detection (level ≥ 1) | episodes with containment | max level |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  );
  let hours = 0;
  let det = 0;
  let cont = 0;
  for (const name of benign) {
    const rs = hosa.filter((x) => x.scenario === name);
    if (!rs.length) continue;
    const obs = rs.reduce((a, x) => a + x.durationS + x.preEpisodeS, 0);
    hours += obs / 3600;
    const d = rs.filter((x) => x.events.some((e) => e.system === "hosa" && e.kind === "detection")).length;
    const c = rs.filter((x) => x.events.some((e) => e.system === "hosa" && e.kind === "containment") || (x.hosa?.actionsElsewhere ?? 0) > 0).length;
    det += d;
    cont += c;
    const atRest = rs.filter((x) => (x.hosa?.levelAtStart ?? 0) === 0).length;
    out.push(`| ${name} | ${rs.length} | ${obs.toFixed(0)} s | ${atRest}/${rs.length} | ${d} | ${c} | ${Math.max(...rs.map((x) => x.hosa?.maxLevel ?? 0))} |`);
  }
  out.push(
    "",
    `Over ${(hours * 60).toFixed(1)} minutes of benign bursts: **${(cont / hours).toFixed(1)} containment episodes per hour**, ${(det / hours).toFixed(1)} detection episodes per hour. ` +
      "These rates are per hour *of bursts*, the worst case; a node spends most hours without any.",
    "",
  );
  return out;
}

function runNotes(r: SuiteReport): string[] {
  const out: string[] = [];
  for (const x of r.runs) {
    for (const n of x.notes) out.push(`- ${x.scenario} ${x.group} run ${x.run}: ${n}`);
    if (x.hosa && x.hosa.actions.length) {
      const acts = x.hosa.actions.slice(0, 4).map((a) => `${a.tS.toFixed(2)} s ${a.action ?? "?"} on ${a.target ?? "?"} (${a.outcome})`);
      out.push(`- ${x.scenario} hosa run ${x.run} actions: ${acts.join("; ")}${x.hosa.actions.length > 4 ? `; … ${x.hosa.actions.length} in all` : ""}`);
    }
  }
  return out.length ? ["## Per-run notes", "", ...out, ""] : [];
}

export function resultsMarkdown(r: SuiteReport): string {
  const out: string[] = [
    "# The Lethal Interval: hosa beside the kernel OOM killer, earlyoom, nohang and Prometheus",
    "",
    `Generated by \`bench/lethal.ts\` (issue 7); do not edit by hand. Suite ran ${r.startedAt} → ${r.finishedAt}.`,
    "",
    "```",
    r.command,
    "```",
    "",
    "## Machine and versions",
    "",
    "| | |",
    "| --- | --- |",
    ...Object.entries(r.machine).map(([k, v]) => `| ${k} | ${v} |`),
    ...Object.entries(r.versions).map(([k, v]) => `| ${k} | ${v} |`),
    "",
    "## How it was measured",
    "",
    "- t = 0 is the workload's first instruction: a shell moves itself into the run's cgroup (memory, cpu, cpuacct, pids, blkio; v1 on this hybrid host) and execs the workload, so nothing runs outside the limit.",
    "- The leak is `bench/leaker.c`: it maps and writes rate/100 MB every 10 ms on an absolute schedule (`clock_nanosleep(TIMER_ABSTIME)`); 500 MB/s uses `MAP_POPULATE`.",
    "- Kernel kill time: the cgroup's `memory.oom_control` `oom_kill` counter, polled every 20 ms. The process's exit is stamped when the harness reaps it.",
    "- earlyoom runs `-m 10 -r 1 --dryrun` and nohang with `soft_threshold_min_mem = 10 %`, `hard_threshold_min_mem = 5 %`; both watch the whole machine's MemAvailable, never a cgroup limit, so inside a 2 GiB cgroup on a 24 GiB machine they have nothing to act on and the kernel OOM killer acts first. This machine is shared: earlyoom runs in dry-run mode (it still decides and prints whom it would kill) and nohang's badness of every process outside the benchmark's temp dir is lowered by 3000, so neither could harm anything the benchmark did not start. ../shared/PEERS.md has their machine-wide figures (SIGTERM after ≈22 GB at 350 MB/s, 55–65 s).",
    `- Prometheus ${r.versions.prometheus ?? ""}, node_exporter's textfile collector (the cgroup's metrics rewritten every 1 s), Alertmanager, all on loopback: scrape and evaluation 15 s, rules ${RULES_SUMMARY}; Alertmanager \`group_wait: 30s\`; the webhook receiver is a Bun.serve in the harness. Each episode starts at a uniformly random offset (2–17 s after setup) so it lands at a random phase of the scrape cycle. With a 2 GiB limit the kernel kills the leak long before \`for: 1m\` can fire; scenario leak-50-12g (as in PEERS.md) lifts the cgroup's limit to 12 GiB while the rule still divides by the 2 GiB the service was given, so the alert path can be timed.`,
    "- hosa: `dist/hosa -c <cfg> calibrate --duration <s>` once on this machine's own load, then per episode `dist/hosa -c <cfg> run` with `[respond] mode = \"act\"` and `cgroup_scope` set to the benchmark's root cgroup. Detection is its first decision-log entry at level ≥ 1, containment its first applied action on the scenario's cgroup. Its cost is RSS and utime+stime from /proc/<pid>/stat during the episode.",
    "- Neighbour: a small HTTP service (SHA-256 of 64 KiB per request) in its own cgroup, probed every 100 ms during each episode; a probe slower than 2 s counts as failed.",
    "- Cells read `median (min–max) k/n`: k of n runs saw the event. `never` means not within the episode's bound.",
    "",
    ...headline(r),
  ];
  if (Object.keys(r.unavailable).length || r.skipped.length) {
    out.push("## Systems and scenarios not run", "");
    for (const [k, v] of Object.entries(r.unavailable)) out.push(`- ${k}: ${v}`);
    for (const s of r.skipped) out.push(`- scenario ${s.scenario}: ${s.why}`);
    out.push("");
  }
  out.push("## Per scenario", "");
  for (const s of r.scenarios) {
    const runs = r.runs.filter((x) => x.scenario === s.name);
    if (!runs.length) continue;
    out.push(`### ${s.name}: ${s.title}${s.benign ? " (benign: must not be contained)" : ""}`, "");
    out.push(...scenarioTable(s, runs, r.unavailable), "");
    const loads = runs.map((x) => x.loadAvg1);
    out.push(`Machine load (1-min average, shared machine) when the runs started: ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}.`, "");
    out.push(`![${s.name} timeline](${r.figuresDir}/${s.name}.svg)`, "");
  }
  out.push(...latencySection(r), ...fpSection(r));
  out.push("## Own cost of each agent during the episodes", "", "| scenario | hosa | earlyoom | nohang |", "| --- | --- | --- | --- |");
  for (const s of r.scenarios) {
    const runs = r.runs.filter((x) => x.scenario === s.name);
    if (!runs.length) continue;
    out.push(`| ${s.name} | ${costCell(runs, "hosa")} | ${costCell(runs, "earlyoom")} | ${costCell(runs, "nohang")} |`);
  }
  out.push("", ...runNotes(r));
  return `${out.join("\n")}\n`;
}
