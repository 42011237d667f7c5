// The runtime settings of the long-lived `hosa run` (docs/footprint.md,
// Memory). JavaScriptCore and mimalloc read their options from the
// environment once, when the process starts, and an executable cannot embed
// them: so `hosa run` execs itself once (same PID, same arguments) with them
// added, before it reads its configuration or loads anything. Measured side
// by side (bench/RESULTS-footprint.md, third pass): without FTL, JSC's
// highest tier, and with tier-up 20 times more reluctant while it starts,
// the resident runtime code and JIT memory are several MB smaller. Once the
// tick loop runs, tier-up is only 4 times more reluctant (settleRuntime): at
// 20 the code of a calm tick stayed minutes in the interpreter.
//
// An operator's own value of any of these variables wins;
// HOSA_RUNTIME_ENV=off in the agent's environment turns all of this off.

/** Added to the environment of `hosa run` unless already set. */
export const RUNTIME_ENV: Readonly<Record<string, string>> = {
  // JSC's fourth tier (B3/Air): megabytes of compiler code and compiled code, no measurable CPU gain for a tick loop.
  BUN_JSC_useFTLJIT: "0",
  // mimalloc hands freed pages back to the kernel at once instead of 100 ms later.
  MIMALLOC_PURGE_DELAY: "0",
  // The next full collection when the heap has grown 1.5 times (Bun sets 2: 3 times on a node of 16 GB or more), not after
  // the tick's garbage has tripled a 5 MB heap: 2-3 MB less anonymous memory on average, 5-8 MB less at its peaks, for
  // 3-6 % more of the agent's CPU (bench/RESULTS-footprint.md, fourth pass).
  BUN_JSC_heapGrowthMaxIncrease: "0.5",
};

/** Tier-up thresholds × this (Bun.unsafe.setJITPolicy) while the agent starts: its run-once code stays in the interpreter. */
export const JIT_POLICY = 20;
/**
 * The policy once the tick loop runs (settleRuntime). At 20 a function
 * called once per 100 ms tick needed minutes to leave the interpreter (the
 * engine's step was still in the baseline tier after 200 s), and a snapshot's
 * JavaScript cost 1.7 times its time at JSC's own thresholds (1). At 4 the
 * code of every tick is compiled within the first minute; 1 compiled more of
 * what runs now and then, about 1.5–2 MB more anonymous memory for a little
 * less CPU at 10 ms (bench/RESULTS-footprint.md, branch calm).
 */
export const JIT_POLICY_RUNNING = 4;

let tunedHere = false;

/** Set by the exec to "exec:" and the names it added; any other value (an operator's "off") turns the tuning off. */
export const RUNTIME_MARK = "HOSA_RUNTIME_ENV";
const EXECED = "exec:";

type Execve = (file: string, args: string[], env: Record<string, string | undefined>) => never;

/**
 * Call first thing in `hosa run`. In the compiled executable, the first time:
 * exec itself with RUNTIME_ENV (does not return unless execve fails, in which
 * case the agent runs as it is). The second time, or from source (tests):
 * apply the JIT policy and take the added variables out of process.env so
 * the processes the agent starts do not inherit them.
 */
export function tuneRuntime(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): "exec-failed" | "tuned" | "off" {
  const mark = env[RUNTIME_MARK];
  if (mark === undefined && Bun.main.startsWith("/$bunfs/")) {
    const added = Object.keys(RUNTIME_ENV).filter((k) => env[k] === undefined);
    const execve = (process as unknown as { execve?: Execve }).execve;
    if (typeof execve === "function") {
      try {
        execve(process.execPath, [process.argv0, ...argv], { ...env, ...Object.fromEntries(added.map((k) => [k, RUNTIME_ENV[k]!])), [RUNTIME_MARK]: EXECED + added.join(",") });
      } catch {
        // Not permitted here (a seccomp filter, a binary replaced meanwhile): run with the defaults.
        return "exec-failed";
      }
    }
  }
  if (mark !== undefined) {
    if (!mark.startsWith(EXECED)) return "off";
    for (const k of mark.slice(EXECED.length).split(",")) if (k in RUNTIME_ENV) delete env[k];
    delete env[RUNTIME_MARK];
  }
  const unsafe = Bun.unsafe as { setJITPolicy?: (scale: number) => void };
  unsafe.setJITPolicy?.(JIT_POLICY);
  tunedHere = true;
  return "tuned";
}

/**
 * Call once start-up is over (the tick loop's first tick): the JIT's tier-up
 * back to JSC's own thresholds, so that the code every tick runs is compiled
 * within seconds; nothing when tuneRuntime did not tune this process.
 */
export function settleRuntime(): void {
  if (!tunedHere) return;
  const unsafe = Bun.unsafe as { setJITPolicy?: (scale: number) => void };
  unsafe.setJITPolicy?.(JIT_POLICY_RUNNING);
}
