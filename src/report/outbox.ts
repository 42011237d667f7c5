// A bounded on-disk queue of HTTP messages for one receiver, delivered in
// order. One file per message, written whole to a temp name and renamed
// before enqueue() returns, so a kill -9 right after loses nothing (the page
// cache outlives the process); the fsync of file and directory that makes it
// survive a power cut runs on the thread pool, because a synchronous fsync
// costs the agent's loop milliseconds (measured 2 ms median here). A
// message is deleted only after the receiver answered 2xx, so a kill -9
// during delivery means it is sent again with the same idempotency key
// (at-least-once; the receiver deduplicates on X-Hosa-Idempotency-Key).
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";

export interface OutboxMessage {
  /** Idempotency key, stable across retries and restarts. */
  key: string;
  createdAt: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface OutboxOptions {
  maxMessages: number;
  /** First retry delay; doubles per failure up to backoffCapMs. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** One request's time limit. */
  timeoutMs?: number;
  /** Said once per event (drops, refusals); never throws. */
  onWarning?: (line: string) => void;
}

export interface OutboxStats {
  depth: number;
  delivered: number;
  dropped: number;
  rejected: number;
  failures: number;
}

const NAME = /^\d{16}\.json$/;

/** fsync each path (file or directory) off the loop; a file already delivered and deleted is fine. */
async function syncPaths(paths: string[]): Promise<void> {
  for (const p of paths) {
    try {
      const fh = await open(p, "r");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch {}
  }
}

export class Outbox {
  private names: string[];
  private counter: number;
  private stopped = false;
  private wake: (() => void) | null = null;
  private interrupt: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private syncing: Promise<void> = Promise.resolve();
  readonly stats: OutboxStats = { depth: 0, delivered: 0, dropped: 0, rejected: 0, failures: 0 };

  private constructor(
    readonly dir: string,
    private readonly opts: OutboxOptions,
  ) {
    mkdirSync(dir, { recursive: true });
    const all = readdirSync(dir);
    // A temp file is a write that never reached its rename: it was never enqueued.
    for (const n of all) if (n.includes(".tmp-")) unlinkSync(join(dir, n));
    this.names = all.filter((n) => NAME.test(n)).sort();
    const last = this.names[this.names.length - 1];
    // File names order the queue; the counter starts past both the last file and
    // the clock (µs), so names keep increasing across restarts with an empty queue.
    this.counter = Math.max(last ? Number(last.slice(0, 16)) + 1 : 0, Date.now() * 1000);
    this.stats.depth = this.names.length;
  }

  static open(dir: string, opts: OutboxOptions): Outbox {
    return new Outbox(dir, opts);
  }

  depth(): number {
    return this.names.length;
  }

  /** Write the message to disk (synchronously, atomically) and wake the sender. */
  enqueue(msg: Omit<OutboxMessage, "key" | "createdAt"> & { key?: string; createdAt?: string }): string {
    const full: OutboxMessage = { key: msg.key ?? randomUUID(), createdAt: msg.createdAt ?? new Date().toISOString(), url: msg.url, headers: msg.headers, body: msg.body };
    while (this.names.length >= Math.max(1, this.opts.maxMessages)) {
      const oldest = this.names.shift()!;
      try {
        unlinkSync(join(this.dir, oldest));
      } catch {}
      this.stats.dropped++;
      // Said at the 1st, 10th, 100th... drop: a long outage must not flood the agent's log (the counter is in /metrics).
      if (Number.isInteger(Math.log10(this.stats.dropped))) {
        this.opts.onWarning?.(`webhook outbox ${this.dir} full (${this.opts.maxMessages} messages): dropped the oldest, ${this.stats.dropped} dropped so far`);
      }
    }
    const name = `${String(this.counter++).padStart(16, "0")}.json`;
    const path = join(this.dir, name);
    writeFileSync(`${path}.tmp-${process.pid}`, JSON.stringify(full), { mode: 0o600 });
    renameSync(`${path}.tmp-${process.pid}`, path);
    this.syncing = this.syncing.then(() => syncPaths([path, this.dir]));
    this.names.push(name);
    this.stats.depth = this.names.length;
    this.wake?.();
    return full.key;
  }

  /** Start delivering in the background; idempotent. */
  start(): void {
    if (!this.loop) this.loop = this.run();
  }

  /** Stop after the request in flight (if any); undelivered messages stay on disk. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.interrupt?.();
    await this.loop;
    await this.syncing;
  }

  /** Sleep; stop() always ends it, enqueue() only when `idle` (a backoff is never shortened into a tight retry loop). */
  private sleep(ms: number, idle: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        this.interrupt = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.interrupt = done;
      if (idle) this.wake = done;
    });
  }

  private async run(): Promise<void> {
    let attempt = 0;
    const base = this.opts.backoffBaseMs ?? 100;
    const cap = this.opts.backoffCapMs ?? 4000;
    while (!this.stopped) {
      const name = this.names[0];
      if (!name) {
        await this.sleep(60_000, true);
        continue;
      }
      const path = join(this.dir, name);
      let msg: OutboxMessage;
      try {
        msg = JSON.parse(readFileSync(path, "utf8"));
        // Valid JSON of the wrong shape (a damaged or edited file) would fail in fetch and be retried for ever, blocking the queue.
        if (typeof msg !== "object" || msg === null || typeof msg.url !== "string" || typeof msg.key !== "string" || typeof msg.body !== "string") {
          throw new Error("not a message");
        }
        if (typeof msg.headers !== "object" || msg.headers === null) msg.headers = {};
      } catch {
        if (!existsSync(path)) {
          this.forget(name);
          continue;
        }
        this.opts.onWarning?.(`webhook outbox: ${path} unreadable, dropped`);
        this.remove(name);
        this.stats.dropped++;
        continue;
      }
      const outcome = await this.send(msg);
      if (outcome === "delivered" || outcome === "rejected") {
        this.remove(name);
        attempt = 0;
        continue;
      }
      this.stats.failures++;
      attempt++;
      // Exponential backoff, capped so a receiver that comes back is served within seconds.
      await this.sleep(Math.min(cap, base * 2 ** Math.min(attempt - 1, 20)), false);
    }
  }

  private async send(msg: OutboxMessage): Promise<"delivered" | "rejected" | "retry"> {
    try {
      const res = await fetch(msg.url, {
        method: "POST",
        headers: { ...msg.headers, "X-Hosa-Idempotency-Key": msg.key },
        body: msg.body,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) {
        this.stats.delivered++;
        return "delivered";
      }
      // A 4xx other than timeout/throttle means the receiver will never take this body: retrying would block the queue forever.
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        this.stats.rejected++;
        this.opts.onWarning?.(`webhook ${msg.url} refused message ${msg.key}: HTTP ${res.status}, dropped`);
        return "rejected";
      }
      return "retry";
    } catch {
      return "retry";
    }
  }

  private forget(name: string): void {
    const i = this.names.indexOf(name);
    if (i >= 0) this.names.splice(i, 1);
    this.stats.depth = this.names.length;
  }

  private remove(name: string): void {
    try {
      unlinkSync(join(this.dir, name));
    } catch {}
    this.forget(name);
  }
}
