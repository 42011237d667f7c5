// The agent: sense -> engine -> respond -> report, one tick at a time, until
// stopped. Reporting never sits in the reflex path: the decision log append is
// one write(2), webhooks go to an on-disk outbox delivered asynchronously.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { baselinePath, type HosaConfig } from "./config.ts";
import { baselineSupported, checkBaselineDims, loadBaseline, saveBaseline } from "./baseline-file.ts";
import { Calibrator } from "./engine/calibrate.ts";
import { DangerTracker, NO_DANGER } from "./engine/danger.ts";
import { EpisodePace, type PaceInput } from "./episode-pace.ts";
import { createEngine, engineConfigFrom, releaseQuarantine, snapshotDecision, step, type EngineState } from "./engine/engine.ts";
import type { Baseline, Decision, Sample } from "./engine/types.ts";
import { EXIT, HosaError } from "./errors.ts";
import type { ProtoRecordingWriter } from "./recording/protobuf.ts";
import { actionEntry, DecisionLog, EpisodeAttribution, levelEntry, wallTimeNs } from "./report/decision-log.ts";
import { Notifier } from "./report/notifier.ts";
import { startReportServer } from "./report/server.ts";
import type { AgentSnapshot } from "./report/snapshot.ts";
import { createAgentResponder } from "./respond/agent-responder.ts";
import { readQuarantineState } from "./respond/quarantine.ts";
import type { ActionRecord, Responder } from "./respond/types.ts";
import { CgroupWatch } from "./sense/cgroup-watch.ts";
import { releaseExecutablePages } from "./ffi/libhosa.ts";
import { createLiveSource } from "./sense/live-source.ts";
import { discoverNode } from "./kernel/proprioception.ts";
import type { CgroupUsage, SampleSource } from "./sense/types.ts";
import { MemoryTidy } from "./memory-tidy.ts";
import { monoS, TickLoop } from "./tick-loop.ts";
import { createSampler } from "./sense/sampler.ts";
import { takePidLock } from "./util/pid-lock.ts";
import { VERSION } from "./version.ts";

export interface AgentOptions {
  /** Keep a protobuf recording of every sample. */
  record?: string;
  /** Stop after this many seconds (tests, benchmarks); 0 = until a signal. */
  durationS?: number;
  /** One line for the operator (the CLI prints it). */
  say: (line: string) => void;
  /** Start-up is over: the tick loop made its first read (the CLI settles the runtime's JIT policy, src/cli/runtime.ts). */
  onLoopStart?: () => void;
}

const PID_FILE = "hosa.pid";
const NO_CGROUPS: CgroupUsage[] = [];

/**
 * A baseline too short to support its false-alarm rates (docs/engine.md §4)
 * makes the surprise levels 1–2 unreliable; containment (Level 3 and above)
 * rests on danger alone, which no baseline feeds, so it still acts.
 */
function sayIfUnsupported(b: Baseline, path: string, say: (line: string) => void): void {
  if (baselineSupported(b)) return;
  say(`baseline ${path} does not support its false-alarm rates (${(b.warnings ?? []).join("; ")}): Levels 1–2 may misfire; calibrate longer (hosa calibrate --duration 5m)`);
}

/** Records that say a value went back (not "would restore" in detection-only mode). */
export function countRestored(records: ActionRecord[]): number {
  return records.filter((r) => r.outcome.startsWith("restored")).length;
}

/** One agent per state directory: a second one is refused with the first one's PID. */
export function lockStateDir(stateDir: string): () => void {
  mkdirSync(stateDir, { recursive: true, mode: 0o755 });
  const path = join(stateDir, PID_FILE);
  const lock = takePidLock(path);
  if ("release" in lock) return lock.release;
  if (lock.heldBy > 0) throw new HosaError(`another hosa (pid ${lock.heldBy}) holds ${stateDir}`, EXIT.AGENT);
  throw new HosaError(`cannot lock ${stateDir}: ${path} keeps reappearing`, EXIT.AGENT);
}

function safeQuarantineState(cfg: HosaConfig) {
  try {
    return readQuarantineState(cfg);
  } catch {
    return null;
  }
}

class Jitter {
  private readonly ring = new Float64Array(1024);
  private n = 0;
  max = 0;
  sumMs = 0;
  get count(): number {
    return this.n;
  }
  add(ms: number): void {
    this.ring[this.n++ % this.ring.length] = ms;
    this.sumMs += ms;
    if (ms > this.max) this.max = ms;
  }
  quantile(q: number): number {
    const k = Math.min(this.n, this.ring.length);
    if (k === 0) return 0;
    const sorted = Array.from(this.ring.subarray(0, k)).sort((a, b) => a - b);
    return sorted[Math.min(k - 1, Math.floor(q * k))];
  }
}

