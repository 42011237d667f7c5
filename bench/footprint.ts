// Footprint of `hosa run`, side by side in one run with earlyoom and
// prometheus-node-exporter (Debian packages, our own instances: earlyoom with
// the settings of ../shared/PEERS.md, node_exporter on a loopback port
// scraped every 15 s as Prometheus would), stopped by PID at the end.
//
// Phase 1, steady state: hosa at the 100 ms tick and at the 10 ms tick
// (detection-only, calibrated first), earlyoom and node_exporter, all at
// once for --minutes: CPU share over the window and per minute (the spread),
// RSS after start-up, at the end and the highest seen.
// Phase 2, a forced episode: hosa in act mode (scoped to a cgroup this bench
// creates under its own) while a 50 MB/s leak grows in a 2 GiB child cgroup:
// CPU over the --episode-s seconds from the leak's start (vigilance ticks,
// containment), RSS after it; earlyoom and node_exporter measured over the
// same seconds. Then, in-process: heap growth per tick of sense + engine.
//
// Each agent runs from its own copy of the executable, as on a node with one
// agent: the kernel hands back (MADV_PAGEOUT) only pages no other process
// maps. RSS is sampled every second (mean and highest); at the end of phase 1
// each process's resident memory is split by mapping (/proc/PID/smaps).
//
// --baseline EXE runs another build (an earlier commit's dist/hosa) beside
// them in phase 1, at both ticks, for a before/after ratio in the same run.
//
// The floor, in phase 1 too: a one-line program compiled the same way
// (`bun build --compile`, with and without --smol) doing nothing but
// `setInterval(() => {}, 100)` (and 10 ms). No agent written in Bun can cost
// less; hosa's figures are given as ratios to it.
//
//   bun bench/footprint.ts [--minutes 10] [--episode-s 30] [--baseline EXE]... [--no-episode] [--quiet-scope [--scope-cgroups N]] [--calibrate-s 30] [--json]
//     [--episode-variant KEY=VALUE | --episode-baseline]   a second act agent beside the first in phase 2
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { heapStats } from "bun:jsc";
import { defaultConfig } from "../src/config.ts";
import { Calibrator } from "../src/engine/calibrate.ts";
import { createEngine, defaultEngineConfig, step } from "../src/engine/engine.ts";
import { createLiveSource } from "../src/sense/live-source.ts";
import { ChildCgroups, compileLeaker } from "../test/respond/helpers.ts";

