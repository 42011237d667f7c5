// The `contributors` of a level entry (docs/cortex.md § Attribution): which
// cgroup consumed most of each resource since the episode opened. Pure: the
// usage walks are given; the live walk is src/sense/live-source.ts cgroups().
import { expect, test } from "bun:test";
import { contributors, EpisodeAttribution, levelEntry } from "../../src/report/decision-log.ts";
import type { CgroupUsage } from "../../src/sense/types.ts";
import { makeDecision } from "./helpers.ts";

const u = (path: string, cpuS: number, memMiB: number, pids = 1, probe?: Record<string, number>): CgroupUsage => ({
  path,
  cpuUsageUs: cpuS * 1e6,
  memoryBytes: memMiB * 2 ** 20,
  ioBytes: 0,
  pids,
  ...(probe ? { probeCounters: probe } : {}),
});

test("the busiest leaf per resource, not its parent nor the root; nothing for a resource that did not grow", () => {
  const open = [u("/", 100, 900), u("/bench", 10, 300), u("/bench/cpu-hog", 1, 10), u("/bench/leak", 1, 100), u("/other", 50, 500)];
  // Over 4 s: the hog used 2 cores (8 s of CPU), the leak 400 MiB, /other a little of both.
  const now = [u("/", 110, 1310), u("/bench", 19, 700), u("/bench/cpu-hog", 9, 10), u("/bench/leak", 1.5, 500), u("/other", 51, 510)];
  const got = contributors(open, now, 4);
  expect(got).toEqual([
    { resource: "cpu", cgroup: "/bench/cpu-hog", per_s: 2, over_s: 4 },
    { resource: "memory", cgroup: "/bench/leak", per_s: 100 * 2 ** 20, over_s: 4 },
  ]);
});

test("a parent stays when no child explains half of its growth (the work is spread)", () => {
  const open = [u("/svc", 0, 0), u("/svc/a", 0, 0), u("/svc/b", 0, 0), u("/svc/c", 0, 0)];
  const now = [u("/svc", 3, 0), u("/svc/a", 1, 0), u("/svc/b", 1, 0), u("/svc/c", 1, 0)];
  expect(contributors(open, now, 1)[0]).toEqual({ resource: "cpu", cgroup: "/svc", per_s: 3, over_s: 1 });
  // The root holds what runs outside any cgroup: never named, even when it grew most.
  expect(contributors([u("/", 0, 0), ...open], [u("/", 9, 0), ...now], 1)[0]?.cgroup).toBe("/svc");
});

test("eBPF per-cgroup counters name the forking and connecting cgroup; a cgroup born during the episode counts from 0 only when walked twice", () => {
  const open = [u("/a", 0, 0, 1, { forks: 10, blkIssued: 0, tcpActiveOpens: 5 }), u("/b", 0, 0, 1, { forks: 0, blkIssued: 0, tcpActiveOpens: 0 })];
  const now = [u("/a", 0, 0, 1, { forks: 12, blkIssued: 0, tcpActiveOpens: 4005 }), u("/b", 0, 0, 900, { forks: 2000, blkIssued: 0, tcpActiveOpens: 0 }), u("/new", 5, 5)];
  expect(contributors(open, now, 2)).toEqual([
    { resource: "pids", cgroup: "/b", per_s: 449.5, over_s: 2 },
    { resource: "forks", cgroup: "/b", per_s: 1000, over_s: 2 },
    { resource: "tcp_opens", cgroup: "/a", per_s: 2000, over_s: 2 },
  ]);
  expect(contributors(open, now, 0)).toEqual([]);
});

test("block I/O is charged by requests issued (lean probes count completions node-wide only)", () => {
  const open = [u("/a", 0, 0, 1, { blkIssued: 100, blkCompleted: 0 }), u("/b", 0, 0, 1, { blkIssued: 0, blkCompleted: 0 })];
  const now = [u("/a", 0, 0, 1, { blkIssued: 110, blkCompleted: 0 }), u("/b", 0, 0, 1, { blkIssued: 400, blkCompleted: 0 })];
  expect(contributors(open, now, 2)).toEqual([{ resource: "blk_ios", cgroup: "/b", per_s: 200, over_s: 2 }]);
});

test("EpisodeAttribution walks at the departure from Level 0 and at later level changes but escalations into containment, and forgets at the return", () => {
  let walks = 0;
  let cpu = 0;
  const att = new EpisodeAttribution(() => {
    walks++;
    return [u("/hog", cpu, 0)];
  });
  const entry = (level: 0 | 1 | 2 | 3, prev: 0 | 1 | 2 | 3, t: number) => {
    const d = makeDecision(level, prev, { t });
    const e = levelEntry(d, "2026-12-01T00:00:00Z", "n");
    att.annotate(d, e);
    return e;
  };
  expect(entry(1, 0, 10).contributors).toBeUndefined();
  cpu = 4;
  expect(entry(2, 1, 12).contributors).toEqual([{ resource: "cpu", cgroup: "/hog", per_s: 2, over_s: 2 }]);
  // Into containment the tick stays short: no walk.
  expect(entry(3, 2, 13).contributors).toBeUndefined();
  expect(walks).toBe(2);
  cpu = 8;
  expect(entry(2, 3, 14).contributors).toEqual([{ resource: "cpu", cgroup: "/hog", per_s: 2, over_s: 4 }]);
  expect(entry(0, 2, 14).contributors).toEqual([{ resource: "cpu", cgroup: "/hog", per_s: 2, over_s: 4 }]);
  expect(walks).toBe(4);
  // After the return to 0 nothing is walked until the next departure.
  expect(entry(0, 0, 15).contributors).toBeUndefined();
  expect(walks).toBe(4);
});
