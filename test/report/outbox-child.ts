// A process that owns a webhook outbox, for the kill -9 test:
//   bun outbox-child.ts STATE_DIR URL FIRST COUNT INTERVAL_MS [--exit-when-empty]
// queues one action message per number (printing "queued N" once each
// is on disk), keeps delivering, and with --exit-when-empty exits once the
// outbox is drained.
import { defaultConfig } from "../../src/config.ts";
import { wallTimeNs } from "../../src/report/decision-log.ts";
import { Notifier } from "../../src/report/notifier.ts";
import { makeAction, makeDecision } from "./helpers.ts";

const [stateDir, url, firstText, countText, intervalText, flag] = process.argv.slice(2);
const cfg = defaultConfig().report;
cfg.heartbeatS = 0;
cfg.webhooks = [{ url: url!, format: "json", hmacSecret: "s3cret" }];
const notifier = Notifier.open(cfg, stateDir!, "node-child", { backoffBaseMs: 50, backoffCapMs: 500, timeoutMs: 2000 });
const first = Number(firstText);
for (let i = first; i < first + Number(countText); i++) {
  notifier.onDecision(makeDecision(2, 2), [makeAction(i)], wallTimeNs());
  process.stdout.write(`queued ${i}\n`);
  await Bun.sleep(Number(intervalText));
}
if (flag === "--exit-when-empty") {
  while (notifier.depth() > 0) await Bun.sleep(20);
  await notifier.close();
  process.stdout.write("drained\n");
  process.exit(0);
}
process.stdout.write("all queued\n");
await new Promise(() => {});
