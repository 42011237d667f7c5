// Webhooks, after the fact and never in the way: onDecision() renders the
// body and writes it to each receiver's on-disk outbox, and returns; the
// outbox delivers in the background. The thalamic filter (document 004 §3.1)
// lets only a periodic heartbeat out in homeostasis: level changes that
// touch level 2 or above and every action go out, nothing else; a
// detection-only plan ("would apply") goes out once per change of plan
// (target, file, level), not at every tick that recomputes its value.
import { createHash, createHmac } from "node:crypto";
import { existsSync, readdirSync, readFileSync, unlinkSync } from "node:fs";
import { basename, join } from "node:path";
import type { HosaConfig, WebhookConfig } from "../config.ts";
import type { Decision } from "../engine/types.ts";
import type { ActionRecord } from "../respond/types.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { VERSION } from "../version.ts";
import { actionEntry, levelEntry } from "./decision-log.ts";
import { summaryLine } from "./explain.ts";
import { formatDominant, round6 } from "../engine/fields.ts";
import { Outbox, type OutboxStats } from "./outbox.ts";

export interface NotifierOptions {
  backoffBaseMs?: number;
  backoffCapMs?: number;
  timeoutMs?: number;
  onWarning?: (line: string) => void;
}

const NO_ALERTS: Record<string, unknown>[] = [];

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

/** "14:02:05 UTC": a time of day as a person writes it in an alert (UTC: a fleet spans time zones). */
export function timeOfDay(wallTime: string): string {
  const ms = Date.parse(wallTime.replace(/(\.\d{3})\d+/, "$1"));
  return Number.isFinite(ms) ? `${new Date(ms).toISOString().slice(11, 19)} UTC` : wallTime;
}

/** "5 min 35 s", "2 h 3 min", "40 s". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ""}`;
}

/**
 * The engine's reason in a sentence's clothes: without its "Level a → b: "
 * prefix and with each parenthesis turned into a clause, so an alert never
 * nests brackets ("still rising (+2.10/s)" → "still rising, +2.10/s").
 */
export function plainReason(reason: string): string {
  let s = reason.replace(/^Level \d → \d: /, "");
  for (let i = 0; i < 4 && /\([^()]*\)/.test(s); i++) s = s.replace(/\s*\(([^()]*)\)/g, ", $1");
  return s.replace(/[()]/g, "");
}

/** An action record in one clause: "/leak: memory.high max→1.6G, applied". */
function actionText(a: ActionRecord): string {
  return `${a.target}: ${a.action}, ${plainReason(a.outcome)}`;
}

const LEVEL_WORDS = ["homeostasis", "vigilance", "soft containment", "hard containment", "emergency", "quarantine"];

/** What Alertmanager holds for one severity, as hosa last posted it. */
interface FiringAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
}

/** The decision that opened the episode or raised it last: what heartbeats keep saying. */
interface EpisodeCause {
  at: string;
  from: number;
  level: number;
  reason: string;
  dominant: string;
  ttf: string;
}

const FIRING_FILE = "alerts-firing.json";

/** The receiver's directory name: a change of URL or format never mis-delivers an old queue. */
function webhookId(w: WebhookConfig): string {
  return createHash("sha256").update(`${w.format} ${w.url}`).digest("hex").slice(0, 16);
}

