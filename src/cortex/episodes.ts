// Episodes from the decision log: a departure from Level 0 until the return to
// Level 0. Pure: entries in, episodes out.
import type { LogEntry } from "./types.ts";

export interface Episode {
  /** Index range in the entries given: [start, end] inclusive; end is the entry returning to Level 0, or the last entry while open. */
  entries: LogEntry[];
  /** Hash of the first entry: names the episode for good (it cannot change once written). */
  firstHash: string;
  startedAt: string;
  /** Wall time of the return to Level 0; null while open. */
  endedAt: string | null;
  peakLevel: number;
}

export function toMs(iso: string): number {
  return Date.parse(iso);
}

/** Decision-log lines (parsed JSON objects) that look like entries; anything else is skipped. */
export function asLogEntries(raw: unknown[]): LogEntry[] {
  const out: LogEntry[] = [];
  for (const r of raw) {
    if (typeof r !== "object" || r === null) continue;
    const e = r as LogEntry;
    if ((e.kind !== "level" && e.kind !== "action") || typeof e.timestamp !== "string" || typeof e.level !== "number") continue;
    if (typeof e.seq !== "number" || typeof e.hash !== "string") continue;
    out.push(e);
  }
  return out;
}

/**
 * Split entries into episodes. An episode opens on a level entry above 0
 * and closes on the level entry that returns to 0. Restores logged after the
 * close (relaxation) belong to the episode they undo, until the next one
 * opens. Level entries at 0 outside an episode (agent restarts) are ignored.
 */
export function splitEpisodes(entries: LogEntry[]): Episode[] {
  const out: Episode[] = [];
  let cur: Episode | null = null;
  let last: Episode | null = null;
  for (const e of entries) {
    if (cur === null) {
      if (e.kind === "level" && e.level > 0) {
        cur = { entries: [e], firstHash: e.hash, startedAt: e.timestamp, endedAt: null, peakLevel: e.level };
        out.push(cur);
      } else if (e.kind === "action" && last !== null) {
        last.entries.push(e);
      }
      continue;
    }
    cur.entries.push(e);
    if (e.kind === "level") {
      cur.peakLevel = Math.max(cur.peakLevel, e.level);
      if (e.level === 0) {
        cur.endedAt = e.timestamp;
        last = cur;
        cur = null;
      }
    }
  }
  return out;
}
