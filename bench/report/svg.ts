// One SVG timeline per scenario, readable without running anything: the
// scenario's main quantity over time for the kernel-alone run and the hosa
// run of the same suite, with every system's detection, containment, kill and
// alert marked where it happened.
import type { RunRecord, SystemEvent, TimelinePoint } from "../harness.ts";
import type { Scenario } from "../scenarios/index.ts";

const W = 900;
const H = 420;
const M = { left: 70, right: 20, top: 40, bottom: 150 };

interface Series {
  label: string;
  colour: string;
  points: [number, number][];
}

const COLOURS: Record<string, string> = {
  baseline: "#b03a2e",
  hosa: "#1f5fa8",
  kernel: "#b03a2e",
  earlyoom: "#7d3c98",
  nohang: "#9c640c",
  prometheus: "#d35400",
  workload: "#555555",
};

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function quantityOf(s: Scenario): { label: string; value: (p: TimelinePoint) => number } {
  switch (s.kind) {
    case "memory":
      return { label: "cgroup memory (MiB)", value: (p) => p.memoryBytes / 1048576 };
    case "fork":
      return { label: "processes in the cgroup", value: (p) => p.pids };
    case "io":
      return { label: "cgroup block I/O (MB/s)", value: (p) => p.ioBytesPerS / 1e6 };
    default:
      return { label: "cgroup CPU (cores)", value: (p) => p.cpuCores };
  }
}