export class Notifier {
  private readonly boxes: { hook: WebhookConfig; box: Outbox }[];
  private lastHeartbeatMs = -Infinity;
  private episodeStartedAt: string | null = null;
  private cause: EpisodeCause | null = null;
  private recentActions: ActionRecord[] = [];
  private pendingWarnings: string[] = [];
  /**
   * Detection-only plans (and skips) already told, per kind, target and
   * file: the level and outcome last sent. A value recomputed at the next
   * tick (a ceiling from usage) is the same plan: the decision log keeps
   * every record, the webhook gets one per change of plan.
   */
  private readonly plans = new Map<string, string>();
  /**
   * Alerts Alertmanager holds as firing, by severity. Ending what is here
   * (rather than trusting a decision's previous level) is what makes every
   * alert end, whatever path the levels took; it is kept on disk so that a
   * run after a crash ends what the crashed run left firing.
   */
  private readonly firing = new Map<string, FiringAlert>();

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
    this.endLeftoverAlerts();
  }

  private get firingPath(): string {
    return join(this.stateDir, FIRING_FILE);
  }

  /** The Alertmanager receivers, picked once (asked at every tick). */
  private alertHooksMemo: { hook: WebhookConfig; box: Outbox }[] | null = null;
  private get alertHooks(): { hook: WebhookConfig; box: Outbox }[] {
    return (this.alertHooksMemo ??= this.boxes.filter((b) => b.hook.format === "alertmanager"));
  }

  /** A previous run that died with an alert firing: this run has no episode yet, so end it now. */
  private endLeftoverAlerts(): void {
    if (!existsSync(this.firingPath)) return;
    let left: FiringAlert[] = [];
    try {
      left = JSON.parse(readFileSync(this.firingPath, "utf8")) as FiringAlert[];
    } catch {}
    const now = new Date().toISOString();
    const ended = left
      .filter((a) => a && typeof a === "object" && a.labels && a.annotations)
      .map((a) => ({
        labels: a.labels,
        annotations: { ...a.annotations, summary: `${this.node}: hosa restarted at ${timeOfDay(now)}; the alert of its previous run ends here` },
        startsAt: a.startsAt,
        endsAt: now,
      }));
    if (ended.length > 0) for (const { hook, box } of this.alertHooks) this.enqueue(box, hook, alertmanagerUrl(hook.url), ended, "level");
    try {
      unlinkSync(this.firingPath);
    } catch {}
  }

  private saveFiring(): void {
    if (this.alertHooks.length === 0) return;
    if (this.firing.size === 0) {
      try {
        unlinkSync(this.firingPath);
      } catch {}
      return;
    }
    writeFileAtomic(this.firingPath, JSON.stringify([...this.firing.values()]), 0o600);
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
  onDecision(d: Decision, actions: ActionRecord[], wallTimeOrClock: string | (() => string)): void {
    // A clock is read only when something is told: formatting the time costs more than a calm tick's decision.
    let memo = typeof wallTimeOrClock === "string" ? wallTimeOrClock : undefined;
    const wall = (): string => (memo ??= (wallTimeOrClock as () => string)());
    const changed = d.level !== d.previousLevel;
    const levelWorthTelling = changed && Math.max(d.level, d.previousLevel) >= 2;
    if (d.level >= 2 && (d.previousLevel < 2 || this.episodeStartedAt === null)) this.episodeStartedAt = wall();
    if (d.level >= 2 && (d.level > d.previousLevel || this.cause === null)) {
      this.cause = { at: wall(), from: d.previousLevel, level: d.level, reason: plainReason(d.reason || summaryLine(d)), dominant: formatDominant(d), ttf: Number.isFinite(d.ttfS) && d.ttfDim ? `${d.ttfDim} runs out in ${Math.round(d.ttfS)} s` : "" };
    }
    if (actions.length > 0) actions = actions.filter((a) => this.newPlan(a));
    if (actions.length > 0) this.recentActions = [...this.recentActions, ...actions].slice(-5);
    // Nothing firing and nothing to fire (below level 2): no alert to post, and no clock read for it.
    const alerts = this.alertHooks.length > 0 && (this.firing.size > 0 || severity(d.level) !== null) ? this.alertUpdate(d, wall(), actions, changed) : NO_ALERTS;
    for (const { hook, box } of this.boxes) {
      if (hook.format === "alertmanager") {
        if (alerts.length > 0) this.enqueue(box, hook, alertmanagerUrl(hook.url), alerts, "level");
      } else {
        if (levelWorthTelling) this.enqueue(box, hook, hook.url, { type: "level", hosa_version: VERSION, summary: summaryLine(d), ...levelEntry(d, wall(), this.node) }, "level");
        for (const a of actions) this.enqueue(box, hook, hook.url, { type: "action", hosa_version: VERSION, summary: actionText(a), ...actionEntry(d, a, wall(), this.node) }, "action");
      }
    }
    if (d.level < 2) {
      this.episodeStartedAt = null;
      this.cause = null;
      if (this.recentActions.length > 0) this.recentActions = [];
    }
    if (d.level === 0) this.plans.clear();
  }

  /** Whether an action is news for the receivers: anything done, or a plan (would …, skipped …) not told yet at this level. */
  private newPlan(a: ActionRecord): boolean {
    const key = `${a.kind}\0${a.target}\0${a.action.split(" ")[0]}`;
    const o = a.outcome;
    if (o.startsWith("would restore") || !(o.startsWith("would") || o.startsWith("skipped"))) {
      this.plans.delete(key);
      return true;
    }
    const plan = `${a.level}\0${o}`;
    if (this.plans.get(key) === plan) return false;
    this.plans.set(key, plan);
    return true;
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
        // The alert as it fired: its cause, not whatever dominates the distance now.
        if (this.firing.size > 0) this.enqueue(box, hook, alertmanagerUrl(hook.url), [...this.firing.values()].map((a) => ({ ...a })), "heartbeat");
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
            ...(this.cause && this.episodeStartedAt
              ? { episode_started_at: this.episodeStartedAt, cause: { at: this.cause.at, from_level: this.cause.from, level: this.cause.level, reason: this.cause.reason, dominant_dims: this.cause.dominant } }
              : {}),
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

  /**
   * Stop delivering; what is not delivered stays on disk for the next start.
   * With `end` (the agent stopping cleanly), every firing alert is ended
   * first (endsAt now), and delivery goes on for up to `drainMs` so that the
   * outbox is empty when the agent exits. Returns the messages left on disk.
   */
  async close(end?: { wallTime: string; why: string; drainMs?: number }): Promise<number> {
    if (end) {
      const ended = this.endAll(end.wallTime, (a) => `${this.node}: ${end.why} at ${timeOfDay(end.wallTime)}; the alert ends with it${a}`);
      if (ended.length > 0) for (const { hook, box } of this.alertHooks) this.enqueue(box, hook, alertmanagerUrl(hook.url), ended, "level");
      this.saveFiring();
      const deadline = Date.now() + (end.drainMs ?? 5000);
      while (this.depth() > 0 && Date.now() < deadline) await Bun.sleep(20);
    }
    await Promise.all(this.boxes.map((b) => b.box.stop()));
    return this.depth();
  }

  /** End every firing alert: the bodies to post, with endsAt. */
  private endAll(wallTime: string, summary: (after: string) => string, keep?: string): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const [sev, a] of this.firing) {
      if (sev === keep) continue;
      const lasted = Date.parse(wallTime.replace(/(\.\d{3})\d+/, "$1")) - Date.parse(a.startsAt.replace(/(\.\d{3})\d+/, "$1"));
      out.push({ labels: a.labels, annotations: { ...a.annotations, summary: summary(Number.isFinite(lasted) ? `, after ${duration(lasted)}` : "") }, startsAt: a.startsAt, endsAt: wallTime });
      this.firing.delete(sev);
    }
    return out;
  }

  private enqueue(box: Outbox, hook: WebhookConfig, url: string, body: unknown, event: string): void {
    const text = JSON.stringify(body, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v));
    const headers: Record<string, string> = { "Content-Type": "application/json", "X-Hosa-Event": event, "User-Agent": `hosa/${VERSION}` };
    if (hook.hmacSecret) headers["X-Hosa-Signature"] = `sha256=${createHmac("sha256", hook.hmacSecret).update(text).digest("hex")}`;
    box.enqueue({ url, headers, body: text });
  }

  /**
   * Alertmanager v2 alerts: one HosaLevel alert per node and severity. What
   * fires is compared with what is firing: another severity ends the old
   * alert (endsAt) and fires the new one; below level 2 every alert ends, so
   * it closes in Alertmanager whatever path the levels took. Nothing to say
   * gives an empty list.
   */
  private alertUpdate(d: Decision, wallTime: string, actions: ActionRecord[], changed: boolean): Record<string, unknown>[] {
    // RFC 3339 with nanoseconds is what Alertmanager parses; a bad wall time falls back to the clock.
    const now = Number.isFinite(Date.parse(wallTime.replace(/(\.\d{3})\d+/, "$1"))) ? wallTime : new Date().toISOString();
    const sev = severity(d.level);
    const words = (level: number) => `level ${level}, ${LEVEL_WORDS[level] ?? "unknown"}`;
    const out = this.endAll(now, (after) => (sev ? `${this.node}: moved from ${words(d.previousLevel)} to ${words(d.level)} at ${timeOfDay(now)}${after}` : `${this.node}: back to ${words(d.level)} at ${timeOfDay(now)}${after}; the episode is over`), sev ?? undefined);
    if (sev && (!this.firing.has(sev) || changed || actions.length > 0)) {
      const c = this.cause;
      const since = this.episodeStartedAt ?? now;
      const acts = this.recentActions.map(actionText).join("; ");
      const why = c ? `At ${timeOfDay(c.at)} hosa moved ${this.node} from level ${c.from} to level ${c.level}: ${c.reason}.` : `${plainReason(d.reason || summaryLine(d))}.`;
      const alert: FiringAlert = {
        labels: { alertname: "HosaLevel", node: this.node, severity: sev },
        annotations: {
          summary: `${this.node} at ${words(d.level)} since ${timeOfDay(since)}${c?.dominant ? `, driven by ${c.dominant.replace(/:/g, " ")}` : ""}`,
          description: `${why}${c?.ttf ? ` At that pace ${c.ttf}.` : ""}${acts ? ` Done so far: ${acts}.` : " Nothing done on the node."}`,
          level: String(d.level),
          level_name: d.levelName,
          urgency: urgency(d.level),
          d_m: String(round6(d.dm)),
          d_m_derivative: String(round6(d.dmDerivative)),
          dominant_dims: c?.dominant ?? formatDominant(d),
          actions: acts,
        },
        startsAt: this.firing.get(sev)?.startsAt ?? since,
      };
      this.firing.set(sev, alert);
      out.push({ ...alert });
    }
    if (out.length > 0) this.saveFiring();
    return out;
  }
}
