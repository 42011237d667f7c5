import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { defaultConfig, type HosaConfig } from "../config.ts";
import { EXIT, HosaError } from "../errors.ts";
import { createLiveSource, type ProbeCounters, vmstatPrefix } from "./live-source.ts";
import { ALL_DIMENSIONS, DEFAULT_DIMENSIONS, selectDimensions } from "./dimensions.ts";

const FIX = `${import.meta.dir}/../../test/fixtures`;
const REPO = `${import.meta.dir}/../..`;
const tmp = mkdtempSync(`${tmpdir()}/hosa-live-`);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function senseCfg(over: Partial<HosaConfig["sense"]>): HosaConfig["sense"] {
  return { ...defaultConfig().sense, ...over };
}

const valueOf = (src: { dims: { name: string }[] }, x: Float64Array, name: string) => x[src.dims.findIndex((d) => d.name === name)];

describe("/proc/vmstat read up to its page-fault lines", () => {
  test("vmstatPrefix: past the later of pgfault and pgmajfault, with room to grow; the whole file when either is missing or near the end", () => {
    const head = "nr_free_pages 1\n".repeat(100);
    const text = `${head}pgfault 12\npgmajfault 3\n${"pgrefill 0\n".repeat(200)}`;
    const prefix = vmstatPrefix(text)!;
    expect(prefix).toBe(head.length + "pgfault 12\npgmajfault 3\n".length + 512);
    expect(text.slice(0, prefix)).toContain("pgmajfault 3\n");
    expect(vmstatPrefix(`${head}pgfault 12\n`)).toBeUndefined();
    expect(vmstatPrefix(`${head}pgfault 12\npgmajfault 3\n`)).toBeUndefined(); // the room would pass the end: read it whole
    expect(vmstatPrefix(undefined)).toBeUndefined();
    // This kernel's file: both lines fall inside the prefix, which is shorter than the file.
    const live = readFileSync("/proc/vmstat", "latin1");
    const p = vmstatPrefix(live);
    if (p !== undefined) {
      expect(live.slice(0, p)).toMatch(/\npgfault \d+\n/);
      expect(live.slice(0, p)).toMatch(/\npgmajfault \d+\n/);
    }
  });
});

