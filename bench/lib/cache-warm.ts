// A cache warm as it happens on a node: a file read once into the page cache
// (a service warming its data set), levelling off when the read ends. Shared
// by bench/trust.ts (issue 11's healthy bursts) and bench/scenarios (the
// cortex bench's benign-cache-warm), so both measure the same workload.
//
// The file is written with O_DIRECT, so the read comes from the disk and every
// page it brings in is charged to the reader's cgroup as cache (reclaimable),
// never as anon: that is what "cache warm" means, and what hosa's danger rule
// rightly ignores (docs/response.md § Danger).

/** Lays out the file to warm (zeroes, bypassing the page cache). */
export async function prepareCacheWarm(file: string, mib: number): Promise<void> {
  const p = Bun.spawn(["dd", "if=/dev/zero", `of=${file}`, "bs=1M", `count=${mib}`, "oflag=direct", "status=none"], { stdout: "ignore", stderr: "inherit" });
  if ((await p.exited) !== 0) throw new Error(`cache warm: dd of ${file} failed`);
}

/** Reads the file into the page cache, then holds (levels off) for holdS. */
export function cacheWarmCommand(file: string, holdS: number): string[] {
  return ["sh", "-c", `cat '${file}' > /dev/null; sleep ${holdS}`];
}
