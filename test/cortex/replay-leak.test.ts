// A replayed leak recording through engine, responder (detection-only) and
// decision log, then the cortex (issue 17): one incident whose hypothesis is
// the leak in the right cgroup, a proposal from the leak playbook, and a
// verification that passes once the leak has stopped (and not before).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hypothesize, observe, type Hypotheses } from "../../src/cortex/analyze.ts";
import { splitEpisodes } from "../../src/cortex/episodes.ts";
import { Cortex, readDecisionLog, type Plan, type Proposal } from "../../src/cortex/cortex.ts";
import { ARTIFACT_KINDS, ARTIFACT_SCHEMA, type LogEntry } from "../../src/cortex/types.ts";
import type { Verification } from "../../src/cortex/verify.ts";
import type { HosaConfig } from "../../src/config.ts";
import { tempDir } from "../harness.ts";
import { LEAK_CGROUP, replayLeakLog } from "./replay-leak.ts";

let tmp: { dir: string; cleanup: () => void };
let cfg: HosaConfig;
let entries: LogEntry[] = [];

beforeAll(() => {
  tmp = tempDir("hosa-cortex-replay-");
  const r = replayLeakLog(tmp.dir);
  cfg = r.cfg;
  entries = readDecisionLog(r.logFile).entries;
});
afterAll(() => tmp.cleanup());

function cortexAt(sub: string): Cortex {
  return new Cortex(cfg, { dir: `${tmp.dir}/${sub}` });
}

