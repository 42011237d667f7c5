// Prometheus + node_exporter (textfile collector) + Alertmanager on loopback,
// with the settings of ../shared/PEERS.md: scrape and evaluation every
// 15 s, the cgroup's metrics written to a textfile every 1 s, rules with
// `for: 1m`, Alertmanager `group_wait: 30s`, and a webhook receiver (in this
// process) that stamps when the alert arrives.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { collectLines, type StampedLine } from "../lib/lines.ts";
import { freePort, stopPid } from "../lib/procstat.ts";

export const SCRAPE_INTERVAL_S = 15;

export interface ReceivedAlert {
  /** Wall-clock ms when the webhook arrived. */
  receivedWallMs: number;
  alertname: string;
  cgroup: string;
  /** Wall-clock ms Prometheus says the alert started firing. */
  startsAtWallMs: number;
}

export interface CgroupMetrics {
  memoryBytes: number;
  memoryLimitBytes: number;
  cpuUsageS: number;
  pids: number;
  pidsMax: number;
  ioBytes: number;
}

function rulesYaml(): string {
  const rule = (name: string, expr: string) => `  - alert: ${name}\n    expr: ${expr}\n    for: 1m\n`;
  return (
    "groups:\n- name: hosa-bench\n  rules:\n" +
    rule("CgroupMemoryNearLimit", "hosa_bench_cgroup_memory_usage_bytes / hosa_bench_cgroup_memory_limit_bytes > 0.8") +
    rule("CgroupCpuSaturated", "rate(hosa_bench_cgroup_cpu_usage_seconds_total[1m]) > 0.9") +
    rule("CgroupPidsNearLimit", "hosa_bench_cgroup_pids / hosa_bench_cgroup_pids_max > 0.8") +
    rule("CgroupIoHeavy", "rate(hosa_bench_cgroup_io_bytes_total[1m]) > 50e6")
  );
}

/** The rules as the results quote them. */
export const RULES_SUMMARY =
  "memory usage/limit > 0.8, cpu rate[1m] > 0.9 core, pids/pids.max > 0.8, io rate[1m] > 50 MB/s; each `for: 1m`";

export class PrometheusStack {
  readonly alerts: ReceivedAlert[] = [];
  readonly logs: StampedLine[] = [];
  private procs: Bun.Subprocess[] = [];
  private webhook: ReturnType<typeof Bun.serve> | undefined;
  private readonly textDir: string;
  promPort = 0;
  amPort = 0;
  nePort = 0;

  constructor(private readonly dir: string) {
    this.textDir = `${dir}/textfile`;
  }