function niceStep(max: number): number {
  const raw = max / 5;
  const p = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

const KIND_WORDS: Record<SystemEvent["kind"], string> = {
  detection: "detects",
  containment: "contains",
  kill: "kills",
  "would-kill": "would kill",
  pending: "rule pending",
  firing: "alert firing",
  alert: "webhook",
  exit: "exit",
};

/** The SVG for one scenario from the first run of each group. */
export function timelineSvg(s: Scenario, runs: RunRecord[], neverNotes: string[]): string {
  const q = quantityOf(s);
  const picks = (["baseline", "hosa"] as const).map((g) => runs.find((r) => r.group === g)).filter((r): r is RunRecord => !!r);
  const series: Series[] = picks.map((r) => ({
    label: r.group === "baseline" ? "kernel alone (earlyoom, nohang, Prometheus watching)" : "hosa acting",
    colour: COLOURS[r.group],
    points: r.timeline.filter((p) => p.tS >= -3).map((p) => [p.tS, q.value(p)] as [number, number]),
  }));
  const events = picks.flatMap((r) =>
    r.events.filter((e) => e.system !== "workload" || e.kind === "exit").map((e) => ({ ...e, group: r.group })),
  );
  const tMin = Math.min(-1, ...series.flatMap((x) => x.points.map((p) => p[0])));
  const tMax = Math.max(5, ...series.flatMap((x) => x.points.map((p) => p[0])), ...events.map((e) => e.tS));
  let yMax = Math.max(1e-9, ...series.flatMap((x) => x.points.map((p) => p[1])));
  const limitMiB = s.kind === "memory" ? s.memoryLimitBytes / 1048576 : s.kind === "fork" ? s.pidsMax : null;
  if (limitMiB !== null) yMax = Math.max(yMax, limitMiB);
  yMax *= 1.08;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (t: number) => M.left + ((t - tMin) / (tMax - tMin)) * pw;
  const y = (v: number) => M.top + ph - (v / yMax) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="20" font-size="14" font-weight="bold">${esc(s.name)}: ${esc(s.title)}</text>`,
  );
  const ys = niceStep(yMax);
  for (let v = 0; v <= yMax; v += ys) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${M.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${+v.toFixed(2)}</text>`);
  }
  const xs = niceStep(tMax - tMin);
  for (let t = Math.ceil(tMin / xs) * xs; t <= tMax; t += xs) {
    out.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${M.top}" y2="${M.top + ph}" stroke="#f3f3f3"/>`);
    out.push(`<text x="${x(t).toFixed(1)}" y="${M.top + ph + 14}" text-anchor="middle">${+t.toFixed(1)}</text>`);
  }
  out.push(`<text x="${M.left + pw / 2}" y="${M.top + ph + 30}" text-anchor="middle">seconds since the workload started</text>`);
  out.push(`<text x="16" y="${M.top + ph / 2}" transform="rotate(-90 16 ${M.top + ph / 2})" text-anchor="middle">${esc(q.label)}</text>`);
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  if (limitMiB !== null) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(limitMiB).toFixed(1)}" y2="${y(limitMiB).toFixed(1)}" stroke="#333" stroke-dasharray="2,3"/>`);
    out.push(`<text x="${M.left + 4}" y="${(y(limitMiB) - 4).toFixed(1)}" fill="#333">${s.kind === "memory" ? "memory.limit_in_bytes" : "pids.max"}</text>`);
  }
  if (s.kind === "memory" && picks.some((r) => r.watchedByPrometheus)) {
    const ruleLimit = s.alertLimitBytes ?? s.memoryLimitBytes;
    const yr = y((0.8 * ruleLimit) / 1048576);
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${yr.toFixed(1)}" y2="${yr.toFixed(1)}" stroke="${COLOURS.prometheus}" stroke-dasharray="1,4"/>`);
    out.push(`<text x="${M.left + 4}" y="${(yr - 4).toFixed(1)}" fill="${COLOURS.prometheus}">Prometheus rule: 80 % of ${(ruleLimit / 1073741824).toFixed(0)} GiB</text>`);
  }
  if (tMin < 0) out.push(`<line x1="${x(0)}" x2="${x(0)}" y1="${M.top}" y2="${M.top + ph}" stroke="#333"/>`);
  for (const se of series) {
    if (se.points.length < 2) continue;
    const d = se.points.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
    out.push(`<path d="${d}" fill="none" stroke="${se.colour}" stroke-width="1.8"/>`);
  }
  // Event markers: a vertical line each, labels stacked so they do not overlap.
  events.sort((a, b) => a.tS - b.tS);
  events.forEach((e, i) => {
    const colour = e.system === "workload" ? COLOURS[e.group] : COLOURS[e.system] ?? "#000";
    const dash = e.system === "hosa" && e.kind === "detection" ? ` stroke-dasharray="5,3"` : e.system === "prometheus" && e.kind !== "alert" ? ` stroke-dasharray="2,2"` : "";
    const xe = x(Math.min(Math.max(e.tS, tMin), tMax));
    out.push(`<line x1="${xe.toFixed(1)}" x2="${xe.toFixed(1)}" y1="${M.top}" y2="${M.top + ph}" stroke="${colour}" stroke-width="1.2"${dash}/>`);
    const ly = M.top + 30 + (i % 12) * 13;
    const who = e.system === "workload" ? `${e.group === "hosa" ? "hosa run" : "kernel run"}: workload ${e.detail}` : `${e.system} ${KIND_WORDS[e.kind]}`;
    const anchor = xe > M.left + pw * 0.7 ? "end" : "start";
    const dx = anchor === "end" ? -3 : 3;
    out.push(`<text x="${(xe + dx).toFixed(1)}" y="${ly}" text-anchor="${anchor}" fill="${colour}">${esc(`${who} ${e.tS.toFixed(2)} s`)}</text>`);
  });
  let ly = M.top + ph + 50;
  for (const se of series) {
    out.push(`<line x1="${M.left}" x2="${M.left + 24}" y1="${ly - 4}" y2="${ly - 4}" stroke="${se.colour}" stroke-width="2"/>`);
    out.push(`<text x="${M.left + 30}" y="${ly}">${esc(se.label)}</text>`);
    ly += 16;
  }
  for (const n of neverNotes.slice(0, 4)) {
    out.push(`<text x="${M.left}" y="${ly}" fill="#444">${esc(n)}</text>`);
    ly += 15;
  }
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