describe("dimension set", () => {
  test("the default set is the 17 dimensions of issue 4 and the cgroup memory-limit ratio, with units, load signs, capacity and propagation", () => {
    expect(DEFAULT_DIMENSIONS.map((d) => d.name)).toEqual([
      "cpu_busy_ratio", "mem_used_ratio", "mem_available_bytes", "psi_cpu_some_ratio", "psi_mem_some_ratio", "psi_io_some_ratio",
      "sched_wakeups_per_s", "runq_latency_us", "page_faults_per_s", "alloc_syscalls_per_s", "blk_ios_per_s", "blk_latency_us",
      "net_rx_bytes_per_s", "net_tx_bytes_per_s", "tcp_retrans_per_s", "tcp_active_opens_per_s", "forks_per_s",
      "cgroup_mem_limit_ratio",
    ]);

    const by = (n: string) => DEFAULT_DIMENSIONS.find((d) => d.name === n)!;
    expect(by("mem_used_ratio").capacity).toBe(1);
    expect(by("cgroup_mem_limit_ratio").capacity).toBe(1);
    expect(by("mem_available_bytes").loadSign).toBe(-1);
    expect(by("forks_per_s").propagation).toBe(true);
    expect(by("tcp_active_opens_per_s").propagation).toBe(true);
    expect(DEFAULT_DIMENSIONS.filter((d) => d.propagation).length).toBe(2);
    for (const d of ALL_DIMENSIONS) expect(d.unit).not.toBe("");
  });

  test("selectDimensions() keeps the configured order and names an unknown dimension", () => {
    expect(selectDimensions(["forks_per_s", "cpu_busy_ratio"]).map((d) => d.name)).toEqual(["forks_per_s", "cpu_busy_ratio"]);
    let err: unknown;
    try {
      selectDimensions(["cpu_busy_ratio", "cpu_bussy"]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HosaError);
    expect((err as HosaError).exitCode).toBe(EXIT.CONFIG);
    expect((err as HosaError).message).toStartWith('cannot select dimensions: unknown dimension "cpu_bussy"');
  });
});

describe("live source on fixtures", () => {
  test("cgroup_mem_limit_ratio is the highest usage/limit over limited cgroups, ignoring limits above the node's memory", () => {
    const cg = `${tmp}/cg-v1`;
    cpSync(`${FIX}/cgroupfs/v1`, cg, { recursive: true });
    // postgres.service: 512 MiB of a 1 GiB limit; system.slice keeps its "no limit" (2^63 rounded).
    writeFileSync(`${cg}/memory/system.slice/postgres.service/memory.limit_in_bytes`, `${2 ** 30}\n`);
    const src = createLiveSource(senseCfg({ procRoot: `${FIX}/proc/busy-t0`, cgroupRoot: cg, ebpf: "off", dimensions: ["cgroup_mem_limit_ratio"] }));
    try {
      expect(src.sources[0]).toMatchObject({ dim: "cgroup_mem_limit_ratio", source: "cgroup" });
      expect(src.read(1).x[0]).toBe(0.5);
      // Between refreshes only usage is re-read: the leak shows at once.
      writeFileSync(`${cg}/memory/system.slice/postgres.service/memory.usage_in_bytes`, `${0.75 * 2 ** 30}\n`);
      expect(src.read(1.1).x[0]).toBe(0.75);
      // A limit larger than MemTotal (16 GB in the fixture) is no limit.
      writeFileSync(`${cg}/memory/system.slice/postgres.service/memory.limit_in_bytes`, `${64 * 2 ** 30}\n`);
      expect(src.read(3).x[0]).toBe(0);
    } finally {
      src.close();
    }
  });

  test("cgroup_mem_limit_ratio: a group made while it runs joins at the next walk, which the link counts call for when the kernel's count of cgroups moved", () => {
    const cg = `${tmp}/cg-v1-new`;
    const proc = `${tmp}/proc-count`;
    cpSync(`${FIX}/cgroupfs/v1`, cg, { recursive: true });
    cpSync(`${FIX}/proc/busy-t0`, proc, { recursive: true });
    const count = (n: number) => writeFileSync(`${proc}/cgroups`, `#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t4\t${n}\t1\n`);
    count(10);
    writeFileSync(`${cg}/memory/system.slice/postgres.service/memory.limit_in_bytes`, `${2 ** 30}\n`);
    const src = createLiveSource(senseCfg({ procRoot: proc, cgroupRoot: cg, ebpf: "off", dimensions: ["cgroup_mem_limit_ratio"] }));
    try {
      expect(src.read(1).x[0]).toBe(0.5);
      // Counted elsewhere on the node (another hierarchy, a group dying): no directory here changed.
      count(11);
      expect(src.read(4).x[0]).toBe(0.5);
      const young = `${cg}/memory/system.slice/young.service`;
      mkdirSync(young);
      writeFileSync(`${young}/memory.limit_in_bytes`, `${2 ** 30}\n`);
      writeFileSync(`${young}/memory.usage_in_bytes`, `${0.875 * 2 ** 30}\n`);
      count(12);
      expect(src.read(7).x[0]).toBe(0.875);
    } finally {
      src.close();
    }
  });

  test("cgroup_mem_limit_ratio divides by the limit from before hosa's ceiling, never by the ceiling", () => {
    const cg = `${tmp}/cg-v1-held`;
    cpSync(`${FIX}/cgroupfs/v1`, cg, { recursive: true });
    const svc = `${cg}/memory/system.slice/postgres.service`;
    writeFileSync(`${svc}/memory.limit_in_bytes`, `${2 ** 30}\n`);
    const src = createLiveSource(senseCfg({ procRoot: `${FIX}/proc/busy-t0`, cgroupRoot: cg, ebpf: "off", dimensions: ["cgroup_mem_limit_ratio"] }));
    try {
      expect(src.read(1).x[0]).toBe(0.5);
      // hosa holds it at 600 MiB (its ceiling, pressed): the cgroup is still at half of its own 1 GiB.
      writeFileSync(`${svc}/memory.limit_in_bytes`, `${600 * 2 ** 20}\n`);
      src.setHeldCeilings(new Map([["/system.slice/postgres.service", { "memory.limit_in_bytes": 2 ** 30 }]]));
      expect(src.read(7).x[0]).toBe(0.5);
      // Without held ceilings (detection-only, or released) the limit in force is the divisor.
      src.setHeldCeilings(new Map());
      expect(src.read(13).x[0]).toBeCloseTo(512 / 600, 6);
    } finally {
      src.close();
    }
  });

  test("two reads 2 s apart give exact rates, ratios and gauges", () => {
    const root = `${tmp}/busy`;
    cpSync(`${FIX}/proc/busy-t0`, root, { recursive: true });
    const src = createLiveSource(senseCfg({ procRoot: root, cgroupRoot: `${FIX}/cgroupfs/v2`, ebpf: "off", dimensions: ALL_DIMENSIONS.map((d) => d.name) }));
    const first = src.read(10);
    // No previous read: every rate is 0, gauges are already there.
    expect(valueOf(src, first.x, "forks_per_s")).toBe(0);
    expect(valueOf(src, first.x, "mem_used_ratio")).toBe(0.5);
    cpSync(`${FIX}/proc/busy-t1`, root, { recursive: true });
    const s = src.read(12);
    expect(s.t).toBe(12);
    // MemAvailable for the danger watch's facts: the value of this read, at its time only.
    expect(src.memAvailableAt(12)).toBe(4096000 * 1024);
    expect(src.memAvailableAt(12.01)).toBeNaN();
    const expected: Record<string, number> = {
      cpu_busy_ratio: 0.75, // Δtotal 400 ticks, Δ(idle+iowait) 100
      mem_used_ratio: 0.75,
      mem_available_bytes: 4096000 * 1024,
      psi_cpu_some_ratio: 0.25, // 500 000 us stalled over 2 s
      psi_mem_some_ratio: 0.1,
      psi_io_some_ratio: 0.5,
      psi_cpu_full_ratio: 0,
      psi_mem_full_ratio: 0.05,
      psi_io_full_ratio: 0.3,
      sched_wakeups_per_s: 10000, // /proc fallback: ctxt
      ctx_switches_per_s: 10000,
      runq_latency_us: 0, // no source without eBPF
      page_faults_per_s: 30000,
      major_faults_per_s: 5,
      alloc_syscalls_per_s: 0,
      blk_ios_per_s: 1100, // nvme0n1 2000 + sda 200 I/Os; partitions, loop and dm ignored
      blk_bytes_per_s: (25600 * 512) / 2,
      blk_latency_us: 2000, // 4400 ms over 2200 I/Os
      net_rx_bytes_per_s: 1000000, // lo excluded
      net_tx_bytes_per_s: 600000,
      net_rx_packets_per_s: 1000,
      net_tx_packets_per_s: 600,
      tcp_retrans_per_s: 5,
      tcp_active_opens_per_s: 50,
      tcp_passive_opens_per_s: 20,
      tcp_established: 42,
      forks_per_s: 250,
      procs_running: 4,
      procs_blocked: 1,
      cgroup_mem_limit_ratio: 0, // the v2 fixture sets no memory.max
    };
    for (const d of src.dims) expect({ dim: d.name, v: valueOf(src, s.x, d.name) }).toEqual({ dim: d.name, v: expected[d.name] });
    expect(src.sources.find((x) => x.dim === "runq_latency_us")?.source).toBe("unavailable");
    expect(src.sources.find((x) => x.dim === "psi_io_some_ratio")?.source).toBe("psi");
    src.close();
    src.close();
  });

  test("rates use the real elapsed time: the same counters over 4 s give half the rate", () => {
    const root = `${tmp}/late`;
    cpSync(`${FIX}/proc/busy-t0`, root, { recursive: true });
    const src = createLiveSource(senseCfg({ procRoot: root, cgroupRoot: `${FIX}/cgroupfs/v2`, ebpf: "off", dimensions: ["forks_per_s", "psi_io_some_ratio"] }));
    src.read(100);
    cpSync(`${FIX}/proc/busy-t1`, root, { recursive: true });
    const s = src.read(104);
    expect(Array.from(s.x)).toEqual([125, 0.25]);
  });

  test("without PSI (kernel 4.14) the PSI dimensions are unavailable with the reason, read 0, and the rest works", () => {
    const src = createLiveSource(senseCfg({ procRoot: `${FIX}/proc/kernel-4.14`, cgroupRoot: `${FIX}/cgroupfs/v1`, ebpf: "off" }));
    const psi = src.sources.filter((x) => x.dim.startsWith("psi_"));
    expect(psi.length).toBe(3);
    for (const p of psi) {
      expect(p.source).toBe("unavailable");
      expect(p.detail).toContain("pressure/");
      expect(p.detail).toContain("no such file");
    }
    src.read(1);
    const s = src.read(2);
    for (const v of s.x) expect(Number.isFinite(v)).toBe(true);
    expect(valueOf(src, s.x, "psi_mem_some_ratio")).toBe(0);
    expect(valueOf(src, s.x, "mem_used_ratio")).toBeCloseTo(1 - 2560000 / 8192000, 12);
  });

  test("cpu_busy_ratio at 10 ms ticks: the window grows until it holds 10 ticks per CPU, then restarts", () => {
    const root = `${tmp}/cpuwin`;
    cpSync(`${FIX}/proc/busy-t0`, root, { recursive: true });
    // 2 CPUs: the reference advances once 20 ticks have passed since it.
    const write = (busy: number, idle: number) =>
      writeFileSync(`${root}/stat`, `cpu  ${busy} 0 0 ${idle} 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\nctxt 1\nprocesses 1\n`);
    const src = createLiveSource(senseCfg({ procRoot: root, cgroupRoot: `${FIX}/cgroupfs/v2`, ebpf: "off", dimensions: ["cpu_busy_ratio"] }));
    write(0, 0);
    expect(src.read(0).x[0]).toBe(0);
    write(2, 0); // 2 busy ticks: ratio over the window so far
    expect(src.read(0.01).x[0]).toBe(1);
    write(2, 2); // unchanged busy, 2 idle: window 0..4 ticks
    expect(src.read(0.02).x[0]).toBe(0.5);
    write(2, 2); // no tick at all: the last ratio holds
    expect(src.read(0.03).x[0]).toBe(0.5);
    write(5, 17); // window now 22 ticks (>= 20): ratio 5/22 and the reference moves here
    expect(src.read(0.04).x[0]).toBe(1 - 17 / 22);
    write(5, 19); // a fresh window: 2 idle ticks since the move
    expect(src.read(0.05).x[0]).toBe(0);
  });

  test("a counter that goes backwards (reset) reads as 0, never negative", () => {
    const root = `${tmp}/reset`;
    cpSync(`${FIX}/proc/busy-t1`, root, { recursive: true });
    const src = createLiveSource(senseCfg({ procRoot: root, cgroupRoot: `${FIX}/cgroupfs/v2`, ebpf: "off" }));
    src.read(1);
    cpSync(`${FIX}/proc/busy-t0`, root, { recursive: true });
    const s = src.read(2);
    for (const d of src.dims) if (d.unit === "1/s" || d.unit === "bytes/s") expect(valueOf(src, s.x, d.name)).toBe(0);
  });

  test("cgroups() lists the attribution hierarchy's groups with usage", () => {
    const src = createLiveSource(senseCfg({ procRoot: `${FIX}/proc/busy-t0`, cgroupRoot: `${FIX}/cgroupfs/hybrid`, ebpf: "off" }));
    expect(src.layout.version).toBe("hybrid");
    src.read(0);
    const groups = src.cgroups();
    expect(groups.map((g) => g.path)).toEqual(["/docker", "/system.slice", "/docker/abc123", "/system.slice/postgres.service"]);
    expect(groups.find((g) => g.path === "/system.slice/postgres.service")?.memoryBytes).toBe(536870912);
  });

  test("eBPF counters map onto their dimensions (probe object from this test: the arithmetic, not the kernel)", () => {
    // The real probes are exercised in src/sense/bpf-probes.test.ts; this checks
    // differencing and units with counters whose values are known.
    let k = 0;
    const at = (base: number, perRead: number) => base + perRead * k;
    const totals = (): ProbeCounters => ({
      wakeups: at(1000, 4000), runqLatencyNs: at(0, 2_000_000), runqSwitches: at(0, 1000), forks: BigInt(at(10, 60)),
      pageFaults: at(0, 8000), brkCalls: at(0, 100), mmapCalls: at(0, 300), blkCompleted: at(0, 50), blkLatencyNs: at(0, 25_000_000),
      tcpActiveOpens: at(0, 6), tcpRetransmits: at(0, 2),
    });
    let closed = 0;
    const src = createLiveSource(senseCfg({ procRoot: `${FIX}/proc/busy-t0`, cgroupRoot: `${FIX}/cgroupfs/v2`, probes: "full" }), {
      openProbes: () => ({ totals, close: () => void closed++ }),
    });
    expect(src.ebpf).toBe(true);
    expect(src.fallbackNotice).toBe("");
    src.read(0);
    k = 1;
    const s = src.read(2);
    expect(valueOf(src, s.x, "sched_wakeups_per_s")).toBe(2000);
    expect(valueOf(src, s.x, "runq_latency_us")).toBe(2);
    expect(valueOf(src, s.x, "forks_per_s")).toBe(30);
    expect(valueOf(src, s.x, "page_faults_per_s")).toBe(4000);
    expect(valueOf(src, s.x, "alloc_syscalls_per_s")).toBe(200);
    expect(valueOf(src, s.x, "blk_latency_us")).toBe(500);
    expect(valueOf(src, s.x, "tcp_active_opens_per_s")).toBe(3);
    expect(valueOf(src, s.x, "tcp_retrans_per_s")).toBe(1);
    expect(src.sources.filter((x) => x.source === "ebpf").length).toBe(8);
    src.close();
    src.close();
    expect(closed).toBe(1);
  });

  test('lean probes: page faults come from /proc/vmstat, run-queue latency holds between refreshes of its totals', () => {
    let k = 0;
    let runqReads = 0;
    const totals = (): ProbeCounters => ({
      wakeups: 1000 + 4000 * k, runqLatencyNs: 2_000_000 * runqReads, runqSwitches: 1000 * runqReads, forks: 10 + 60 * k,
      pageFaults: 0, brkCalls: 0, mmapCalls: 0, blkCompleted: 0, blkLatencyNs: 0, tcpActiveOpens: 0, tcpRetransmits: 0,
    });
    const modes: string[] = [];
    const src = createLiveSource(senseCfg({ procRoot: `${FIX}/proc/busy-t0`, cgroupRoot: `${FIX}/cgroupfs/v2`, probes: "lean" }), {
      openProbes: (o) => {
        modes.push(o.mode);
        return { totals, mode: "lean", close: () => {} };
      },
    });
    expect(modes).toEqual(["lean"]);
    expect(src.fallbackNotice).toBe("");
    const pf = src.sources.find((x) => x.dim === "page_faults_per_s")!;
    expect(pf.source).toBe("proc");
    expect(pf.detail).toContain('[sense] probes = "lean"');
    expect(src.sources.filter((x) => x.source === "ebpf").length).toBe(7);
    src.read(0);
    k = 1;
    runqReads = 1;
    expect(valueOf(src, src.read(1).x, "runq_latency_us")).toBe(2);
    k = 2; // the run-queue totals were not refreshed this tick: the last mean holds
    const s = src.read(2);
    expect(valueOf(src, s.x, "runq_latency_us")).toBe(2);
    expect(valueOf(src, s.x, "sched_wakeups_per_s")).toBe(4000);
    src.close();
  });

  test("a kernel without the page-fault tracepoints (arm64) takes page_faults_per_s from /proc/vmstat, the rest from eBPF", () => {
    // What the real loader reports on Debian's arm64 kernel (test/guest/doctor-arm64.test.ts
    // shows it there): every program attached but x86's page_fault_user/kernel.
    const root = `${tmp}/arm64-faults`;
    cpSync(`${FIX}/proc/busy-t0`, root, { recursive: true });
    let k = 0;
    const totals = (): ProbeCounters => ({
      wakeups: 4000 * k, runqLatencyNs: 0, runqSwitches: 0, forks: 0n, pageFaults: 0, brkCalls: 0, mmapCalls: 0,
      blkCompleted: 0, blkLatencyNs: 0, tcpActiveOpens: 0, tcpRetransmits: 0,
    });
    const programs = ["sched_wakeup", "sched_wakeup_new", "sched_switch", "sched_process_fork", "sys_enter", "block_rq_issue", "block_rq_complete", "inet_sock_set_state", "tcp_retransmit_skb", "mark_victim"];
    const src = createLiveSource(senseCfg({ procRoot: root, cgroupRoot: `${FIX}/cgroupfs/v2` }), { openProbes: () => ({ totals, programs, close() {} }) });
    expect(src.ebpf).toBe(true);
    expect(src.fallbackNotice).toBe("");
    const faults = src.sources.find((x) => x.dim === "page_faults_per_s");
    expect(faults?.source).toBe("proc");
    expect(faults?.detail).toContain("no page_fault_user or page_fault_kernel tracepoint");
    expect(src.sources.find((x) => x.dim === "sched_wakeups_per_s")?.source).toBe("ebpf");
    src.read(10);
    cpSync(`${FIX}/proc/busy-t1`, root, { recursive: true });
    k = 1;
    const s = src.read(12);
    expect(valueOf(src, s.x, "page_faults_per_s")).toBe(30000); // the fixture's pgfault over 2 s
    expect(valueOf(src, s.x, "sched_wakeups_per_s")).toBe(2000);
    src.close();
  });

  test("probes that fail to open give one fallback line naming the reason and the dimensions", () => {
    const src = createLiveSource(senseCfg({ procRoot: `${FIX}/proc/busy-t0`, cgroupRoot: `${FIX}/cgroupfs/v2` }), {
      openProbes: () => {
        throw new Error("bpf(): Operation not permitted");
      },
    });
    expect(src.ebpf).toBe(false);
    expect(src.fallbackNotice).toStartWith("hosa: eBPF unavailable (bpf(): Operation not permitted): ");
    expect(src.fallbackNotice).toContain("forks_per_s");
    expect(src.fallbackNotice).toContain("runq_latency_us, alloc_syscalls_per_s read as 0");
    expect(src.fallbackNotice).not.toContain("\n");
  });

  test("no fallback line when no selected dimension needs eBPF", () => {
    const src = createLiveSource(senseCfg({ procRoot: `${FIX}/proc/busy-t0`, cgroupRoot: `${FIX}/cgroupfs/v2`, dimensions: ["cpu_busy_ratio", "mem_used_ratio"] }));
    expect(src.fallbackNotice).toBe("");
  });
});

describe("live source on this host", () => {
  test("live reads are sane: 0 <= ratios <= 1, rates >= 0, memory figures positive", async () => {
    const src = createLiveSource(senseCfg({ ebpf: "off" }));
    src.read(performance.now() / 1000);
    await Bun.sleep(120);
    const s = src.read(performance.now() / 1000);
    for (let i = 0; i < src.dims.length; i++) {
      const d = src.dims[i];
      const v = s.x[i];
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeGreaterThanOrEqual(0);
      if (d.unit === "ratio") expect(v).toBeLessThanOrEqual(1);
    }
    expect(valueOf(src, s.x, "mem_available_bytes")).toBeGreaterThan(0);
    expect(valueOf(src, s.x, "mem_used_ratio")).toBeGreaterThan(0);
    expect(valueOf(src, s.x, "sched_wakeups_per_s")).toBeGreaterThan(0);
    src.close();
  });

  /** Start and reap `n` short processes, 20 at a time. */
  async function forkBurst(n: number): Promise<void> {
    for (let i = 0; i < n; i += 20) {
      const batch = Array.from({ length: 20 }, () => Bun.spawn(["true"], { stdout: "ignore", stderr: "ignore" }));
      await Promise.all(batch.map((p) => p.exited));
    }
  }

  test("a burst of 100 forked processes raises forks_per_s via /proc/stat", async () => {
    const src = createLiveSource(senseCfg({ ebpf: "off", dimensions: ["forks_per_s"] }));
    const t0 = performance.now() / 1000;
    src.read(t0);
    const N = 100;
    await forkBurst(N);
    const t1 = performance.now() / 1000;
    const s = src.read(t1);
    // Forks counted over the window = rate × real elapsed time; other engineers' processes only add.
    expect(s.x[0] * (t1 - t0)).toBeGreaterThanOrEqual(N - 1e-6);
    src.close();
  });

  test("cgroups() on this host lists memory groups with paths relative to the hierarchy root", () => {
    const src = createLiveSource(senseCfg({ ebpf: "off" }));
    src.read(1);
    const groups = src.cgroups();
    expect(groups.length).toBeGreaterThan(0);
    for (const g of groups) {
      expect(g.path).toStartWith("/");
      expect(g.memoryBytes).toBeGreaterThanOrEqual(0);
    }
    expect(src.cgroups()).toBe(groups); // same tick: not re-read
  });

  const rootWithBtf = process.getuid?.() === 0 && existsSync("/sys/kernel/btf/vmlinux");
  test.skipIf(!rootWithBtf)("as root with BTF the probes load: forks counted by eBPF, per-cgroup counters joined by id", async () => {
    const src = createLiveSource(senseCfg({ ebpf: "auto" }));
    try {
      expect(src.fallbackNotice).toBe("");
      expect(src.ebpf).toBe(true);
      // The default [sense] probes = "lean" leaves page faults to /proc/vmstat.
      expect(src.sources.filter((x) => x.source === "ebpf").map((x) => x.dim)).toEqual([
        "sched_wakeups_per_s", "runq_latency_us", "alloc_syscalls_per_s", "blk_latency_us", "tcp_retrans_per_s", "tcp_active_opens_per_s", "forks_per_s",
      ]);
      const t0 = performance.now() / 1000;
      src.read(t0);
      const N = 100;
      await forkBurst(N);
      const t1 = performance.now() / 1000;
      const s = src.read(t1);
      expect(valueOf(src, s.x, "forks_per_s") * (t1 - t0)).toBeGreaterThanOrEqual(N - 1e-6);
      expect(valueOf(src, s.x, "sched_wakeups_per_s")).toBeGreaterThan(0);
      expect(valueOf(src, s.x, "page_faults_per_s")).toBeGreaterThan(0);
      // This process's own memory cgroup has counted the forks it made.
      const self = /^\d+:memory:(.*)$/m.exec(readFileSync("/proc/self/cgroup", "latin1"))?.[1];
      if (src.layout.version !== "v2" && self && self !== "/") {
        const mine = src.cgroups().find((g) => g.path === self);
        expect(mine?.id).toBeGreaterThan(0);
        expect(mine?.probeCounters?.forks).toBeGreaterThanOrEqual(N);
      }
    } finally {
      src.close();
    }
  });

  test("as a process without capabilities: announces the fallback once and still samples", async () => {
    const dir = mkdtempSync(`${tmpdir()}/hosa-nocap-`);
    chmodSync(dir, 0o755);
    const script = `${dir}/nocap.ts`;
    writeFileSync(
      script,
      `import { createLiveSource } from ${JSON.stringify(`${REPO}/src/sense/live-source.ts`)};
import { defaultConfig } from ${JSON.stringify(`${REPO}/src/config.ts`)};
const src = createLiveSource(defaultConfig().sense);
if (src.fallbackNotice) process.stderr.write(src.fallbackNotice + "\\n");
let t = 0;
const out = [];
for (let i = 0; i < 3; i++) { const s = src.read(t); t += 0.1; out.push(Array.from(s.x)); }
src.close();
process.stdout.write(JSON.stringify({ uid: process.getuid(), ebpf: src.ebpf, dims: src.dims.length, samples: out }) + "\\n");
`,
    );
    chmodSync(script, 0o644);
    const bun = process.execPath;
    const p = Bun.spawn(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", bun, script], {
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" },
    });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    rmSync(dir, { recursive: true, force: true });
    expect({ code, stderrLines: stderr.trim().split("\n").length }).toEqual({ code: 0, stderrLines: 1 });
    expect(stderr).toStartWith("hosa: eBPF unavailable (load eBPF probes: needs CAP_BPF");
    expect(stderr).toContain("forks_per_s come from /proc");
    const r = JSON.parse(stdout);
    expect(r.uid).toBe(65534);
    expect(r.ebpf).toBe(false);
    expect(r.samples.length).toBe(3);
    for (const x of r.samples) {
      expect(x.length).toBe(r.dims);
      for (const v of x) expect(Number.isFinite(v)).toBe(true);
    }
  });
});
