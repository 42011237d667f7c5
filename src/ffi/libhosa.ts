// The only TypeScript that touches bun:ffi. Mirrors libhosa/hosa.h function
// for function; a negative return becomes an FfiError carrying the errno and
// libhosa's one-line message. libhosa.so and the BPF objects are embedded in
// the compiled executable (`with { type: "file" }` resolves to /$bunfs/...),
// so nothing is read from the source tree or the system's libraries.
import { dlopen, FFIType } from "bun:ffi";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT, HosaError } from "../errors.ts";
import { writeFileAtomic } from "../util/atomic.ts";
// build/ or, under the "hosa-arm64" condition (scripts/build.sh --arch arm64),
// build/arm64/: package.json "imports".
import libhosaFile from "#native/libhosa.so" with { type: "file" };
import probesObjectFile from "#native/bpf/probes.bpf.o" with { type: "file" };
import xdpShedObjectFile from "#native/bpf/xdp_shed.bpf.o" with { type: "file" };

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 7: "E2BIG", 9: "EBADF", 11: "EAGAIN",
  12: "ENOMEM", 13: "EACCES", 16: "EBUSY", 17: "EEXIST", 19: "ENODEV", 22: "EINVAL", 24: "EMFILE",
  28: "ENOSPC", 38: "ENOSYS", 95: "EOPNOTSUPP", 524: "ENOTSUPP",
};

/** A libhosa call returned -errno; `message` is libhosa's line ("load BPF object probes: Operation not permitted"). */
export class FfiError extends HosaError {
  readonly code: string;
  constructor(
    readonly fn: string,
    readonly errno: number,
    message: string,
  ) {
    super(message, errno === 1 || errno === 13 ? EXIT.PERMISSION : EXIT.FAILURE);
    this.name = "FfiError";
    this.code = ERRNO_NAMES[errno] ?? `errno ${errno}`;
  }
}

/** XDP attach modes, as HOSA_XDP_* in hosa.h. */
export const XDP_MODE = { AUTO: 0, NATIVE: 1, GENERIC: 2 } as const;
export type XdpModeCode = (typeof XDP_MODE)[keyof typeof XDP_MODE];

/** Map update flags (BPF_ANY, BPF_NOEXIST, BPF_EXIST). */
export const MAP_UPDATE = { ANY: 0, NOEXIST: 1, EXIST: 2 } as const;

/** The BPF objects built from bpf/*.bpf.c and embedded in the executable. */
const BPF_OBJECT_FILES = { probes: probesObjectFile, xdp_shed: xdpShedObjectFile } as const;
export type BpfObjectName = keyof typeof BPF_OBJECT_FILES;

