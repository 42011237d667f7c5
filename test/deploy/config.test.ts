// deploy/hosa.toml, the conffile the package and install.sh put in
// /etc/hosa: as shipped it is the defaults; every key is there, commented,
// with its default value, so uncommenting every line changes nothing.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { defaultConfig, parseConfig } from "../../src/config.ts";

const text = readFileSync(join(resolve(import.meta.dir, "../.."), "deploy/hosa.toml"), "utf8");
const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

test("deploy/hosa.toml as shipped is the defaults, detection-only", () => {
  expect(parseConfig(text, "deploy/hosa.toml")).toEqual(defaultConfig());
});

test("deploy/hosa.toml names every key, commented, with its default value", () => {
  const keyLine = /^# ([a-z_0-9]+) = (.*?)(?:\s+#.*)?$/;
  const sections = text.split("\n").map((l) => {
    const m = keyLine.exec(l);
    // The webhook example is an example, not a default: it stays commented.
    return m && !l.includes("report.webhooks") && !["url", "format", "hmac_secret"].includes(m[1]!) ? `${m[1]} = ${m[2]}` : l;
  });
  const uncommented = sections.join("\n");
  expect(parseConfig(uncommented, "uncommented")).toEqual(defaultConfig());
  const named = new Set([...uncommented.matchAll(/^([a-z_0-9]+) = /gm)].map((m) => m[1]));
  const d = defaultConfig() as unknown as Record<string, Record<string, unknown>>;
  for (const [section, body] of Object.entries(d)) {
    for (const key of Object.keys(body)) {
      if (key === "webhooks") continue;
      expect(`${section}.${snake(key)} ${named.has(snake(key))}`).toBe(`${section}.${snake(key)} true`);
    }
  }
  // And the webhook table, uncommented, is a valid receiver.
  const hook = text.split("\n").filter((l) => /^# (\[\[report\.webhooks\]\]|url =|format =|hmac_secret =)/.test(l)).map((l) => l.slice(2)).join("\n");
  expect(parseConfig(hook, "webhook").report.webhooks).toEqual([{ url: "http://127.0.0.1:9093", format: "alertmanager", hmacSecret: "" }]);
});