  async start(timeoutMs = 30000): Promise<void> {
    mkdirSync(this.textDir, { recursive: true });
    this.webhook = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: async (req) => {
        const receivedWallMs = Date.now();
        try {
          const body = (await req.json()) as { alerts?: { status: string; labels: Record<string, string>; startsAt: string }[] };
          for (const a of body.alerts ?? []) {
            if (a.status !== "firing") continue;
            this.alerts.push({
              receivedWallMs,
              alertname: a.labels.alertname ?? "",
              cgroup: a.labels.cgroup ?? "",
              startsAtWallMs: Date.parse(a.startsAt),
            });
          }
        } catch {}
        return new Response("ok");
      },
    });
    this.promPort = freePort();
    this.amPort = freePort();
    this.nePort = freePort();
    writeFileSync(`${this.dir}/rules.yml`, rulesYaml());
    writeFileSync(
      `${this.dir}/prometheus.yml`,
      `global:\n  scrape_interval: ${SCRAPE_INTERVAL_S}s\n  evaluation_interval: ${SCRAPE_INTERVAL_S}s\n` +
        `alerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['127.0.0.1:${this.amPort}']\n` +
        `rule_files: ['${this.dir}/rules.yml']\n` +
        `scrape_configs:\n- job_name: cgroup\n  static_configs:\n  - targets: ['127.0.0.1:${this.nePort}']\n`,
    );
    writeFileSync(
      `${this.dir}/alertmanager.yml`,
      "route:\n  receiver: hook\n  group_by: ['alertname', 'cgroup']\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 4h\n" +
        `receivers:\n- name: hook\n  webhook_configs:\n  - url: http://127.0.0.1:${this.webhook.port}/alert\n    send_resolved: false\n`,
    );
    const spawn = (cmd: string[]) => {
      const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
      const now = () => performance.now() / 1000;
      void collectLines(p.stdout, now, this.logs);
      void collectLines(p.stderr, now, this.logs);
      this.procs.push(p);
      return p;
    };
    spawn([
      "prometheus-node-exporter",
      "--collector.disable-defaults",
      "--collector.textfile",
      `--collector.textfile.directory=${this.textDir}`,
      `--web.listen-address=127.0.0.1:${this.nePort}`,
    ]);
    spawn([
      "prometheus-alertmanager",
      `--config.file=${this.dir}/alertmanager.yml`,
      `--storage.path=${this.dir}/am-data`,
      `--web.listen-address=127.0.0.1:${this.amPort}`,
      "--cluster.listen-address=",
    ]);
    spawn([
      "prometheus",
      `--config.file=${this.dir}/prometheus.yml`,
      `--storage.tsdb.path=${this.dir}/tsdb`,
      `--web.listen-address=127.0.0.1:${this.promPort}`,
    ]);
    const deadline = performance.now() + timeoutMs;
    for (const url of [
      `http://127.0.0.1:${this.nePort}/metrics`,
      `http://127.0.0.1:${this.amPort}/-/ready`,
      `http://127.0.0.1:${this.promPort}/-/ready`,
    ]) {
      for (;;) {
        try {
          const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
          if (r.ok) break;
        } catch {}
        if (performance.now() > deadline) {
          const tail = this.logs.slice(-3).map((l) => l.line).join(" | ");
          throw new Error(`Prometheus stack did not come up at ${url}: ${tail}`);
        }
        await Bun.sleep(200);
      }
    }
  }

  /** Replace the textfile with this run's cgroup metrics (rename, so node_exporter never reads half a file). */
  writeMetrics(cgroup: string, m: CgroupMetrics): void {
    const l = `cgroup="${cgroup}"`;
    const text =
      `hosa_bench_cgroup_memory_usage_bytes{${l}} ${m.memoryBytes}\n` +
      `hosa_bench_cgroup_memory_limit_bytes{${l}} ${m.memoryLimitBytes}\n` +
      `hosa_bench_cgroup_cpu_usage_seconds_total{${l}} ${m.cpuUsageS}\n` +
      `hosa_bench_cgroup_pids{${l}} ${m.pids}\n` +
      `hosa_bench_cgroup_pids_max{${l}} ${m.pidsMax}\n` +
      `hosa_bench_cgroup_io_bytes_total{${l}} ${m.ioBytes}\n`;
    const tmp = `${this.textDir}/.cgroup.prom.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, `${this.textDir}/cgroup.prom`);
  }

  clearMetrics(): void {
    writeFileSync(`${this.textDir}/.cgroup.prom.tmp`, "");
    renameSync(`${this.textDir}/.cgroup.prom.tmp`, `${this.textDir}/cgroup.prom`);
  }

  /** Wall-clock ms of the last scrape of the textfile target, to place a run's start in the scrape cycle. */
  async lastScrapeWallMs(): Promise<number | null> {
    try {
      const r = await fetch(`http://127.0.0.1:${this.promPort}/api/v1/targets`, { signal: AbortSignal.timeout(1000) });
      const j = (await r.json()) as { data: { activeTargets: { lastScrape: string }[] } };
      const t = Date.parse(j.data.activeTargets[0]?.lastScrape ?? "");
      return Number.isFinite(t) && t > 0 ? t : null;
    } catch {
      return null;
    }
  }

  /** When Prometheus first saw the alert pending for `cgroup` (wall ms), from its API. */
  async pendingSinceWallMs(cgroup: string): Promise<number | null> {
    try {
      const r = await fetch(`http://127.0.0.1:${this.promPort}/api/v1/alerts`, { signal: AbortSignal.timeout(1000) });
      const j = (await r.json()) as { data: { alerts: { labels: Record<string, string>; activeAt: string }[] } };
      const a = j.data.alerts.find((x) => x.labels.cgroup === cgroup);
      return a ? Date.parse(a.activeAt) : null;
    } catch {
      return null;
    }
  }

  pids(): number[] {
    return this.procs.map((p) => p.pid);
  }

  async stop(): Promise<void> {
    for (const p of this.procs.reverse()) await stopPid(p);
    this.procs = [];
    this.webhook?.stop(true);
  }
}

export async function prometheusVersions(): Promise<Record<string, string>> {
  const first = async (cmd: string[]) => {
    try {
      const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
      const out = (await new Response(p.stdout).text()) + (await new Response(p.stderr).text());
      await p.exited;
      return /version (\S+)/.exec(out)?.[1] ?? "unknown";
    } catch {
      return "not installed";
    }
  };
  return {
    prometheus: await first(["prometheus", "--version"]),
    alertmanager: await first(["prometheus-alertmanager", "--version"]),
    "node-exporter": await first(["prometheus-node-exporter", "--version"]),
  };
}