const { i32, i64, u32, u64, ptr, cstring } = FFIType;
const SYMBOLS = {
  hosa_last_error: { args: [], returns: cstring },
  hosa_num_possible_cpus: { args: [], returns: i32 },
  hosa_tracepoint_nargs: { args: [ptr], returns: i32 },
  hosa_obj_open_mem: { args: [ptr, u64, ptr], returns: i32 },
  hosa_obj_set_rodata: { args: [i32, ptr, ptr, u64], returns: i32 },
  hosa_obj_set_autoload: { args: [i32, ptr, i32], returns: i32 },
  hosa_obj_load: { args: [i32], returns: i32 },
  hosa_obj_attach_all: { args: [i32], returns: i32 },
  hosa_obj_attach: { args: [i32, ptr], returns: i32 },
  hosa_obj_program_count: { args: [i32], returns: i32 },
  hosa_obj_program_name: { args: [i32, i32, ptr, u64], returns: i32 },
  hosa_obj_program_stats: { args: [i32, i32, ptr, ptr], returns: i32 },
  hosa_obj_program_misses: { args: [i32, i32, ptr], returns: i32 },
  hosa_enable_run_stats: { args: [], returns: i32 },
  hosa_close_fd: { args: [i32], returns: i32 },
  hosa_iter_read: { args: [i32, ptr, ptr, u64], returns: i32 },
  hosa_obj_attach_iter_cgroup: { args: [i32, ptr, ptr], returns: i32 },
  hosa_page_size: { args: [], returns: i64 },
  hosa_readset_open: { args: [], returns: i32 },
  hosa_release_executable_pages: { args: [], returns: i64 },
  hosa_readset_add: { args: [i32, ptr], returns: i32 },
  hosa_readset_read: { args: [i32, ptr, ptr, ptr, ptr], returns: i32 },
  hosa_readset_close: { args: [i32], returns: i32 },
  hosa_list_dirs: { args: [ptr, ptr, i32, i32, ptr, u64], returns: i64 },
  hosa_obj_close: { args: [i32], returns: i32 },
  hosa_obj_map_fd: { args: [i32, ptr], returns: i32 },
  hosa_obj_prog_fd: { args: [i32, ptr], returns: i32 },
  hosa_map_lookup: { args: [i32, ptr, ptr], returns: i32 },
  hosa_map_update: { args: [i32, ptr, ptr, u64], returns: i32 },
  hosa_map_delete: { args: [i32, ptr], returns: i32 },
  hosa_map_sizes: { args: [i32, ptr, ptr], returns: i32 },
  hosa_percpu_sum: { args: [i32, ptr, ptr, u32], returns: i32 },
  hosa_percpu_hash_dump: { args: [i32, ptr, ptr, u32, u32, i32], returns: i32 },
  hosa_ringbuf_open: { args: [i32, ptr], returns: i32 },
  hosa_ringbuf_drain: { args: [i32, ptr, u64], returns: i32 },
  hosa_ringbuf_close: { args: [i32], returns: i32 },
  hosa_xdp_attach: { args: [i32, ptr, i32, i32], returns: i32 },
  hosa_xdp_detach: { args: [i32, i32], returns: i32 },
  hosa_xdp_query: { args: [i32], returns: i32 },
  hosa_sampler_start: { args: [u32, u32, u32], returns: i32 },
  hosa_sampler_set: { args: [u32, u32], returns: i32 },
  hosa_sampler_stop: { args: [], returns: i32 },
  hosa_sampler_status: { args: [ptr], returns: i32 },
  hosa_sampler_ack: { args: [], returns: i32 },
  hosa_sampler_begin: { args: [ptr], returns: i32 },
  hosa_sampler_end: { args: [], returns: i32 },
  hosa_sampler_discard: { args: [], returns: i32 },
  hosa_sampler_add_readset: { args: [i32, ptr, u32, FFIType.f64], returns: i32 },
  hosa_sampler_add_percpu: { args: [i32, i32, ptr, u32, u32], returns: i32 },
  hosa_sampler_add_iter: { args: [i32, ptr, u32, FFIType.f64, u32], returns: i32 },
  hosa_sampler_remove: { args: [i32], returns: i32 },
  hosa_sampler_iter_watch: { args: [i32, ptr, u32], returns: i32 },
  hosa_sampler_holds: { args: [i32], returns: i32 },
  hosa_sampler_gate: { args: [i32, ptr, u32, ptr], returns: i32 },
  hosa_sampler_stretch: { args: [u32, u32, i32, u32, FFIType.f64], returns: i32 },
  hosa_monotonic_ns: { args: [], returns: i64 },
} as const;

type Lib = ReturnType<typeof dlopen<typeof SYMBOLS>>["symbols"];
let loaded: { symbols: Lib; path: string } | undefined;

/** A private directory for the extracted library: root's under /run, others' under the temp dir. */
function extractionDir(): string {
  const uid = process.getuid?.() ?? 0;
  const dir = process.env.HOSA_LIB_DIR ?? (uid === 0 ? "/run/hosa/lib" : join(tmpdir(), `hosa-${uid}-lib`));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  // Someone else's directory (or a symlink planted in /tmp) could swap the library under us.
  if (!st.isDirectory() || st.uid !== uid) {
    throw new HosaError(`extract libhosa to ${dir}: not a directory owned by uid ${uid}`);
  }
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
  return dir;
}

/** Write the embedded libhosa.so to a private directory (content-hashed name) and return its path. */
export function extractLibhosa(): string {
  let image: Buffer;
  try {
    image = readFileSync(libhosaFile);
  } catch (e) {
    throw new HosaError(`read embedded libhosa.so: ${(e as Error).message}`);
  }
  const hash = createHash("sha256").update(image).digest("hex").slice(0, 16);
  const path = join(extractionDir(), `libhosa-${hash}.so`);
  const same =
    existsSync(path) && createHash("sha256").update(readFileSync(path)).digest("hex").slice(0, 16) === hash;
  if (!same) writeFileAtomic(path, image, 0o500);
  return path;
}

/** Remove other versions' libraries left by earlier runs. A running process keeps
 * its mapping of an unlinked file, so only a file still being extracted (younger
 * than a minute) is worth sparing. */
