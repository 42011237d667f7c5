import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderMetrics, startReportServer } from "./server.ts";
import type { AgentSnapshot } from "./snapshot.ts";
import { snapshotFromJson } from "./snapshot.ts";
import { makeAction, makeDecision } from "../../test/report/helpers.ts";
import { PROMETHEUS, PROMTOOL, pollUntil, startPrometheus, type Started } from "../../test/report/procs.ts";

const root = mkdtempSync(join(tmpdir(), "hosa-server-"));
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.reverse()) c();
  rmSync(root, { recursive: true, force: true });
});

function makeSnapshot(over: Partial<AgentSnapshot> = {}): AgentSnapshot {
  return {
    startedAt: "2026-11-24T02:00:00.000Z",
    node: "node-a",
    hosaVersion: "0.1.0",
    mode: "act",
    warmup: false,
    decision: makeDecision(2, 1),
    actionsInForce: [makeAction(1)],
    recentActions: [makeAction(1)],
    tickMs: 10,
    tickDurationMs: { last: 0.4, max: 2.5 },
    tickJitterMs: { p50: 0.1, p99: 1.2, max: 3, sumMs: 150, count: 1234 },
    probes: { ebpf: true, detail: "7 tracepoints" },
    dims: ["mem_used_ratio", "psi_mem_some_ratio", "io_latency_us"],
    outboxDepth: 3,
    ticks: 1234,
    lastTickAtMs: Date.now(),
    ...over,
  };
}

