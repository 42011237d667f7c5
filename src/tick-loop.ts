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
  private wake: (() => void) | null = null;
  /** Duration of the last tick's work and the longest, ms. */
  readonly spentMs = { last: 0, max: 0 };

  constructor(private readonly o: TickLoopOptions) {}

  /** End the loop: a wait ends at once, a tick in progress finishes. */
  stop(): void {
    this.stopping = true;
    this.wake?.();
  }

  get stopped(): boolean {
    return this.stopping;
  }

  async run(): Promise<TickLoopResult> {
    const { source, durationS } = this.o;
    const t0 = monoS();
    source.read(t0); // primes the rate counters; the first rates come from the next read
    this.o.onStart?.(t0);
    let scheduled = t0 + this.o.tickMs() / 1000;
    let ticks = 0;
    while (!this.stopping) {
      if (durationS && monoS() - t0 >= durationS) break;
      const wait = scheduled - monoS();
      if (wait > 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, wait * 1000);
        });
        this.wake = null;
      }
      if (this.stopping) break;
      const t = monoS();
      this.o.onTick(source.read(t), t, scheduled);
      ticks++;
      const spent = (monoS() - t) * 1000;
      this.spentMs.last = spent;
      if (spent > this.spentMs.max) this.spentMs.max = spent;
      const tickS = this.o.tickMs() / 1000;
      scheduled += tickS;
      // Fell behind (a stalled machine): resynchronise rather than burst.
      if (scheduled < monoS()) scheduled = monoS() + tickS;
    }
    return { ticks, stopped: this.stopping, t0 };
  }
}
