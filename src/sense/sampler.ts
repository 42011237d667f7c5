// libhosa's sampling thread, for the tick loop (src/tick-loop.ts): at calm it
// takes the tick's reads (the read sets created with a SampleSpec, the eBPF
// counters, the cgroup iterator's pass) on its own absolute schedule and
// wakes JavaScript once per batch of snapshots, or at once when a tripwire
// fires (a watched cgroup's usage rising fast). JavaScript then processes
// each snapshot in order: while one is served, the same libhosa reads the
// live source and the danger watch make return its bytes instead of the
// kernel's, so they keep their code paths and see the samples they would
// have seen, at the times they were taken (docs/footprint.md § The sampler).
import { closeSync } from "node:fs";
import * as ffi from "../ffi/libhosa.ts";

export interface Sampler {
  /** Start the thread at this period and batch, or retune it when it runs; false when it cannot run (then read inline). */
  run(periodMs: number, batch: number): boolean;
  /** Stop the thread; the snapshots not processed are dropped: returns how many. */
  pause(): number;
  readonly running: boolean;
  /** Called at each wake (a batch is ready or a tripwire fired). */
  onWake: (() => void) | null;
  /** Serve the oldest pending snapshot to the reads until end(); into[0] its time, into[1] when it was due (seconds on monoS's clock). False when none is pending. */
  begin(into: Float64Array): boolean;
  end(): void;
  /** Clear the wake before processing what is pending. */
  ack(): void;
  status(): ffi.SamplerStatus;
  close(): void;
}

/** Snapshots the ring holds for a batch: twice the batch and a few, so a slow batch does not make the thread skip. */
export const ringSlotsFor = (batch: number): number => Math.min(256, 2 * batch + 4);

/** The tick loop's clock (Bun.nanoseconds(), from the process's start) minus CLOCK_MONOTONIC, ns: the closest of a few bracketed pairs. */
function clockOffsetNs(): number {
  let best = Number.POSITIVE_INFINITY;
  let off = 0;
  for (let i = 0; i < 7; i++) {
    const a = Bun.nanoseconds();
    const m = ffi.monotonicNs();
    const b = Bun.nanoseconds();
    if (b - a < best) {
      best = b - a;
      off = m - (a + b) / 2;
    }
  }
  return off;
}

/** The sampler, or undefined where libhosa cannot load. */
export function createSampler(): Sampler | undefined {
  let offsetNs: number;
  try {
    offsetNs = clockOffsetNs();
  } catch {
    return undefined;
  }
  const times = new Float64Array(2);
  let running = false;
  let periodUs = 0;
  let batchNow = 0;
  let closed = false;
  const sampler: Sampler = {
    onWake: null,
    get running() {
      return running;
    },
    run(periodMs, batch) {
      if (closed) return false;
      const us = Math.max(1, Math.round(periodMs * 1000));
      if (running) {
        if (us !== periodUs || batch !== batchNow) {
          if (ringSlotsFor(batch) > ringSlotsFor(batchNow)) {
            sampler.pause();
            return sampler.run(periodMs, batch);
          }
          ffi.samplerSet(us, batch);
          periodUs = us;
          batchNow = batch;
        }
        return true;
      }
      let fd: number;
      try {
        fd = ffi.samplerStart(us, batch, ringSlotsFor(batch));
      } catch {
        return false;
      }
      running = true;
      periodUs = us;
      batchNow = batch;
      // The pipe's reader: Bun polls it with the event loop; a byte is a wake.
      // hosa_sampler_stop closes the write end, which ends this loop.
      void (async () => {
        try {
          for await (const _ of Bun.file(fd).stream()) sampler.onWake?.();
        } catch {
          // A reader error ends the wakes; the tick loop's watchdog takes over.
        } finally {
          try {
            closeSync(fd);
          } catch {
            // Already closed.
          }
        }
      })();
      return true;
    },
    pause() {
      if (!running) return 0;
      const dropped = ffi.samplerDiscard();
      ffi.samplerStop();
      running = false;
      return dropped;
    },
    begin(into) {
      if (!ffi.samplerBegin(times)) return false;
      into[0] = (times[0]! - offsetNs) / 1e9;
      into[1] = (times[1]! - offsetNs) / 1e9;
      return true;
    },
    end: () => ffi.samplerEnd(),
    ack: () => ffi.samplerAck(),
    status: () => ffi.samplerStatus(),
    close() {
      if (closed) return;
      sampler.pause();
      closed = true;
    },
  };
  return sampler;
}
