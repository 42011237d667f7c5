// The one tick loop, shared by `hosa run` (src/agent.ts) and `hosa calibrate`
// (src/cli/commands/calibrate.ts): read a sample at a monotonic time on an
// absolute schedule, hand it to the caller, and when the machine stalled,
// resynchronise rather than burst. The interval is asked again after every
// tick (the agent's vigilance rate); stop() ends a wait at once.
//
// With a sampler (src/sense/sampler.ts) and a batch() above 1, the reads are
// taken by libhosa's thread on the same schedule and JavaScript wakes once
// per batch (or at a tripwire): each snapshot is then processed in order,
// `onTick(source.read(t), t, scheduled)` with t the time it was taken, the
// reads served from it (docs/footprint.md § The sampler). When batch() falls
// to 1 (vigilance), what is still pending is dropped and the loop reads
// inline again, at once.
import type { Sample } from "./engine/types.ts";
import type { Sampler } from "./sense/sampler.ts";

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
  /** libhosa's sampler; absent: every read inline. */
  sampler?: Sampler;
  /** Ticks per wake, asked after every tick (1: inline reads); absent: 1. */
  batch?(): number;
  /** Told once when the sampler stopped working and the loop went back to inline reads. */
  onSamplerLost?(why: string): void;
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

/** A sampler thread alive but taking nothing for three batches' time this often is given up for good. */
export const MAX_SAMPLER_STALLS = 3;

export class TickLoop {
  private stopping = false;
  /** Ends the run at once (stop() while waiting for the next tick). */
  private finish: (() => void) | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Duration of the last tick's work and the longest, ms. */
  readonly spentMs = { last: 0, max: 0 };
  /** Batched mode: wakes, snapshots processed, snapshots dropped when the loop went inline. */
  readonly batched = { wakes: 0, snapshots: 0, dropped: 0 };

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
    const { source, durationS, sampler } = this.o;
    const t0 = monoS();
    source.read(t0); // primes the rate counters; the first rates come from the next read
    this.o.onStart?.(t0);
    let scheduled = t0 + this.o.tickMs() / 1000;
    let ticks = 0;
    /** The sampler takes the reads (batched mode). */
    let batching = false;
    /** It failed (died, or stalled MAX_SAMPLER_STALLS times): inline from then on. */
    let samplerLost = false;
    /** Watchdogs that found the thread alive but with nothing taken. */
    let stalls = 0;
    const times = new Float64Array(2);
    return new Promise<TickLoopResult>((resolve, reject) => {
      const quitSampler = () => {
        if (!batching) return;
        batching = false;
        this.batched.dropped += sampler!.pause();
      };
      const done = () => {
        this.finish = null;
        if (this.timer !== null) clearTimeout(this.timer);
        this.timer = null;
        quitSampler();
        resolve({ ticks, stopped: this.stopping, t0 });
      };
      const fail = (e: unknown) => {
        this.finish = null;
        quitSampler();
        reject(e);
      };
      this.finish = done;
      const wait = (now: number): void => {
        if (this.stopping || (durationS && now - t0 >= durationS)) return done();
        const w = scheduled - now;
        this.timer = setTimeout(tick, w > 0 ? w * 1000 : 0);
      };
      /** After a tick: the loop's mode for the next; whether it is batched. */
      const batchNext = (): boolean => {
        const b = sampler && !samplerLost ? Math.floor(this.o.batch?.() ?? 1) : 1;
        if (b > 1) {
          if (sampler!.run(this.o.tickMs(), b)) {
            batching = true;
            return true;
          }
          if (!batching) {
            samplerLost = true;
            this.o.onSamplerLost?.("libhosa's sampler did not start: reading inline");
          }
        }
        quitSampler();
        return false;
      };
      const tickDone = (start: number, end: number): void => {
        ticks++;
        const spent = (end - start) * 1000;
        this.spentMs.last = spent;
        if (spent > this.spentMs.max) this.spentMs.max = spent;
      };
      /** The watchdog of batched mode: a few batches' time without a wake means the thread or its wake is gone. */
      const armWatchdog = (now: number): void => {
        if (this.timer !== null) clearTimeout(this.timer);
        const batchS = (this.o.tickMs() / 1000) * Math.max(1, this.o.batch?.() ?? 1);
        let w = 3 * batchS + 0.05;
        if (durationS) w = Math.min(w, Math.max(0, t0 + durationS - now));
        this.timer = setTimeout(watchdog, w * 1000);
      };
      const watchdog = (): void => {
        this.timer = null;
        const now = monoS();
        if (this.stopping) return done();
        if (durationS && now - t0 >= durationS) {
          // The snapshots taken within the duration are processed, as inline reads would have been.
          if (batching) wake();
          return this.finish === null ? undefined : done();
        }
        if (!batching) return;
        const st = sampler!.status();
        if (st.pending > 0) return wake();
        if (!st.alive) {
          samplerLost = true;
          this.o.onSamplerLost?.("libhosa's sampler stopped: reading inline");
        } else if (st.taken === 0) return armWatchdog(now);
        else if (++stalls >= MAX_SAMPLER_STALLS) {
          samplerLost = true;
          this.o.onSamplerLost?.(`libhosa's sampler took nothing for three batches' time, ${stalls} times: reading inline`);
        }
        // Alive but stalled (starved on a loaded node, a slow read): inline from this tick, the
        // thread started again at the next calm tick; only repeated stalls give it up for good.
        quitSampler();
        scheduled = now;
        tick();
      };
      const wake = (): void => {
        if (!batching || this.finish === null) return;
        sampler!.ack();
        this.batched.wakes++;
        let end = monoS();
        while (batching && !this.stopping) {
          if (!sampler!.begin(times)) break;
          const t = times[0]!;
          try {
            this.o.onTick(source.read(t), t, times[1]!);
          } catch (e) {
            return fail(e);
          } finally {
            sampler!.end();
          }
          this.batched.snapshots++;
          // The work of this snapshot: from the end of the last one (t is when it was taken, maybe a batch ago).
          const from = end;
          end = monoS();
          tickDone(from, end);
          if (durationS && t - t0 >= durationS) return done();
          if (!batchNext()) {
            // Vigilance: what was pending is dropped, the next read is inline, one tick after this one.
            const tickS = this.o.tickMs() / 1000;
            scheduled = times[1]! + tickS;
            if (scheduled < end) scheduled = end;
            if (this.timer !== null) clearTimeout(this.timer);
            this.timer = null;
            return wait(end);
          }
        }
        if (this.stopping) return done();
        armWatchdog(end);
      };
      const tick = (): void => {
        this.timer = null;
        if (this.stopping) return done();
        const t = monoS();
        try {
          this.o.onTick(source.read(t), t, scheduled);
        } catch (e) {
          return fail(e);
        }
        const end = monoS();
        tickDone(t, end);
        if (sampler && !samplerLost && (this.o.batch?.() ?? 1) > 1) {
          if (durationS && end - t0 >= durationS) return done();
          if (batchNext()) {
            sampler.onWake = wake;
            return armWatchdog(end);
          }
        }
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
