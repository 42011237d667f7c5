// How fast the agent ticks during an episode (docs/footprint.md § An episode
// that holds still). Dense samples exist for deciding fast: seeing a growth,
// proving that it lasts, containing it within half a second. Once a
// containment holds (every danger on a cgroup hosa holds, none pending nor
// failing, no watched cgroup moving, the level and the actions unchanged for
// settleS), 10 ms ticks buy nothing: the calm tick watches the hold and lets
// go as well, since every time constant of the engine, the danger tracker
// and the responder is in seconds (docs/engine.md §2). Anything that moves
// brings the vigilance tick back at the tick it is seen: the danger watch's
// scan runs every 100 ms at either tick, so new growth anywhere is at most
// one scan away.
//
// The responder's timed steps need no dense tick: a v1 ceiling rises once a
// second, relaxation goes in steps of relax_s / 3, XDP's rate limit ends after
// relax_s; at the calm tick each lands at most 100 ms late.
//
// Pure: the tick's time and what it saw come in, the tick to wait goes out.
import type { Danger } from "./engine/types.ts";

export interface PaceInput {
  /** The decision's level and the one before it (0 and 0 while warming up). */
  level: number;
  previousLevel: number;
  danger: Readonly<Danger>;
  /** Cgroups hosa holds a value on (a memory ceiling, a CPU quota), by path. */
  held: ReadonlyMap<string, unknown>;
  /** The danger watch's candidates (src/sense/cgroup-watch.ts): growing lately, new, or held. */
  candidates: number;
  /** Watched cgroups that moved lately (CgroupWatch.moving). */
  moving: number;
}

/**
 * After a level change the vigilance tick stays this long (seconds): the
 * effect of a step is seen densely. Actions at an unchanged level are the
 * responder's timed steps (a v1 ceiling rising each second, relaxation
 * steps) or a new target, whose danger is not held yet.
 */
export const SETTLE_S = 1;

export class EpisodePace {
  private changedT = Number.NEGATIVE_INFINITY;
  /** Whether the last tick found the episode holding still. */
  still = false;
  /** Whether the last tick was calm: Level 0, no candidate, nothing held (libhosa's sampler may batch the next ticks). */
  calm = true;

  constructor(
    private readonly calmTickMs: number,
    private readonly vigilanceTickMs: number,
    private readonly settleS = SETTLE_S,
  ) {}

  /** The tick to wait after this one. */
  tickMs(t: number, s: PaceInput): number {
    if (s.level !== s.previousLevel) this.changedT = t;
    this.still = false;
    this.calm = s.level < 1 && s.candidates === 0 && s.held.size === 0;
    if (s.level < 1 && s.candidates === 0) return this.calmTickMs;
    if (this.holdsStill(t, s)) {
      this.still = true;
      return this.calmTickMs;
    }
    return this.vigilanceTickMs;
  }

  private holdsStill(t: number, s: PaceInput): boolean {
    if (s.held.size === 0 || s.moving > 0 || s.level >= 5) return false;
    if (t - this.changedT < this.settleS || t < this.changedT) return false;
    const d = s.danger;
    if (d.pending || d.containmentFailing) return false;
    // A danger on a cgroup hosa holds nothing on (or on the node) is to be contained, not watched.
    return d.cgroup === null || s.held.has(d.cgroup);
  }
}
