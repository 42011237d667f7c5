// libhosa's sampling thread on the real kernel: a cgroup of the test's own
// (under this process's memory cgroup) whose files the test writes or grows,
// the real thread, its pipe and the tick loop that consumes it. Needs root
// and the memory controller (v1 or v2).
import { afterAll, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { compileLeaker, hybrid, isRoot, tempDir, TestResources } from "../../test/respond/helpers.ts";
import * as ffi from "../ffi/libhosa.ts";
import { createFileSet } from "../kernel/file-set.ts";
import { defaultConfig } from "../config.ts";
import { TickLoop, monoS } from "../tick-loop.ts";
import { createLiveSource } from "./live-source.ts";
import { createSampler, type Sampler } from "./sampler.ts";

setDefaultTimeout(30_000);
const skipReason = !isRoot ? "needs root (a cgroup of its own)" : !hybrid ? "needs the cgroup v1 memory controller (a hybrid hierarchy) for its test cgroups" : "";
if (skipReason) console.warn(`sampler.test.ts: skipped: ${skipReason}`);

const MIB = 1024 * 1024;
/** The memory controller's root and the files this test writes and grows. */
const memRoot = "/sys/fs/cgroup/memory";
const LIMIT = "memory.limit_in_bytes";
const USAGE = "memory.usage_in_bytes";

/** The threads of this process named as libhosa names its sampler. */
function samplerThreads(): number {
  let n = 0;
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, "latin1").trim() === "hosa-sampler") n++;
    } catch {
      // The thread ended meanwhile.
    }
  }
  return n;
}

/** Resolves at the sampler's next wake with a snapshot pending (seconds waited), or with "timeout" after ms. */
function nextWake(s: Sampler, ms: number, minPending = 1): Promise<number | "timeout"> {
  const from = monoS();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      s.onWake = null;
      resolve("timeout");
    }, ms);
    s.onWake = () => {
      // A byte written before the last drain, delivered after it, or a wake of another registration's
      // tripwire (other tests' sets in this process): wait on for what the caller needs.
      if (s.status().pending < minPending) {
        s.ack();
        return;
      }
      clearTimeout(timer);
      s.onWake = null;
      resolve(monoS() - from);
    };
  });
}

/** Every pending snapshot: its times and what `read` makes of it while it is served. */
function drain<T>(s: Sampler, read: () => T): { t: number; due: number; v: T }[] {
  const out: { t: number; due: number; v: T }[] = [];
  const times = new Float64Array(2);
  s.ack();
  while (s.begin(times)) {
    try {
      out.push({ t: times[0]!, due: times[1]!, v: read() });
    } finally {
      s.end();
    }
  }
  return out;
}

