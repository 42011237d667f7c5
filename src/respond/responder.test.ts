// The responder's XDP policy per level and its Level 5, on a fixture cgroupfs.
// XDP here is a recording object standing in for src/respond/xdp.ts (that
// module's real attach is tested in xdp.test.ts, in network namespaces); the
// process stopped at Level 5 is real, started by this test.
import { afterAll, expect, test } from "bun:test";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createCgroupFs } from "../kernel/cgroupfs.ts";
import { Journal } from "./journal.ts";
import { readQuarantineState, releaseQuarantine } from "./quarantine.ts";
import { createResponder } from "./responder.ts";
import type { XdpControl } from "./actuator.ts";
import type { Level } from "../engine/types.ts";
import type { CgroupUsage } from "../sense/types.ts";
import { actConfig, decision, tempDir, TestResources } from "../../test/respond/helpers.ts";

const FIXTURE = join(import.meta.dir, "../../test/fixtures/cgroupfs/respond-v2");
const res = new TestResources();
const { procs, dirs } = res;
afterAll(() => res.cleanup());

function recordingXdp() {
  const calls: string[] = [];
  const open = (ifname: string, opts: { healthcheck: string[]; management: string[] }): XdpControl => {
    calls.push(`open ${ifname} hc=${opts.healthcheck.join(",")} mgmt=${opts.management.join(",")}`);
    return { mode: () => "native", set: (p) => void calls.push(`set ${p}`), close: () => void calls.push("close") };
  };
  const detach = (ifname: string) => (calls.push(`detach ${ifname}`), true);
  return { calls, open, detach };
}

const usage = (t: number): CgroupUsage[] => [{ path: "/workload/leak", memoryBytes: 500e6 + t * 50e6, cpuUsageUs: 0, ioBytes: 0, pids: 1 }];

test("XDP: shed-new at 3, block-all at 4, rate-new below 3 for relax_s, then off; each step journaled", () => {
  const root = tempDir("rx");
  dirs.push(root);
  cpSync(FIXTURE, root, { recursive: true });
  const cfg = actConfig(tempDir("rxs"), { xdpInterface: "veth-h4", healthcheckSources: ["10.0.0.9/32"], managementSources: ["10.0.0.1"], relaxS: 30 });
  dirs.push(cfg.paths.stateDir);
  const x = recordingXdp();
  const r = createResponder(cfg, { fs: createCgroupFs(root), openXdp: x.open, detachXdp: x.detach });
  let prev: Level = 0;
  const out = [];
  for (const [t, lvl] of [[0, 1], [1, 3], [2, 4], [10, 3], [20, 2], [35, 2], [49, 1], [51, 1]] as [number, Level][]) {
    out.push(...r.onDecision(decision(t, lvl, prev), usage(t)));
    prev = lvl;
  }
  expect(x.calls).toEqual(["open veth-h4 hc=10.0.0.9/32 mgmt=10.0.0.1", "set shed-new", "set block-all", "set shed-new", "set rate-new", "set off", "close"]);
  const xr = out.filter((a) => a.kind === "xdp");
  expect(xr.map((a) => a.outcome)).toEqual(["applied", "applied", "applied", "applied", "restored"]);
  expect(xr[0].action).toBe("xdp off→shed-new (native)");
  // Nothing of XDP left in the journal.
  const journal = Journal.open(`${cfg.paths.stateDir}/actions.journal`);
  expect(readFileSync(journal.path, "utf8")).toContain('"op":"xdp"');
  expect(journal.load().open.filter((c) => c.key.startsWith("xdp:"))).toEqual([]);
});

