// Footprint of `hosa run` (detection-only): RSS and CPU share over a long
// run at the 100 ms tick and at the 10 ms tick, side by side in the same run,
// then the heap allocated per tick by sense + engine in-process.
// Usage: bun bench/footprint.ts [--minutes 10]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { heapStats } from "bun:jsc";
import { defaultConfig } from "../src/config.ts";
import { Calibrator } from "../src/engine/calibrate.ts";
import { createEngine, defaultEngineConfig, step } from "../src/engine/engine.ts";
import { createLiveSource } from "../src/sense/live-source.ts";

const repo = resolve(import.meta.dir, "..");
const exe = join(repo, "dist/hosa");
const mi = process.argv.indexOf("--minutes");
const minutes = mi > 0 ? Number(process.argv[mi + 1]) : 10;
const CLK_TCK = 100;
const PAGE = 4096;

function stat(pid: number): { cpuTicks: number; rssBytes: number } {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return { cpuTicks: Number(f[11]) + Number(f[12]), rssBytes: Number(f[21]) * PAGE };
}

async function measure(tickMs: number, dir: string) {
  const cfg = join(dir, `hosa-${tickMs}.toml`);
  writeFileSync(
    cfg,
    `[paths]\nstate_dir = "${dir}/state-${tickMs}"\nlog_file = "${dir}/decisions-${tickMs}.log"\n` +
      `[sense]\ntick_ms = ${tickMs}\nvigilance_tick_ms = ${tickMs}\n[engine]\ncalibration_s = 30\n[report]\nmetrics_listen = "127.0.0.1:0"\n`,
  );
  const cal = Bun.spawnSync([exe, "-c", cfg, "calibrate", "--duration", "30s"]);
  if (cal.exitCode !== 0) throw new Error(`calibrate: ${cal.stderr}`);
  const p = Bun.spawn([exe, "-c", cfg, "run", "--duration", `${minutes * 60 + 60}s`], { stdout: "ignore", stderr: "pipe" });
  await Bun.sleep(5000); // start-up (probe load, JIT) is not the steady state
  if (p.exitCode !== null) throw new Error(`hosa run (tick ${tickMs} ms) exited ${p.exitCode}: ${await new Response(p.stderr).text()}`);
  const a = stat(p.pid);
  const t0 = Date.now();
  let rssMax = a.rssBytes;
  const rss: number[] = [];
  while (Date.now() - t0 < minutes * 60_000) {
    await Bun.sleep(1000);
    const s = stat(p.pid);
    rss.push(s.rssBytes);
    if (s.rssBytes > rssMax) rssMax = s.rssBytes;
  }
  const b = stat(p.pid);
  const cpuPct = (((b.cpuTicks - a.cpuTicks) / CLK_TCK) * 100) / ((Date.now() - t0) / 1000);
  p.kill("SIGTERM");
  await p.exited;
  return { tickMs, cpuPct, rssStartMB: a.rssBytes / 2 ** 20, rssEndMB: b.rssBytes / 2 ** 20, rssMaxMB: rssMax / 2 ** 20 };
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

const dir = mkdtempSync(join(tmpdir(), "hosa-footprint-"));
try {
  console.error(`footprint: ${minutes} min at 100 ms and at 10 ms, side by side…`);
  const [slow, fast] = await Promise.all([measure(100, dir), measure(10, dir)]);
  const alloc = allocationsPerTick(20_000);
  console.log(`hosa run footprint over ${minutes} min (detection-only, eBPF), bun ${Bun.version}, ${navigator.hardwareConcurrency} cores`);
  console.log("| tick | CPU (% of one core) | RSS after start-up | RSS at end | RSS max |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const r of [slow, fast]) {
    console.log(`| ${r.tickMs} ms | ${r.cpuPct.toFixed(2)} % | ${r.rssStartMB.toFixed(1)} MB | ${r.rssEndMB.toFixed(1)} MB | ${r.rssMaxMB.toFixed(1)} MB |`);
  }
  console.log(
    `\nsense + engine in-process over 20 000 ticks (GC not forced in between): ${alloc.bytesPerTick.toFixed(0)} bytes and ${alloc.objectsPerTick.toFixed(2)} objects of heap growth per tick`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
