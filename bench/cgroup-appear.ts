// Cgroups appearing fast: what a detection-only agent costs while a new
// memory cgroup appears in its scope every --every-s seconds (none removed
// until the end), then while they all stay still (--still-s): the static case
// at the same count, for a ratio. Side by side in one run: this tree's
// dist/hosa and each --baseline, every agent scoped to its own parent cgroup
// (under this bench's own cgroup), the cgroups made in every parent at once.
// Each new cgroup gets one short process (a shell that moves itself in and
// exits), as a container's start would: its memory is charged, then freed.
//
// Every 5 s: each agent's CPU (utime + stime), RSS, anonymous memory
// (/proc/PID/smaps_rollup) and ticks per second (/metrics: 10 at calm, 100
// vigilant at the default ticks). Bounded: at most --max cgroups, at most
// --minutes of appearing; everything made is removed at the end, the agents
// stopped by PID.
//
//   bun bench/cgroup-appear.ts [--every-s 0.4] [--minutes 4] [--still-s 60] [--max 1000] [--calibrate-s 20] [--baseline EXE]... [--json]
import { cpSync, existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ChildCgroups } from "../test/respond/helpers.ts";

const repo = resolve(import.meta.dir, "..");
function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} wants a number ≥ 0`);
  return v;
}
const everyS = arg("every-s", 0.4);
const minutes = arg("minutes", 4);
const stillS = arg("still-s", 60);
const maxCgroups = Math.min(2000, arg("max", 1000));
const calibrateS = arg("calibrate-s", 20);
const json = process.argv.includes("--json");
const exes = [process.env.HOSA_EXE ?? join(repo, "dist/hosa"), ...process.argv.flatMap((a, i) => (a === "--baseline" && process.argv[i + 1] ? [process.argv[i + 1]!] : []))];
const names = exes.map((_, k) => (k === 0 ? "this tree" : `baseline${k > 1 ? ` ${k}` : ""}`));

interface Agent {
  name: string;
  parent: string;
  proc: Bun.Subprocess;
  metricsUrl: string;
  rows: { t: number; cpuS: number; rssMb: number; anonMb: number; ticks: number; cgroups: number }[];
}

const CLK_TCK = 100;
function cpuS(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(s[11]) + Number(s[12])) / CLK_TCK;
}
function rollup(pid: number): { rssMb: number; anonMb: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? Number.NaN);
  return { rssMb: kb("Rss") / 1024, anonMb: kb("Anonymous") / 1024 };
}
async function ticksTotal(url: string): Promise<number> {
  try {
    const text = await (await fetch(url)).text();
    return Number(/^hosa_ticks_total (\S+)/m.exec(text)?.[1] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

const dir = join(tmpdir(), `hosa-appear-${process.pid}`);
mkdirSync(dir, { recursive: true });
const cg = new ChildCgroups();
const agents: Agent[] = [];
const made: string[] = [];
try {
  for (const e of exes) if (!existsSync(e)) throw new Error(`${e} is missing: run scripts/build.sh first`);
  const parents = exes.map((_, k) => cg.create("memory", `hosa-appear-${process.pid}-${k}`));
  const cfgs = exes.map((e, k) => {
    const cfg = join(dir, `a${k}.toml`);
    writeFileSync(
      cfg,
      [
        "[paths]",
        `state_dir = "${dir}/state-${k}"`,
        `log_file = "${dir}/decisions-${k}.log"`,
        "[engine]",
        `calibration_s = ${calibrateS}`,
        "[respond]",
        `cgroup_scope = "${parents[k]}"`,
        "[report]",
        'metrics_listen = "127.0.0.1:0"',
        "",
      ].join("\n"),
    );
    // Its own copy of the executable, as on a node with one agent (the kernel hands back only pages no other process maps).
    cpSync(e, join(dir, `a${k}.exe`));
    return cfg;
  });
  console.error(`cgroup-appear: calibrating ${calibrateS} s, then a cgroup every ${everyS} s for ${minutes} min (at most ${maxCgroups}), then ${stillS} s still…`);
  await Promise.all(
    cfgs.map(async (cfg, k) => {
      const p = Bun.spawn([join(dir, `a${k}.exe`), "-c", cfg, "calibrate", "--duration", `${calibrateS}s`], { stdout: "ignore", stderr: "pipe" });
      if ((await p.exited) !== 0) throw new Error(`hosa calibrate: ${await new Response(p.stderr).text()}`);
    }),
  );
  for (let k = 0; k < exes.length; k++) {
    const proc = Bun.spawn([join(dir, `a${k}.exe`), "-c", cfgs[k]!, "run"], { stdout: "ignore", stderr: "pipe" });
    let err = "";
    void (async () => {
      for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(chunk);
    })();
    const end = Date.now() + 60_000;
    while (!/metrics on (http:\/\/\S+)/.test(err)) {
      if (proc.exitCode !== null || Date.now() > end) throw new Error(`hosa run (${names[k]}) did not start: ${err.trim()}`);
      await Bun.sleep(100);
    }
    agents.push({ name: names[k]!, parent: parents[k]!, proc, metricsUrl: /metrics on (http:\/\/\S+)/.exec(err)![1]!, rows: [] });
  }
  await Bun.sleep(10_000);
  const t0 = Date.now();
  const sample = async () => {
    for (const a of agents) {
      const r = rollup(a.proc.pid);
      a.rows.push({ t: (Date.now() - t0) / 1000, cpuS: cpuS(a.proc.pid), ...r, ticks: await ticksTotal(a.metricsUrl), cgroups: made.length / agents.length });
    }
  };
  await sample();
  let nextSample = Date.now() + 5000;
  const appearEnd = t0 + minutes * 60_000;
  let n = 0;
  let appearS = Number.NaN;
  while (Date.now() < appearEnd && n < maxCgroups) {
    const t = Date.now();
    for (const a of agents) {
      const d = cg.dir("memory", `${a.parent}/c${n}`);
      mkdirSync(d);
      made.push(d);
      Bun.spawn(["sh", "-c", `echo $$ > ${d}/cgroup.procs`], { stdout: "ignore", stderr: "ignore" });
    }
    n++;
    if (Date.now() >= nextSample) {
      nextSample += 5000;
      await sample();
    }
    await Bun.sleep(Math.max(0, everyS * 1000 - (Date.now() - t)));
  }
  appearS = (Date.now() - t0) / 1000;
  await sample();
  const stillFrom = agents.map((a) => a.rows.length - 1);
  const stillEnd = Date.now() + stillS * 1000;
  while (Date.now() < stillEnd) {
    await Bun.sleep(Math.min(5000, stillEnd - Date.now()));
    await sample();
  }

  const out = agents.map((a, k) => {
    const rows = a.rows;
    const s = stillFrom[k]!;
    const ap = rows.slice(0, s + 1);
    const st = rows.slice(s);
    const share = (r: typeof rows) => (r.length < 2 ? Number.NaN : ((r.at(-1)!.cpuS - r[0]!.cpuS) / (r.at(-1)!.t - r[0]!.t)) * 100);
    const tps = (r: typeof rows) => (r.length < 2 ? Number.NaN : (r.at(-1)!.ticks - r[0]!.ticks) / (r.at(-1)!.t - r[0]!.t));
    const rss = rows.map((r) => r.rssMb);
    // Per-minute CPU over the appearing phase: the spread.
    const perMin: number[] = [];
    for (let i = 0; i < ap.length; ) {
      let j = i;
      while (j + 1 < ap.length && ap[j + 1]!.t - ap[i]!.t <= 60) j++;
      if (j > i) perMin.push(((ap[j]!.cpuS - ap[i]!.cpuS) / (ap[j]!.t - ap[i]!.t)) * 100);
      i = j > i ? j : j + 1;
    }
    return {
      name: a.name,
      cgroups: n,
      appearS,
      appearingCpuPct: share(ap),
      appearingCpuPerMinPct: perMin,
      appearingTicksPerS: tps(ap),
      stillCpuPct: share(st),
      stillTicksPerS: tps(st),
      rssStartMb: rss[0]!,
      rssEndMb: rss.at(-1)!,
      rssMeanMb: rss.reduce((x, y) => x + y, 0) / rss.length,
      rssMaxMb: Math.max(...rss),
      anonEndMb: rows.at(-1)!.anonMb,
      anonMaxMb: Math.max(...rows.map((r) => r.anonMb)),
    };
  });
  const f = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : "n/a");
  if (json) console.log(JSON.stringify({ everyS, minutes, stillS, agents: out, rows: agents.map((a) => a.rows) }, null, 1));
  else {
    const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
    console.log(`\n${n} cgroups per agent in ${f(appearS, 0)} s (one every ${everyS} s), then ${stillS} s still; load average at the end ${load}`);
    console.log("| agent | CPU appearing (per minute) | ticks/s appearing | CPU still | ticks/s still | RSS start / end / mean / highest MB | anon end / highest MB |");
    console.log("| --- | --- | --- | --- | --- | --- | --- |");
    for (const o of out)
      console.log(
        `| ${o.name} | ${f(o.appearingCpuPct)} % (${o.appearingCpuPerMinPct.map((v) => f(v, 1)).join(", ")}) | ${f(o.appearingTicksPerS, 0)} | ${f(o.stillCpuPct)} % | ${f(o.stillTicksPerS, 0)} | ${f(o.rssStartMb, 1)} / ${f(o.rssEndMb, 1)} / ${f(o.rssMeanMb, 1)} / ${f(o.rssMaxMb, 1)} | ${f(o.anonEndMb, 1)} / ${f(o.anonMaxMb, 1)} |`,
      );
  }
} finally {
  for (const a of agents) {
    a.proc.kill("SIGTERM");
    await a.proc.exited;
  }
  for (const d of made.reverse()) {
    for (let i = 0; i < 20 && existsSync(d); i++) {
      try {
        rmdirSync(d);
      } catch {
        await Bun.sleep(50);
      }
    }
  }
  await cg.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
