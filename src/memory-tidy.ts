// When `hosa run` gives memory back (docs/footprint.md, Memory): a full
// collection, then the executable's clean pages handed back to the kernel.
// Start-up (module loading, the probes' preparation, the first cgroup walk)
// and an episode (the vigilance tick, the responder's first actions, the JIT
// compiling what calm never ran) touch code and make garbage that calm
// never touches again; calm itself settles over minutes as the JIT finishes,
// and the executable's pages it touches now and then (the collector, the
// compilers) come back between two hand-backs. So: shortly after start-up,
// then at doubling intervals up to every ten minutes (more often, a node
// under reclaim makes the agent read its own code from disk: a reflex that
// must act under memory pressure keeps its code resident), and again shortly after
// each containment ends, the doubling restarted. Vigilance that lasts (a
// busy node: cgroups made, leaked into, removed all along) gets one every
// longVigilanceS while no cgroup is in danger: its garbage and code piled up
// for as long as it lasted, and the 5 s after it ends never came.
//
// Pure: the agent asks `due(t, containing)` at every tick with its
// monotonic time.

export interface MemoryTidyOptions {
  /** Seconds after the loop starts: start-up is over (its garbage is dead, its code cold). */
  firstS: number;
  /** Seconds from the first tidy to the second; each later interval doubles. */
  thenS: number;
  /** The interval stops doubling here. */
  maxEveryS: number;
  /** Seconds after a containment ends before tidying. */
  afterEpisodeS: number;
  /** At most one tidy for vigilance alone (no containment) in this many seconds. */
  vigilanceEveryS: number;
  /** While vigilant without a break and no cgroup in danger: a tidy this long after the vigilance began or the last tidy. */
  longVigilanceS: number;
}

export const MEMORY_TIDY_DEFAULTS: Readonly<MemoryTidyOptions> = { firstS: 2, thenS: 10, maxEveryS: 600, afterEpisodeS: 5, vigilanceEveryS: 300, longVigilanceS: 120 };

export class MemoryTidy {
  private next = Number.POSITIVE_INFINITY;
  private every = 0;
  /** When the last containment ended (+Infinity while none is pending). */
  private calmSince = Number.POSITIVE_INFINITY;
  /** A containment happened since the last tidy. */
  private episode = false;
  /** The agent was vigilant (10 ms ticks, candidates' reads, levels) since the last tidy. */
  private vigilance = false;
  /** When the last vigilance ended (+Infinity while vigilant or none is pending). */
  private quietSince = Number.POSITIVE_INFINITY;
  /** When the last tidy for vigilance alone was. */
  private vigilanceTidyAt = Number.NEGATIVE_INFINITY;
  /** When the vigilance going on began (+Infinity while calm). */
  private vigilantSince = Number.POSITIVE_INFINITY;
  /** When the last tidy of any kind was. */
  private lastTidyAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly o: MemoryTidyOptions = MEMORY_TIDY_DEFAULTS) {}

  /** The loop started at `t0` (monotonic seconds). */
  start(t0: number): void {
    this.next = t0 + this.o.firstS;
    this.every = this.o.thenS;
  }

  /**
   * Whether to tidy now, at `t`. `containing`: hosa is acting on a cgroup
   * (act mode, Level 3 and above or a ceiling held). Never then: a
   * collection would delay the ticks that contain it, for memory only; 5 s
   * after it ends, once. `vigilant`: the agent is not calm (a level, a
   * watch candidate): its garbage and the code the JIT compiled for it are
   * left when it ends, so 5 s after it ends a tidy is due too, at most once
   * every vigilanceEveryS: a busy node goes in and out of vigilance all the
   * time, and on a node under reclaim each hand-back of the executable's
   * pages is read from disk again (docs/footprint.md, Memory). Vigilance
   * never defers a tidy (a node vigilant for an hour keeps the schedule),
   * and vigilance that lasts longVigilanceS gets one of its own, then one
   * every longVigilanceS while it lasts, unless `danger`: a cgroup is heading
   * to exhaustion (the danger tracker names one), when a collection could
   * delay the tick that contains it.
   */
  due(t: number, containing: boolean, vigilant = false, danger = false): boolean {
    const yes = this.decide(t, containing, vigilant, danger);
    if (yes) this.lastTidyAt = t;
    return yes;
  }

  private decide(t: number, containing: boolean, vigilant: boolean, danger: boolean): boolean {
    if (vigilant) {
      this.vigilance = true;
      this.quietSince = Number.POSITIVE_INFINITY;
      if (this.vigilantSince === Number.POSITIVE_INFINITY) this.vigilantSince = t;
    } else this.vigilantSince = Number.POSITIVE_INFINITY;
    if (containing) {
      this.episode = true;
      this.calmSince = Number.POSITIVE_INFINITY;
      return false;
    }
    if (this.episode) {
      if (this.calmSince === Number.POSITIVE_INFINITY) this.calmSince = t;
      if (t - this.calmSince < this.o.afterEpisodeS) return false;
      // After an episode the JIT settles again: restart the doubling.
      this.episode = false;
      this.calmSince = Number.POSITIVE_INFINITY;
      this.next = t + this.o.thenS;
      this.every = Math.min(this.o.maxEveryS, this.o.thenS * 2);
      return true;
    }
    if (vigilant && !danger && t - Math.max(this.vigilantSince, this.lastTidyAt) >= this.o.longVigilanceS) {
      this.vigilanceTidyAt = t;
      if (this.next < t + this.o.thenS) this.next = t + this.o.thenS;
      return true;
    }
    if (this.vigilance && !vigilant && t - this.vigilanceTidyAt >= this.o.vigilanceEveryS) {
      if (this.quietSince === Number.POSITIVE_INFINITY) this.quietSince = t;
      if (t - this.quietSince >= this.o.afterEpisodeS) {
        this.vigilance = false;
        this.quietSince = Number.POSITIVE_INFINITY;
        this.vigilanceTidyAt = t;
        if (this.next < t + this.o.thenS) this.next = t + this.o.thenS;
        return true;
      }
    }
    if (t < this.next) return false;
    this.vigilance = false;
    this.next = t + this.every;
    this.every = Math.min(this.o.maxEveryS, this.every * 2);
    return true;
  }
}
