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