describe.skipIf(skipReason !== "")("libhosa's sampler", () => {
  const res = new TestResources();
  const cgDir = (rel: string) => res.cg.dir("memory", rel);
  const mk = (name: string): string => res.cg.create("memory", name);
  const sampler = createSampler()!;
  beforeEach(() => {
    // A test that failed half-way leaves no thread running into the next.
    sampler.pause();
  });
  afterAll(async () => {
    sampler.close();
    await res.cleanup();
  });
  const numberIn = (set: ReturnType<typeof createFileSet>, slot = 0) => Number(set.bytes.subarray(set.start(slot), set.start(slot) + set.length(slot)).toString("latin1").trim());

  test("snapshots come in order on the period, each holding what the kernel showed at its time", async () => {
    const cg = mk("order");
    writeFileSync(`${cgDir(cg)}/${LIMIT}`, String(100 * MIB));
    const set = createFileSet(memRoot, [`${cg.slice(1)}/${LIMIT}`], 64, [], {});
    expect(set.sampled).toBe(true);
    expect(sampler.run(20, 4)).toBe(true);
    expect(await nextWake(sampler, 2000, 4)).not.toBe("timeout");
    const first = drain(sampler, () => (set.read(), numberIn(set)));
    expect(first.length).toBeGreaterThanOrEqual(4);
    for (const s of first) expect(s.v).toBe(100 * MIB);
    // A write between snapshots: the ones taken after it hold the new limit, the ones before the old.
    await Bun.sleep(25);
    const wroteAt = monoS();
    writeFileSync(`${cgDir(cg)}/${LIMIT}`, String(200 * MIB));
    expect(await nextWake(sampler, 2000, 4)).not.toBe("timeout");
    const second = drain(sampler, () => (set.read(), numberIn(set)));
    const all = [...first, ...second];
    for (let i = 1; i < all.length; i++) {
      expect(all[i]!.t).toBeGreaterThan(all[i - 1]!.t);
      // An absolute schedule: due times 20 ms apart (a whole multiple after a stall).
      const steps = (all[i]!.due - all[i - 1]!.due) / 0.02;
      expect(Math.abs(steps - Math.round(steps))).toBeLessThan(1e-3);
      expect(Math.round(steps)).toBeGreaterThanOrEqual(1);
    }
    for (const s of all) expect(s.t).toBeGreaterThanOrEqual(s.due - 1e-6);
    for (const s of second) {
      if (s.t >= wroteAt) expect(s.v).toBe(200 * MIB);
      else if (s.t < wroteAt - 0.005) expect(s.v).toBe(100 * MIB);
    }
    expect(second.some((s) => s.v === 200 * MIB)).toBe(true);
    // Outside a snapshot the same set reads the kernel.
    set.read();
    expect(numberIn(set)).toBe(200 * MIB);
    sampler.pause();
    set.close();
  });

  test("a set registered after the snapshot, or not due in it, is read live", async () => {
    const cg = mk("live");
    writeFileSync(`${cgDir(cg)}/${LIMIT}`, String(300 * MIB));
    const path = `${cg.slice(1)}/${LIMIT}`;
    const early = createFileSet(memRoot, [path], 64, [], {});
    // Read at most every 10 s: only the first snapshot holds it.
    const rare = createFileSet(memRoot, [path], 64, [], { minIntervalS: 10 });
    expect(sampler.run(20, 3)).toBe(true);
    expect(await nextWake(sampler, 2000, 3)).not.toBe("timeout");
    writeFileSync(`${cgDir(cg)}/${LIMIT}`, String(400 * MIB));
    const late = createFileSet(memRoot, [path], 64, [], {});
    const got = drain(sampler, () => {
      early.read();
      late.read();
      const held = rare.inSnapshot();
      rare.read();
      return { early: numberIn(early), late: numberIn(late), lateHeld: late.inSnapshot(), rareHeld: held, rare: numberIn(rare) };
    });
    expect(got.length).toBeGreaterThanOrEqual(3);
    for (const { v: g } of got) {
      // Taken before the write: the snapshot's value; registered after it was taken: the live value.
      expect(g.early).toBe(300 * MIB);
      expect(g.lateHeld).toBe(false);
      expect(g.late).toBe(400 * MIB);
    }
    expect(got[0]!.v.rareHeld).toBe(true);
    expect(got[0]!.v.rare).toBe(300 * MIB);
    for (const { v: g } of got.slice(1)) {
      expect(g.rareHeld).toBe(false);
      expect(g.rare).toBe(400 * MIB);
    }
    expect(early.inSnapshot()).toBeUndefined();
    sampler.pause();
    for (const s of [early, rare, late]) s.close();
  });

  test("a cgroup growing faster than the tripwire wakes JavaScript long before the batch is due", async () => {
    const cg = mk("grow");
    const dir = tempDir("sampler");
    res.dirs.push(dir);
    const exe = compileLeaker(dir);
    const set = createFileSet(memRoot, [`${cg.slice(1)}/${USAGE}`], 64, [], { ratePerS: 20 * MIB });
    let leaker: Bun.Subprocess | undefined;
    try {
      // A batch of 100 at 20 ms: two seconds between wakes without the tripwire.
      expect(sampler.run(20, 100)).toBe(true);
      await Bun.sleep(100);
      const calm = drain(sampler, () => (set.read(), numberIn(set)));
      expect(calm.length).toBeLessThan(100);
      const trippedBefore = sampler.status().tripped;
      const wake = nextWake(sampler, 3000);
      leaker = Bun.spawn(["sh", "-c", `echo $$ > ${cgDir(cg)}/cgroup.procs && exec ${exe} --rate-mb 50 --max-mb 200 --hold`], { stdout: "ignore", stderr: "ignore" });
      const after = await wake;
      expect(after).not.toBe("timeout");
      expect(after as number).toBeLessThan(0.6);
      expect(sampler.status().tripped).toBeGreaterThan(trippedBefore);
      const got = [...calm, ...drain(sampler, () => (set.read(), numberIn(set)))];
      // The last snapshot saw the growth: 20 MiB/s or more since the one before.
      const [a, b] = got.slice(-2);
      expect((b!.v - a!.v) / (b!.t - a!.t)).toBeGreaterThanOrEqual(20 * MIB);
    } finally {
      sampler.pause();
      leaker?.kill("SIGKILL");
      await leaker?.exited;
      set.close();
    }
  });

  test("a cgroup made while the thread batches wakes JavaScript at once (the kernel's count of cgroups changed)", async () => {
    const counter = createFileSet("/proc", ["cgroups"], 4096, [], { wakeOnChange: true });
    try {
      // A batch of 100 at 20 ms: two seconds between wakes without the tripwire.
      expect(sampler.run(20, 100)).toBe(true);
      await Bun.sleep(100);
      drain(sampler, () => 0);
      const trippedBefore = sampler.status().tripped;
      const wake = nextWake(sampler, 3000);
      mk("made");
      const after = await wake;
      expect(after).not.toBe("timeout");
      expect(after as number).toBeLessThan(0.6);
      expect(sampler.status().tripped).toBeGreaterThan(trippedBefore);
    } finally {
      sampler.pause();
      counter.close();
    }
  });

  test("a set that wakes on change does not wake while its bytes stay the same", async () => {
    // Two files that never change, then a set right after it in the snapshot whose bytes change at every
    // snapshot (/proc/uptime): the change check must look at the first set's own bytes, not past them.
    const still = createFileSet("/proc/sys/kernel", ["ostype", "osrelease"], 256, [], { wakeOnChange: true });
    const moving = createFileSet("/proc", ["uptime"], 256, [], {});
    try {
      expect(still.sampled && moving.sampled).toBe(true);
      const before = sampler.status();
      // A ring of 2 x 2 + 4 = 8 slots at 10 ms: each slot is taken again 80 ms later.
      expect(sampler.run(10, 2)).toBe(true);
      for (let i = 0; i < 50; i++) {
        await Bun.sleep(10);
        drain(sampler, () => 0);
      }
      const after = sampler.status();
      expect(after.taken - before.taken).toBeGreaterThanOrEqual(20);
      expect(after.tripped - before.tripped).toBe(0);
    } finally {
      sampler.pause();
      still.close();
      moving.close();
    }
  });

  test("sets read at most every interval are taken in the same snapshots, whenever each was registered", async () => {
    // The danger watch's scan: its usage set, its pids set and the count of cgroups, each made at another time.
    const first = createFileSet("/proc", ["loadavg"], 256, [], { minIntervalS: 0.05 });
    const other = createFileSet("/proc", ["uptime"], 256, [], { minIntervalS: 0.03 });
    let later: ReturnType<typeof createFileSet> | undefined;
    try {
      expect(sampler.run(10, 2)).toBe(true);
      await Bun.sleep(75);
      // Registered while the thread runs, between two of first's reads.
      later = createFileSet("/proc", ["uptime"], 256, [], { minIntervalS: 0.05 });
      const got: { first: boolean; later: boolean; other: boolean }[] = [];
      for (let i = 0; i < 40; i++) {
        await Bun.sleep(10);
        got.push(...drain(sampler, () => ({ first: first.inSnapshot()!, later: later!.inSnapshot()!, other: other.inSnapshot()! })).map((g) => g.v));
      }
      // From the first snapshot that holds it on, later is in exactly the snapshots that hold first.
      const from = got.findIndex((g) => g.later);
      expect(from).toBeGreaterThanOrEqual(0);
      const after = got.slice(from);
      expect(after.length).toBeGreaterThanOrEqual(20);
      for (const g of after) expect(g.later).toBe(g.first);
      // At most every 50 ms at a 10 ms period: about one snapshot in five holds them.
      const held = after.filter((g) => g.first).length;
      expect(held).toBeGreaterThanOrEqual(2);
      expect(held).toBeLessThanOrEqual(Math.ceil(after.length / 4) + 1);
      // Another interval keeps its own reads.
      expect(after.some((g) => g.other !== g.first)).toBe(true);
    } finally {
      sampler.pause();
      first.close();
      other.close();
      later?.close();
    }
  });

  test("a set read at most every period is in every snapshot: intervals are on the schedule's times, not the wakes'", async () => {
    // The danger watch's scan at the 100 ms tick: its sets at most every 100 ms, the thread's period 100 ms.
    // On the wakes' own times, one wake a little earlier after the last than that one after its own
    // made it skip the set (about four snapshots in ten held nothing to scan).
    const set = createFileSet("/proc", ["loadavg"], 256, [], { minIntervalS: 0.02 });
    try {
      expect(sampler.run(20, 100)).toBe(true);
      const got: boolean[] = [];
      for (let i = 0; i < 20 && got.length < 40; i++) {
        await Bun.sleep(50);
        got.push(...drain(sampler, () => set.inSnapshot()!).map((g) => g.v));
      }
      expect(got.length).toBeGreaterThanOrEqual(40);
      // A stall of the machine may skip a snapshot on the schedule, never make one hold less.
      expect(got.filter((h) => !h).length).toBe(0);
    } finally {
      sampler.pause();
      set.close();
    }
  });

  test("stretched, the scan's sets are read every stretch, and in every snapshot while MemAvailable falls as a growth would", async () => {
    const meminfo = createFileSet("/proc", ["meminfo"], 16384, [], {});
    const scan = createFileSet("/proc", ["loadavg"], 256, [], { minIntervalS: 0.02 });
    const faster = createFileSet("/proc", ["uptime"], 256, [], { minIntervalS: 0.01 });
    let big: Buffer | null = null;
    type Got = { t: number; due: number; v: { scan: boolean; faster: boolean } };
    const collect = async (n: number): Promise<Got[]> => {
      const got: Got[] = [];
      for (let i = 0; i < 40 && got.length < n; i++) {
        await Bun.sleep(50);
        got.push(...drain(sampler, () => ({ scan: scan.inSnapshot()!, faster: faster.inSnapshot()! })));
      }
      return got;
    };
    try {
      // A fall of 1 TB/s (20 GB in one 20 ms interval) never comes, so the stretch alone decides:
      // every 400 ms of the schedule, 20 snapshots (at 1 GiB/s another process's huge pages once did).
      expect(meminfo.stretchScan(0, 0.02, 0.4, 1e12)).toBe(true);
      expect(sampler.run(20, 100)).toBe(true);
      const got = await collect(60);
      expect(got.length).toBeGreaterThanOrEqual(60);
      // What is not the scan (another interval, none) is in every snapshot.
      for (const g of got) expect(g.v.faster).toBe(true);
      const held = got.filter((g) => g.v.scan);
      expect(held.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < held.length; i++) expect(held[i]!.due - held[i - 1]!.due).toBeCloseTo(0.4, 6);
      // The watch's own rate, 20 MiB/s (0.4 MiB in 20 ms), while this process touches 128 MiB (some
      // 90 MB/s here: page faults under this VM): the scan in most snapshots, not one in twenty.
      expect(meminfo.stretchScan(0, 0.02, 0.4, 20 * MIB)).toBe(true);
      drain(sampler, () => 0);
      const from = monoS();
      big = Buffer.alloc(128 * MIB);
      big.fill(1);
      const touched = monoS();
      const during = (await collect(1)).filter((g) => g.t > from + 0.02 && g.t < touched);
      expect(touched - from).toBeGreaterThan(0.2);
      expect(during.length).toBeGreaterThanOrEqual(10);
      expect(during.filter((g) => g.v.scan).length).toBeGreaterThan(during.length / 3);
    } finally {
      big = null;
      meminfo.stretchScan(0, 0, 0, 0);
      sampler.pause();
      meminfo.close();
      scan.close();
      faster.close();
    }
  });

  test("gated on directories, a change of the count wakes JavaScript only when one of them gained a subdirectory", async () => {
    const counter = createFileSet("/proc", ["cgroups"], 4096, [], { wakeOnChange: true });
    const watched = cgDir(mk("gated"));
    try {
      counter.gate([watched], [statSync(watched).nlink]);
      expect(sampler.run(20, 100)).toBe(true);
      await Bun.sleep(100);
      drain(sampler, () => 0);
      // Made beside the watched directory: the count moves (on this shared machine others' do too), no wake.
      const trippedBefore = sampler.status().tripped;
      const quiet = nextWake(sampler, 800);
      mk("beside");
      expect(await quiet).toBe("timeout");
      expect(sampler.status().tripped).toBe(trippedBefore);
      drain(sampler, () => 0);
      // Made under it: a wake at once.
      const wake = nextWake(sampler, 3000);
      mk("gated/child");
      const after = await wake;
      expect(after).not.toBe("timeout");
      expect(after as number).toBeLessThan(0.6);
      expect(sampler.status().tripped).toBeGreaterThan(trippedBefore);
    } finally {
      sampler.pause();
      counter.close();
    }
  });

  test("stretched, the scan's count of cgroups is still looked at in every snapshot: a cgroup made where the watch looks wakes at once, with the whole scan", async () => {
    const meminfo = createFileSet("/proc", ["meminfo"], 16384, [], {});
    const counter = createFileSet("/proc", ["cgroups"], 4096, [], { wakeOnChange: true, minIntervalS: 0.02 });
    const usage = createFileSet("/proc", ["loadavg"], 256, [], { minIntervalS: 0.02 });
    const watched = cgDir(mk("stretched"));
    try {
      counter.gate([watched], [statSync(watched).nlink]);
      // A stretch of 2 s that MemAvailable never cuts short (1 TB/s).
      expect(meminfo.stretchScan(0, 0.02, 2, 1e12)).toBe(true);
      expect(sampler.run(20, 100)).toBe(true);
      await Bun.sleep(300);
      drain(sampler, () => 0);
      const wake = nextWake(sampler, 3000);
      const madeAt = monoS();
      mk("stretched/child");
      const after = await wake;
      expect(after).not.toBe("timeout");
      expect(after as number).toBeLessThan(0.6);
      // The snapshot that woke holds the count and the rest of the scan, taken together long before the stretch ends.
      const got = drain(sampler, () => ({ count: counter.inSnapshot()!, usage: usage.inSnapshot()! }));
      const woke = got.find((g) => g.t >= madeAt && g.v.count);
      expect(woke).toBeDefined();
      expect(woke!.v.usage).toBe(true);
      // Not every snapshot holds the count: the look that found nothing kept nothing.
      expect(got.filter((g) => g.t < madeAt).every((g) => g.v.count === g.v.usage)).toBe(true);
    } finally {
      meminfo.stretchScan(0, 0, 0, 0);
      sampler.pause();
      meminfo.close();
      counter.close();
      usage.close();
    }
  });

  test("a full ring is never overwritten: the thread skips, counts, and the oldest stay in order", async () => {
    const set = createFileSet("/proc", ["loadavg"], 256, [], {});
    const skippedBefore = sampler.status().skipped;
    // Ring of 2 x 2 + 4 = 8 slots, nobody consuming for 300 ms at 10 ms.
    expect(sampler.run(10, 2)).toBe(true);
    // 300 ms is 30 periods; on a loaded machine the thread may resynchronise (fewer): wait up to 3 s for 10 skipped.
    let st = sampler.status();
    for (let waited = 0; waited < 3000 && st.skipped - skippedBefore < 10; waited += 100) {
      await Bun.sleep(100);
      st = sampler.status();
    }
    expect(st.pending).toBe(8);
    expect(st.skipped - skippedBefore).toBeGreaterThanOrEqual(10);
    const got = drain(sampler, () => (set.read(), set.length(0)));
    expect(got.length).toBe(8);
    // In order, on the 10 ms schedule (a whole number of periods apart after a resynchronisation).
    for (let i = 1; i < got.length; i++) {
      const periods = (got[i]!.due - got[i - 1]!.due) / 0.01;
      expect(Math.abs(periods - Math.round(periods))).toBeLessThan(1e-3);
      expect(Math.round(periods)).toBeGreaterThanOrEqual(1);
    }
    for (const g of got) expect(g.v).toBeGreaterThan(0);
    sampler.pause();
    set.close();
  });

  test("re-registration, a set closed while the thread runs, and stop leaves no thread", async () => {
    const before = samplerThreads();
    const set = ffi.readsetOpen();
    ffi.readsetAdd(set, "/proc/loadavg");
    ffi.samplerAddReadset(set, new Uint32Array([256]), 0, 0);
    expect(sampler.run(10, 2)).toBe(true);
    expect(samplerThreads()).toBe(before + 1);
    await nextWake(sampler, 2000);
    const holds = () => drain(sampler, () => ffi.samplerHolds(set)).map((s) => s.v);
    expect(holds().every(Boolean)).toBe(true);
    // A file added: the registration no longer matches the set, the thread leaves it out until registered again.
    ffi.readsetAdd(set, "/proc/uptime");
    await Bun.sleep(60);
    drain(sampler, () => 0);
    await nextWake(sampler, 2000);
    expect(holds().some(Boolean)).toBe(false);
    ffi.samplerAddReadset(set, new Uint32Array([256, 256]), 0, 0);
    await Bun.sleep(60);
    drain(sampler, () => 0);
    await nextWake(sampler, 2000);
    const buf = new Uint8Array(512);
    const lens = new Int32Array(2);
    const served = drain(sampler, () => (ffi.readsetRead(set, buf, new Uint32Array([0, 256]), new Uint32Array([256, 256]), lens), [ffi.samplerHolds(set), lens[0]! > 0, lens[1]! > 0]));
    expect(served.length).toBeGreaterThan(0);
    for (const s of served) expect(s.v).toEqual([true, true, true]);
    // Closed under the running thread: later snapshots do not hold it, nothing breaks.
    ffi.readsetClose(set);
    await Bun.sleep(50);
    expect(sampler.status().alive).toBe(true);
    sampler.pause();
    expect(sampler.status().alive).toBe(false);
    expect(samplerThreads()).toBe(before);
  });

  test("the tick loop processes every snapshot in order at its own time, and goes inline at once when the batch falls to 1", async () => {
    const cfg = defaultConfig();
    const source = createLiveSource(cfg.sense);
    expect(source.sampled).toBe(true);
    const seen: { t: number; due: number; inline: boolean }[] = [];
    let batch = 5;
    let wentInline = Number.NaN;
    const loop = new TickLoop({
      source,
      tickMs: () => 20,
      durationS: 1.2,
      sampler,
      batch: () => batch,
      onTick: (sample, t, due) => {
        expect(sample.t).toBe(t);
        seen.push({ t, due, inline: !sampler.running });
        // After half a second, vigilance: a batch of 1.
        if (t - seen[0]!.t > 0.5 && batch > 1) {
          batch = 1;
          wentInline = t;
        }
      },
    });
    const trippedBefore = sampler.status().tripped;
    const r = await loop.run();
    source.close();
    expect(r.ticks).toBe(seen.length);
    expect(loop.batched.wakes).toBeGreaterThan(0);
    expect(loop.batched.snapshots).toBeGreaterThanOrEqual(20);
    // A wake per batch of 5, and one per tripwire (other tests' registrations in this process, a cgroup made anywhere).
    const tripped = sampler.status().tripped - trippedBefore;
    expect(loop.batched.wakes).toBeLessThanOrEqual(Math.ceil(loop.batched.snapshots / 5) + tripped + 1);
    expect(loop.batched.wakes).toBeLessThan(loop.batched.snapshots);
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.t).toBeGreaterThan(seen[i - 1]!.t);
      expect(seen[i]!.t - seen[i - 1]!.t).toBeLessThan(0.2);
    }
    // The first inline tick comes one tick after the last snapshot processed, not a batch later.
    const k = seen.findIndex((s) => s.t === wentInline);
    expect(seen[k + 1]!.inline).toBe(true);
    expect(seen[k + 1]!.t - wentInline).toBeLessThan(0.1);
    expect(sampler.running).toBe(false);
  });

  test("a source over a fixture root is not sampled (the loop reads inline)", () => {
    const cfg = defaultConfig();
    cfg.sense.procRoot = `${import.meta.dir}/../../test/fixtures/proc/busy-t0`;
    cfg.sense.ebpf = "off";
    const source = createLiveSource(cfg.sense);
    expect(source.sampled).toBe(false);
    source.close();
  });
});
