// Real Prometheus and Alertmanager for report tests: started on free loopback
// ports with temp data dirs, polled with bounded timeouts, killed by PID.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const PROMETHEUS = "/usr/bin/prometheus";
export const PROMTOOL = "/usr/bin/promtool";
export const ALERTMANAGER = "/usr/bin/prometheus-alertmanager";

export async function freePort(): Promise<number> {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = s.port!;
  s.stop(true);
  return port;
}

/** Poll `check` every `everyMs` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function pollUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await Bun.sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

export interface Started {
  proc: Subprocess;
  port: number;
  url: string;
  stop(): void;
}

function started(proc: Subprocess, port: number): Started {
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    stop: () => {
      try {
        process.kill(proc.pid, "SIGKILL");
      } catch {}
    },
  };
}

export async function startPrometheus(dir: string, targetPort: number): Promise<Started> {
  mkdirSync(join(dir, "data"), { recursive: true });
  const port = await freePort();
  const cfg = join(dir, "prometheus.yml");
  writeFileSync(
    cfg,
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: hosa\n    scrape_interval: 1s\n    static_configs:\n      - targets: ["127.0.0.1:${targetPort}"]\n`,
  );
  const proc = Bun.spawn(
    [PROMETHEUS, `--config.file=${cfg}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"],
    { stdout: "ignore", stderr: "pipe" },
  );
  const p = started(proc, port);
  await pollUntil("prometheus ready", 20_000, async () => ((await fetch(`${p.url}/-/ready`)).ok ? true : undefined), 200);
  return p;
}

export async function startAlertmanager(dir: string): Promise<Started> {
  mkdirSync(join(dir, "data"), { recursive: true });
  const port = await freePort();
  const cfg = join(dir, "alertmanager.yml");
  writeFileSync(cfg, `route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n`);
  const proc = Bun.spawn(
    [ALERTMANAGER, `--config.file=${cfg}`, `--storage.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--cluster.listen-address=", "--log.level=warn"],
    { stdout: "ignore", stderr: "pipe" },
  );
  const p = started(proc, port);
  await pollUntil("alertmanager ready", 20_000, async () => ((await fetch(`${p.url}/-/ready`)).ok ? true : undefined), 200);
  return p;
}
