// The action journal: every change hosa makes to the node is appended here,
// with the value it replaces, and fsynced BEFORE the change is applied. So
// whatever happens next (a clean stop, a crash, SIGKILL, a power cut after
// the write), the next start knows what to put back.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";

/** A cgroup file write. `prev` is the value before hosa's first write to this file; `value` what it writes now. */
export interface SetEntry {
  op: "set";
  id: string;
  t: number;
  level: number;
  /** Directory relative to the cgroupfs root ("memory/leak" on v1, "leak" on v2). */
  dir: string;
  file: string;
  /** Device "maj:min" for per-device files (io.max, blkio.throttle.*). */
  dev?: string;
  prev: string;
  value: string;
}

/** An XDP policy set on an interface; restoring means policy off and detach. */
export interface XdpEntry {
  op: "xdp";
  id: string;
  t: number;
  level: number;
  ifname: string;
  policy: string;
  prev: string;
}

/** A SIGSTOP; `startTime` (from /proc/<pid>/stat) makes sure a reused PID never gets the SIGCONT. */
export interface StopEntry {
  op: "stop";
  id: string;
  t: number;
  level: number;
  pid: number;
  startTime: string;
}

/** The change under `key` is over: restored, or left alone with the reason. */
export interface DoneEntry {
  op: "done";
  key: string;
  outcome: string;
}

export type ChangeEntry = SetEntry | XdpEntry | StopEntry;
export type JournalEntry = ChangeEntry | DoneEntry;

export function entryKey(e: ChangeEntry): string {
  switch (e.op) {
    case "set":
      return `cgroup:${e.dir}/${e.file}${e.dev ? `@${e.dev}` : ""}`;
    case "xdp":
      return `xdp:${e.ifname}`;
    case "stop":
      return `stop:${e.pid}`;
  }
}

/** One change still in force: its first entry (holds the original value) and the last one (holds hosa's current value). */
export interface OpenChange {
  key: string;
  first: ChangeEntry;
  last: ChangeEntry;
  /**
   * The entry before the last, when there is one: each entry is fsynced before
   * its write, so a SIGKILL between the two leaves the file at this entry's
   * value, still hosa's own, not the last one's.
   */
  prior?: ChangeEntry;
}

export interface JournalState {
  /** In the order they were first applied. */
  open: OpenChange[];
  /** One line per unreadable journal line: `journal line 7: not JSON (truncated?)`. */
  warnings: string[];
}

export class Journal {
  private constructor(readonly path: string) {}

  static open(path: string): Journal {
    mkdirSync(dirname(path), { recursive: true });
    return new Journal(path);
  }

  /** Append one entry and fsync; returns only when the entry is on disk. */
  append(entry: JournalEntry): void {
    const fd = openSync(this.path, "a", 0o600);
    try {
      const bytes = Buffer.from(`${JSON.stringify(entry)}\n`);
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Fold the journal into what is still in force. A bad line is a warning, never a reason to stop reading. */
  load(): JournalState {
    const warnings: string[] = [];
    const open = new Map<string, OpenChange>();
    if (!existsSync(this.path)) return { open: [], warnings };
    const text = readFileSync(this.path, "utf8");
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.trim() === "") continue;
      let e: JournalEntry;
      try {
        e = JSON.parse(line) as JournalEntry;
      } catch {
        const last = i === lines.length - 1 && !text.endsWith("\n");
        warnings.push(`journal ${this.path} line ${i + 1}: ${last ? "truncated entry" : "not JSON"}, skipped`);
        continue;
      }
      const bad = checkEntry(e);
      if (bad) {
        warnings.push(`journal ${this.path} line ${i + 1}: ${bad}, skipped`);
        continue;
      }
      if (e.op === "done") {
        open.delete(e.key);
        continue;
      }
      const key = entryKey(e);
      const had = open.get(key);
      if (had) {
        had.prior = had.last;
        had.last = e;
      }
      else open.set(key, { key, first: e, last: e });
    }
    return { open: [...open.values()], warnings };
  }

  /** Rewrite the journal atomically with only what is still in force (nothing, once all is restored). */
  compact(stillOpen: OpenChange[] = []): void {
    const lines: string[] = [];
    for (const c of stillOpen) {
      lines.push(JSON.stringify(c.first));
      if (c.prior && c.prior !== c.first && c.prior !== c.last) lines.push(JSON.stringify(c.prior));
      if (c.last !== c.first) lines.push(JSON.stringify(c.last));
    }
    writeFileAtomic(this.path, lines.length ? `${lines.join("\n")}\n` : "", 0o600);
  }
}

function checkEntry(e: unknown): string | null {
  if (typeof e !== "object" || e === null) return "not an object";
  const o = e as Record<string, unknown>;
  switch (o.op) {
    case "set":
      return typeof o.dir === "string" && typeof o.file === "string" && typeof o.prev === "string" && typeof o.value === "string"
        ? null
        : "set entry without dir/file/prev/value";
    case "xdp":
      return typeof o.ifname === "string" && typeof o.policy === "string" ? null : "xdp entry without ifname/policy";
    case "stop":
      return Number.isInteger(o.pid) && typeof o.startTime === "string" ? null : "stop entry without pid/startTime";
    case "done":
      return typeof o.key === "string" ? null : "done entry without key";
    default:
      return `unknown op ${JSON.stringify(o.op)}`;
  }
}
