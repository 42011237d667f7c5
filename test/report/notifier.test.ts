import { afterAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultConfig, type HosaConfig, type WebhookConfig } from "../../src/config.ts";
import { wallTimeNs } from "../../src/report/decision-log.ts";
import { Notifier } from "../../src/report/notifier.ts";
import { makeAction, makeDecision } from "./helpers.ts";
import { ALERTMANAGER, freePort, pollUntil, startAlertmanager } from "./procs.ts";

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

  test("Alertmanager bodies: severity by level, heartbeat keeps a firing alert alive, nothing at level 0", async () => {
    const rx = startReceiver();
    const nt = Notifier.open(reportCfg([{ url: `http://127.0.0.1:${rx.port}/`, format: "alertmanager", hmacSecret: "" }], { heartbeatS: 60 }), stateDir(), "node-a");
    const t = "2026-11-24T02:00:05.123456789Z";
    expect(nt.heartbeat(makeDecision(0, 0), t, 0)).toBe(true);
    nt.onDecision(makeDecision(1, 0), [], t);
    expect(nt.depth()).toBe(0);
    nt.onDecision(makeDecision(2, 1), [], t);
    expect(nt.heartbeat(makeDecision(2, 2), t, 60_000)).toBe(true);
    nt.onDecision(makeDecision(4, 3), [], t);
    nt.onDecision(makeDecision(1, 2), [], t);
    await pollUntil("4 messages", 5_000, () => (rx.got.length >= 4 ? true : undefined), 20);
    expect(rx.got.every((g) => g.path === "/api/v2/alerts")).toBe(true);
    const alerts = rx.got.map((g) => g.body as unknown as { labels: Record<string, string>; annotations: Record<string, string>; endsAt?: string; startsAt: string }[]);
    expect(alerts[0]!.map((a) => [a.labels.severity, a.endsAt ?? null])).toEqual([["warning", null]]);
    expect(alerts[0]![0]!.labels).toEqual({ alertname: "HosaLevel", node: "node-a", severity: "warning" });
    expect(alerts[0]![0]!.startsAt).toBe(t);
    expect(alerts[1]!.map((a) => a.labels.severity)).toEqual(["warning"]);
    // 3 → 4: severity stays critical (no alert to end), urgency rises; 2 → 1: the warning alert ends.
    expect(alerts[2]!.map((a) => [a.labels.severity, a.annotations.urgency])).toEqual([["critical", "critical"]]);
    expect(alerts[3]!.map((a) => [a.labels.severity, a.endsAt])).toEqual([["warning", t]]);
    await nt.close();
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
    const child = join(import.meta.dir, "outbox-child.ts");
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

  test.skipIf(!existsSync(ALERTMANAGER))("the real Alertmanager receives HosaLevel alerts, lists them, and resolves them on de-escalation", async () => {
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
    expect(crit.annotations.actions).toBe("/hosa-test/leaker-7: memory.high max→1.6G (applied)");
    nt.onDecision(makeDecision(2, 3), [], wallTimeNs());
    nt.onDecision(makeDecision(1, 2), [], wallTimeNs());
    await pollUntil("no active HosaLevel alert", 10_000, async () => ((await hosaAlerts()).length === 0 ? true : undefined));
    expect(nt.depth()).toBe(0);
    expect(nt.stats()[0]!.rejected).toBe(0);
    await nt.close();
    am.stop();
  }, 40_000);
});
