// Probe the neighbour service every 100 ms during an episode and keep each
// probe's latency; a probe that fails or takes longer than its timeout counts
// as a failure with the timeout as its latency.
import { percentile } from "./stats.ts";

export interface NeighbourProbe {
  tS: number;
  latencyMs: number;
  ok: boolean;
}

export interface NeighbourSummary {
  probes: number;
  failures: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export class NeighbourProber {
  readonly probes: NeighbourProbe[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly url: string,
    private readonly now: () => number,
    private readonly intervalMs = 100,
    private readonly timeoutMs = 2000,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.probe(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async probe(): Promise<void> {
    const tS = this.now();
    const t0 = performance.now();
    try {
      const r = await fetch(this.url, { signal: AbortSignal.timeout(this.timeoutMs) });
      await r.text();
      this.probes.push({ tS, latencyMs: performance.now() - t0, ok: r.ok });
    } catch {
      this.probes.push({ tS, latencyMs: this.timeoutMs, ok: false });
    }
  }

  summary(fromS: number, toS: number): NeighbourSummary {
    const sel = this.probes.filter((p) => p.tS >= fromS && p.tS < toS);
    const lat = sel.map((p) => p.latencyMs);
    return {
      probes: sel.length,
      failures: sel.filter((p) => !p.ok).length,
      p50Ms: percentile(lat, 50),
      p99Ms: percentile(lat, 99),
      maxMs: lat.length ? Math.max(...lat) : null,
    };
  }
}