function removeStaleLibraries(keep: string): void {
  const dir = join(keep, "..");
  try {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (p === keep || !/^libhosa-[0-9a-f]{16}\.so$/.test(name)) continue;
      if (Date.now() - statSync(p).mtimeMs > 60_000) unlinkSync(p);
    }
  } catch {
    // Best effort: a stale file costs a megabyte, not correctness.
  }
}

function lib(): Lib {
  if (loaded) return loaded.symbols;
  const path = extractLibhosa();
  try {
    loaded = { symbols: dlopen(path, SYMBOLS).symbols, path };
  } catch (e) {
    throw new HosaError(`open libhosa ${path}: ${(e as Error).message}`);
  }
  removeStaleLibraries(path);
  return loaded.symbols;
}

/** Where libhosa.so was loaded from (after the first call), for `hosa doctor`. */
export function libhosaPath(): string | undefined {
  return loaded?.path;
}

function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`);
}

function check(fn: string, rc: number): number {
  if (rc >= 0) return rc;
  throw new FfiError(fn, -rc, String(lib().hosa_last_error()));
}

/** The embedded bytes of a BPF object (bpf/<name>.bpf.c), for objOpenMem. */
export function bpfObjectImage(name: BpfObjectName): Uint8Array {
  try {
    return readFileSync(BPF_OBJECT_FILES[name]);
  } catch (e) {
    throw new HosaError(`read embedded BPF object ${name}.bpf.o: ${(e as Error).message}`);
  }
}

export function lastError(): string {
  return String(lib().hosa_last_error());
}

export function numPossibleCpus(): number {
  return check("hosa_num_possible_cpus", lib().hosa_num_possible_cpus());
}

/** Arguments of tracepoint `name` in the running kernel's BTF; undefined if the kernel has no such tracepoint. */
export function tracepointArgs(name: string): number | undefined {
  const rc = lib().hosa_tracepoint_nargs(cstr(name));
  if (rc === -2) return undefined;
  return check("hosa_tracepoint_nargs", rc);
}

/** Open a BPF object from its ELF bytes; returns a handle for the obj* calls. */
export function objOpenMem(image: Uint8Array, name: string): number {
  return check("hosa_obj_open_mem", lib().hosa_obj_open_mem(image, image.byteLength, cstr(name)));
}

/** Set a `const volatile` global before objLoad; `value` must be exactly its size. */
export function objSetRodata(obj: number, variable: string, value: Uint8Array): void {
  check("hosa_obj_set_rodata", lib().hosa_obj_set_rodata(obj, cstr(variable), value, value.byteLength));
}

export function objSetAutoload(obj: number, prog: string, enabled: boolean): void {
  check("hosa_obj_set_autoload", lib().hosa_obj_set_autoload(obj, cstr(prog), enabled ? 1 : 0));
}

export function objLoad(obj: number): void {
  check("hosa_obj_load", lib().hosa_obj_load(obj));
}

/** Attach every self-attaching program (not XDP); returns how many. */
export function objAttachAll(obj: number): number {
  return check("hosa_obj_attach_all", lib().hosa_obj_attach_all(obj));
}

export function objAttach(obj: number, prog: string): void {
  check("hosa_obj_attach", lib().hosa_obj_attach(obj, cstr(prog)));
}

/** Every program of the object and whether it is attached through this handle. */
export function objPrograms(obj: number): { name: string; attached: boolean }[] {
  const n = check("hosa_obj_program_count", lib().hosa_obj_program_count(obj));
  const buf = Buffer.alloc(128);
  const out: { name: string; attached: boolean }[] = [];
  for (let i = 0; i < n; i++) {
    const attached = check("hosa_obj_program_name", lib().hosa_obj_program_name(obj, i, buf, buf.length));
    out.push({ name: buf.toString("utf8", 0, buf.indexOf(0)), attached: attached === 1 });
  }
  return out;
}

/** Cumulative run time and count of each program (zero unless enableRunStats() is in force). */
export function objProgramStats(obj: number): { name: string; runTimeNs: number; runCount: number; recursionMisses: number }[] {
  const t = new BigUint64Array(1);
  const c = new BigUint64Array(1);
  const m = new BigUint64Array(1);
  return objPrograms(obj).map((p, i) => {
    check("hosa_obj_program_stats", lib().hosa_obj_program_stats(obj, i, t, c));
    check("hosa_obj_program_misses", lib().hosa_obj_program_misses(obj, i, m));
    return { name: p.name, runTimeNs: Number(t[0]), runCount: Number(c[0]), recursionMisses: Number(m[0]) };
  });
}

/** Turn on BPF run-time statistics; call the returned function to turn them off again. */
export function enableRunStats(): () => void {
  const fd = check("hosa_enable_run_stats", lib().hosa_enable_run_stats());
  let open = true;
  return () => {
    if (open) check("hosa_close_fd", lib().hosa_close_fd(fd));
    open = false;
  };
}

/** Attach the cgroup iterator `prog` (SEC("iter/cgroup")) to the cgroup directory `dir`: it walks `dir` and everything under it, parents first. */
export function objAttachIterCgroup(obj: number, prog: string, dir: string): void {
  check("hosa_obj_attach_iter_cgroup", lib().hosa_obj_attach_iter_cgroup(obj, cstr(prog), cstr(dir)));
}

/** The kernel's page size in bytes. */
export function pageSize(): number {
  return Number(lib().hosa_page_size());
}

/** Run the attached iterator program `prog` once; what it wrote goes into `buf`. Returns bytes read. `progName` is cstr(prog), kept by the caller so a tick allocates nothing. */
export function iterRead(obj: number, progName: Uint8Array, buf: Uint8Array): number {
  return check("hosa_iter_read", lib().hosa_iter_read(obj, progName, buf, buf.byteLength));
}

/** A new, empty read set (files re-read together with pread); returns its handle. */
export function readsetOpen(): number {
  return check("hosa_readset_open", lib().hosa_readset_open());
}

/** Open `path` into the set; returns its slot. */
export function readsetAdd(set: number, path: string): number {
  return check("hosa_readset_add", lib().hosa_readset_add(set, cstr(path)));
}

/** Re-read every slot i into buf at offsets[i] (at most caps[i] bytes); lens[i] = bytes read or -errno. One call per tick. */
export function readsetRead(set: number, buf: Uint8Array, offsets: Uint32Array, caps: Uint32Array, lens: Int32Array): number {
  return check("hosa_readset_read", lib().hosa_readset_read(set, buf, offsets, caps, lens));
}

export function readsetClose(set: number): void {
  check("hosa_readset_close", lib().hosa_readset_close(set));
}

let dirsBuf: Buffer | undefined;
/**
 * The directories under `root` + `under` (breadth-first, at most `maxDepth`
 * "/"s deep, `maxCount` of them), as paths relative to `root` starting with
 * "/": one native walk (opendir/readdir, directories only) instead of a
 * readdir per directory that makes an object of every file (a cgroup v1
 * directory holds some thirty).
 */
export function listDirs(root: string, under: string, maxDepth: number, maxCount: number): string[] {
  const r = cstr(root);
  const u = cstr(under);
  for (;;) {
    const buf = (dirsBuf ??= Buffer.allocUnsafe(64 * 1024));
    const n = Number(lib().hosa_list_dirs(r, u, maxDepth, maxCount, buf, buf.length));
    if (n === -28 && buf.length < 64 * 1024 * 1024) {
      dirsBuf = Buffer.allocUnsafe(buf.length * 4);
      continue;
    }
    check("hosa_list_dirs", n);
    if (n === 0) return [];
    return buf.toString("latin1", 0, n - 1).split("\n");
  }
}

/** Let the kernel reclaim the clean pages of this executable touched at start-up (see hosa.h); returns the bytes advised. */
export function releaseExecutablePages(): number {
  const rc = lib().hosa_release_executable_pages();
  return check("hosa_release_executable_pages", Number(rc));
}

/** A NUL-terminated copy of `s`, for the calls that take names every tick. */
export function cString(s: string): Uint8Array {
  return cstr(s);
}

/** Detach everything (XDP included) and free the object. */
export function objClose(obj: number): void {
  check("hosa_obj_close", lib().hosa_obj_close(obj));
}

export function objMapFd(obj: number, map: string): number {
  return check("hosa_obj_map_fd", lib().hosa_obj_map_fd(obj, cstr(map)));
}

export function objProgFd(obj: number, prog: string): number {
  return check("hosa_obj_prog_fd", lib().hosa_obj_prog_fd(obj, cstr(prog)));
}

/** Look up `key` into `value` (value_size bytes; per-CPU: cpus x value_size); false if absent. */
export function mapLookup(fd: number, key: Uint8Array, value: Uint8Array): boolean {
  const rc = lib().hosa_map_lookup(fd, key, value);
  if (rc === -2) return false;
  check("hosa_map_lookup", rc);
  return true;
}

export function mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags: number = MAP_UPDATE.ANY): void {
  check("hosa_map_update", lib().hosa_map_update(fd, key, value, flags));
}

/** Delete `key`; false if it was absent. */
export function mapDelete(fd: number, key: Uint8Array): boolean {
  const rc = lib().hosa_map_delete(fd, key);
  if (rc === -2) return false;
  check("hosa_map_delete", rc);
  return true;
}

export function mapSizes(fd: number): { keySize: number; valueSize: number } {
  const k = new Uint32Array(1);
  const v = new Uint32Array(1);
  check("hosa_map_sizes", lib().hosa_map_sizes(fd, k, v));
  return { keySize: k[0] as number, valueSize: v[0] as number };
}

/** Sum a per-CPU entry of `out.length` u64 counters over all CPUs into `out`; false if the key is absent. */
export function percpuSum(fd: number, key: Uint8Array, out: BigUint64Array): boolean {
  const rc = lib().hosa_percpu_sum(fd, key, out, out.length);
  if (rc === -2) return false;
  check("hosa_percpu_sum", rc);
  return true;
}

/**
 * Dump a per-CPU hash of `words`-u64 values: keys into `keys` (key_size bytes
 * each), per-CPU sums into `values` (`words` each), at most `maxEntries`.
 * `reset` deletes what was read. Returns the number of entries.
 */
export function percpuHashDump(
  fd: number,
  keys: Uint8Array,
  values: BigUint64Array,
  maxEntries: number,
  words: number,
  reset = false,
): number {
  if (values.length < maxEntries * words) {
    throw new HosaError(`dump per-CPU map fd ${fd}: values holds ${values.length} u64, needs ${maxEntries * words}`);
  }
  return check("hosa_percpu_hash_dump", lib().hosa_percpu_hash_dump(fd, keys, values, maxEntries, words, reset ? 1 : 0));
}

export function ringbufOpen(obj: number, map: string): number {
  return check("hosa_ringbuf_open", lib().hosa_ringbuf_open(obj, cstr(map)));
}

/** Drain without blocking into `buf` as [u32 length][u32 0][payload padded to 8]...; returns bytes written. */
export function ringbufDrain(ring: number, buf: Uint8Array): number {
  return check("hosa_ringbuf_drain", lib().hosa_ringbuf_drain(ring, buf, buf.byteLength));
}

export function ringbufClose(ring: number): void {
  check("hosa_ringbuf_close", lib().hosa_ringbuf_close(ring));
}

/** Attach XDP program `prog` of `obj` to `ifindex`; returns the mode obtained (XDP_MODE.NATIVE or GENERIC). */
export function xdpAttach(obj: number, prog: string, ifindex: number, mode: XdpModeCode = XDP_MODE.AUTO): XdpModeCode {
  return check("hosa_xdp_attach", lib().hosa_xdp_attach(obj, cstr(prog), ifindex, mode)) as XdpModeCode;
}

/** Detach XDP from `ifindex` (AUTO: whatever mode is attached). */
export function xdpDetach(ifindex: number, mode: XdpModeCode = XDP_MODE.AUTO): void {
  check("hosa_xdp_detach", lib().hosa_xdp_detach(ifindex, mode));
}

/** The XDP mode attached to `ifindex`: 0 (none), XDP_MODE.NATIVE or XDP_MODE.GENERIC. */
export function xdpQuery(ifindex: number): number {
  return check("hosa_xdp_query", lib().hosa_xdp_query(ifindex));
}

/**
 * Start libhosa's sampling thread (hosa.h: hosa_sampler_start): a snapshot
 * of every registered read set, per-CPU entry and iterator pass every
 * `periodUs`, a wake (a byte on the returned pipe descriptor) when `batch`
 * are pending or a tripwire fired.
 */
export function samplerStart(periodUs: number, batch: number, ringSlots: number): number {
  return check("hosa_sampler_start", lib().hosa_sampler_start(periodUs, batch, ringSlots));
}

export function samplerSet(periodUs: number, batch: number): void {
  check("hosa_sampler_set", lib().hosa_sampler_set(periodUs, batch));
}

/** Stop and join the thread; pending snapshots are dropped, registrations stay. */
export function samplerStop(): void {
  check("hosa_sampler_stop", lib().hosa_sampler_stop());
}

export interface SamplerStatus {
  alive: boolean;
  pending: number;
  /** Snapshots not taken because the ring was full (JavaScript behind). */
  skipped: number;
  tripped: number;
  taken: number;
}
const statusWords = new BigUint64Array(5);
export function samplerStatus(): SamplerStatus {
  lib().hosa_sampler_status(statusWords);
  return { alive: statusWords[0] === 1n, pending: Number(statusWords[1]), skipped: Number(statusWords[2]), tripped: Number(statusWords[3]), taken: Number(statusWords[4]) };
}

/** Clear the wake (the pipe's bytes are the caller's to read): the next batch or tripwire wakes again. */
export function samplerAck(): void {
  lib().hosa_sampler_ack();
}

/**
 * Serve the oldest pending snapshot to the reads that follow until
 * samplerEnd(): `times` gets its CLOCK_MONOTONIC ns and the ns it was due.
 * False when none is pending.
 */
export function samplerBegin(times: Float64Array): boolean {
  const rc = lib().hosa_sampler_begin(times);
  if (rc === -11) return false;
  check("hosa_sampler_begin", rc);
  return true;
}

export function samplerEnd(): void {
  lib().hosa_sampler_end();
}

/** Drop the pending snapshots; returns how many. */
export function samplerDiscard(): number {
  return lib().hosa_sampler_discard();
}

/** Sample read set `set` (rooms `caps`); `minIntervalUs`: at most that often; `ratePerS` > 0: a usage tripwire. Returns a registration. */
export function samplerAddReadset(set: number, caps: Uint32Array, minIntervalUs: number, ratePerS: number): number {
  return check("hosa_sampler_add_readset", lib().hosa_sampler_add_readset(set, caps, Math.round(minIntervalUs), ratePerS));
}

export function samplerAddPercpu(obj: number, mapFd: number, key: Uint8Array, words: number): number {
  return check("hosa_sampler_add_percpu", lib().hosa_sampler_add_percpu(obj, mapFd, key, key.byteLength, words));
}

/** Sample a pass of iterator `progName`; `ratePerS` > 0: a growth tripwire; `minIntervalUs`: at most that often (0: every snapshot). */
export function samplerAddIter(obj: number, progName: Uint8Array, roomBytes: number, ratePerS: number, minIntervalUs = 0): number {
  return check("hosa_sampler_add_iter", lib().hosa_sampler_add_iter(obj, progName, roomBytes, ratePerS, Math.round(minIntervalUs)));
}

/** The tripwire of iterator registration `reg` fires only for these cgroup ids (undefined: for any). */
export function samplerIterWatch(reg: number, ids: readonly number[] | undefined): void {
  const a = ids === undefined ? null : Float64Array.from(ids.length > 0 ? ids : [0]);
  check("hosa_sampler_iter_watch", lib().hosa_sampler_iter_watch(reg, a, ids?.length ?? 0));
}

/**
 * Stretch the danger watch's scan at calm: what is sampled at most every `minIntervalUs` is read at most
 * every `stretchUs`, sooner when MemAvailable (read set `set`, file `slot`: /proc/meminfo) fell by
 * `fallBytesPerS` per second of `minIntervalUs` since its last read; `stretchUs` 0: off.
 */
export function samplerStretch(minIntervalUs: number, stretchUs: number, set: number, slot: number, fallBytesPerS: number): void {
  check("hosa_sampler_stretch", lib().hosa_sampler_stretch(Math.round(minIntervalUs), Math.round(stretchUs), set, slot, fallBytesPerS));
}

export function samplerRemove(reg: number): void {
  check("hosa_sampler_remove", lib().hosa_sampler_remove(reg));
}

/** CLOCK_MONOTONIC now, ns (the snapshots' clock). */
export function monotonicNs(): number {
  return Number(lib().hosa_monotonic_ns());
}

/**
 * Gate read set `set`'s change-wake on directories (hosa.h: hosa_sampler_gate): the thread wakes only when
 * one of their link counts moved from `links` (the caller's view) or its last look; none: any change wakes.
 */
export function samplerGate(set: number, dirs: readonly string[], links: readonly number[]): void {
  const bytes = Buffer.from(dirs.map((d) => `${d}\0`).join(""), "utf8");
  const seen = Float64Array.from(links);
  check("hosa_sampler_gate", lib().hosa_sampler_gate(set, bytes.length > 0 ? bytes : Buffer.alloc(1), bytes.length, seen.length > 0 ? seen : new Float64Array(1)));
}

/** Whether the snapshot being served holds read set `set`: true, false, or undefined when none is served. */
export function samplerHolds(set: number): boolean | undefined {
  const rc = lib().hosa_sampler_holds(set);
  return rc < 0 ? undefined : rc === 1;
}
