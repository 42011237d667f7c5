import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadPlaybooks, parsePlaybook, PlaybookError } from "./playbook.ts";
import { SHIPPED_PLAYBOOKS } from "./shipped.ts";
import { FAILURE_MODES } from "./types.ts";

const dir = mkdtempSync(join(tmpdir(), "hosa-playbooks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = `name = "mine"\nsignature = "memory_leak"\n[[step]]\nid = "cap"\nkind = "cgroup_set"\nfile = "memory.high"\nvalue = "usage*1.2"\n`;

function problem(text: string): string {
  try {
    parsePlaybook(text, "/etc/hosa/playbooks/x.toml");
  } catch (e) {
    expect(e).toBeInstanceOf(PlaybookError);
    return (e as Error).message;
  }
  throw new Error("parsed");
}

test("every shipped playbook parses, and each known failure mode has one", () => {
  const { playbooks, errors } = loadPlaybooks([], SHIPPED_PLAYBOOKS);
  expect(errors).toEqual([]);
  expect(new Set(playbooks.map((p) => p.signature))).toEqual(new Set(FAILURE_MODES));
  for (const p of playbooks) expect(p.steps.length).toBeGreaterThan(0);
});

test("parsePlaybook() fills the safe defaults", () => {
  const p = parsePlaybook(GOOD, "x.toml");
  expect(p).toMatchObject({ name: "mine", version: 1, minConfidence: 0.5, rollback: { restore: true }, verify: { withinS: 300, maxLevel: 0 } });
  expect(p.steps[0]).toMatchObject({ id: "cap", kind: "cgroup_set", risk: "low", value: "usage*1.2" });
});

test("a malformed playbook gives one line naming the file, the key and the problem", () => {
  expect(problem(GOOD.replace("memory_leak", "memory_leek"))).toBe(
    `/etc/hosa/playbooks/x.toml: line 2: key "signature": must be one of ${FAILURE_MODES.join(", ")}`,
  );
  expect(problem(`colour = "red"\n${GOOD}`)).toMatch(/^\/etc\/hosa\/playbooks\/x\.toml: line 1: key "colour": unknown key/);
  expect(problem(`${GOOD}colour = "red"\n`)).toMatch(/: line 8: key "step\[0\]\.colour": unknown key$/);
  expect(problem(GOOD.replace('file = "memory.high"', 'file = "../../etc/passwd"'))).toBe(
    `/etc/hosa/playbooks/x.toml: line 6: key "step[0].file": "../../etc/passwd" is not a cgroup control file`,
  );
  expect(problem(GOOD.replace('kind = "cgroup_set"', 'kind = "reboot"'))).toMatch(/key "step\[0\]\.kind": must be cgroup_set, signal or command$/);
  expect(problem(`${GOOD}[verify]\nwithin_s = -1\n`)).toMatch(/line 9: key "verify.within_s": must be a number from 1 to 86400$/);
  expect(problem(`${GOOD}[[step]]\nid = "cap"\nkind = "signal"\nservice = "x"\nsignal = "SIGTERM"\n`)).toMatch(/: line 9: key "step\[1\]\.id": "cap" used twice$/);
  expect(problem(GOOD.replace('value = "usage*1.2"', 'value = "$(reboot)"'))).toMatch(/key "step\[0\]\.value": "\$\(reboot\)" is neither a literal nor usage\*F$/);
  expect(problem("name = \n")).toMatch(/^\/etc\/hosa\/playbooks\/x\.toml: /);
  expect(problem(`name = "x"\nsignature = "fork_storm"\n`)).toMatch(/key "step": a playbook needs at least one \[\[step\]\]$/);
  for (const m of [problem("name = \n"), problem(GOOD.replace("memory_leak", "nope"))]) expect(m.split("\n")).toHaveLength(1);
});

test("a bad playbook is reported and skipped; the good ones load and an operator's replaces a shipped one", () => {
  const d = join(dir, "ops");
  mkdirSync(d);
  writeFileSync(join(d, "a-broken.toml"), 'name = "broken"\nsignature = "memory_leak"\n[[step]]\nid = "x"\nkind = "command"\nargv = []\n');
  writeFileSync(join(d, "b-not-toml.toml"), "this is [not toml\n");
  writeFileSync(join(d, "memory-leak.toml"), GOOD.replace('"mine"', '"memory-leak"'));
  writeFileSync(join(d, "notes.txt"), "ignored");
  const { playbooks, errors } = loadPlaybooks([d, join(dir, "absent")], SHIPPED_PLAYBOOKS);
  expect(errors).toHaveLength(2);
  expect(errors[0]).toBe(`${join(d, "a-broken.toml")}: line 6: key "step[0].argv": must be a non-empty array of strings`);
  expect(errors[1]).toStartWith(`${join(d, "b-not-toml.toml")}: `);
  expect(playbooks.find((p) => p.name === "memory-leak")!.file).toBe(join(d, "memory-leak.toml"));
  expect(playbooks.filter((p) => p.file.startsWith("shipped:")).length).toBe(SHIPPED_PLAYBOOKS.length - 1);
});
