// Webhooks, after the fact and never in the way: onDecision() renders the
// body and writes it to each receiver's on-disk outbox, and returns; the
// outbox delivers in the background. The thalamic filter (document 004 §3.1)
// lets only a periodic heartbeat out in homeostasis: level changes that
// touch level 2 or above and every action go out, nothing else.
import { createHash, createHmac } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import type { HosaConfig, WebhookConfig } from "../config.ts";
import type { Decision } from "../engine/types.ts";
import type { ActionRecord } from "../respond/types.ts";
import { VERSION } from "../version.ts";
import { actionEntry, levelEntry } from "./decision-log.ts";
import { summaryLine } from "./explain.ts";
import { formatDominant, round6 } from "./fields.ts";
import { Outbox, type OutboxStats } from "./outbox.ts";

export interface NotifierOptions {
  backoffBaseMs?: number;
  backoffCapMs?: number;
  timeoutMs?: number;
  onWarning?: (line: string) => void;
}

/** Alertmanager severity by level: 2 warns, 3 and above are critical. */
export function severity(level: number): "warning" | "critical" | null {
  if (level >= 3) return "critical";
  if (level === 2) return "warning";
  return null;
}

/** Urgency in words (document 004's table: soft, urgent, critical). */
export function urgency(level: number): string {
  return ["none", "info", "normal", "urgent", "critical", "critical"][level] ?? "critical";
}

/** The Alertmanager v2 endpoint under a configured base URL. */
export function alertmanagerUrl(url: string): string {
  return url.endsWith("/api/v2/alerts") ? url : `${url.replace(/\/+$/, "")}/api/v2/alerts`;
}

/** The receiver's directory name: a change of URL or format never mis-delivers an old queue. */
function webhookId(w: WebhookConfig): string {
  return createHash("sha256").update(`${w.format} ${w.url}`).digest("hex").slice(0, 16);
}

export class Notifier {
  private readonly boxes: { hook: WebhookConfig; box: Outbox }[];
  private lastHeartbeatMs = -Infinity;
  private episodeStartedAt: string | null = null;
  private recentActions: ActionRecord[] = [];
  private pendingWarnings: string[] = [];

  private constructor(
    private readonly cfg: HosaConfig["report"],
    readonly stateDir: string,
    private readonly node: string,
    opts: NotifierOptions,
  ) {
    const warn = opts.onWarning ?? ((line: string) => this.pendingWarnings.length < 100 && this.pendingWarnings.push(line));
    this.boxes = cfg.webhooks.map((hook) => ({
      hook,
      box: Outbox.open(join(stateDir, "outbox", webhookId(hook)), {
        maxMessages: cfg.outboxMaxMessages,
        backoffBaseMs: opts.backoffBaseMs,
        backoffCapMs: opts.backoffCapMs,
        timeoutMs: opts.timeoutMs,
        onWarning: warn,
      }),
    }));
    for (const b of this.boxes) b.box.start();
    const known = new Set(this.boxes.map((b) => basename(b.box.dir)));
    for (const dir of existsSync(join(stateDir, "outbox")) ? readdirSync(join(stateDir, "outbox")) : []) {
      if (known.has(dir)) continue;
      const left = readdirSync(join(stateDir, "outbox", dir)).filter((f) => f.endsWith(".json")).length;
      if (left > 0) warn(`webhook outbox ${join(stateDir, "outbox", dir)}: ${left} messages for a receiver no longer configured, left undelivered`);
    }
  }

  /** Warnings (drops, refusals, orphaned queues) since the last call, when no onWarning was given. */
  drainWarnings(): string[] {
    return this.pendingWarnings.splice(0);
  }

  /** Open the outboxes under stateDir/outbox/ and start delivering what a previous run left. */
  static open(cfg: HosaConfig["report"], stateDir: string, node: string, opts: NotifierOptions = {}): Notifier {
    return new Notifier(cfg, stateDir, node, opts);
  }

  /** Queue what this decision means for the outside world; returns at once (one small file write per message). */
  onDecision(d: Decision, actions: ActionRecord[], wallTime: string): void {
    const changed = d.level !== d.previousLevel;
    const levelWorthTelling = changed && Math.max(d.level, d.previousLevel) >= 2;
    if (d.level >= 2 && (d.previousLevel < 2 || this.episodeStartedAt === null)) this.episodeStartedAt = wallTime;
    if (actions.length > 0) this.recentActions = [...this.recentActions, ...actions].slice(-5);
    for (const { hook, box } of this.boxes) {
      if (hook.format === "alertmanager") {
        if (!levelWorthTelling && (actions.length === 0 || d.level < 2)) continue;
        this.enqueue(box, hook, alertmanagerUrl(hook.url), this.alerts(d, wallTime, actions), "level");
      } else {
        if (levelWorthTelling) this.enqueue(box, hook, hook.url, { type: "level", hosa_version: VERSION, summary: summaryLine(d), ...levelEntry(d, wallTime, this.node) }, "level");
        for (const a of actions) this.enqueue(box, hook, hook.url, { type: "action", hosa_version: VERSION, summary: `${a.target}: ${a.action} (${a.outcome})`, ...actionEntry(d, a, wallTime, this.node) }, "action");
      }
    }
    if (d.level < 2) {
      this.episodeStartedAt = null;
      this.recentActions = [];
    }
  }

