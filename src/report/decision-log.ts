// The decision log: JSON Lines, one entry per level change and per action,
// hash-chained so that editing, inserting or deleting an entry is evident
// (document 004 §12: "the log is the agent's testimony").
//
// Each line is the JSON of the entry with `prev_hash` (the previous entry's
// `hash`) and, written last, `hash`: the SHA-256 of the line up to the hash
// field, closed with "}". The chain runs across rotated files: the first entry
// of decisions.log links to the last one of decisions.log.1.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Decision } from "../engine/types.ts";
import type { ActionRecord } from "../respond/types.ts";
import type { CgroupUsage } from "../sense/types.ts";
import { EXIT, HosaError } from "../errors.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { compression, INPUT_LIMITS, looksBinary, readInput, shownPath } from "../util/input.ts";
import { decisionFields } from "../engine/fields.ts";

export const GENESIS_HASH = "0".repeat(64);
const HASH_SUFFIX = /,"hash":"([0-9a-f]{64})"\}$/;
const HEAD_FILE = "head.sig";
const KEY_FILE = "audit-ed25519.key";
const PUB_FILE = "audit-ed25519.pub";

export interface DecisionLogOptions {
  maxBytes: number;
  /** Rotated files kept: decisions.log.1 .. decisions.log.<keep>. */
  keep: number;
  stateDir: string;
  /** Sign the chain head with Ed25519 (key generated in stateDir on first use). Default true. */
  sign?: boolean;
  /** Minimum interval between head signatures while appending; the head is always signed on close. */
  signEveryMs?: number;
}

export interface VerifyResult {
  ok: boolean;
  entries: number;
  /** Files checked, oldest first. */
  files: string[];
  firstBroken?: { file: string; line: number; why: string };
  /** "verified", "absent" or why it failed; "absent" when no head.sig was found. */
  signature?: string;
  /** Entries after the signed head (written since the last signature). */
  unsignedTail?: number;
}

// Wall clock in ns: the epoch at an hrtime origin, re-anchored when the wall
// clock is stepped (NTP), so timestamps are monotonic between steps.
let anchorNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

/** Now as ns since the epoch. */
export function nowEpochNs(): bigint {
  let ns = anchorNs + process.hrtime.bigint();
  const wallMs = Date.now();
  if (Math.abs(Number(ns / 1_000_000n) - wallMs) > 1000) {
    anchorNs = BigInt(wallMs) * 1_000_000n - process.hrtime.bigint();
    ns = anchorNs + process.hrtime.bigint();
  }
  return ns;
}