describe("the replayed leak", () => {
  test("becomes one incident: a memory leak in the leaking cgroup, with the log lines it rests on", () => {
    const cx = cortexAt("full");
    const list = cx.sync(entries, entries.at(-1)!.timestamp);
    expect(list).toHaveLength(1);
    const inc = list[0]!;
    expect(inc).toMatchObject({ mode: "memory_leak", cgroup: LEAK_CGROUP, peak_level: 4, status: "resolved" });
    const hyp = cx.store.read<Hypotheses>(inc.id, "root_cause_hypothesis")!;
    expect(hyp.body.top!.confidence).toBeGreaterThan(hyp.body.candidates[1]!.confidence);
    // Every evidence line is a real line of the log: same seq, same hash.
    const bySeq = new Map(entries.map((e) => [e.seq, e.hash]));
    const refs = hyp.evidence.filter((e) => e.seq >= 0);
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const r of refs) expect(bySeq.get(r.seq)).toBe(r.hash);
    expect(refs.map((r) => r.why).join("\n")).toMatch(/page_faults_per_s/);
    expect(refs.map((r) => r.why).join("\n")).toMatch(/memory\.high .* on \/workload\/leak/);
    // The engine's danger (issue 11) names the cgroup and the figures.
    expect(refs.map((r) => r.why).join("\n")).toMatch(/danger: \/workload\/leak: anon [\d.]+ MiB growing [\d.]+ MiB\/s .* s to exhaustion/);
  });

  test("the chain: eight versioned artifacts, each derived from the one before", () => {
    const cx = cortexAt("full");
    const id = cx.store.list()[0]!;
    const chain = cx.store.chain(id);
    expect(chain.map((a) => a.kind)).toEqual([...ARTIFACT_KINDS]);
    for (const a of chain) {
      expect(a.schema).toBe(ARTIFACT_SCHEMA);
      expect(a.id).toBe(`${id}/${a.kind}@${a.revision}`);
    }
    for (let i = 1; i < chain.length - 1; i++) expect(chain[i]!.derived_from).toContain(chain[i - 1]!.id);
    expect(chain.at(-1)!.derived_from.length).toBeGreaterThanOrEqual(5);
    const proposal = cx.store.read<Proposal>(id, "remediation_proposal")!.body;
    expect(proposal).toMatchObject({ playbook: "memory-leak@1", mode: "memory_leak", cgroup: LEAK_CGROUP });
    // Dry-run by default: the plan is written, nothing runs.
    expect(cx.store.read<Plan>(id, "execution_plan")!.body.status).toBe("dry-run");
    // Files on disk are the artifacts (atomic writes leave no temp file behind).
    const files = readFileSync(`${cx.store.dir(id)}/03-root_cause_hypothesis.json`, "utf8");
    expect(JSON.parse(files).kind).toBe("root_cause_hypothesis");
  });

  test("syncing the same log again rewrites nothing", () => {
    const cx = cortexAt("full");
    const id = cx.store.list()[0]!;
    const before = cx.store.chain(id).map((a) => a.id);
    cx.sync(entries, entries.at(-1)!.timestamp);
    expect(cx.store.chain(id).map((a) => a.id)).toEqual(before);
  });

  test("verification is pending while the episode runs and passes once the leak has stopped", () => {
    const cx = cortexAt("growing");
    // The log as it stood before hosa stepped down to Level 1 after the peak: the leak's effect still in force.
    const peak = entries.findIndex((e) => e.kind === "level" && e.level === 4);
    const cut = entries.findIndex((e, i) => i > peak && e.kind === "level" && e.level <= 1);
    expect(peak).toBeGreaterThanOrEqual(0);
    const early = entries.slice(0, cut);
    const [open] = cx.sync(early, early.at(-1)!.timestamp);
    expect(open).toMatchObject({ status: "open", verification: "pending", mode: "memory_leak" });
    const [closed] = cx.sync(entries, entries.at(-1)!.timestamp);
    expect(closed).toMatchObject({ id: open!.id, status: "resolved", verification: "passed" });
    const v = cx.store.read<Verification>(closed!.id, "verification_result")!;
    expect(v.revision).toBe(2);
    expect(v.evidence[0]!.why).toMatch(/back to level [01]/);
  });

  test("the agent's hook, onLogEntry() one entry at a time, builds the same incident as a sync of the log", () => {
    const a = cortexAt("hook-sync");
    const b = new Cortex(cfg, { dir: `${tmp.dir}/hook-live`, flushDelayMs: 0 });
    a.sync(entries, entries.at(-1)!.timestamp);
    // Flushed part-way (as the timer would) and at the end.
    const half = Math.floor(entries.length / 2);
    for (const e of entries.slice(0, half)) b.onLogEntry(e);
    b.flush(entries[half - 1]!.timestamp);
    for (const e of entries.slice(half)) b.onLogEntry(e);
    b.flush(entries.at(-1)!.timestamp);
    const id = a.store.list()[0]!;
    expect(b.store.list()).toEqual([id]);
    const body = (c: Cortex) => c.store.chain(id).map((x) => [x.kind, x.body]);
    expect(body(b)).toEqual(body(a));
  });

  test("a similar, verified past incident on this node adds to the hypothesis and is cited", () => {
    const ep = splitEpisodes(entries).find((e) => e.peakLevel >= 2)!;
    const obs = observe(ep);
    const alone = hypothesize(ep, obs, []);
    const withPast = hypothesize(ep, obs, [
      { id: "inc-20261030T100000-aaaaaaaa", mode: "memory_leak", cgroup: LEAK_CGROUP, dims: obs.dims, verified: true },
      { id: "inc-20261029T100000-bbbbbbbb", mode: "fork_storm", cgroup: "/x", dims: [{ dim: "forks_per_s", share: 1 }], verified: true },
    ]);
    expect(withPast.similar).toEqual([{ id: "inc-20261030T100000-aaaaaaaa", mode: "memory_leak", similarity: 1, verified: true }]);
    expect(withPast.top!.parts.history).toBe(1);
    expect(withPast.top!.score).toBeGreaterThan(alone.top!.score);
    expect(withPast.top!.evidence.map((e) => e.why)).toContain("like inc-20261030T100000-aaaaaaaa (similarity 1, remediation verified)");
  });

  test("a window that closes before the node is back fails the verification", () => {
    const c2 = { ...cfg, cortex: { ...cfg.cortex, playbookDir: `${tmp.dir}/pb` } };
    mkdirSync(`${tmp.dir}/pb`, { recursive: true });
    writeFileSync(`${tmp.dir}/pb/leak.toml`, readFileSync(`${import.meta.dir}/../../playbooks/memory-leak.toml`, "utf8").replace("within_s = 900", "within_s = 60"));
    const cx = new Cortex(c2, { dir: `${tmp.dir}/short` });
    expect(cx.playbooks.find((p) => p.name === "memory-leak")!.verify.withinS).toBe(60);
    const [inc] = cx.sync(entries, entries.at(-1)!.timestamp);
    expect(inc).toMatchObject({ verification: "failed", status: "unresolved" });
  });
});