  /**
   * Actions outside a decision's tick: what start-up recovery put back after
   * a crash, and what a clean stop restores. JSON receivers get each one;
   * Alertmanager has no alert for them.
   */
  onActions(actions: ActionRecord[], wallTime: string, d: Decision | null = null): void {
    for (const { hook, box } of this.boxes) {
      if (hook.format === "alertmanager") continue;
      for (const a of actions) this.enqueue(box, hook, hook.url, { type: "action", hosa_version: VERSION, summary: `${a.target}: ${a.action} (${a.outcome})`, ...actionEntry(d, a, wallTime, this.node) }, "action");
    }
  }

  /**
   * Call every tick (cheap): sends one heartbeat per report.heartbeat_s. JSON
   * receivers get a heartbeat body; Alertmanager gets the firing alert again
   * while level ≥ 2, so it never times out (resolve_timeout) mid-incident.
   * Returns whether a heartbeat was queued.
   */
  heartbeat(d: Decision | null, wallTime: string, nowMs: number = Date.now()): boolean {
    // 10 % slack: a caller that throttles on its own clock must not make this one skip every other beat.
    if (this.cfg.heartbeatS <= 0 || nowMs - this.lastHeartbeatMs < this.cfg.heartbeatS * 900) return false;
    this.lastHeartbeatMs = nowMs;
    for (const { hook, box } of this.boxes) {
      if (hook.format === "alertmanager") {
        if (d && d.level >= 2) this.enqueue(box, hook, alertmanagerUrl(hook.url), this.alerts({ ...d, previousLevel: d.level }, wallTime, []), "heartbeat");
      } else {
        this.enqueue(
          box,
          hook,
          hook.url,
          {
            type: "heartbeat",
            hosa_version: VERSION,
            timestamp: wallTime,
            node: this.node,
            level: d?.level ?? 0,
            level_name: d?.levelName ?? "HOMEOSTASIS",
            d_m: d ? round6(d.dm) : null,
            learning: d?.learning ?? false,
          },
          "heartbeat",
        );
      }
    }
    return true;
  }

  /** Messages waiting on disk, all receivers together. */
  depth(): number {
    return this.boxes.reduce((n, b) => n + b.box.depth(), 0);
  }

  /** Messages dropped because an outbox was full (counted, also said through onWarning). */
  dropped(): number {
    return this.boxes.reduce((n, b) => n + b.box.stats.dropped, 0);
  }

  stats(): (OutboxStats & { url: string })[] {
    return this.boxes.map((b) => ({ ...b.box.stats, depth: b.box.depth(), url: b.hook.url }));
  }

  /** Stop delivering; what is not delivered stays on disk for the next start. */
  async close(): Promise<void> {
    await Promise.all(this.boxes.map((b) => b.box.stop()));
  }

  private enqueue(box: Outbox, hook: WebhookConfig, url: string, body: unknown, event: string): void {
    const text = JSON.stringify(body, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v));
    const headers: Record<string, string> = { "Content-Type": "application/json", "X-Hosa-Event": event, "User-Agent": `hosa/${VERSION}` };
    if (hook.hmacSecret) headers["X-Hosa-Signature"] = `sha256=${createHmac("sha256", hook.hmacSecret).update(text).digest("hex")}`;
    box.enqueue({ url, headers, body: text });
  }

  /**
   * Alertmanager v2 alerts: one HosaLevel alert per node and severity. A
   * change of severity resolves the old one (endsAt) and fires the new one;
   * falling below level 2 resolves it, so the alert closes in Alertmanager.
   */
  private alerts(d: Decision, wallTime: string, actions: ActionRecord[]): Record<string, unknown>[] {
    // RFC 3339 with nanoseconds is what Alertmanager parses; a bad wall time falls back to the clock.
    const now = Number.isFinite(Date.parse(wallTime.replace(/(\.\d{3})\d+/, "$1"))) ? wallTime : new Date().toISOString();
    const out: Record<string, unknown>[] = [];
    const prevSev = severity(d.previousLevel);
    const sev = severity(d.level);
    const labels = (s: string) => ({ alertname: "HosaLevel", node: this.node, severity: s });
    const acts = (actions.length > 0 ? actions : this.recentActions).map((a) => `${a.target}: ${a.action} (${a.outcome})`).join("; ");
    if (prevSev && prevSev !== sev) {
      out.push({
        labels: labels(prevSev),
        annotations: { summary: `hosa on ${this.node} left level ${d.previousLevel}: now ${summaryLine(d)}`, level: String(d.level), level_name: d.levelName },
        startsAt: this.episodeStartedAt ?? now,
        endsAt: now,
      });
    }
    if (sev) {
      out.push({
        labels: labels(sev),
        annotations: {
          summary: `hosa on ${this.node}: ${summaryLine(d)}`,
          description: d.reason || summaryLine(d),
          level: String(d.level),
          level_name: d.levelName,
          urgency: urgency(d.level),
          d_m: String(round6(d.dm)),
          d_m_derivative: String(round6(d.dmDerivative)),
          dominant_dims: formatDominant(d),
          actions: acts,
        },
        startsAt: this.episodeStartedAt ?? now,
      });
    }
    return out;
  }
}