/** ISO UTC with nanoseconds: 2026-03-10T14:23:09.127000000Z (document 004 §12). */
export function wallTimeNs(epochNs: bigint = nowEpochNs()): string {
  const ms = Number(epochNs / 1_000_000n);
  const frac = (epochNs % 1_000_000_000n).toString().padStart(9, "0");
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac}Z`;
}

function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/** One level change: the decision's fields of document 004 with the time and node. */
export function levelEntry(d: Decision, wallTime: string, node: string): Record<string, unknown> {
  return {
    kind: "level",
    timestamp: wallTime,
    node,
    ...decisionFields(d),
    target_cgroup: null,
    action: null,
    action_effect: null,
  };
}

/** Whether an action is working, in the words of document 004: a decelerating D_M means containment bites. */
export function actionEffect(d: Decision | null, a: ActionRecord): string {
  if (!a.outcome.startsWith("applied") || !d) return a.outcome;
  return d.dmAcceleration < 0 ? "effective (d2DM/dt2 < 0)" : "not yet effective (d2DM/dt2 >= 0)";
}

/** One action, with the decision that caused it (null for restores before any decision, e.g. after a crash). */
export function actionEntry(d: Decision | null, a: ActionRecord, wallTime: string, node: string): Record<string, unknown> {
  return {
    kind: "action",
    timestamp: wallTime,
    node,
    ...(d ? decisionFields(d) : { level: a.level, level_name: null, reason: "" }),
    target_cgroup: a.kind === "cgroup" ? a.target : null,
    target: a.target,
    action: a.action,
    action_kind: a.kind,
    action_id: a.id,
    action_level: a.level,
    outcome: a.outcome,
    action_effect: actionEffect(d, a),
  };
}

/** One cgroup that consumed most of one resource over an episode so far (the `contributors` field of a level entry). */
export interface Contributor {
  /** cpu (cores), memory (bytes/s), io (bytes/s), pids (tasks/s); from the eBPF probes where loaded: forks, blk_ios, tcp_opens (per second). */
  resource: string;
  cgroup: string;
  per_s: number;
  /** The window: from the episode's first level entry to this one, seconds. */
  over_s: number;
}

const HIERARCHICAL: [string, (u: CgroupUsage) => number, number][] = [
  ["cpu", (u) => u.cpuUsageUs, 1e-6],
  ["memory", (u) => u.memoryBytes, 1],
  ["io", (u) => u.ioBytes, 1],
  ["pids", (u) => u.pids, 1],
];
/** eBPF counters charged to tasks directly in a cgroup (no descendant counted twice). */
const PROBED: [string, string][] = [
  ["forks", "forks"],
  // Issued, not completed: a completion runs in interrupt context and, with lean probes, is not charged to a cgroup.
  ["blk_ios", "blkIssued"],
  ["tcp_opens", "tcpActiveOpens"],
];

/**
 * Per resource, the cgroup whose consumption grew most between two walks
 * (docs/cortex.md § Attribution): a parent is left out when one of its
 * descendants grew at least half as much (usage is hierarchical: the parent
 * of a busy cgroup is as busy), and the root is never one (it holds
 * whatever runs outside any cgroup, and nothing acts on it). What the cortex needs to name the cgroup of
 * an episode no danger record names (CPU, I/O): the decision data carries
 * only node-wide dimensions. Pure.
 */
export function contributors(open: CgroupUsage[], now: CgroupUsage[], overS: number): Contributor[] {
  if (!(overS > 0)) return [];
  const before = new Map(open.map((u) => [u.path, u]));
  const out: Contributor[] = [];
  const r6 = (v: number) => Math.round(v * 1e6) / 1e6;
  for (const [resource, get, scale] of HIERARCHICAL) {
    const grew = now
      .map((u) => ({ path: u.path, delta: before.has(u.path) ? get(u) - get(before.get(u.path)!) : 0 }))
      .filter((c) => c.delta > 0 && c.path !== "/")
      .sort((a, b) => b.delta - a.delta || a.path.localeCompare(b.path))
      .slice(0, 64);
    const top = grew.find((c) => !grew.some((d) => d !== c && d.delta >= 0.5 * c.delta && d.path.startsWith(`${c.path}/`)));
    if (top) out.push({ resource, cgroup: top.path, per_s: r6((top.delta * scale) / overS), over_s: r6(overS) });
  }
  for (const [resource, key] of PROBED) {
    let best: { path: string; delta: number } | null = null;
    for (const u of now) {
      if (u.path === "/") continue;
      const b = before.get(u.path)?.probeCounters?.[key];
      const a = u.probeCounters?.[key];
      if (typeof a !== "number" || typeof b !== "number" || !(a - b > 0)) continue;
      if (!best || a - b > best.delta || (a - b === best.delta && u.path < best.path)) best = { path: u.path, delta: a - b };
    }
    if (best) out.push({ resource, cgroup: best.path, per_s: r6(best.delta / overS), over_s: r6(overS) });
  }
  return out;
}

/**
 * The `contributors` of the agent's level entries: one walk of the cgroups
 * when the node leaves Level 0, one at each later level change but the
 * escalations into containment (Level ≥ 3, where the next tick must come on
 * time: a walk costs milliseconds), and the growth between them. A few walks
 * per episode, never one per tick, each after the responder has acted.
 */
export class EpisodeAttribution {
  private open: { t: number; usage: CgroupUsage[] } | null = null;
  constructor(private readonly walk: () => CgroupUsage[]) {}

  /** Adds `contributors` to a level entry about to be logged (from the second level entry of an episode on). */
  annotate(d: Decision, entry: Record<string, unknown>): void {
    if (d.previousLevel === 0 && d.level > 0) {
      this.open = { t: d.t, usage: this.walk() };
      return;
    }
    if (this.open === null) return;
    if (d.level > d.previousLevel && d.level >= 3) return;
    entry.contributors = contributors(this.open.usage, this.walk(), d.t - this.open.t);
    if (d.level === 0) this.open = null;
  }
}

/** Files of a log, oldest first: decisions.log.<n> .. decisions.log.1, decisions.log. */
export function logFiles(path: string): string[] {
  const dir = dirname(path);
  const base = basename(path);
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const rotated = names
    .map((n) => ({ n, m: n.startsWith(`${base}.`) ? /^(\d+)$/.exec(n.slice(base.length + 1)) : null }))
    .filter((x) => x.m)
    .map((x) => ({ file: join(dir, x.n), k: Number(x.m![1]) }))
    .sort((a, b) => b.k - a.k)
    .map((x) => x.file);
  if (names.includes(base)) rotated.push(path);
  return rotated;
}

function notALog(file: string, action: string, why: string): never {
  throw new HosaError(`${action} ${shownPath(file)}: not a hosa decision log: ${why}`, EXIT.INPUT);
}

/**
 * A log file's text through the one input door (src/util/input.ts). A
 * compressed file, or one whose first line is not an entry (binary data,
 * some other text), is refused as not a decision log, never read as zero
 * entries. Bad bytes further down are left for the line checks to name.
 */
export function readLogText(file: string, action: string): string {
  const bytes = readInput(file, { action, maxBytes: INPUT_LIMITS.decisionLog, allowStdin: false });
  const packed = compression(bytes);
  if (packed) notALog(file, action, `${packed}-compressed (decompress it first)`);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  if (text.length > 0 && text.trim() === "") notALog(file, action, "only blank lines");
  const nl = text.indexOf("\n");
  const first = nl < 0 ? text : text.slice(0, nl);
  if (first.length > 0 && !first.includes('"prev_hash":"') && !first.includes('"hash":"')) {
    notALog(file, action, looksBinary(bytes) ? "binary data" : "line 1 is not a hash-chained entry");
  }
  return text;
}

type LineCheck = { ok: true; hash: string; prev: string; seq: number | undefined } | { ok: false; why: string };

/** Check one line on its own: well formed, and its hash covers its content. */
function checkLine(line: string): LineCheck {
  const m = HASH_SUFFIX.exec(line);
  if (!m) return { ok: false, why: "no hash field at the end of the line" };
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line);
  } catch {
    return { ok: false, why: "not valid JSON" };
  }
  if (typeof entry !== "object" || entry === null || entry.hash !== m[1]) return { ok: false, why: "not valid JSON" };
  const body = `${line.slice(0, m.index)}}`;
  if (sha256(body) !== m[1]) return { ok: false, why: "hash mismatch" };
  if (typeof entry.prev_hash !== "string") return { ok: false, why: "no prev_hash" };
  return { ok: true, hash: m[1], prev: entry.prev_hash, seq: typeof entry.seq === "number" ? entry.seq : undefined };
}

interface HeadRecord {
  hash: string;
  seq: number;
  file: string;
  signed_at: string;
  sig: string;
}

function headPayload(h: Omit<HeadRecord, "sig">): string {
  return JSON.stringify({ hash: h.hash, seq: h.seq, file: h.file, signed_at: h.signed_at });
}

/**
 * Check the chain across the rotated files of `path`. The oldest kept entry is
 * the anchor (its predecessor may have been rotated away); every later entry
 * must link to the one before it. When `stateDir` holds a signed head, its
 * signature is checked and its hash must be in the chain.
 */
export function verifyLog(path: string, opts: { stateDir?: string } = {}): VerifyResult {
  const files = logFiles(path);
  if (files.length === 0) files.push(path);
  const shown = (f: string) => basename(f);
  let entries = 0;
  let prevHash: string | null = null;
  let prevSeq: number | undefined;
  const hashIndex = new Map<string, number>();
  for (const file of files) {
    const text = readLogText(file, "cannot verify");
    const lines = text.split("\n");
    const complete = text.endsWith("\n") || text.length === 0;
    if (complete) lines.pop();
    for (let i = 0; i < lines.length; i++) {
      const where = { file: shown(file), line: i + 1 };
      const line = lines[i]!;
      if (!complete && i === lines.length - 1) {
        if (entries === 0) notALog(file, "cannot verify", "one line with no newline and no entry before it");
        return { ok: false, entries, files: files.map(shown), firstBroken: { ...where, why: "truncated line (no newline)" } };
      }
      const c = checkLine(line);
      if (!c.ok) {
        return { ok: false, entries, files: files.map(shown), firstBroken: { ...where, why: c.why } };
      }
      // The oldest kept entry is an anchor, unless it is the first ever (seq 0), which must start from genesis.
      if (prevHash === null && c.seq === 0 && c.prev !== GENESIS_HASH) {
        return { ok: false, entries, files: files.map(shown), firstBroken: { ...where, why: "first entry does not start from the genesis hash" } };
      }
      if (prevHash !== null && c.prev !== prevHash) {
        return { ok: false, entries, files: files.map(shown), firstBroken: { ...where, why: "prev_hash does not match the previous entry (entry missing or reordered)" } };
      }
      if (prevSeq !== undefined && c.seq !== undefined && c.seq !== prevSeq + 1) {
        return { ok: false, entries, files: files.map(shown), firstBroken: { ...where, why: `sequence jumps from ${prevSeq} to ${c.seq}` } };
      }
      prevHash = c.hash;
      prevSeq = c.seq;
      entries++;
      hashIndex.set(c.hash, entries);
    }
  }
  if (entries === 0) {
    throw new HosaError(`cannot verify ${shownPath(path)}: empty log: no entry to verify${files.length > 1 ? ` in ${files.length} files` : ""}`, EXIT.INPUT);
  }
  const result: VerifyResult = { ok: true, entries, files: files.map(shown), signature: "absent" };
  if (opts.stateDir && existsSync(join(opts.stateDir, HEAD_FILE))) {
    const why = checkHead(opts.stateDir, hashIndex);
    if (typeof why === "string") {
      const last = files.length > 0 ? shown(files[files.length - 1]!) : shown(path);
      return { ...result, ok: false, signature: why, firstBroken: { file: last, line: 0, why } };
    }
    result.signature = "verified";
    result.unsignedTail = entries - why.index;
  }
  return result;
}

function checkHead(stateDir: string, hashIndex: Map<string, number>): string | { index: number } {
  let head: HeadRecord;
  try {
    head = JSON.parse(readFileSync(join(stateDir, HEAD_FILE), "utf8"));
  } catch {
    return "signed head unreadable";
  }
  let pub;
  try {
    pub = createPublicKey(readFileSync(join(stateDir, PUB_FILE), "utf8"));
  } catch {
    return "signed head present but no public key";
  }
  let ok = false;
  try {
    ok = verify(null, Buffer.from(headPayload(head)), pub, Buffer.from(String(head.sig), "base64"));
  } catch {}
  if (!ok) return "signed head: bad signature";
  if (head.hash === GENESIS_HASH) return { index: 0 };
  const index = hashIndex.get(head.hash);
  if (index === undefined) return "signed head not in the chain (entries removed or rewritten)";
  return { index };
}

/** The appender. Synchronous and cheap: one write(2) per entry, no fsync on the append path. */
export class DecisionLog {
  readonly warnings: string[] = [];
  private fd: number;
  private size: number;
  private lastHash: string;
  private nextSeq: number;
  private lastSignMs = 0;
  private dirty = false;
  private key: ReturnType<typeof createPrivateKey> | null = null;

  private constructor(
    readonly path: string,
    private readonly opts: DecisionLogOptions,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    const tail = this.recover();
    this.lastHash = tail.hash;
    this.nextSeq = tail.seq + 1;
    this.fd = openSync(path, "a", 0o640);
    this.size = fstatSync(this.fd).size;
  }

  /** Open (or create) the log; a torn last line from a crash is moved aside and named in `warnings`. */
  static open(path: string, opts: DecisionLogOptions): DecisionLog {
    return new DecisionLog(path, opts);
  }

  /** Find the chain's tail; cut off a torn last line so the next append links to the last good entry. */
  private recover(): { hash: string; seq: number } {
    if (existsSync(this.path)) {
      const buf = readFileSync(this.path);
      const text = buf.toString("utf8");
      let goodEnd = text.length;
      let found: { hash: string; seq: number } | null = null;
      // A crash can only tear the last write: drop a tail without newline,
      // then unparsable lines before it. A parsable line with a wrong hash is
      // kept for `audit verify` to report, never hidden here.
      if (!text.endsWith("\n")) goodEnd = text.lastIndexOf("\n") + 1;
      while (goodEnd > 0) {
        const start = text.lastIndexOf("\n", goodEnd - 2) + 1;
        const line = text.slice(start, goodEnd - 1);
        let entry: Record<string, unknown> | null = null;
        try {
          entry = JSON.parse(line);
        } catch {}
        if (entry && typeof entry === "object" && typeof entry.hash === "string") {
          found = { hash: entry.hash, seq: typeof entry.seq === "number" ? entry.seq : -1 };
          break;
        }
        goodEnd = start;
      }
      if (goodEnd < text.length) {
        // Complete lines are valid UTF-8, so the kept prefix's byte length is exact.
        const keepBytes = Buffer.byteLength(text.slice(0, goodEnd));
        const bytes = buf.length - keepBytes;
        const aside = `${this.path}.corrupt-${Date.now()}`;
        writeFileAtomic(aside, buf.subarray(keepBytes));
        const fd = openSync(this.path, "r+");
        try {
          ftruncateSync(fd, keepBytes);
        } finally {
          closeSync(fd);
        }
        this.warnings.push(`decision log ${this.path}: torn last line (${bytes} bytes) moved to ${aside}; chain continues from the last good entry`);
      }
      if (found) return found;
    }
    // An empty current file: the chain continues from the newest rotated one.
    const files = logFiles(this.path).filter((f) => f !== this.path);
    const prev = files[files.length - 1];
    if (prev) {
      const text = readFileSync(prev, "utf8").trimEnd();
      const line = text.slice(text.lastIndexOf("\n") + 1);
      const c = checkLine(line);
      if (c.ok) return { hash: c.hash, seq: c.seq ?? -1 };
    }
    return { hash: GENESIS_HASH, seq: -1 };
  }

  /** Append one entry (from levelEntry/actionEntry); adds seq, prev_hash and hash. */
  append(entry: Record<string, unknown>): void {
    const { hash: _h, prev_hash: _p, seq: _s, ...rest } = entry;
    const body = JSON.stringify({ ...rest, seq: this.nextSeq, prev_hash: this.lastHash });
    const hash = sha256(body);
    const line = `${body.slice(0, -1)},"hash":"${hash}"}\n`;
    const bytes = Buffer.from(line);
    if (this.size > 0 && this.size + bytes.length > this.opts.maxBytes) this.rotate();
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
    this.size += bytes.length;
    this.lastHash = hash;
    this.nextSeq++;
    this.dirty = true;
    const now = Date.now();
    if (this.opts.sign !== false && now - this.lastSignMs >= (this.opts.signEveryMs ?? 1000)) this.signHead();
  }

  /** The chain's head: the hash of the last entry and its sequence number. */
  head(): { hash: string; seq: number } {
    return { hash: this.lastHash, seq: this.nextSeq - 1 };
  }

  private rotate(): void {
    closeSync(this.fd);
    const keep = Math.max(1, this.opts.keep);
    const oldest = `${this.path}.${keep}`;
    if (existsSync(oldest)) unlinkSync(oldest);
    for (let k = keep - 1; k >= 1; k--) {
      const f = `${this.path}.${k}`;
      if (existsSync(f)) renameSync(f, `${this.path}.${k + 1}`);
    }
    renameSync(this.path, `${this.path}.1`);
    this.fd = openSync(this.path, "a", 0o640);
    this.size = 0;
  }

  private loadKey(): ReturnType<typeof createPrivateKey> {
    if (this.key) return this.key;
    const keyPath = join(this.opts.stateDir, KEY_FILE);
    if (existsSync(keyPath)) {
      this.key = createPrivateKey(readFileSync(keyPath, "utf8"));
    } else {
      const { privateKey, publicKey } = generateKeyPairSync("ed25519");
      writeFileAtomic(keyPath, privateKey.export({ type: "pkcs8", format: "pem" }) as string, 0o600);
      writeFileAtomic(join(this.opts.stateDir, PUB_FILE), publicKey.export({ type: "spki", format: "pem" }) as string);
      this.key = privateKey;
    }
    return this.key;
  }

  /** Sign the current head into stateDir/head.sig (atomically). */
  signHead(): void {
    if (this.opts.sign === false) return;
    const h = { hash: this.lastHash, seq: this.nextSeq - 1, file: basename(this.path), signed_at: wallTimeNs() };
    const sig = sign(null, Buffer.from(headPayload(h)), this.loadKey()).toString("base64");
    writeFileAtomic(join(this.opts.stateDir, HEAD_FILE), `${JSON.stringify({ ...h, sig })}\n`);
    this.lastSignMs = Date.now();
    this.dirty = false;
  }

  close(): void {
    if (this.fd < 0) return;
    if (this.dirty) this.signHead();
    closeSync(this.fd);
    this.fd = -1;
  }
}
