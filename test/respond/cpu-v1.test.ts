// A CPU hog on this host's v1/hybrid hierarchy: Level 3 with a CPU-dominant
// decision sets cpu.cfs_quota_us on the hog's cpu cgroup (found from its
// process, as hosa does on hybrid hosts) and its measured CPU rate drops to
// the quota; relaxation restores -1. The hog is bounded (timeout 8 s).
import { afterAll, expect, test } from "bun:test";
import { createResponder } from "../../src/respond/responder.ts";
import type { Level } from "../../src/engine/types.ts";
import type { CgroupUsage } from "../../src/sense/types.ts";
import { actConfig, decision, hybrid, isRoot, read, tempDir, TestResources } from "./helpers.ts";

const skip = !isRoot ? "needs root to create cgroups" : !hybrid ? "no v1 hierarchies here (pure v2: see the guest test)" : "";
const res = new TestResources();
const { cg, procs, dirs } = res;
afterAll(() => res.cleanup());

const CPU_DOMINANT = [
  { dim: "cpu_busy_ratio", share: 0.8 },
  { dim: "sched_wakeups_per_s", share: 0.2 },
];

test.skipIf(Boolean(skip))("v1: a CPU hog gets cpu.cfs_quota_us at Level 3, its CPU rate falls to the quota, -1 comes back", async () => {
  const tag = `h4cpu-${process.pid}`;
  const mem = cg.create("memory", tag);
  const cpu = cg.create("cpu", tag);
  const acct = cg.create("cpuacct", tag);
  const stateDir = tempDir("cpu");
  dirs.push(stateDir);
  const join = ["memory", "cpu", "cpuacct"].map((c, i) => `echo $$ > ${cg.dir(c, [mem, cpu, acct][i])}/cgroup.procs`).join(" && ");
  const hog = Bun.spawn(["sh", "-c", `${join} && exec timeout 8 sh -c 'while :; do :; done'`]);
  procs.push(hog);
  const quotaFile = `${cg.dir("cpu", cpu)}/cpu.cfs_quota_us`;
  const before = read(quotaFile);
  const usage = (): CgroupUsage[] => [
    { path: mem, memoryBytes: Number(read(`${cg.dir("memory", mem)}/memory.usage_in_bytes`)), cpuUsageUs: Number(read(`${cg.dir("cpuacct", acct)}/cpuacct.usage`)) / 1000, ioBytes: 0, pids: 1 },
  ];
  const cfg = actConfig(stateDir, { relaxS: 1, cgroupScope: mem.slice(0, mem.lastIndexOf("/")) || "/" });
  const r = createResponder(cfg);
  const t0 = Bun.nanoseconds() / 1e9;
  const now = () => Bun.nanoseconds() / 1e9 - t0;
  let prev: Level = 0;
  const step = (lvl: Level) => {
    const out = r.onDecision(decision(now(), lvl, prev, CPU_DOMINANT), usage());
    prev = lvl;
    return out;
  };
  step(1);
  await Bun.sleep(200);
  const u0 = usage()[0].cpuUsageUs;
  await Bun.sleep(1000);
  const rateBefore = (usage()[0].cpuUsageUs - u0) / 1e6;
  const out = step(3);
  const applied = out.find((a) => a.action.startsWith("cpu.cfs_quota_us") && a.outcome === "applied");
  expect(applied).toBeDefined();
  const quota = Number(read(quotaFile));
  expect(quota).toBeGreaterThan(0);
  await Bun.sleep(200);
  const u1 = usage()[0].cpuUsageUs;
  await Bun.sleep(1000);
  const rateAfter = (usage()[0].cpuUsageUs - u1) / 1e6;
  console.log(`cpu v1: hog used ${rateBefore.toFixed(2)} CPU before, ${rateAfter.toFixed(2)} CPU after cfs_quota_us=${quota}`);
  expect(rateBefore).toBeGreaterThan(0.2);
  expect(rateAfter).toBeLessThanOrEqual(quota / 100000 + 0.05);
  expect(rateAfter).toBeLessThan(rateBefore * 0.8);
  for (const lvl of [2, 1, 0] as Level[]) step(lvl);
  for (let i = 0; i < 30 && read(quotaFile) !== before; i++) {
    await Bun.sleep(100);
    step(0);
  }
  expect(read(quotaFile)).toBe(before);
  expect(read(`${cg.dir("cpu", cpu)}/cpu.shares`)).toBe("1024");
  hog.kill("SIGKILL");
  await hog.exited;
}, 20000);
