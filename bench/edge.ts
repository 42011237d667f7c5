// The footprint of `hosa run` on a small node (issue 16), side by side in one
// run: the arm64 guest (qemu-system-aarch64, TCG) with 1 GiB under the edge
// profile and under the defaults, the x86-64 guest (TCG too) with 1 GiB under
// the edge profile, and this host natively. Start-up (`hosa --version`, and
// `hosa run` until /healthz answers), RSS, and CPU at the homeostasis tick,
// detection-only on a quiet node. Prints a table (also in bench/out/edge.md)
// for bench/RESULTS-arm64.md.
// Usage: bun bench/edge.ts [--measure-s 60]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bootGuest, type GuestArch, numberResult, tail } from "../test/guest/boot.ts";

const repo = resolve(import.meta.dir, "..");
const at = process.argv.indexOf("--measure-s");
const measureS = at > 0 ? Number(process.argv[at + 1]) : 60;

interface Row {
  where: string;
  profile: string;
  memMiB: number;
  versionMs: number[];
  healthzMs: number;
  warmupMs: number;
  cpuPct: number;
  levelEntries: number;
  rssStartMiB: number;
  rssMiB: number;
  rssPeakMiB: number;
}

async function guest(arch: GuestArch, profile: string): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), "hosa-bench-edge-"));
  try {
    const env = join(dir, "bench.env");
    writeFileSync(env, `PROFILE=${profile}\nMEASURE_S=${measureS}\n`);
    process.env.HOSA_GUEST_ACCEL = "tcg";
    const run = await bootGuest(join(repo, "bench/edge.guest.sh"), [env], { timeoutS: measureS + 400, mem: "1G", arch });
    if (run.exitCode !== 0 || run.results.get("hosa_exit") !== "0") throw new Error(`${arch} guest failed (${run.exitCode})\n${tail(run)}`);
    const n = (k: string) => numberResult(run, k);
    return {
      where: `${arch === "arm64" ? "arm64" : "x86-64"} guest (TCG)`,
      profile,
      memMiB: n("mem_total_kb") / 1024,
      versionMs: [1, 2, 3].map((i) => n(`version_ms_${i}`)),
      healthzMs: n("healthz_ms"),
      warmupMs: n("warmup_ms"),
      cpuPct: n("cpu_permille") / 10,
      levelEntries: n("level_entries"),
      rssStartMiB: n("rss_start_kb") / 1024,
      rssMiB: n("rss_kb") / 1024,
      rssPeakMiB: n("rss_peak_kb") / 1024,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function statusKb(pid: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

function cpuTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

async function host(profile: string): Promise<Row> {
  const exe = join(repo, "dist/hosa");
  const dir = mkdtempSync(join(tmpdir(), "hosa-bench-edge-host-"));
  const port = 20000 + (process.pid % 20000);
  try {
    const versionMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      Bun.spawnSync([exe, "--version"]);
      versionMs.push(Math.round(performance.now() - t));
    }
    const cfg = join(dir, "hosa.toml");
    writeFileSync(cfg, `[profile]\nname = "${profile}"\n[paths]\nstate_dir = "${dir}/state"\nlog_file = "${dir}/decisions.log"\n[engine]\ncalibration_s = 30\n[report]\nmetrics_listen = "127.0.0.1:${port}"\n`);
    const t0 = performance.now();
    const p = Bun.spawn([exe, "-c", cfg, "run"], { stdout: "ignore", stderr: "pipe" });
    let healthzMs = NaN;
    while (performance.now() - t0 < 60_000) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) {
          healthzMs = Math.round(performance.now() - t0);
          break;
        }
      } catch {}
      await Bun.sleep(20);
    }
    const rssStart = statusKb(p.pid, "VmRSS");
    while (performance.now() - t0 < 120_000) {
      try {
        readFileSync(`${dir}/state/baseline.json`);
        break;
      } catch {}
      await Bun.sleep(200);
    }
    const warmupMs = Math.round(performance.now() - t0);
    await Bun.sleep(5000);
    const logLines = () => {
      try {
        return readFileSync(`${dir}/decisions.log`, "utf8").split("\n").filter(Boolean).length;
      } catch {
        return 0;
      }
    };
    const l0 = logLines();
    const c0 = cpuTicks(p.pid);
    const m0 = performance.now();
    await Bun.sleep(measureS * 1000);
    const cpuPct = ((cpuTicks(p.pid) - c0) * 10 * 100) / (performance.now() - m0);
    const row: Row = {
      where: "this host (x86-64, native)",
      profile,
      memMiB: Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync("/proc/meminfo", "utf8"))![1]) / 1024,
      versionMs,
      healthzMs,
      warmupMs,
      cpuPct,
      levelEntries: logLines() - l0,
      rssStartMiB: rssStart / 1024,
      rssMiB: statusKb(p.pid, "VmRSS") / 1024,
      rssPeakMiB: statusKb(p.pid, "VmHWM") / 1024,
    };
    p.kill("SIGTERM");
    await p.exited;
    return row;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: Row[] = [];
for (const [name, f] of [
  ["arm64 edge", () => guest("arm64", "edge")],
  ["arm64 default", () => guest("arm64", "default")],
  ["x86-64 edge", () => guest("x86_64", "edge")],
  ["host edge", () => host("edge")],
  ["host default", () => host("default")],
] as [string, () => Promise<Row>][]) {
  process.stderr.write(`bench/edge: ${name}\n`);
  const r = await f();
  process.stderr.write(`  ${JSON.stringify(r)}\n`);
  rows.push(r);
}

const f1 = (x: number) => x.toFixed(1);
const table = [
  "| where | profile | memory | `hosa --version` (3 runs) | `hosa run` to /healthz | RSS at /healthz | RSS at homeostasis | RSS peak | CPU at homeostasis (% of a CPU) | level entries while measured |",
  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ...rows.map(
    (r) =>
      `| ${r.where} | ${r.profile} | ${r.memMiB.toFixed(0)} MiB | ${r.versionMs.map((v) => (v / 1000).toFixed(2)).join(" / ")} s | ${(r.healthzMs / 1000).toFixed(2)} s | ${f1(r.rssStartMiB)} MiB | ${f1(r.rssMiB)} MiB | ${f1(r.rssPeakMiB)} MiB | ${r.cpuPct.toFixed(2)} % | ${r.levelEntries} |`,
  ),
].join("\n");
const byKey = (where: string, profile: string) => rows.find((r) => r.where.startsWith(where) && r.profile === profile)!;
const a = byKey("arm64", "edge");
const ad = byKey("arm64", "default");
const x = byKey("x86-64 guest", "edge");
const ratios = [
  `- edge / default profile on the arm64 guest: CPU ${(a.cpuPct / ad.cpuPct).toFixed(2)}×, RSS ${(a.rssMiB / ad.rssMiB).toFixed(2)}×`,
  `- arm64 / x86-64 guest (both TCG, edge profile): CPU ${(a.cpuPct / x.cpuPct).toFixed(2)}×, RSS ${(a.rssMiB / x.rssMiB).toFixed(2)}×, start-up to /healthz ${(a.healthzMs / x.healthzMs).toFixed(2)}×`,
];
process.stdout.write(`${table}\n\n${ratios.join("\n")}\n`);
mkdirSync(join(repo, "bench/out"), { recursive: true });
writeFileSync(join(repo, "bench/out/edge.md"), `${table}\n\n${ratios.join("\n")}\n\nmeasured ${new Date().toISOString()}, ${measureS} s of CPU per row\n`);
