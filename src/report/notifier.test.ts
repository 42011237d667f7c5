import { afterAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultConfig, type HosaConfig, type WebhookConfig } from "../config.ts";
import { wallTimeNs } from "./decision-log.ts";
import { Notifier } from "./notifier.ts";
import { makeAction, makeDecision } from "../../test/report/helpers.ts";
import { ALERTMANAGER, freePort, pollUntil, startAlertmanager } from "../../test/report/procs.ts";

const root = mkdtempSync(join(tmpdir(), "hosa-notify-"));
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.reverse()) c();
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
const stateDir = () => join(root, `state-${n++}`);

function reportCfg(webhooks: WebhookConfig[], over: Partial<HosaConfig["report"]> = {}): HosaConfig["report"] {
  return { ...defaultConfig().report, heartbeatS: 0, webhooks, ...over };
}

interface Received {
  path: string;
  key: string;
  event: string;
  signature: string | null;
  body: Record<string, unknown>;
  raw: string;
  atMs: number;
}

/** A webhook receiver on loopback: mode "up" answers 200, "error" 503; `delayMs` makes it slow. */
function startReceiver(port = 0, opts: { delayMs?: number } = {}) {
  const got: Received[] = [];
  const attempts: number[] = [];
  let mode: "up" | "error" = "up";
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port,
    async fetch(req) {
      const raw = await req.text();
      attempts.push(Date.now());
      if (opts.delayMs) await Bun.sleep(opts.delayMs);
      if (mode === "error") return new Response("busy", { status: 503 });
      got.push({
        path: new URL(req.url).pathname,
        key: req.headers.get("x-hosa-idempotency-key") ?? "",
        event: req.headers.get("x-hosa-event") ?? "",
        signature: req.headers.get("x-hosa-signature"),
        body: JSON.parse(raw),
        raw,
        atMs: Date.now(),
      });
      return new Response("ok");
    },
  });
  const r = {
    got,
    attempts,
    port: server.port!,
    url: `http://127.0.0.1:${server.port}/hook`,
    setMode: (m: "up" | "error") => (mode = m),
    stop: () => server.stop(true),
  };
  cleanups.push(r.stop);
  return r;
}

/** First arrival per idempotency key, in arrival order. */
function firstArrivals(got: Received[]): Received[] {
  const seen = new Set<string>();
  return got.filter((g) => (seen.has(g.key) ? false : (seen.add(g.key), true)));
}

