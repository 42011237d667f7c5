import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Sample } from "../engine/types.ts";
import { openRecording } from "./open.ts";
import { ProtoRecordingWriter } from "./protobuf.ts";

const dir = mkdtempSync(join(tmpdir(), "h4-proto-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("the danger of each sample survives a recording: present while named, no danger otherwise", () => {
  const path = join(dir, "danger.hosarec");
  const dims = [{ name: "mem_used_ratio", unit: "ratio", loadSign: 1 as const, capacity: 1 }];
  const w = new ProtoRecordingWriter(path, { hosaVersion: "test", dims, node: null, startedUnixS: 0, dangerRecorded: true });
  const samples: Sample[] = [
    { t: 1, x: Float64Array.of(0.2), danger: { ttfS: Infinity, cgroup: null, resource: "", containmentFailing: false, evidence: "" } },
    { t: 2, x: Float64Array.of(0.3), danger: { ttfS: 12.5, cgroup: "/a/leak", resource: "memory limit", containmentFailing: true, evidence: "/a/leak: anon 1.0 MiB" } },
    { t: 3, x: Float64Array.of(0.4), danger: { ttfS: Infinity, cgroup: null, resource: "", containmentFailing: false, evidence: "" } },
    // Seen, not yet proven: replay must not take it for a proven danger.
    { t: 4, x: Float64Array.of(0.5), danger: { ttfS: 40, cgroup: "/a/cc", resource: "memory limit", containmentFailing: false, evidence: "/a/cc: anon 30.0 MiB", pending: true } },
  ];
  for (const s of samples) w.write(s);
  w.close();
  const r = openRecording(path);
  expect(r.header.dangerRecorded).toBe(true);
  const back = [...r.samples()];
  expect(back.map((s) => ({ t: s.t, x: [...s.x], danger: s.danger }))).toEqual(samples.map((s) => ({ t: s.t, x: [...s.x], danger: s.danger })));
});

test("a recording without danger gives samples without it", () => {
  const path = join(dir, "plain.hosarec");
  const w = new ProtoRecordingWriter(path, { hosaVersion: "test", dims: [{ name: "d", unit: "1", loadSign: 0 }], node: null, startedUnixS: 0 });
  w.write({ t: 1, x: Float64Array.of(1), danger: { ttfS: 3, cgroup: "/x", resource: "memory limit", containmentFailing: false, evidence: "" } });
  w.close();
  const back = [...openRecording(path).samples()];
  expect(back[0].danger).toBeUndefined();
});

test("a reusing cursor hands out one sample, overwritten with each record's values, and the danger of each (calm ones too)", () => {
  const path = join(dir, "reuse.hosarec");
  const dims = [
    { name: "mem_used_ratio", unit: "ratio", loadSign: 1 as const, capacity: 1 },
    { name: "cpu_busy_ratio", unit: "ratio", loadSign: 1 as const },
  ];
  const calm = { ttfS: Infinity, cgroup: null, resource: "", containmentFailing: false, evidence: "" };
  const w = new ProtoRecordingWriter(path, { hosaVersion: "test", dims, node: null, startedUnixS: 0, dangerRecorded: true });
  const samples: Sample[] = [];
  for (let i = 0; i < 6; i++) {
    const danger = i === 2 ? { ttfS: 9, cgroup: "/a/leak", resource: "memory limit", containmentFailing: false, evidence: "/a/leak" } : calm;
    samples.push({ t: 10 + i * 0.1, x: Float64Array.of(0.1 * i, 1 - 0.1 * i), danger });
  }
  for (const s of samples) w.write(s);
  w.close();
  const c = openRecording(path).cursor!(true);
  const seen: Sample[] = [];
  const got: { t: number; x: number[]; danger: unknown }[] = [];
  for (let s = c.next(); s !== null; s = c.next()) {
    seen.push(s);
    got.push({ t: s.t, x: [...s.x], danger: { ...s.danger } });
  }
  expect(got).toEqual(samples.map((s) => ({ t: s.t, x: [...s.x], danger: { ...s.danger } })));
  // The calm records (the fast decoder's) share one object; the danger record is a fresh one.
  expect(seen[0]).toBe(seen[1]);
  expect(seen[1]).toBe(seen[5]);
  expect(seen[2]).not.toBe(seen[1]);
  // Without reuse, every sample is its own.
  const own = [...openRecording(path).samples()];
  expect(new Set(own).size).toBe(6);
});
