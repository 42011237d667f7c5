// The incident report in a real browser (issue 17): headless Chromium (the
// Debian package, installed by scripts/deps.sh) renders the HTML of the
// replayed leak's incident, takes a screenshot, and the page must have its
// parts and no script error. A page with a deliberate script error proves the
// check can fail. Bounded: each Chromium run has a 25 s timeout.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Cortex, findEpisode, readDecisionLog } from "../../src/cortex/cortex.ts";
import { renderHtml } from "../../src/cortex/html.ts";
import { runHosa, tempDir, writeTestConfig } from "../harness.ts";
import { replayLeakLog } from "./replay-leak.ts";

const chromium = Bun.which("chromium");
const skip = chromium ? "" : "no chromium (scripts/deps.sh installs the Debian package)";
let tmp: { dir: string; cleanup: () => void };
let htmlPath = "";

beforeAll(() => {
  tmp = tempDir("hosa-cortex-html-");
  const { cfg, logFile } = replayLeakLog(tmp.dir);
  const { entries } = readDecisionLog(logFile);
  const cx = new Cortex(cfg);
  const [inc] = cx.sync(entries, entries.at(-1)!.timestamp);
  htmlPath = join(tmp.dir, "report.html");
  writeFileSync(htmlPath, renderHtml(cx.store.chain(inc!.id), findEpisode(entries, inc!.id)!.entries, "2026-12-01T00:00:00Z"));
});
afterAll(() => tmp.cleanup());

/** One headless Chromium run: the DOM after scripts ran, and the console lines it logged. */
function chrome(args: string[], page: string): { dom: string; log: string; code: number | null } {
  const r = Bun.spawnSync(
    [chromium!, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", `--user-data-dir=${join(tmp.dir, "chromium")}`, "--enable-logging=stderr", "--v=0", ...args, `file://${page}`],
    { stdout: "pipe", stderr: "pipe", timeout: 25_000 },
  );
  return { dom: r.stdout.toString(), log: r.stderr.toString(), code: r.exitCode };
}

/** Script errors as Chromium reports them: our page's error handler, or an uncaught error on the console. */
function scriptErrors(dom: string, log: string): string[] {
  const out: string[] = [];
  const m = /data-error="([^"]*)"/.exec(dom);
  if (m) out.push(m[1]!);
  for (const line of log.split("\n")) if (/CONSOLE.*(Uncaught|Error)/.test(line)) out.push(line);
  return out;
}

test("one self-contained file: no external resource, well under 300 kB", () => {
  const html = readFileSync(htmlPath, "utf8");
  expect(statSync(htmlPath).size).toBeLessThan(300 * 1024);
  expect(html).not.toMatch(/<(script|link|img|iframe)[^>]+(src|href)=/i);
  expect(html).not.toMatch(/url\(|@import|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
});

test.skipIf(Boolean(skip))("Chromium renders it with every part and no script error, and takes a screenshot", () => {
  const r = chrome(["--dump-dom"], htmlPath);
  expect(r.code).toBe(0);
  expect(r.dom).toContain('data-ready="1"');
  expect(scriptErrors(r.dom, r.log)).toEqual([]);
  for (const id of ["summary", "timeline", "chart-dm", "chart-level", "chart-dims", "anomaly", "actions", "hypothesis", "verification"]) expect(r.dom).toContain(`id="${id}"`);
  expect(r.dom).toMatch(/<h1>memory leak in \/workload\/leak <span class="status ok">resolved<\/span>/);
  expect(r.dom).toContain("θ1");
  expect(r.dom).toMatch(/<b>passed<\/b>: level ≤ 1 within 900 s/);
  expect(r.dom).toContain("memory.high max→");
  // The D_M chart has its thresholds and one point per logged decision.
  const svg = /<svg id="chart-dm"[\s\S]*?<\/svg>/.exec(r.dom)![0];
  expect((svg.match(/class="theta"/g) ?? []).length).toBe(4);
  expect((svg.match(/<circle/g) ?? []).length).toBeGreaterThan(5);
  const shot = join(tmp.dir, "report.png");
  const s = chrome(["--hide-scrollbars", "--window-size=1000,2200", `--screenshot=${shot}`], htmlPath);
  expect(s.code).toBe(0);
  const png = readFileSync(shot);
  expect(png.subarray(1, 4).toString()).toBe("PNG");
  expect(png.readUInt32BE(16)).toBe(1000);
  expect(png.length).toBeGreaterThan(20_000);
}, 60_000);

test.skipIf(Boolean(skip))("the script-error check catches a broken page", () => {
  const broken = join(tmp.dir, "broken.html");
  writeFileSync(broken, readFileSync(htmlPath, "utf8").replace("</body>", "<script>undefinedFunction();</script></body>"));
  const r = chrome(["--dump-dom"], broken);
  expect(scriptErrors(r.dom, r.log).join("\n")).toMatch(/undefinedFunction/);
}, 30_000);

test("hosa incident report writes the file; a bad id is one line with exit 2", () => {
  const dir = tmp.dir;
  mkdirSync(join(dir, "cli"), { recursive: true });
  const cfgPath = writeTestConfig(join(dir, "cli"), `[cortex]\nplaybook_dir = ""\n`);
  const ok = runHosa(["-c", cfgPath, "incident", "report", "inc-", "--html", join(dir, "cli.html"), "--log", join(dir, "decisions.log")]);
  expect(ok.stderr).toBe("");
  expect(ok.code).toBe(0);
  expect(ok.stdout).toMatch(/cli\.html: inc-20261101T121839-[0-9a-f]{8} \(\d+ kB\)\n$/);
  const bad = runHosa(["-c", cfgPath, "incident", "report", "nope", "--html", join(dir, "x.html"), "--log", join(dir, "decisions.log")]);
  expect(bad).toEqual({ code: 2, stdout: "", stderr: 'hosa: no incident "nope" (hosa incident list shows 1)\n' });
});