describe("notifier and outbox", () => {
  test("thalamic filter: level 0 sends only heartbeats; changes touching level ≥ 2 and every action go out", async () => {
    const rx = startReceiver();
    const dir = stateDir();
    const nt = Notifier.open(reportCfg([{ url: rx.url, format: "json", hmacSecret: "" }], { heartbeatS: 60 }), dir, "node-a");
    const t = wallTimeNs();
    nt.onDecision(makeDecision(1, 0), [], t);
    expect(nt.depth()).toBe(0);
    // Time is data: heartbeats at most once per heartbeat_s.
    expect(nt.heartbeat(makeDecision(0, 0), t, 1_000)).toBe(true);
    expect(nt.heartbeat(makeDecision(0, 0), t, 30_000)).toBe(false);
    expect(nt.heartbeat(makeDecision(0, 0), t, 61_000)).toBe(true);
    nt.onDecision(makeDecision(2, 1), [], t);
    nt.onDecision(makeDecision(2, 2), [], t);
    nt.onDecision(makeDecision(2, 2), [makeAction(1)], t);
    nt.onDecision(makeDecision(1, 2), [], t);
    nt.onDecision(makeDecision(0, 1), [], t);
    await pollUntil("5 messages", 5_000, () => (rx.got.length >= 5 ? true : undefined), 20);
    await Bun.sleep(100);
    expect(rx.got.map((g) => g.body.type)).toEqual(["heartbeat", "heartbeat", "level", "action", "level"]);
    expect(rx.got.map((g) => g.event)).toEqual(["heartbeat", "heartbeat", "level", "action", "level"]);
    const level = rx.got[2]!.body;
    expect(level).toMatchObject({ kind: "level", level: 2, level_name: "SOFT_CONTAINMENT", previous_level: 1, node: "node-a" });
    expect(level.summary).toContain("D_M 3.40 > θ1 2.60");
    expect(rx.got[3]!.body).toMatchObject({ kind: "action", target_cgroup: "/hosa-test/leaker-1", action: "memory.high max→1.6G" });
    await nt.close();
    rx.stop();
  });

  test("detection-only: one webhook per change of plan (target, file, level), not one per tick that recomputes the value", async () => {
    const rx = startReceiver();
    const nt = Notifier.open(reportCfg([{ url: rx.url, format: "json", hmacSecret: "" }]), stateDir(), "node-a");
    const t = wallTimeNs();
    const would = (i: number, level: number, action: string, outcome = "would apply (detection-only)") => ({ ...makeAction(1, level), id: `w-${i}`, action, outcome });
    nt.onDecision(makeDecision(3, 2), [would(1, 3, "memory.limit_in_bytes 9223372036854771712→95000000")], t);
    for (let i = 2; i < 12; i++) nt.onDecision(makeDecision(3, 3), [would(i, 3, `memory.limit_in_bytes 95000000→${95000000 + i * 2 ** 20}`)], t);
    nt.onDecision(makeDecision(4, 3), [would(20, 4, "memory.limit_in_bytes 105000000→105000000"), would(21, 4, "memory.oom_control 0→1")], t);
    for (let i = 22; i < 30; i++) nt.onDecision(makeDecision(4, 4), [would(i, 4, "memory.oom_control 0→1")], t);
    nt.onDecision(makeDecision(3, 4), [would(30, 3, "memory.oom_control 1→0", "would restore (detection-only)")], t);
    nt.onDecision(makeDecision(4, 3), [would(31, 4, "memory.oom_control 0→1")], t);
    // Done on the node is always told.
    nt.onDecision(makeDecision(4, 4), [makeAction(1, 4), makeAction(1, 4)], t);
    const want = 11;
    await pollUntil(`${want} messages`, 5_000, () => (rx.got.length >= want ? true : undefined), 20);
    await Bun.sleep(200);
    const acts = rx.got.filter((g) => g.body.type === "action").map((g) => `${g.body.level} ${String(g.body.action).split(" ")[0]} ${String(g.body.outcome).split(" ")[0]}`);
    expect(acts).toEqual([
      "3 memory.limit_in_bytes would",
      "4 memory.limit_in_bytes would",
      "4 memory.oom_control would",
      "3 memory.oom_control would",
      "4 memory.oom_control would",
      "4 memory.high applied",
      "4 memory.high applied",
    ]);
    expect(rx.got.filter((g) => g.body.type === "level").length).toBe(4); // 2→3, 3→4, 4→3, 3→4
    await nt.close();
    rx.stop();
  });

  test("Alertmanager bodies: severity by level, every alert ends whatever path the levels take, nothing at level 0", async () => {
    const rx = startReceiver();
    const nt = Notifier.open(reportCfg([{ url: `http://127.0.0.1:${rx.port}/`, format: "alertmanager", hmacSecret: "" }], { heartbeatS: 60 }), stateDir(), "node-a");
    const t = "2026-11-24T02:00:05.123456789Z";
    const t2 = "2026-11-24T02:05:40.000000000Z";
    expect(nt.heartbeat(makeDecision(0, 0), t, 0)).toBe(true);
    nt.onDecision(makeDecision(1, 0), [], t);
    expect(nt.depth()).toBe(0);
    nt.onDecision(makeDecision(2, 1), [], t);
    expect(nt.heartbeat(makeDecision(2, 2), t, 60_000)).toBe(true);
    // A jump the previous level does not explain (the engine said 3 → 4 while hosa had told 2): the warning must still end.
    nt.onDecision(makeDecision(4, 3), [], t);
    nt.onDecision(makeDecision(1, 2), [], t2);
    await pollUntil("4 messages", 5_000, () => (rx.got.length >= 4 ? true : undefined), 20);
    expect(rx.got.every((g) => g.path === "/api/v2/alerts")).toBe(true);
    const alerts = rx.got.map((g) => g.body as unknown as { labels: Record<string, string>; annotations: Record<string, string>; endsAt?: string; startsAt: string }[]);
    expect(alerts[0]!.map((a) => [a.labels.severity, a.endsAt ?? null])).toEqual([["warning", null]]);
    expect(alerts[0]![0]!.labels).toEqual({ alertname: "HosaLevel", node: "node-a", severity: "warning" });
    expect(alerts[0]![0]!.startsAt).toBe(t);
    expect(alerts[1]!.map((a) => a.labels.severity)).toEqual(["warning"]);
    expect(alerts[2]!.map((a) => [a.labels.severity, a.endsAt ?? null, a.annotations.urgency])).toEqual([
      ["warning", t, "normal"],
      ["critical", null, "critical"],
    ]);
    // Below level 2 the alert that is firing (critical, whatever the decision says came before) ends.
    expect(alerts[3]!.map((a) => [a.labels.severity, a.endsAt])).toEqual([["critical", t2]]);
    expect(alerts[3]![0]!.startsAt).toBe(t);
    expect(alerts[3]![0]!.annotations.summary).toBe("node-a: back to level 1, vigilance at 02:05:40 UTC, after 5 min 35 s; the episode is over");
    // Nothing is firing: a heartbeat has nothing to keep alive.
    expect(nt.heartbeat(makeDecision(0, 0), t2, 120_000)).toBe(true);
    expect(nt.depth()).toBe(0);
    await nt.close();
  });

  test("with an Alertmanager receiver, a calm tick reads no clock; a level that fires or an alert that ends does", async () => {
    const rx = startReceiver();
    const nt = Notifier.open(reportCfg([{ url: `http://127.0.0.1:${rx.port}/`, format: "alertmanager", hmacSecret: "" }], { heartbeatS: 60 }), stateDir(), "node-a");
    let reads = 0;
    const clock = () => {
      reads++;
      return "2026-11-24T02:00:05.123456789Z";
    };
    for (let i = 0; i < 5; i++) nt.onDecision(makeDecision(0, 0), [], clock);
    nt.onDecision(makeDecision(1, 0), [], clock);
    expect(reads).toBe(0);
    nt.onDecision(makeDecision(2, 1), [], clock);
    expect(reads).toBe(1);
    // Level 1 after 2: the warning firing must end, with the time it ended.
    nt.onDecision(makeDecision(1, 2), [], clock);
    expect(reads).toBe(2);
    nt.onDecision(makeDecision(0, 1), [], clock);
    expect(reads).toBe(2);
    await pollUntil("2 messages", 5_000, () => (rx.got.length >= 2 ? true : undefined), 20);
    expect(rx.got.map((g) => (g.body as unknown as { endsAt?: string }[]).map((a) => a.endsAt ?? null))).toEqual([[null], ["2026-11-24T02:00:05.123456789Z"]]);
    await nt.close();
    rx.stop();
  });

  test("alert texts read as a person writes them; heartbeats keep the episode's cause", async () => {
    const rx = startReceiver();
    const json = startReceiver();
    const nt = Notifier.open(
      reportCfg(
        [
          { url: `http://127.0.0.1:${rx.port}/`, format: "alertmanager", hmacSecret: "" },
          { url: json.url, format: "json", hmacSecret: "" },
        ],
        { heartbeatS: 60 },
      ),
      stateDir(),
      "node-a",
    );
    const t = "2026-11-24T14:02:05.123456789Z";
    const cause = makeDecision(3, 1, { reason: "Level 1 → 3: D_M 5.40 > θ3 5.20 and acceleration +0.50/s² > 0; emergency, no dwell: time to failure 12.00 s < 15.00 s (hold 3.00 s (inner))" });
    nt.onDecision(cause, [{ ...makeAction(1, 3), outcome: "skipped: changed by someone else since hosa wrote it (now 1G, hosa wrote 2G)" }], t);
    // Later the picture changes (cpu dominates while the leak is held): heartbeats still tell the leak.
    const later = makeDecision(3, 3, { dominant: [{ dim: "cpu_busy_ratio", share: 0.9 }], reason: "" });
    nt.onDecision(later, [], "2026-11-24T14:03:05Z");
    expect(nt.heartbeat(later, "2026-11-24T14:03:05Z", 60_000)).toBe(true);
    await pollUntil("2 alert posts and 3 json", 5_000, () => (rx.got.length >= 2 && json.got.length >= 3 ? true : undefined), 20);
    const fired = (rx.got[0]!.body as unknown as { annotations: Record<string, string> }[])[0]!.annotations;
    expect(fired.summary).toBe("node-a at level 3, hard containment since 14:02:05 UTC, driven by mem_used_ratio 68%, psi_mem_some_ratio 19%, io_latency_us 8%");
    expect(fired.description).toBe(
      "At 14:02:05 UTC hosa moved node-a from level 1 to level 3: D_M 5.40 > θ3 5.20 and acceleration +0.50/s² > 0; emergency, no dwell: time to failure 12.00 s < 15.00 s, hold 3.00 s, inner. At that pace mem_used_ratio runs out in 38 s. Done so far: /hosa-test/leaker-1: memory.high max→1.6G, skipped: changed by someone else since hosa wrote it, now 1G, hosa wrote 2G.",
    );
    for (const a of rx.got.flatMap((g) => g.body as unknown as { annotations: Record<string, string> }[])) {
      for (const text of Object.values(a.annotations)) {
        expect(text).not.toMatch(/\([^)]*\(/);
        // The agent's own clock (monotonic seconds, t=…) never reaches a person.
        expect(text).not.toMatch(/\bt=/);
      }
    }
    const beat = (rx.got[1]!.body as unknown as { annotations: Record<string, string> }[])[0]!.annotations;
    expect(rx.got[1]!.event).toBe("heartbeat");
    expect(beat).toEqual(fired);
    const jbeat = json.got.find((g) => g.event === "heartbeat")!.body;
    expect(jbeat).toMatchObject({ type: "heartbeat", level: 3, episode_started_at: t, cause: { at: t, from_level: 1, level: 3, dominant_dims: "mem_used_ratio:68%, psi_mem_some_ratio:19%, io_latency_us:8%" } });
    await nt.close();
  });

  test("a clean stop ends the firing alert with endsAt now and leaves the outbox empty; a crash's alert ends at the next start", async () => {
    const rx = startReceiver();
    const dir = stateDir();
    const hooks = [{ url: `http://127.0.0.1:${rx.port}/`, format: "alertmanager" as const, hmacSecret: "" }];
    const nt = Notifier.open(reportCfg(hooks), dir, "node-a");
    nt.onDecision(makeDecision(2, 1), [], "2026-11-24T14:02:05Z");
    expect(existsSync(join(dir, "alerts-firing.json"))).toBe(true);
    const stopAt = "2026-11-24T14:04:05.000000001Z";
    expect(await nt.close({ wallTime: stopAt, why: "hosa stopped" })).toBe(0);
    expect(readdirSync(join(dir, "outbox")).flatMap((d) => readdirSync(join(dir, "outbox", d)))).toEqual([]);
    const last = (rx.got.at(-1)!.body as unknown as { labels: Record<string, string>; annotations: Record<string, string>; endsAt: string }[])[0]!;
    expect([last.labels.severity, last.endsAt, last.annotations.summary]).toEqual(["warning", stopAt, "node-a: hosa stopped at 14:04:05 UTC; the alert ends with it, after 2 min"]);
    expect(existsSync(join(dir, "alerts-firing.json"))).toBe(false);

    // A run that dies with an alert firing (no close): the next run ends it at start.
    const crashed = Notifier.open(reportCfg(hooks), dir, "node-a");
    crashed.onDecision(makeDecision(3, 1), [], "2026-11-24T14:10:00Z");
    await pollUntil("critical fired", 5_000, () => (rx.got.length >= 3 ? true : undefined), 20);
    await crashed.close();
    const next = Notifier.open(reportCfg(hooks), dir, "node-a");
    await pollUntil("leftover ended", 5_000, () => (rx.got.length >= 4 ? true : undefined), 20);
    const ended = (rx.got[3]!.body as unknown as { labels: Record<string, string>; endsAt?: string; startsAt: string }[])[0]!;
    expect([ended.labels.severity, ended.startsAt, typeof ended.endsAt]).toEqual(["critical", "2026-11-24T14:10:00Z", "string"]);
    expect(existsSync(join(dir, "alerts-firing.json"))).toBe(false);
    await next.close();
  });

  test(`receiver down ${Number(process.env.HOSA_OUTAGE_S ?? 6)} s then up: every message arrives in order, once per key, HMAC-signed; the agent never waits`, async () => {
    // The issue asks for a 30 s outage; 6 s proves the same properties here
    // (backoff reaches its 2 s cap after 3.1 s) and keeps the suite fast.
    // HOSA_OUTAGE_S=30 runs the full outage.
    const outageMs = Number(process.env.HOSA_OUTAGE_S ?? 6) * 1000;
    const port = await freePort();
    const dir = stateDir();
    const nt = Notifier.open(reportCfg([{ url: `http://127.0.0.1:${port}/hook`, format: "json", hmacSecret: "s3cret" }]), dir, "node-a", {
      backoffCapMs: 2000,
    });
    const t0 = Date.now();
    const enqueueMs: number[] = [];
    let rx: ReturnType<typeof startReceiver> | null = null;
    let i = 0;
    // First half: nothing listens (connection refused). Second half: the receiver answers 503.
    while (Date.now() - t0 < outageMs) {
      const s = performance.now();
      nt.onDecision(makeDecision(2, 2), [makeAction(i++)], wallTimeNs());
      enqueueMs.push(performance.now() - s);
      if (!rx && Date.now() - t0 > outageMs / 2) {
        rx = startReceiver(port);
        rx.setMode("error");
      }
      await Bun.sleep(outageMs / 40);
    }
    expect(rx!.got.length).toBe(0);
    expect(nt.depth()).toBe(i);
    const errorAttempts = [...rx!.attempts];
    rx!.setMode("up");
    const upAt = Date.now();
    await pollUntil(`${i} messages`, 15_000, () => (rx!.got.length >= i ? true : undefined), 20);
    const catchUpMs = Date.now() - upAt;
    const firsts = firstArrivals(rx!.got);
    expect(firsts.map((g) => g.body.action_id)).toEqual(Array.from({ length: i }, (_, k) => `act-${k}`));
    expect(rx!.got.length).toBe(i);
    for (const g of rx!.got) expect(g.signature).toBe(`sha256=${createHmac("sha256", "s3cret").update(g.raw).digest("hex")}`);
    // Exponential backoff, capped: retries against the 503 receiver are spaced, never a tight loop.
    const gaps = errorAttempts.slice(1).map((a, k) => a - errorAttempts[k]!);
    expect(Math.max(...gaps)).toBeLessThan(2000 + 500);
    expect(errorAttempts.length).toBeLessThan(outageMs / 2 / 100);
    // The receiver counts a message when it reads it; the notifier drops it
    // from the outbox when the answer reaches it, a moment later on a loaded machine.
    await pollUntil("outbox empty", 5_000, () => (nt.depth() === 0 ? true : undefined), 20);
    expect(nt.depth()).toBe(0);
    expect(readdirSync(join(dir, "outbox", readdirSync(join(dir, "outbox"))[0]!)).length).toBe(0);
    const maxEnqueue = Math.max(...enqueueMs);
    const p50 = enqueueMs.sort((a, b) => a - b)[Math.floor(enqueueMs.length / 2)]!;
    console.log(`outage ${outageMs} ms: ${i} messages, ${errorAttempts.length} refused attempts, caught up ${catchUpMs} ms after the receiver came back; onDecision p50 ${p50.toFixed(2)} ms max ${maxEnqueue.toFixed(2)} ms (file written and renamed; fsync off the loop)`);
    expect(p50).toBeLessThan(5);
    expect(catchUpMs).toBeLessThan(2000 + 3000);
    await nt.close();
  }, 60_000);

  test("a full outbox drops the oldest, counts and says so, and delivers the rest in order", async () => {
    const port = await freePort();
    const warnings: string[] = [];
    const nt = Notifier.open(reportCfg([{ url: `http://127.0.0.1:${port}/hook`, format: "json", hmacSecret: "" }], { outboxMaxMessages: 5 }), stateDir(), "node-a", {
      backoffCapMs: 200,
      onWarning: (w) => warnings.push(w),
    });
    for (let k = 0; k < 8; k++) nt.onDecision(makeDecision(2, 2), [makeAction(k)], wallTimeNs());
    expect(nt.depth()).toBe(5);
    expect(nt.dropped()).toBe(3);
    // Said at the 1st drop (then the 10th, 100th...): the counter carries the rest.
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toContain("full (5 messages): dropped the oldest, 1 dropped so far");
    const rx = startReceiver(port);
    await pollUntil("5 messages", 5_000, () => (rx.got.length >= 5 ? true : undefined), 20);
    expect(rx.got.map((g) => g.body.action_id)).toEqual(["act-3", "act-4", "act-5", "act-6", "act-7"]);
    await nt.close();
  });

  test("a 4xx refusal drops that message without blocking the queue; a queue left by a removed receiver is named", async () => {
    let calls = 0;
    const got: string[] = [];
    const srv = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        const body = (await req.json()) as { action_id: string };
        if (calls++ === 0) return new Response("bad body", { status: 400 });
        got.push(body.action_id);
        return new Response("ok");
      },
    });
    cleanups.push(() => srv.stop(true));
    const dir = stateDir();
    const nt = Notifier.open(reportCfg([{ url: `http://127.0.0.1:${srv.port}/`, format: "json", hmacSecret: "" }]), dir, "node-a");
    for (let k = 0; k < 3; k++) nt.onDecision(makeDecision(2, 2), [makeAction(k)], wallTimeNs());
    await pollUntil("2 delivered", 5_000, () => (got.length >= 2 ? true : undefined), 20);
    expect(got).toEqual(["act-1", "act-2"]);
    expect(nt.stats()[0]).toMatchObject({ delivered: 2, rejected: 1, depth: 0 });
    expect(nt.drainWarnings()).toEqual([expect.stringMatching(/^webhook http:\/\/127\.0\.0\.1:\d+\/ refused message [0-9a-f-]+: HTTP 400, dropped$/)]);
    await nt.close();
    // The receiver goes away from the configuration with a message still queued.
    const port = await freePort();
    const gone = Notifier.open(reportCfg([{ url: `http://127.0.0.1:${port}/`, format: "json", hmacSecret: "" }]), dir, "node-a");
    gone.onDecision(makeDecision(2, 2), [makeAction(9)], wallTimeNs());
    await gone.close();
    const none = Notifier.open(reportCfg([]), dir, "node-a");
    expect(none.drainWarnings()).toEqual([expect.stringContaining(": 1 messages for a receiver no longer configured, left undelivered")]);
    await none.close();
  });

  test("kill -9 of the process that owns the outbox, then a restart: nothing lost, in order, no duplicate keys", async () => {
    const rx = startReceiver(0, { delayMs: 60 });
    const dir = stateDir();
    const child = join(import.meta.dir, "../../test/report/outbox-child.ts");
    const a = Bun.spawn([process.execPath, child, dir, rx.url, "0", "40", "10"], { stdout: "pipe", stderr: "inherit" });
    cleanups.push(() => {
      try {
        process.kill(a.pid, "SIGKILL");
      } catch {}
    });
    // Read until the child says all 40 are on disk, then kill it mid-delivery.
    const reader = a.stdout.getReader();
    let out = "";
    await pollUntil("child queued 40", 20_000, async () => {
      const { value, done } = await reader.read();
      if (value) out += new TextDecoder().decode(value);
      if (done) throw new Error(`child exited: ${out}`);
      return out.includes("queued 39\n") ? true : undefined;
    }, 0);
    process.kill(a.pid, "SIGKILL");
    await a.exited;
    const beforeRestart = firstArrivals(rx.got).length;
    expect(beforeRestart).toBeLessThan(40);
    const b = Bun.spawn([process.execPath, child, dir, rx.url, "40", "10", "5", "--exit-when-empty"], { stdout: "pipe", stderr: "inherit" });
    cleanups.push(() => {
      try {
        process.kill(b.pid, "SIGKILL");
      } catch {}
    });
    const timer = setTimeout(() => process.kill(b.pid, "SIGKILL"), 30_000);
    expect(await b.exited).toBe(0);
    clearTimeout(timer);
    const firsts = firstArrivals(rx.got);
    expect(firsts.map((g) => g.body.action_id)).toEqual(Array.from({ length: 50 }, (_, k) => `act-${k}`));
    // At-least-once: only a message in flight at the kill may come twice, and then with the same key.
    const dups = rx.got.length - firsts.length;
    expect(dups).toBeLessThanOrEqual(1);
    const keysPerAction = new Map<unknown, Set<string>>();
    for (const g of rx.got) keysPerAction.set(g.body.action_id, (keysPerAction.get(g.body.action_id) ?? new Set()).add(g.key));
    for (const keys of keysPerAction.values()) expect(keys.size).toBe(1);
    console.log(`kill -9 after ${beforeRestart}/40 delivered; after restart all 50 arrived in order, ${dups} redelivered with the same key`);
  }, 60_000);

  test.skipIf(!existsSync(ALERTMANAGER))("the real Alertmanager receives HosaLevel alerts, lists them, and resolves them on de-escalation and on a clean stop", async () => {
    const am = await startAlertmanager(join(root, "am"));
    cleanups.push(am.stop);
    const nt = Notifier.open(reportCfg([{ url: am.url, format: "alertmanager", hmacSecret: "" }]), stateDir(), "node-am", { backoffCapMs: 500 });
    type Alert = { labels: Record<string, string>; annotations: Record<string, string>; status: { state: string } };
    const hosaAlerts = async (): Promise<Alert[]> =>
      ((await (await fetch(`${am.url}/api/v2/alerts?filter=${encodeURIComponent('alertname="HosaLevel"')}`)).json()) as Alert[]).filter((a) => a.labels.node === "node-am");
    nt.onDecision(makeDecision(2, 1), [], wallTimeNs());
    const warn = await pollUntil("warning alert", 10_000, async () => {
      const al = await hosaAlerts();
      return al.length === 1 && al[0]!.labels.severity === "warning" ? al[0] : undefined;
    });
    expect(warn.status.state).toBe("active");
    expect(warn.annotations).toMatchObject({ level: "2", level_name: "SOFT_CONTAINMENT", urgency: "normal", dominant_dims: "mem_used_ratio:68%, psi_mem_some_ratio:19%, io_latency_us:8%" });
    nt.onDecision(makeDecision(3, 2), [makeAction(7, 3)], wallTimeNs());
    const crit = await pollUntil("only the critical alert", 10_000, async () => {
      const al = await hosaAlerts();
      return al.length === 1 && al[0]!.labels.severity === "critical" ? al[0] : undefined;
    });
    expect(crit.annotations.level).toBe("3");
    expect(crit.annotations.urgency).toBe("urgent");
    expect(crit.annotations.actions).toBe("/hosa-test/leaker-7: memory.high max→1.6G, applied");
    nt.onDecision(makeDecision(2, 3), [], wallTimeNs());
    nt.onDecision(makeDecision(1, 2), [], wallTimeNs());
    await pollUntil("no active HosaLevel alert", 10_000, async () => ((await hosaAlerts()).length === 0 ? true : undefined));
    expect(nt.depth()).toBe(0);
    expect(nt.stats()[0]!.rejected).toBe(0);
    // Firing again, then the agent stops cleanly: the alert is resolved, nothing waits in the outbox.
    nt.onDecision(makeDecision(2, 1), [], wallTimeNs());
    await pollUntil("warning alert again", 10_000, async () => ((await hosaAlerts()).length === 1 ? true : undefined));
    expect(await nt.close({ wallTime: wallTimeNs(), why: "hosa stopped" })).toBe(0);
    await pollUntil("no active HosaLevel alert after the stop", 10_000, async () => ((await hosaAlerts()).length === 0 ? true : undefined));
    am.stop();
  }, 40_000);
});