const repo = resolve(import.meta.dir, "..");
const exe = process.env.HOSA_EXE ?? join(repo, "dist/hosa");
function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} wants a positive number`);
  return v;
}
const minutes = arg("minutes", 10);
const episodeS = arg("episode-s", 30);
// --calibrate-s: the steady-state agents' calibration (default 30 s). On a loaded machine a 30 s baseline
// misses the load's range: the engine's surprise then keeps the agents at Level ≥ 1 (inline, vigilant), not calm.
const calibrateS = arg("calibrate-s", 30);
// --baseline EXE, repeatable: each build runs at both ticks ("baseline", "baseline 2", ...).
const baselineExes = process.argv.flatMap((a, i) => (a === "--baseline" && process.argv[i + 1] ? [process.argv[i + 1]!] : []));
const baselineExe = baselineExes[0];
const withEpisode = !process.argv.includes("--no-episode");
const quietScope = process.argv.includes("--quiet-scope");
// --scope-cgroups N (with --quiet-scope): N empty cgroups in the quiet scope instead of 3 (enough, some 20 or more,
// and the watch reads them through the probes' cgroup iterator, whose pass holds every cgroup of the hierarchy).
const scopeCgroups = arg("scope-cgroups", 3);
// --variant KEY=VALUE (repeatable): one more hosa at each tick with that environment (a runtime option to try).
const variants = process.argv.flatMap((a, i) => (a === "--variant" && process.argv[i + 1] ? [process.argv[i + 1]!] : []));
// --episode-variant KEY=VALUE or --episode-baseline: a second agent in phase 2, with that environment or
// the first --baseline build, containing a leak of its own at the same time (episodes side by side).
const episodeVariant = process.argv.flatMap((a, i) => (a === "--episode-variant" && process.argv[i + 1] ? [process.argv[i + 1]!] : []))[0];
const episodeBaseline = process.argv.includes("--episode-baseline") && baselineExe !== undefined;
const CLK_TCK = 100;
const PAGE = 4096;

function stat(pid: number): { cpuTicks: number; rssBytes: number } {
  const s = readFileSync(`/proc/${pid}/stat`, "latin1");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return { cpuTicks: Number(f[11]) + Number(f[12]), rssBytes: Number(f[21]) * PAGE };
}

/** CPU ticks per thread name (the main thread under its own name; JITWorker, HeapHelper, mi-scavenger, ...). */
function threads(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, "latin1");
      const comm = tid === String(pid) ? "main" : s.slice(s.indexOf("(") + 1, s.lastIndexOf(")")).trim();
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      out[comm] = (out[comm] ?? 0) + Number(f[11]) + Number(f[12]);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/**
 * Resident MB by kind of mapping: the executable's code and read-only data,
 * its writable data, anonymous memory (JS heap, JIT code, mimalloc), the
 * extracted libhosa, other files (libc, ld.so), the rest ([heap], [stack],
 * BPF maps).
 */
function smapsSplit(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let exe = "";
  try {
    exe = readlinkSync(`/proc/${pid}/exe`);
    let kind = "other";
    for (const line of readFileSync(`/proc/${pid}/smaps`, "latin1").split("\n")) {
      const m = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
      if (m) {
        const [, perms, path] = m as unknown as [string, string, string];
        kind = path === "" ? "anonymous" : path === exe ? (perms.includes("w") ? "executable, writable" : "executable, code and read-only") : path.includes("libhosa") ? "libhosa.so" : path.startsWith("/") ? "other files" : "other";
        continue;
      }
      const r = /^Rss:\s+(\d+) kB/.exec(line);
      if (r) out[kind] = (out[kind] ?? 0) + Number(r[1]) / 1024;
    }
  } catch {
    // The process ended meanwhile.
  }
  return out;
}

interface Watched {
  name: string;
  proc: Bun.Subprocess;
  /** hosa's /metrics or node_exporter's, scraped every 15 s; "" for none. */
  metricsUrl: string;
}

interface Window {
  cpuPct: number;
  /** CPU share of each minute of the window (the spread). */
  cpuPctPerMinute: number[];
  rssStartMB: number;
  rssEndMB: number;
  rssMaxMB: number;
  /** Mean of the RSS sampled every second over the window. */
  rssMeanMB: number;
  /** Resident MB at the end, by kind of mapping (/proc/PID/smaps). */
  smapsMB: Record<string, number>;
  /** CPU share (% of one core) of each thread name over the window (threads that ended meanwhile are missed). */
  threadsPct: Record<string, number>;
}

/** Sample every watched process over `seconds`: CPU share and RSS; scrape metrics every 15 s. */
async function observe(watched: Watched[], seconds: number): Promise<Record<string, Window>> {
  const first = watched.map((w) => stat(w.proc.pid));
  const firstThreads = watched.map((w) => threads(w.proc.pid));
  const t0 = performance.now();
  const minuteMarks = watched.map((_, i) => [{ t: t0, cpu: first[i]!.cpuTicks }]);
  const rssMax = first.map((s) => s.rssBytes);
  const rssSum = first.map((s) => s.rssBytes);
  let samples = 1;
  let nextScrape = t0;
  let nextMinute = t0 + 60_000;
  while (performance.now() - t0 < seconds * 1000) {
    await Bun.sleep(Math.min(1000, Math.max(1, t0 + seconds * 1000 - performance.now())));
    const now = performance.now();
    watched.forEach((w, i) => {
      const s = stat(w.proc.pid);
      if (s.rssBytes > rssMax[i]!) rssMax[i] = s.rssBytes;
      rssSum[i] = rssSum[i]! + s.rssBytes;
      if (now >= nextMinute) minuteMarks[i]!.push({ t: now, cpu: s.cpuTicks });
    });
    samples++;
    if (now >= nextMinute) nextMinute += 60_000;
    if (now >= nextScrape) {
      nextScrape += 15_000;
      await Promise.all(watched.filter((w) => w.metricsUrl).map((w) => fetch(w.metricsUrl).then((r) => r.text()).catch(() => "")));
    }
  }
  const t1 = performance.now();
  const out: Record<string, Window> = {};
  watched.forEach((w, i) => {
    const end = stat(w.proc.pid);
    const endThreads = threads(w.proc.pid);
    const threadsPct: Record<string, number> = {};
    for (const [name, ticks] of Object.entries(endThreads)) threadsPct[name] = ((ticks - (firstThreads[i]![name] ?? 0)) / CLK_TCK / ((t1 - t0) / 1000)) * 100;
    const marks = [...minuteMarks[i]!, { t: t1, cpu: end.cpuTicks }];
    const perMinute: number[] = [];
    for (let k = 1; k < marks.length; k++) {
      const dt = (marks[k]!.t - marks[k - 1]!.t) / 1000;
      if (dt >= 30) perMinute.push(((marks[k]!.cpu - marks[k - 1]!.cpu) / CLK_TCK / dt) * 100);
    }
    out[w.name] = {
      cpuPct: ((end.cpuTicks - first[i]!.cpuTicks) / CLK_TCK / ((t1 - t0) / 1000)) * 100,
      cpuPctPerMinute: perMinute,
      rssStartMB: first[i]!.rssBytes / 2 ** 20,
      rssEndMB: end.rssBytes / 2 ** 20,
      rssMaxMB: Math.max(rssMax[i]!, end.rssBytes) / 2 ** 20,
      rssMeanMB: rssSum[i]! / samples / 2 ** 20,
      smapsMB: smapsSplit(w.proc.pid),
      threadsPct,
    };
  });
  return out;
}

function hosaConfig(dir: string, name: string, lines: string[]): string {
  const cfg = join(dir, `${name}.toml`);
  writeFileSync(
    cfg,
    [`[paths]`, `state_dir = "${dir}/state-${name}"`, `log_file = "${dir}/decisions-${name}.log"`, ...lines, `[report]`, `metrics_listen = "127.0.0.1:0"`, ""].join("\n"),
  );
  return cfg;
}

/** Start `hosa run`; resolves once it says it runs, with its /metrics address. */
async function startHosa(name: string, cfg: string, binary = exe, env: Record<string, string> = {}): Promise<Watched> {
  // Its own copy of the executable, as on a node where one agent runs: the
  // kernel hands back (MADV_PAGEOUT) only the pages no other process maps, and
  // two agents of one file share its pages, each counting them in its RSS.
  const own = cfg.replace(/\.toml$/, ".exe");
  cpSync(binary, own);
  const proc = Bun.spawn([own, "-c", cfg, "run"], { stdout: "ignore", stderr: "pipe", env: { ...process.env, ...env } });
  let err = "";
  const reader = (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(chunk);
  })();
  const end = Date.now() + 60_000;
  while (!/running on .*metrics on (http:\/\/\S+)/.test(err)) {
    if (proc.exitCode !== null || Date.now() > end) throw new Error(`hosa run (${name}) did not start: ${err.trim()}`);
    await Bun.sleep(100);
  }
  void reader;
  return { name, proc, metricsUrl: /metrics on (http:\/\/\S+)/.exec(err)![1]! };
}

/** The floor: `setInterval(() => {}, ms)` compiled as dist/hosa is (--smol or not). */
function compileFloor(dir: string, ms: number, smol: boolean): string {
  const src = join(dir, `floor-${ms}.ts`);
  writeFileSync(src, `setInterval(() => {}, ${ms});\n`);
  const out = join(dir, `floor-${ms}${smol ? "-smol" : ""}`);
  const args = ["build", "--compile", "--minify-whitespace", ...(smol ? ["--compile-exec-argv=--smol"] : []), "--target=bun-linux-x64", src, "--outfile", out];
  const r = Bun.spawnSync([process.execPath, ...args], { stdout: "ignore", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`bun build --compile of the floor program: ${r.stderr.toString().trim()}`);
  return out;
}

function calibrate(cfg: string, seconds: number, binary = exe): Promise<void> {
  const p = Bun.spawn([binary, "-c", cfg, "calibrate", "--duration", `${seconds}s`], { stdout: "ignore", stderr: "pipe" });
  return p.exited.then(async (code) => {
    if (code !== 0) throw new Error(`hosa calibrate: ${await new Response(p.stderr).text()}`);
  });
}

function allocationsPerTick(ticks: number): { bytesPerTick: number; objectsPerTick: number } {
  const cfg = defaultConfig();
  const source = createLiveSource(cfg.sense);
  try {
    const cal = new Calibrator(source.dims, defaultEngineConfig());
    let t = Bun.nanoseconds() / 1e9;
    source.read(t);
    for (let i = 0; i < 50; i++) cal.add(source.read((t += 0.01)));
    const engine = createEngine(cal.finish(), defaultEngineConfig());
    for (let i = 0; i < 1000; i++) step(engine, source.read((t += 0.01)));
    Bun.gc(true);
    const h0 = heapStats();
    for (let i = 0; i < ticks; i++) step(engine, source.read((t += 0.01)));
    const h1 = heapStats();
    return {
      bytesPerTick: (h1.extraMemorySize + h1.heapSize - (h0.extraMemorySize + h0.heapSize)) / ticks,
      objectsPerTick: (h1.objectCount - h0.objectCount) / ticks,
    };
  } finally {
    source.close();
  }
}

const dir = join(tmpdir(), `hosa-footprint-${process.pid}`);
mkdirSync(dir, { recursive: true });
const started: Bun.Subprocess[] = [];
const cg = new ChildCgroups();
let leaker: Bun.Subprocess | null = null;
try {
  if (!existsSync(exe)) throw new Error(`${exe} is missing: run scripts/build.sh first`);
  console.error(`footprint: calibrating, then ${minutes} min side by side (hosa 100 ms, hosa 10 ms, earlyoom, node_exporter), then a ${episodeS} s episode…`);
  // --quiet-scope: the steady-state agents watch only three empty memory cgroups of this bench's own,
  // so that others' workloads on a shared machine (growing cgroups: watch candidates) do not keep them vigilant.
  const scopeLines: string[] = [];
  if (quietScope) {
    const parent = cg.create("memory", `hosa-footprint-${process.pid}-quiet`);
    for (let n = 0; n < scopeCgroups; n++) cg.create("memory", `hosa-footprint-${process.pid}-quiet/${n < 3 ? "abc"[n] : `c${n}`}`);
    scopeLines.push("[respond]", `cgroup_scope = "${parent}"`);
  }
  const slowCfg = hosaConfig(dir, "tick100", ["[sense]", "tick_ms = 100", "vigilance_tick_ms = 100", "[engine]", `calibration_s = ${calibrateS}`, ...scopeLines]);
  const fastCfg = hosaConfig(dir, "tick10", ["[sense]", "tick_ms = 10", "vigilance_tick_ms = 10", "[engine]", `calibration_s = ${calibrateS}`, ...scopeLines]);
  const baseCfgs = baselineExes.map((_, k) => ({
    slow: hosaConfig(dir, `base100-${k}`, ["[sense]", "tick_ms = 100", "vigilance_tick_ms = 100", "[engine]", `calibration_s = ${calibrateS}`, ...scopeLines]),
    fast: hosaConfig(dir, `base10-${k}`, ["[sense]", "tick_ms = 10", "vigilance_tick_ms = 10", "[engine]", `calibration_s = ${calibrateS}`, ...scopeLines]),
  }));
  await Promise.all([
    calibrate(slowCfg, calibrateS),
    calibrate(fastCfg, calibrateS),
    ...baselineExes.flatMap((b, k) => [calibrate(baseCfgs[k]!.slow, calibrateS, b), calibrate(baseCfgs[k]!.fast, calibrateS, b)]),
  ]);

  const port = 20000 + (process.pid % 20000);
  const nodeExporter = Bun.spawn(["prometheus-node-exporter", `--web.listen-address=127.0.0.1:${port}`], { stdout: "ignore", stderr: "ignore" });
  started.push(nodeExporter);
  // PEERS.md's settings: act below 10 % available memory, report every second.
  const earlyoom = Bun.spawn(["earlyoom", "-m", "10", "-r", "1"], { stdout: "ignore", stderr: "ignore" });
  started.push(earlyoom);
  const slow = await startHosa("hosa (100 ms tick)", slowCfg);
  started.push(slow.proc);
  const fast = await startHosa("hosa (10 ms tick)", fastCfg);
  started.push(fast.proc);
  const extra: Watched[] = [];
  for (const v of variants) {
    const [k, ...rest] = v.split("=");
    for (const [label, cfg] of [["100 ms", slowCfg], ["10 ms", fastCfg]] as const) {
      const vcfg = cfg.replace(/\.toml$/, `-${extra.length}.toml`);
      writeFileSync(vcfg, readFileSync(cfg, "utf8").replace(/state-(\w+)/, `state-$1-${extra.length}`).replace(/decisions-(\w+)/, `decisions-$1-${extra.length}`));
      const from = `state-${label === "100 ms" ? "tick100" : "tick10"}`;
      mkdirSync(join(dir, `${from}-${extra.length}`), { recursive: true });
      cpSync(join(dir, from, "baseline.json"), join(dir, `${from}-${extra.length}`, "baseline.json"));
      extra.push(await startHosa(`hosa ${v} (${label} tick)`, vcfg, exe, { [k!]: rest.join("=") }));
    }
  }
  started.push(...extra.map((w) => w.proc));
  const baselines: Watched[] = [];
  for (const [k, b] of baselineExes.entries()) {
    const label = k === 0 ? "baseline" : `baseline ${k + 1}`;
    baselines.push(await startHosa(`${label} (100 ms tick)`, baseCfgs[k]!.slow, b));
    baselines.push(await startHosa(`${label} (10 ms tick)`, baseCfgs[k]!.fast, b));
    started.push(...baselines.map((b) => b.proc));
  }
  const floors: Watched[] = [];
  for (const ms of [100, 10]) {
    for (const smol of [false, true]) {
      const proc = Bun.spawn([compileFloor(dir, ms, smol)], { stdout: "ignore", stderr: "ignore" });
      started.push(proc);
      floors.push({ name: `floor: setInterval ${ms} ms${smol ? ", --smol" : ""}`, proc, metricsUrl: "" });
    }
  }
  await Bun.sleep(5000); // start-up (probe load, JIT) is not the steady state
  const steady = await observe(
    [slow, fast, ...extra, ...baselines, ...floors, { name: "earlyoom -m 10 -r 1", proc: earlyoom, metricsUrl: "" }, { name: "node_exporter (scraped every 15 s)", proc: nodeExporter, metricsUrl: `http://127.0.0.1:${port}/metrics` }],
    minutes * 60,
  );
  // How calm each agent was: ticks, and (builds that have them) the sampler's counts, from its /metrics.
  const calmness: Record<string, Record<string, number>> = {};
  for (const w of [slow, fast, ...extra, ...baselines]) {
    const text = await fetch(w.metricsUrl).then((r) => r.text()).catch(() => "");
    const got: Record<string, number> = {};
    for (const m of text.matchAll(/^(hosa_sampler_\w+|hosa_ticks_total) (\S+)$/gm)) got[m[1]!] = Number(m[2]);
    calmness[w.name] = got;
  }
  for (const w of [slow, fast, ...extra, ...baselines, ...floors]) {
    w.proc.kill("SIGTERM");
    await w.proc.exited;
  }

  // Phase 2: a forced episode, contained by hosa in act mode inside our own cgroup.
  let calm: Record<string, Window> = {};
  let episode: Record<string, Window> = {};
  let actions = 0;
  let maxLevel = 0;
  const actName = "hosa (act, episode)";
  const otherName = episodeVariant ? `hosa (act, episode, ${episodeVariant})` : "hosa (act, episode, baseline build)";
  let other: Watched | null = null;
  let otherLeaker: Bun.Subprocess | null = null;
  if (withEpisode) {
    const parent = cg.create("memory", `hosa-footprint-${process.pid}`);
    const leak = cg.create("memory", `hosa-footprint-${process.pid}/leak`);
    writeFileSync(`${cg.dir("memory", leak)}/memory.limit_in_bytes`, String(2 * 2 ** 30));
    const actCfg = hosaConfig(dir, "act", ["[engine]", "calibration_s = 30", "[respond]", 'mode = "act"', `cgroup_scope = "${parent}"`]);
    const twin = episodeVariant !== undefined || episodeBaseline;
    const parent2 = twin ? cg.create("memory", `hosa-footprint-${process.pid}-b`) : "";
    const leak2 = twin ? cg.create("memory", `hosa-footprint-${process.pid}-b/leak`) : "";
    if (twin) writeFileSync(`${cg.dir("memory", leak2)}/memory.limit_in_bytes`, String(2 * 2 ** 30));
    const actCfg2 = twin ? hosaConfig(dir, "act2", ["[engine]", "calibration_s = 30", "[respond]", 'mode = "act"', `cgroup_scope = "${parent2}"`]) : "";
    const otherExe = episodeBaseline ? baselineExe! : exe;
    await Promise.all([calibrate(actCfg, 30), ...(twin ? [calibrate(actCfg2, 30, otherExe)] : [])]);
    const act = await startHosa(actName, actCfg);
    started.push(act.proc);
    if (twin) {
      const [k, ...rest] = (episodeVariant ?? "=").split("=");
      other = await startHosa(otherName, actCfg2, otherExe, episodeVariant ? { [k!]: rest.join("=") } : {});
      started.push(other.proc);
    }
    await Bun.sleep(5000);
    calm = await observe([act, ...(other ? [other] : [])], 20);
    const leakerExe = compileLeaker(dir);
    leaker = Bun.spawn(["sh", "-c", `echo $$ > ${cg.dir("memory", leak)}/cgroup.procs && exec ${leakerExe} --rate-mb 50 --max-mb 1800 --hold`], {
      stdout: "ignore",
      stderr: "ignore",
    });
    if (twin) {
      otherLeaker = Bun.spawn(["sh", "-c", `echo $$ > ${cg.dir("memory", leak2)}/cgroup.procs && exec ${leakerExe} --rate-mb 50 --max-mb 1800 --hold`], { stdout: "ignore", stderr: "ignore" });
      started.push(otherLeaker);
    }
    episode = await observe(
      [act, ...(other ? [other] : []), { name: "earlyoom -m 10 -r 1", proc: earlyoom, metricsUrl: "" }, { name: "node_exporter (scraped every 15 s)", proc: nodeExporter, metricsUrl: `http://127.0.0.1:${port}/metrics` }],
      episodeS,
    );
    if (other) {
      const log2 = readFileSync(join(dir, "decisions-act2.log"), "utf8");
      const n2 = log2.split("\n").filter((l) => l.includes('"kind":"action"') && l.includes('"applied"')).length;
      const lv2 = Math.max(0, ...log2.split("\n").filter((l) => l.includes('"kind":"level"')).map((l) => Number(/"level":(\d)/.exec(l)?.[1] ?? 0)));
      console.error(`footprint: ${otherName}: highest level ${lv2}, ${n2} actions applied`);
      otherLeaker?.kill("SIGKILL");
      other.proc.kill("SIGTERM");
      await other.proc.exited;
    }
    const log = readFileSync(join(dir, "decisions-act.log"), "utf8");
    actions = log.split("\n").filter((l) => l.includes('"kind":"action"') && l.includes('"applied"')).length;
    maxLevel = Math.max(0, ...log.split("\n").filter((l) => l.includes('"kind":"level"')).map((l) => Number(/"level":(\d)/.exec(l)?.[1] ?? 0)));
    leaker.kill("SIGKILL");
    await leaker.exited;
    leaker = null;
    act.proc.kill("SIGTERM");
    await act.proc.exited;
  }
  const alloc = allocationsPerTick(20_000);

  const result = { baselineExe, baselineExes, bun: Bun.version, cores: navigator.hardwareConcurrency, minutes, episodeS, steady, calmness, calm: calm[actName], episode, episodeActions: actions, episodeMaxLevel: maxLevel, alloc };
  if (process.argv.includes("--json")) {
    console.log(JSON.stringify(result, null, 2));
  } else {
    const fmt = (v: number, d = 2) => v.toFixed(d);
    const row = (name: string, w: Window, ref?: Window) =>
      `| ${name} | ${fmt(w.cpuPct)} % | ${w.cpuPctPerMinute.length ? `${fmt(Math.min(...w.cpuPctPerMinute))}..${fmt(Math.max(...w.cpuPctPerMinute))} %` : "-"} | ${fmt(w.rssStartMB, 1)} MB | ${fmt(w.rssEndMB, 1)} MB | ${fmt(w.rssMaxMB, 1)} MB |${ref ? ` ${fmt(w.cpuPct / Math.max(1e-9, ref.cpuPct), 1)}× / ${fmt(w.rssEndMB / ref.rssEndMB, 1)}× |` : " |"}`;
    console.log(`Footprint side by side, ${minutes} min steady state, bun ${Bun.version}, ${navigator.hardwareConcurrency} cores (the machine is shared: others' tests run meanwhile)`);
    console.log("| process | CPU (% of one core) | per minute (spread) | RSS after start-up | RSS at end | RSS max | CPU / RSS vs node_exporter |");
    console.log("| --- | --- | --- | --- | --- | --- | --- |");
    const ne = steady["node_exporter (scraped every 15 s)"]!;
    for (const [name, w] of Object.entries(steady)) console.log(row(name, w, ne));
    console.log("\nRSS mean over the window, and where the megabytes are at its end (/proc/PID/smaps, MB):");
    const kinds = ["executable, code and read-only", "anonymous", "executable, writable", "other files", "libhosa.so", "other"];
    console.log(`| process | RSS mean | ${kinds.join(" | ")} |`);
    console.log(`| --- | --- | ${kinds.map(() => "---").join(" | ")} |`);
    for (const [name, w] of Object.entries(steady)) console.log(`| ${name} | ${fmt(w.rssMeanMB, 1)} | ${kinds.map((k) => fmt(w.smapsMB[k] ?? 0, 1)).join(" | ")} |`);
    console.log("\nHow calm (at the end; the sampler's counts where the build exposes them):");
    for (const [name, c] of Object.entries(calmness)) console.log(`- ${name}: ${Object.entries(c).map(([k, v]) => `${k.replace(/^hosa_/, "")} ${v}`).join(", ") || "-"}`);
    console.log("\nCPU by thread (% of one core over the window):");
    for (const [name, w] of Object.entries(steady)) {
      if (name.startsWith("earlyoom") || name.startsWith("node_exporter")) continue;
      console.log(`- ${name}: ${Object.entries(w.threadsPct).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${fmt(v)} %`).join(", ")}`);
    }
    // The floor: what no agent in Bun can beat, same run.
    console.log("\n| process | CPU / floor (same tick, --smol) | CPU / floor (same tick, no --smol) | RSS at end / floor (--smol) | RSS at end / floor (no --smol) |");
    console.log("| --- | --- | --- | --- | --- |");
    for (const [name, w] of Object.entries(steady)) {
      const ms = /10 ms/.test(name) ? 10 : /100 ms/.test(name) ? 100 : 0;
      if (!ms || name.startsWith("floor")) continue;
      const smol = steady[`floor: setInterval ${ms} ms, --smol`]!;
      const plain = steady[`floor: setInterval ${ms} ms`]!;
      console.log(`| ${name} | ${fmt(w.cpuPct / Math.max(1e-9, smol.cpuPct), 1)}× | ${fmt(w.cpuPct / Math.max(1e-9, plain.cpuPct), 1)}× | ${fmt(w.rssEndMB / smol.rssEndMB, 2)}× | ${fmt(w.rssEndMB / plain.rssEndMB, 2)}× |`);
    }
    if (withEpisode) {
    console.log(`\nForced episode: 50 MB/s leak in a 2 GiB cgroup, hosa in act mode (highest level ${maxLevel}, ${actions} actions applied); ${episodeS} s from the leak's start`);
    console.log("| process | CPU (% of one core) | per minute | RSS before | RSS after | RSS max | |");
    console.log("| --- | --- | --- | --- | --- | --- | --- |");
    console.log(row("hosa (act) before the leak, 20 s calm", calm[actName]!));
    if (calm[otherName]) console.log(row(`${otherName} before the leak, 20 s calm`, calm[otherName]!));
    for (const [name, w] of Object.entries(episode)) console.log(row(name, w));
    }
    console.log(`\nsense + engine in-process over 20 000 ticks (GC not forced in between): ${fmt(alloc.bytesPerTick, 0)} bytes and ${fmt(alloc.objectsPerTick)} objects of heap growth per tick`);
  }
} finally {
  leaker?.kill("SIGKILL");
  for (const p of started) {
    if (p.exitCode === null) {
      p.kill("SIGTERM");
      await p.exited;
    }
  }
  await cg.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
