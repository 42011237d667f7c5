// The one tick loop, shared by `hosa run` (src/agent.ts) and `hosa calibrate`
// (src/cli/commands/calibrate.ts): read a sample at a monotonic time on an
// absolute schedule, hand it to the caller, and when the machine stalled,
// resynchronise rather than burst. The interval is asked again after every
// tick (the agent's vigilance rate); stop() ends a wait at once.
import type { Sample } from "./engine/types.ts";

export interface TickLoopOptions {
  source: { read(t: number): Sample };
  /** Milliseconds to the next tick, asked after every tick. */
  tickMs(): number;
  /** Stop after this many seconds from the first read; 0 or absent: until stop(). */
  durationS?: number;
  /** After the priming read, before the first tick: `t0` in monotonic seconds. */
  onStart?(t0: number): void;
  /** One tick: the sample read at `t` (monotonic seconds) and the time it was due. */
  onTick(sample: Sample, t: number, scheduled: number): void;
}

export interface TickLoopResult {
  ticks: number;
  /** Whether stop() ended it (else the duration did). */
  stopped: boolean;
  /** Monotonic seconds of the first (priming) read. */
  t0: number;
}

/** Seconds on a monotonic clock; the samples' `t` is on this clock. */
export const monoS = (): number => Bun.nanoseconds() / 1e9;

export class TickLoop {
  private stopping = false;
  /** Ends the run at once (stop() while waiting for the next tick). */
  private finish: (() => void) | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Duration of the last tick's work and the longest, ms. */
  readonly spentMs = { last: 0, max: 0 };

  constructor(private readonly o: TickLoopOptions) {}

  /** End the loop: a wait ends at once, a tick in progress finishes. */
  stop(): void {
    this.stopping = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
      this.finish?.();
    }
  }

  get stopped(): boolean {
    return this.stopping;
  }

  /**
   * One timer per tick and nothing else: no promise, no closure, and two
   * reads of the clock (the tick's start and its end) per tick; the end of
   * one tick is the clock the wait for the next one is computed from.
   */
  run(): Promise<TickLoopResult> {
    const { source, durationS } = this.o;
    const t0 = monoS();
    source.read(t0); // primes the rate counters; the first rates come from the next read
    this.o.onStart?.(t0);
    let scheduled = t0 + this.o.tickMs() / 1000;
    let ticks = 0;
    return new Promise<TickLoopResult>((resolve, reject) => {
      const done = () => {
        this.finish = null;
        resolve({ ticks, stopped: this.stopping, t0 });
      };
      this.finish = done;
      const wait = (now: number): void => {
        if (this.stopping || (durationS && now - t0 >= durationS)) return done();
        const w = scheduled - now;
        this.timer = setTimeout(tick, w > 0 ? w * 1000 : 0);
      };
      const tick = (): void => {
        this.timer = null;
        if (this.stopping) return done();
        const t = monoS();
        try {
          this.o.onTick(source.read(t), t, scheduled);
        } catch (e) {
          this.finish = null;
          reject(e);
          return;
        }
        ticks++;
        const end = monoS();
        const spent = (end - t) * 1000;
        this.spentMs.last = spent;
        if (spent > this.spentMs.max) this.spentMs.max = spent;
        const tickS = this.o.tickMs() / 1000;
        scheduled += tickS;
        // Fell behind (a stalled machine): resynchronise rather than burst.
        if (scheduled < end) scheduled = end + tickS;
        wait(end);
      };
      wait(monoS());
    });
  }
}
