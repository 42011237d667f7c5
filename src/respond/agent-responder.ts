// The responder as the agent runs it: crash recovery from the journal first
// (unless a quarantine is in force: Level 5 is only ever lifted by hand or
// by the edge-remote watchdog), XDP from src/respond/xdp.ts, and the
// watchdog checked as decisions come.
import type { HosaConfig } from "../config.ts";
import type { Danger, Decision } from "../engine/types.ts";
import type { CgroupUsage } from "../sense/types.ts";
import { checkWatchdog, readQuarantineState } from "./quarantine.ts";
import { createResponder } from "./responder.ts";
import { recoverFromJournal } from "./restore.ts";
import type { ActionRecord, Responder } from "./types.ts";
import { detachXdp, openXdp } from "./xdp.ts";

export interface AgentResponder {
  responder: Responder;
  /** What the start-up recovery put back (or left alone), for the decision log. */
  recovered: ActionRecord[];
  /** Journal lines that could not be read, and the quarantine notice; one line each, for the operator. */
  warnings: string[];
}

export function createAgentResponder(cfg: HosaConfig, facts: { environmentClass?: string }, say: (line: string) => void): AgentResponder {
  const warnings: string[] = [];
  let recovered: ActionRecord[] = [];
  let quarantine = null;
  try {
    quarantine = readQuarantineState(cfg);
  } catch (e) {
    warnings.push(`cannot read the quarantine state: ${(e as Error).message.split("\n")[0]}`);
  }
  if (quarantine?.active) {
    warnings.push(`quarantine in force since ${quarantine.since} (${quarantine.mode}); journaled actions stay until \`hosa quarantine release\``);
  } else {
    const r = recoverFromJournal(cfg, { detachXdp });
    recovered = r.records;
    warnings.push(...r.warnings);
    if (recovered.length) say(`recovered ${recovered.length} actions left in force by a previous run`);
  }
  const late: ActionRecord[] = [];
  const inner = createResponder(cfg, {
    openXdp,
    detachXdp,
    quarantine: { envClass: facts.environmentClass, onAsync: (recs) => late.push(...recs) },
  });
  let watchdogCheckedT = Number.NEGATIVE_INFINITY;
  let watchdogBusy = false;
  const responder: Responder = {
    onDecision(decision: Decision, cgroups: CgroupUsage[], danger?: Danger): ActionRecord[] {
      const out = inner.onDecision(decision, cgroups, danger);
      // Once a second whatever the level: a quarantine entered by hand
      // (`hosa quarantine enter`) or left by a previous run is in force while
      // this engine is below Level 5, and an edge-remote board must still come
      // back at its deadline (checkWatchdog reads the state file only).
      if (decision.t - watchdogCheckedT >= 1 && !watchdogBusy) {
        watchdogCheckedT = decision.t;
        watchdogBusy = true;
        void checkWatchdog(cfg, Date.now(), { detachXdp })
          .then((r) => {
            if (r?.released) {
              say(`quarantine released by the watchdog; holding at Level 3`);
              late.push(...r.records);
            }
          })
          .catch((e) => say(`watchdog: ${(e as Error).message.split("\n")[0]}`))
          .finally(() => {
            watchdogBusy = false;
          });
      }
      // A calm decision's records are shared and never written: a new array for what came late.
      if (late.length) return out.concat(late.splice(0));
      return out;
    },
    restoreAll(reason: string): ActionRecord[] {
      // A quarantine outlives the agent: only release lifts it.
      if (readQuarantineState(cfg)?.active) {
        say("quarantine in force: stopped processes and isolation stay until `hosa quarantine release`; other values are restored");
        return inner.restoreAll(reason, { keepQuarantine: true });
      }
      return inner.restoreAll(reason);
    },
    inForce: () => inner.inForce(),
    heldCeilings: () => inner.heldCeilings(),
  };
  return { responder, recovered, warnings };
}