export async function runAgent(cfg: HosaConfig, opts: AgentOptions): Promise<number> {
  const stateDir = cfg.paths.stateDir;
  const unlock = lockStateDir(stateDir);
  const node = hostname();
  const startedAt = new Date().toISOString();
  let source: SampleSource | null = null;
  let recorder: ProtoRecordingWriter | null = null;
  let log: DecisionLog | null = null;
  let notifier: Notifier | null = null;
  let server: { port: number; stop(): void } | null = null;
  let responder: Responder | null = null;
  let watch: CgroupWatch | null = null;
  let stopping = false;
  let loop: TickLoop | null = null;
  const stop = () => {
    stopping = true;
    loop?.stop();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    const facts = discoverNode(cfg.sense.procRoot);
    const live = createLiveSource(cfg.sense);
    source = live;
    if (live.fallbackNotice) opts.say(live.fallbackNotice);
    const dims = source.dims;
    const dimNames = dims.map((d) => d.name);
    const engineCfg = engineConfigFrom(cfg.engine);

    log = DecisionLog.open(cfg.paths.logFile, { maxBytes: cfg.report.logMaxBytes, keep: cfg.report.logKeep, stateDir });
    for (const w of log.warnings) opts.say(w);
    notifier = Notifier.open(cfg.report, stateDir, node);

    const rec = createAgentResponder(cfg, facts, opts.say);
    responder = rec.responder;
    const logActions = (d: Decision | null, actions: ActionRecord[]) => {
      for (const a of actions) log!.append(actionEntry(d, a, wallTimeNs(), node));
    };
    // A previous run that crashed (SIGKILL) may have left limits in force.
    const recovered = rec.recovered;
    for (const w of rec.warnings) opts.say(w);
    if (recovered.length) {
      logActions(null, recovered);
      notifier.onActions(recovered, wallTimeNs());
    }
    // Danger: per-cgroup facts at the tick, only where hosa may act.
    watch = new CgroupWatch(live.layout, {
      procRoot: cfg.sense.procRoot,
      scope: cfg.respond.cgroupScope,
      sensitive: cfg.respond.latencySensitive,
      memoryUsage: live.cgroupMemoryUsage,
      nodeAvailable: (t) => live.memAvailableAt(t),
      sampleMemoryUsage: (on, bytesPerS, everyS, ids) => live.sampleCgroupMemoryUsage(on, bytesPerS, everyS, ids),
    });
    const danger = new DangerTracker();
    // Which cgroup consumed what over an episode, walked only at level changes (docs/cortex.md § Attribution).
    const attribution = new EpisodeAttribution(() => live.cgroups());

    if (opts.record) {
      // Loaded only when asked: the protobuf runtime costs heap a plain run does without.
      const { ProtoRecordingWriter } = await import("./recording/protobuf.ts");
      recorder = new ProtoRecordingWriter(opts.record, {
        hosaVersion: VERSION,
        dims,
        startedUnixS: Date.now() / 1000,
        dangerRecorded: true,
        node: {
          hostname: node,
          kernel: facts.kernelRelease,
          cores: facts.cores,
          memoryBytes: facts.memoryBytes,
          environmentClass: facts.environmentClass,
          cgroupVersion: facts.cgroupVersion,
        },
      });
    }

    let engine: EngineState | null = null;
    let calibrator: Calibrator | null = null;
    let warmupStart = NaN;
    const bPath = baselinePath(cfg);
    if (existsSync(bPath)) {
      const bf = loadBaseline(bPath);
      checkBaselineDims(bPath, bf.baseline, dimNames);
      engine = createEngine(bf.baseline, engineCfg);
      sayIfUnsupported(bf.baseline, bPath, opts.say);
    } else {
      calibrator = new Calibrator(dims, engineCfg);
      opts.say(`no baseline at ${bPath}: warming up for ${cfg.engine.calibrationS} s, no action until it is learned`);
    }

    let lastDecision: Decision | null = null;
    let ticks = 0;
    /** The last tick's time (monotonic seconds); NaN before the first. /metrics gives it as wall-clock ms, computed when asked. */
    let lastTickT = Number.NaN;
    const jitter = new Jitter();
    const recent: ActionRecord[] = [...recovered];
    let tickMs = cfg.sense.tickMs;
    const pace = new EpisodePace(cfg.sense.tickMs, cfg.sense.vigilanceTickMs);

    // At calm (Level 0, no candidate, no ceiling held) libhosa's thread takes
    // the reads and the agent wakes once per calm_batch ticks, or at once at a
    // tripwire; the candidates' reads are the agent's own, so at vigilance
    // every tick is read and processed at its time (docs/footprint.md § The sampler).
    const sampler = cfg.sense.sampler === "auto" && cfg.sense.calmBatch > 1 && live.sampled ? createSampler() : undefined;
    // At calm the watch's scan at most every calm_scan_ms, sooner when MemAvailable falls (docs/footprint.md § The sampler).
    if (sampler && cfg.sense.calmScanMs / 1000 > watch.scanS) live.stretchScan(watch.scanS, cfg.sense.calmScanMs / 1000, watch.fastBytesPerS);
    const snapshot = (): AgentSnapshot => ({
      startedAt,
      node,
      hosaVersion: VERSION,
      mode: cfg.respond.mode,
      warmup: engine === null,
      decision: lastDecision ? snapshotDecision(lastDecision) : null,
      actionsInForce: responder!.inForce(),
      recentActions: recent.slice(-50),
      tickMs,
      tickDurationMs: { ...(loop?.spentMs ?? { last: 0, max: 0 }) },
      tickJitterMs: { p50: jitter.quantile(0.5), p99: jitter.quantile(0.99), max: jitter.max, sumMs: jitter.sumMs, count: jitter.count },
      probes: { ebpf: live.ebpf, detail: live.fallbackNotice || "eBPF probes attached" },
      dims: dimNames,
      outboxDepth: notifier?.depth() ?? 0,
      outboxDropped: notifier?.dropped() ?? 0,
      ticks,
      lastTickAtMs: Number.isNaN(lastTickT) ? 0 : Math.round(Date.now() - (monoS() - lastTickT) * 1000),
      holdS: [...cfg.engine.holdS],
      sampler: samplerCounts(),
    });
    const samplerCounts = (): AgentSnapshot["sampler"] => {
      if (!sampler || !loop) return undefined;
      const st = sampler.status();
      return { ...loop.batched, skipped: st.skipped, tripped: st.tripped };
    };
    if (cfg.report.metricsListen) {
      server = startReportServer(cfg.report.metricsListen, snapshot);
    }
    opts.say(
      `running on ${node}: ${dims.length} dimensions (${live.ebpf ? "eBPF" : "/proc"}), ` +
        `${cfg.respond.mode === "act" ? "actions ENABLED" : "detection-only (no action on the node)"}, ` +
        `tick ${cfg.sense.tickMs} ms / ${cfg.sense.vigilanceTickMs} ms` +
        `${server ? `, metrics on http://${cfg.report.metricsListen.replace(/:\d+$/, "")}:${server.port}/metrics` : ""}`,
    );

    let heartbeatAt = 0;
    let quarantineCheckAt = 0;
    // Start-up, an episode, and the JIT compiling hot code in the first
    // minutes make garbage and touch much of the runtime's code that never
    // runs again: a full collection, then the kernel takes those clean pages
    // back, 2 s after start, at doubling intervals from 10 s up to every
    // ten minutes, 5 s after each containment, 5 s after vigilance ends (at
    // most once every five minutes), and every two minutes of vigilance that
    // lasts with no cgroup in danger (src/memory-tidy.ts, docs/footprint.md).
    const tidy = new MemoryTidy();
    const onStart = (t0: number) => {
      heartbeatAt = t0;
      quarantineCheckAt = t0;
      tidy.start(t0);
      opts.onLoopStart?.();
    };
    // Detection-only holds no ceiling: no map asked for (and allocated) at every tick.
    const acting = cfg.respond.mode === "act";
    const noCeilings: ReturnType<Responder["heldCeilings"]> = new Map();
    // The wall clock, formatted, only when a tick writes or tells something
    // (not on a calm tick): one memo, cleared at each tick, and one closure
    // for the whole run rather than one per tick.
    let wallMemo: string | undefined;
    const wall = (): string => (wallMemo ??= wallTimeNs());
    // What EpisodePace reads, refilled at each tick (no object per tick).
    const paceIn: PaceInput = { level: 0, previousLevel: 0, danger: NO_DANGER, held: noCeilings, candidates: 0, moving: 0 };
    // The variables below are set before the loop starts and cleared only after it ends.
    const tickBody = (sample: Sample, t: number, scheduled: number): void => {
      jitter.add(Math.abs(t - scheduled) * 1000);
      wallMemo = undefined;
      const held = acting ? responder!.heldCeilings() : noCeilings;
      sample.danger = danger.update(watch!.read(t, held));
      // The next sample's cgroup_mem_limit_ratio divides by the limits from before hosa's ceilings.
      live.setHeldCeilings(held);
      recorder?.write(sample);
      if (engine === null) {
        calibrator!.add(sample);
        if (Number.isNaN(warmupStart)) warmupStart = t;
        if (t - warmupStart >= cfg.engine.calibrationS && calibrator!.count >= 2) {
          const baseline = calibrator!.finish();
          saveBaseline(bPath, baseline, `live:${node}`, t - warmupStart, new Date().toISOString());
          engine = createEngine(baseline, engineCfg);
          calibrator = null;
          opts.say(`warm-up done: baseline of ${baseline.count} samples written to ${bPath}`);
          sayIfUnsupported(baseline, bPath, opts.say);
        }
      } else {
        let d = step(engine, sample);
        // `hosa quarantine release` runs in another process: it leaves the
        // state file released, and the engine goes on from a Level 3 hold.
        if (d.level === 5 && t - quarantineCheckAt >= 1) {
          quarantineCheckAt = t;
          const q = safeQuarantineState(cfg);
          if (q && !q.active && q.released) {
            d = releaseQuarantine(engine, sample.t);
            const entry = levelEntry(d, wallTimeNs(), node);
            entry.reason = `quarantine released by ${q.released.by} at ${q.released.at} (${q.released.how}); holding at Level 3`;
            log!.append(entry);
            opts.say(entry.reason as string);
          }
        }
        lastDecision = d;
        // Targets come from the danger; the full per-cgroup usage (a walk of
        // cgroupfs and the probes' hash) only feeds the quarantine snapshot.
        const wantCgroups = d.level !== d.previousLevel && d.level >= 5;
        const actions = responder!.onDecision(d, wantCgroups ? source!.cgroups() : NO_CGROUPS, sample.danger ?? NO_DANGER);
        if (d.level !== d.previousLevel) {
          const entry = levelEntry(d, wall(), node);
          attribution.annotate(d, entry);
          log!.append(entry);
        }
        if (actions.length) {
          logActions(d, actions);
          recent.push(...actions);
          if (recent.length > 200) recent.splice(0, recent.length - 200);
        }
        notifier!.onDecision(d, actions, wall);
      }
      // A cgroup growing fast is watched at the vigilance tick even in calm:
      // containment in a few hundred milliseconds needs samples that dense.
      // A containment that holds still is watched at the calm tick (src/episode-pace.ts).
      paceIn.level = lastDecision?.level ?? 0;
      paceIn.previousLevel = lastDecision?.previousLevel ?? 0;
      paceIn.danger = sample.danger;
      paceIn.held = held;
      paceIn.candidates = watch!.candidates;
      paceIn.moving = watch!.moving;
      tickMs = pace.tickMs(t, paceIn);
      if (t - heartbeatAt >= cfg.report.heartbeatS) {
        heartbeatAt = t;
        notifier!.heartbeat(lastDecision, new Date().toISOString());
      }
      if (ticks % 100 === 0) for (const w of notifier!.drainWarnings()) opts.say(w);
      // A cgroup named in danger: no tidy for long vigilance (a collection could delay the tick that contains it).
      if (tidy.due(t, acting && ((lastDecision?.level ?? 0) >= 3 || held.size > 0), !pace.calm, (sample.danger?.cgroup ?? null) !== null)) {
        Bun.gc(true);
        try {
          releaseExecutablePages();
        } catch {
          // Only memory is at stake, not detection.
        }
      }
      ticks++;
      lastTickT = t;
    };
    const batch = () => (pace.calm ? cfg.sense.calmBatch : 1);
    loop = new TickLoop({
      source,
      tickMs: () => tickMs,
      durationS: opts.durationS,
      onStart,
      onTick: tickBody,
      sampler,
      batch,
      onSamplerLost: (why) => opts.say(`hosa: ${why}`),
    });
    if (stopping) loop.stop();
    await loop.run();
    const restored = responder.restoreAll(stopping ? "agent stopped" : "run duration reached");
    if (restored.length) {
      logActions(lastDecision, restored);
      notifier.onActions(restored, wallTimeNs(), lastDecision);
    }
    // A clean stop ends the alerts it left firing and waits (briefly) until
    // the receivers have them, so nothing is left in the outbox.
    const closing = notifier;
    notifier = null;
    const left = await closing.close({ wallTime: wallTimeNs(), why: stopping ? "hosa stopped" : "hosa's run ended", drainMs: 5000 });
    for (const w of closing.drainWarnings()) opts.say(w);
    if (left > 0) opts.say(`${left} webhook messages not delivered yet: they stay in ${join(stateDir, "outbox")} for the next start`);
    const n = countRestored(restored);
    opts.say(`stopped after ${ticks} ticks${n ? `; ${n} actions restored` : ""}`);
    return EXIT.OK;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    server?.stop();
    watch?.close();
    recorder?.close();
    source?.close();
    log?.close();
    await notifier?.close();
    unlock();
  }
}