test("Level 5 from the responder: XDP isolate, the contributor's process stopped, state written; release continues it and holds at 3", async () => {
  const root = tempDir("r5");
  dirs.push(root);
  cpSync(FIXTURE, root, { recursive: true });
  const sleeper = Bun.spawn(["sleep", "60"]);
  procs.push(sleeper);
  writeFileSync(join(root, "workload/leak/cgroup.procs"), `${sleeper.pid}\n`);
  const cfg = actConfig(tempDir("r5s"), { xdpInterface: "veth-h4", quarantineMode: "edge-physical" });
  dirs.push(cfg.paths.stateDir);
  const x = recordingXdp();
  const r = createResponder(cfg, { fs: createCgroupFs(root), openXdp: x.open, detachXdp: x.detach });
  let prev: Level = 0;
  const out = [];
  for (const [t, lvl] of [[0, 1], [1, 3], [2, 4], [3, 5], [4, 5]] as [number, Level][]) {
    out.push(...r.onDecision(decision(t, lvl, prev), usage(t)));
    prev = lvl;
  }
  expect(x.calls.at(-1)).toBe("set isolate");
  expect(out).toContainEqual(expect.objectContaining({ kind: "signal", target: String(sleeper.pid), action: "SIGSTOP", outcome: "applied" }));
  const stat = () => readFileSync(`/proc/${sleeper.pid}/stat`, "utf8").split(") ")[1][0];
  expect(stat()).toBe("T");
  const st = readQuarantineState(cfg)!;
  expect(st).toMatchObject({ active: true, mode: "edge-physical", stoppedPids: [sleeper.pid], frozenCgroups: ["/workload/leak"], xdp: { ifname: "veth-h4", policy: "isolate" } });
  // The agent stopping does not lift Level 5 (agent-responder.ts keeps it); release does, from the journal.
  const rel = await releaseQuarantine(cfg, { who: "test", fs: createCgroupFs(root), detachXdp: x.detach });
  expect(rel.records.map((a) => a.outcome).every((o) => o.startsWith("restored"))).toBe(true);
  expect(x.calls.at(-1)).toBe("detach veth-h4");
  for (let i = 0; i < 50 && stat() === "T"; i++) await Bun.sleep(10);
  expect(stat()).toBe("S");
  expect(readFileSync(join(root, "workload/leak/cgroup.freeze"), "utf8").trim()).toBe("0");
  expect(readFileSync(join(root, "workload/leak/memory.high"), "utf8").trim()).toBe("max");
  expect(readQuarantineState(cfg)).toMatchObject({ active: false, level: 3, hold: { level: 3 } });
  // The engine holds at 3 after the release: a leak that still grows is contained afresh, nothing stale is replayed.
  const after = r.onDecision(decision(10, 3, 5), usage(10));
  expect(after[0]).toMatchObject({ kind: "quarantine", action: "quarantine released" });
  expect(after).toContainEqual(expect.objectContaining({ action: expect.stringMatching(/^memory\.high max→\d+$/), outcome: "applied" }));
  expect(after.some((a) => a.outcome.startsWith("skipped: changed by someone else"))).toBe(false);
  expect(x.calls.slice(-3)).toEqual(["close", "open veth-h4 hc= mgmt=", "set shed-new"]);
  r.restoreAll("test end");
  expect(readFileSync(join(root, "workload/leak/memory.high"), "utf8").trim()).toBe("max");
});

test("a jump from Level 0 straight to 5: contributors found on the next decision are contained and stopped too", async () => {
  const root = tempDir("r05");
  dirs.push(root);
  cpSync(FIXTURE, root, { recursive: true });
  const sleeper = Bun.spawn(["sleep", "60"]);
  procs.push(sleeper);
  writeFileSync(join(root, "workload/leak/cgroup.procs"), `${sleeper.pid}\n`);
  const cfg = actConfig(tempDir("r05s"), { quarantineMode: "airgap" });
  dirs.push(cfg.paths.stateDir);
  const r = createResponder(cfg, { fs: createCgroupFs(root) });
  // No earlier usage at the jump: nothing to rank yet, quarantine is entered anyway.
  const first = r.onDecision(decision(1, 5, 0), usage(1));
  expect(first.filter((a) => a.kind === "signal")).toEqual([]);
  expect(readQuarantineState(cfg)?.active).toBe(true);
  const second = r.onDecision(decision(2, 5, 5), usage(2));
  expect(second).toContainEqual(expect.objectContaining({ kind: "cgroup", action: expect.stringMatching(/^memory\.max max→\d+$/), outcome: "applied" }));
  expect(second).toContainEqual(expect.objectContaining({ kind: "signal", target: String(sleeper.pid), outcome: "applied" }));
  expect(readQuarantineState(cfg)).toMatchObject({ contributors: ["/workload/leak"], stoppedPids: [sleeper.pid] });
  // Every later decision at 5 does nothing new.
  expect(r.onDecision(decision(3, 5, 5), usage(3))).toEqual([]);
  await releaseQuarantine(cfg, { who: "test", fs: createCgroupFs(root) });
});