/** Parse Prometheus text format into name{labels} → value, checking every sample has HELP and TYPE. */
function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split("\n")) {
    if (!line) continue;
    const t = /^# TYPE (\S+) (gauge|counter|summary)$/.exec(line);
    if (t) typed.add(t[1]!);
    if (line.startsWith("#")) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad exposition line: ${line}`);
    if (!typed.has(m[1]!) && !typed.has(m[1]!.replace(/_(sum|count)$/, ""))) throw new Error(`no TYPE before ${m[1]}`);
    out.set(`${m[1]}${m[2] ?? ""}`, Number(m[3] === "+Inf" ? Infinity : m[3]));
  }
  return out;
}

describe("report server", () => {
  test("renderMetrics() gives the sampler's counts when there is a sampler, and nothing of it when there is none", () => {
    const m = parseExposition(renderMetrics(makeSnapshot({ sampler: { wakes: 12, snapshots: 118, dropped: 2, skipped: 1, tripped: 3 } })));
    expect(m.get("hosa_sampler_wakes_total")).toBe(12);
    expect(m.get("hosa_sampler_snapshots_total")).toBe(118);
    expect(m.get("hosa_sampler_dropped_total")).toBe(2);
    expect(m.get("hosa_sampler_skipped_total")).toBe(1);
    expect(m.get("hosa_sampler_tripwires_total")).toBe(3);
    const none = parseExposition(renderMetrics(makeSnapshot()));
    expect([...none.keys()].filter((k) => k.startsWith("hosa_sampler_"))).toEqual([]);
  });

  test("renderMetrics() exposes the snapshot with HELP/TYPE and units", () => {
    const s = makeSnapshot();
    const m = parseExposition(renderMetrics(s));
    expect(m.get("hosa_level")).toBe(2);
    expect(m.get("hosa_dm")).toBe(s.decision!.dm);
    expect(m.get("hosa_dm_derivative")).toBe(2.1);
    expect(m.get("hosa_dm_acceleration")).toBe(0.5);
    expect(m.get("hosa_phi")).toBe(1.8);
    expect(m.get('hosa_threshold{level="3"}')).toBe(5.2);
    expect(m.get('hosa_contribution{dim="mem_used_ratio"}')).toBe(0.68);
    expect(m.get("hosa_actions_in_force")).toBe(1);
    expect(m.get("hosa_outbox_depth")).toBe(3);
    expect(m.get("hosa_tick_duration_seconds")).toBeCloseTo(0.0004, 9);
    expect(m.get('hosa_tick_jitter_seconds{quantile="0.99"}')).toBeCloseTo(0.0012, 9);
    expect(m.get("hosa_tick_jitter_seconds_sum")).toBeCloseTo(0.15, 9);
    expect(m.get("hosa_tick_jitter_seconds_count")).toBe(1234);
    expect(m.get("hosa_tick_jitter_max_seconds")).toBeCloseTo(0.003, 9);
    expect(m.get("hosa_probe_ebpf")).toBe(1);
    expect(m.get("hosa_learning")).toBe(0);
    expect(m.get("hosa_warmup")).toBe(0);
    // Before the first decision the distance is unknown, not zero.
    const w = parseExposition(renderMetrics(makeSnapshot({ decision: null, warmup: true })));
    expect(w.get("hosa_dm")).toBeNaN();
    expect(w.get("hosa_warmup")).toBe(1);
    // Warm-up is learning: every sample goes into the baseline.
    expect(w.get("hosa_learning")).toBe(1);
  });

  test("promtool check metrics finds nothing to say about /metrics, in warm-up and in an episode", () => {
    for (const s of [makeSnapshot(), makeSnapshot({ decision: null, warmup: true }), makeSnapshot({ decision: makeDecision(0, 2) })]) {
      const r = Bun.spawnSync([PROMTOOL, "check", "metrics"], { stdin: new TextEncoder().encode(renderMetrics(s)), stderr: "pipe", stdout: "pipe" });
      expect(`${r.stdout.toString()}${r.stderr.toString()}`).toBe("");
      expect(r.exitCode).toBe(0);
    }
  });

  test("/healthz is 200 ok while ticking and 503 when the loop stalls; /explain round-trips", async () => {
    let snap = makeSnapshot();
    const srv = startReportServer("127.0.0.1:0", () => snap);
    cleanups.push(srv.stop);
    const base = `http://127.0.0.1:${srv.port}`;
    let r = await fetch(`${base}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("ok");
    // Time is data: a last tick 11 intervals ago is a stall.
    snap = makeSnapshot({ lastTickAtMs: Date.now() - 11 * 10 });
    r = await fetch(`${base}/healthz`);
    expect(r.status).toBe(503);
    expect(await r.text()).toContain("stalled");
    const e = snapshotFromJson(await (await fetch(`${base}/explain`)).text());
    expect(e.decision?.level).toBe(2);
    expect(e.decision?.ttfS).toBe(38);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    srv.stop();
  });

  test("a second server on a taken port fails with one clear line", () => {
    const a = startReportServer("127.0.0.1:0", () => makeSnapshot());
    cleanups.push(a.stop);
    expect(() => startReportServer(`127.0.0.1:${a.port}`, () => makeSnapshot())).toThrow(/^cannot listen on 127\.0\.0\.1:\d+: /);
    expect(() => startReportServer("localhost", () => makeSnapshot())).toThrow('cannot listen on "localhost": expected HOST:PORT');
    a.stop();
  });

  test.skipIf(!existsSync(PROMETHEUS))("the real Prometheus scrapes /metrics and its query API returns the snapshot's values", async () => {
    let snap = makeSnapshot({ decision: makeDecision(2, 1, { dm: 4.7125, dmDerivative: 2.25 }) });
    const srv = startReportServer("127.0.0.1:0", () => snap);
    cleanups.push(srv.stop);
    const prom: Started = await startPrometheus(join(root, "prom"), srv.port);
    cleanups.push(prom.stop);
    const query = async (q: string): Promise<number | undefined> => {
      const r = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(q)}`);
      const j = (await r.json()) as { data: { result: { value: [number, string] }[] } };
      const v = j.data.result[0]?.value[1];
      return v === undefined ? undefined : Number(v);
    };
    await pollUntil("hosa_dm = 4.7125 in prometheus", 20_000, async () => ((await query("hosa_dm")) === 4.7125 ? true : undefined), 250);
    expect(await query("hosa_level")).toBe(2);
    expect(await query("hosa_dm_derivative")).toBe(2.25);
    expect(await query('hosa_threshold{level="2"}')).toBe(3.9);
    expect(await query('hosa_contribution{dim="mem_used_ratio"}')).toBe(0.68);
    expect(await query('up{job="hosa"}')).toBe(1);
    // The agent escalates: the next scrapes carry the new values.
    snap = makeSnapshot({ decision: makeDecision(3, 2, { dm: 6.03125 }) });
    await pollUntil("hosa_level = 3 in prometheus", 10_000, async () => ((await query("hosa_level")) === 3 ? true : undefined), 250);
    expect(await query("hosa_dm")).toBe(6.03125);
    prom.stop();
    srv.stop();
  }, 40_000);
});
