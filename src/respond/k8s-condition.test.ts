import { expect, test } from "bun:test";
import { quarantineConditionPatch, setQuarantineCondition } from "./k8s-condition.ts";

test("quarantineConditionPatch() sets HOSAQuarantine by type, times to the second", () => {
  const p = quarantineConditionPatch(true, "D_M 9.1 > θ4 and containment failing", new Date("2026-12-01T18:40:05.789Z"));
  expect(p).toEqual({
    status: {
      conditions: [
        { type: "HOSAQuarantine", status: "True", reason: "HOSAQuarantined", message: "D_M 9.1 > θ4 and containment failing", lastHeartbeatTime: "2026-12-01T18:40:05Z", lastTransitionTime: "2026-12-01T18:40:05Z" },
      ],
    },
  });
  expect(quarantineConditionPatch(false, "released", new Date(0)).status.conditions[0]!.status).toBe("False");
});

test("setQuarantineCondition() patches <node>/status as a strategic merge; a refusal or no server is a failed outcome, never a throw", async () => {
  const seen: { url: string; method?: string; type?: string }[] = [];
  const init = (method: string, body?: unknown, type = "application/json"): RequestInit => ({ method, headers: { "Content-Type": type }, body: JSON.stringify(body) });
  const ok = (async (url: string, i: RequestInit) => {
    seen.push({ url, method: i.method, type: (i.headers as Record<string, string>)["Content-Type"] });
    return new Response("{}");
  }) as unknown as typeof fetch;
  expect(await setQuarantineCondition(ok, "http://api/api/v1/nodes/n1", init, true, "m")).toEqual({ action: "condition HOSAQuarantine=True", outcome: "applied", set: true });
  expect(seen).toEqual([{ url: "http://api/api/v1/nodes/n1/status", method: "PATCH", type: "application/strategic-merge-patch+json" }]);
  const forbidden = (async () => new Response("no", { status: 403 })) as unknown as typeof fetch;
  expect((await setQuarantineCondition(forbidden, "http://api/api/v1/nodes/n1", init, false, "m")).outcome).toBe("failed: PATCH node status: HTTP 403");
  expect((await setQuarantineCondition(fetch, "http://127.0.0.1:1/api/v1/nodes/n1", init, true, "m")).outcome).toMatch(/^failed: /);
});
