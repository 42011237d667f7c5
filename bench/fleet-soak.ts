// What one node sends to the centre: the real `hosa run` (detection-only,
// default report settings) with a JSON webhook and an Alertmanager webhook
// pointed at a counting receiver on loopback, and /metrics scraped every
// 15 s as Prometheus would. Bytes are counted per kind (HTTP bodies plus the
// request line and headers hosa sends), then scaled to a day and to a fleet.
// Usage: bun bench/fleet-soak.ts [--minutes 60] [--out FILE.json]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const repo = resolve(import.meta.dir, "..");
const exe = process.env.HOSA_BIN ?? join(repo, "dist/hosa");
const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : def;
};
const minutes = Number(arg("--minutes", "60"));
const out = arg("--out", "");
const SCRAPE_S = 15;

interface Tally {
  messages: number;
  bodyBytes: number;
  wireBytes: number;
}
const tally = new Map<string, Tally>();
const add = (kind: string, body: number, wire: number) => {
  const t = tally.get(kind) ?? { messages: 0, bodyBytes: 0, wireBytes: 0 };
  t.messages++;
  t.bodyBytes += body;
  t.wireBytes += wire;
  tally.set(kind, t);
};
let alertsPosted = 0;

const rx = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    const body = new Uint8Array(await req.arrayBuffer());
    const url = new URL(req.url);
    // What crosses the wire besides the body: request line and headers as HTTP/1.1 writes them.
    let head = `${req.method} ${url.pathname} HTTP/1.1\r\n`.length + 2;
    req.headers.forEach((v, k) => {
      head += k.length + v.length + 4;
    });
    const event = req.headers.get("x-hosa-event") ?? "unknown";
    const receiver = url.pathname.startsWith("/api/v2/alerts") ? "alertmanager" : "json";
    if (receiver === "alertmanager") alertsPosted += (JSON.parse(new TextDecoder().decode(body)) as unknown[]).length;
    add(`${receiver} ${event}`, body.length, body.length + head);
    return new Response("ok");
  },
});

const dir = mkdtempSync(join(tmpdir(), "hosa-fleet-soak-"));
const cfg = join(dir, "hosa.toml");
writeFileSync(
  cfg,
  `[paths]\nstate_dir = "${dir}/state"\nlog_file = "${dir}/decisions.log"\n[engine]\ncalibration_s = 60\n` +
    `[report]\nmetrics_listen = "127.0.0.1:0"\n` +
    `[[report.webhooks]]\nurl = "http://127.0.0.1:${rx.port}/hook"\nformat = "json"\n` +
    `[[report.webhooks]]\nurl = "http://127.0.0.1:${rx.port}"\nformat = "alertmanager"\n`,
);
const p = Bun.spawn([exe, "-c", cfg, "run", "--duration", `${minutes * 60}s`], { stdout: "pipe", stderr: "pipe" });
let said = "";
const reader = p.stderr.getReader();
(async () => {
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    said += new TextDecoder().decode(value);
  }
})();
let port = 0;
for (let i = 0; i < 300 && !port; i++) {
  await Bun.sleep(100);
  const m = /metrics on http:\/\/[^:]+:(\d+)\/metrics/.exec(said);
  if (m) port = Number(m[1]);
}
if (!port) throw new Error(`hosa did not start: ${said}`);
const t0 = Date.now();
const scrapes: number[] = [];
while (p.exitCode === null && Date.now() - t0 < minutes * 60_000) {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/metrics`);
    const text = await r.arrayBuffer();
    scrapes.push(text.byteLength);
  } catch {}
  await Bun.sleep(SCRAPE_S * 1000);
}
await p.exited;
rx.stop(true);
const levels = [...said.matchAll(/Level (\d) → (\d)/g)].length;
rmSync(dir, { recursive: true, force: true });

const hours = (Date.now() - t0) / 3_600_000;
const perDay = (x: number) => Math.round((x / hours) * 24);
const scrapeMean = scrapes.reduce((a, b) => a + b, 0) / Math.max(1, scrapes.length);
const kinds = [...tally.entries()].sort().map(([kind, t]) => ({ kind, ...t, wireBytesPerDay: perDay(t.wireBytes), messagesPerDay: perDay(t.messages) }));
const pushedPerDay = kinds.reduce((a, k) => a + k.wireBytesPerDay, 0);
const result = {
  minutes: Math.round(hours * 600) / 10,
  exitCode: p.exitCode,
  levelChangesSaid: levels,
  alertsPosted,
  kinds,
  pushedWireBytesPerDay: pushedPerDay,
  scrape: { intervalS: SCRAPE_S, count: scrapes.length, meanBytes: Math.round(scrapeMean), maxBytes: Math.max(0, ...scrapes), bytesPerDay: Math.round(scrapeMean * (86400 / SCRAPE_S)) },
};
console.log(JSON.stringify(result, null, 2));
if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
