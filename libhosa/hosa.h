/* libhosa: the few things hosa's TypeScript cannot do itself, for bun:ffi.
 *
 * Flat API: every function is hosa_*, takes plain integers, pointers to
 * caller-owned buffers and C strings, and returns >= 0 on success or a negative
 * errno; hosa_last_error() then holds one line saying what failed. Objects are
 * small integer handles, not pointers. Not thread-safe: one thread calls it
 * (the sampler's own thread, hosa_sampler_start, only reads what is registered
 * with it, under a lock that closing a set or an object takes).
 * Mirrored by src/ffi/libhosa.ts; keep the two in step. */
#ifndef HOSA_H
#define HOSA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HOSA_API __attribute__((visibility("default")))

/* XDP attach modes (hosa_xdp_attach's mode argument and its result). */
#define HOSA_XDP_AUTO 0    /* native (driver) mode, else generic (skb) mode */
#define HOSA_XDP_NATIVE 1  /* native only */
#define HOSA_XDP_GENERIC 2 /* generic only */

/* The message of the last failure ("load probes: Operation not permitted: ..."); never NULL. */
HOSA_API const char *hosa_last_error(void);

/* Number of possible CPUs: the stride of per-CPU map values. */
HOSA_API int hosa_num_possible_cpus(void);

/* Number of arguments the running kernel's BTF gives tracepoint `name`
 * (btf_trace_<name>), -ENOENT if it has none: lets the loader pick the program
 * variant that matches a tracepoint whose signature changed between kernels. */
HOSA_API int hosa_tracepoint_nargs(const char *name);

/* Open a BPF ELF object from memory (copied; buf may be freed after); returns a handle. */
HOSA_API int hosa_obj_open_mem(const void *buf, size_t len, const char *name);

/* Set a `const volatile` global of the object's .rodata before load; len must equal its size. */
HOSA_API int hosa_obj_set_rodata(int obj, const char *var, const void *value, size_t len);

/* Enable or disable loading of one program (before load); disabled programs are not attached. */
HOSA_API int hosa_obj_set_autoload(int obj, const char *prog, int enabled);

/* Load (verify) every enabled program and create the maps. */
HOSA_API int hosa_obj_load(int obj);

/* Attach every loaded program that attaches by itself (tracepoints, kprobes,
 * fentry...; XDP and other ifindex-bound programs are skipped); returns how many. */
HOSA_API int hosa_obj_attach_all(int obj);

/* Attach one loaded program by name (same kinds as hosa_obj_attach_all). */
HOSA_API int hosa_obj_attach(int obj, const char *prog);

/* Number of programs in the object (loaded or not). */
HOSA_API int hosa_obj_program_count(int obj);

/* Name of program i into buf (NUL-terminated); returns 1 if it is attached, 0 if not. */
HOSA_API int hosa_obj_program_name(int obj, int i, char *buf, size_t len);

/* Cumulative run time (ns) and run count of program i, into *run_time_ns and
 * *run_count; both are 0 for a program not loaded, and stay 0 unless run
 * statistics are on (hosa_enable_run_stats). */
HOSA_API int hosa_obj_program_stats(int obj, int i, uint64_t *run_time_ns, uint64_t *run_count);

/* Runs of program i skipped because it was already running on that CPU
 * (bpf_prog_info.recursion_misses: events its counters never saw). */
HOSA_API int hosa_obj_program_misses(int obj, int i, uint64_t *misses);

/* Turn on the kernel's BPF run-time statistics (BPF_ENABLE_STATS) until the
 * returned file descriptor is closed with hosa_close_fd. */
HOSA_API int hosa_enable_run_stats(void);

/* Close a file descriptor libhosa returned (hosa_enable_run_stats). */
HOSA_API int hosa_close_fd(int fd);

/* The kernel's page size in bytes (sysconf(_SC_PAGESIZE)): what the cgroup_usage iterator counts in. */
HOSA_API long hosa_page_size(void);

/* Attach the cgroup iterator program prog (SEC("iter/cgroup")) to the
 * cgroup directory dir: it walks dir and every cgroup under it, parents first
 * (BPF_CGROUP_ITER_DESCENDANTS_PRE), on dir's hierarchy (a cgroup v1
 * controller's or the unified one). hosa_obj_attach_all leaves such programs
 * alone. Read it with hosa_iter_read. */
HOSA_API int hosa_obj_attach_iter_cgroup(int obj, const char *prog, const char *dir);

/* Run the attached BPF iterator program prog once (a fresh iterator per call)
 * and copy what it writes into buf, at most len bytes; returns bytes read. */
HOSA_API int hosa_iter_read(int obj, const char *prog, void *buf, size_t len);

/* A read set: kernel files kept open and re-read together, at offset 0 with
 * pread(2) (seq_file then regenerates them), so a tick reads every file it
 * needs in one call. Returns a set handle. */
HOSA_API int hosa_readset_open(void);

/* Open path read-only into the set; returns its slot (0, 1, ...). */
HOSA_API int hosa_readset_add(int set, const char *path);

/* Re-read every slot i into buf + offsets[i], at most caps[i] bytes;
 * lens[i] = bytes read (caps[i] when the file may not have fit) or -errno.
 * Returns the number of slots. */
HOSA_API int hosa_readset_read(int set, void *buf, const uint32_t *offsets, const uint32_t *caps,
			       int32_t *lens);

/* Close the set's files and free it. */
HOSA_API int hosa_readset_close(int set);

/* The directories under root + under, breadth-first in readdir order, at most
 * max_depth '/'s deep (under's included) and max_count of them: each a path
 * relative to root starting with "/" and ended by '\n', into buf. Returns the
 * bytes written, -ENOSPC when buf is too small (call again with more room),
 * or -errno when root + under cannot be opened. Subdirectories that vanish
 * meanwhile are skipped. */
HOSA_API int64_t hosa_list_dirs(const char *root, const char *under, int max_depth, int max_count, char *buf,
				size_t len);

/* Ask the kernel to reclaim this process's clean pages of its own executable
 * (MADV_PAGEOUT, Linux 5.4): after start-up most of the runtime's code that
 * was touched (parsers, the compiler of Bun's FFI bindings, module loading) is never
 * run again, and what is comes back on first use. Returns the bytes advised. */
HOSA_API int64_t hosa_release_executable_pages(void);

/* Detach everything attached through this handle (XDP included), free the object. */
HOSA_API int hosa_obj_close(int obj);

/* File descriptor of a map by name (owned by the object: do not close it). */
HOSA_API int hosa_obj_map_fd(int obj, const char *map);

/* File descriptor of a loaded program by name (owned by the object). */
HOSA_API int hosa_obj_prog_fd(int obj, const char *prog);

/* Look up key in a map; value must hold value_size bytes (per-CPU maps:
 * hosa_num_possible_cpus() * value_size rounded up to 8). -ENOENT if absent. */
HOSA_API int hosa_map_lookup(int map_fd, const void *key, void *value);

/* Insert or replace; flags: 0 any, 1 only if absent, 2 only if present (BPF_ANY/NOEXIST/EXIST). */
HOSA_API int hosa_map_update(int map_fd, const void *key, const void *value, uint64_t flags);

/* Delete key; -ENOENT if absent. */
HOSA_API int hosa_map_delete(int map_fd, const void *key);

/* Key and value sizes of a map, into *key_size and *value_size (either may be NULL). */
HOSA_API int hosa_map_sizes(int map_fd, uint32_t *key_size, uint32_t *value_size);

/* Read a per-CPU map entry whose value is `words` u64 counters and write their
 * sums over all CPUs to out[0..words). */
HOSA_API int hosa_percpu_sum(int map_fd, const void *key, uint64_t *out, uint32_t words);

/* Dump a per-CPU hash whose values are `words` u64 counters: up to max_entries
 * keys into keys (key_size bytes each) and their per-CPU sums into
 * values (words u64 each); returns the number of entries written (fewer than
 * max_entries can mean the next hash bucket did not fit). If reset is
 * non-zero, the entries written are deleted (increments racing the read are lost). */
HOSA_API int hosa_percpu_hash_dump(int map_fd, void *keys, uint64_t *values, uint32_t max_entries,
				   uint32_t words, int reset);

/* Map a BPF ring buffer map of the object for reading; returns a ring handle. */
HOSA_API int hosa_ringbuf_open(int obj, const char *map);

/* Copy committed records without blocking into buf as [u32 length][u32 0][payload
 * padded to 8], stopping before one that does not fit (it stays for the next call);
 * returns bytes written. */
HOSA_API int hosa_ringbuf_drain(int ring, void *buf, size_t len);

/* Unmap a ring (also done by hosa_obj_close of its object). */
HOSA_API int hosa_ringbuf_close(int ring);

/* Attach XDP program prog of obj to ifindex; mode is HOSA_XDP_*; replaces a
 * program already there. Returns the mode obtained (HOSA_XDP_NATIVE or _GENERIC). */
HOSA_API int hosa_xdp_attach(int obj, const char *prog, int ifindex, int mode);

/* Detach the XDP program from ifindex in the given mode (HOSA_XDP_AUTO: whichever is attached). */
HOSA_API int hosa_xdp_detach(int ifindex, int mode);

/* The XDP mode currently attached to ifindex: 0 none, HOSA_XDP_NATIVE or HOSA_XDP_GENERIC
 * (a program attached in another mode, e.g. offload, gives -EEXIST). */
HOSA_API int hosa_xdp_query(int ifindex);

/* The sampler: one thread (all signals blocked) that every period_us, on an
 * absolute CLOCK_MONOTONIC schedule (resynchronised rather than bursting
 * after a stall), takes a snapshot of what is registered below: each read set
 * that is due (the same pread(2)s as hosa_readset_read, stored at their
 * actual lengths), each per-CPU counter entry, each iterator's pass; and the
 * time. Snapshots go to a ring of ring_slots; one that would overwrite a
 * snapshot not yet consumed is not taken, and counted (hosa_sampler_status).
 * The thread writes a byte to the returned file descriptor (a pipe's read
 * end, non-blocking) when batch snapshots are pending or a tripwire fired.
 * While a snapshot is served (hosa_sampler_begin .. hosa_sampler_end),
 * hosa_readset_read, hosa_percpu_sum and hosa_iter_read of what it holds copy
 * its bytes (same contract as a live read) instead of reading the kernel;
 * anything it does not hold is read live. Returns the wake descriptor (a new
 * pipe per start; hosa_sampler_stop closes its write end, so a reader sees
 * its end; the read end is the caller's to close). */
HOSA_API int hosa_sampler_start(uint32_t period_us, uint32_t batch, uint32_t ring_slots);

/* Change the period and the batch of the running sampler (from its next sleep). */
HOSA_API int hosa_sampler_set(uint32_t period_us, uint32_t batch);

/* Stretch the danger watch's scan at calm: the registrations read at most
 * every min_interval_us (its usage set or iterator pass, pids set, count of
 * cgroups) are read at most every stretch_us, and sooner, in the first
 * snapshot where the node's MemAvailable (the "MemAvailable:" line of file
 * `slot` of read set r, /proc/meminfo) fell by fall_bytes_per_s for each
 * second of min_interval_us since they were last read (or cannot be had).
 * Their tripwires, and every tripwire of a registration with a minimum
 * interval, fire on that rate's worth of one minimum interval as well.
 * stretch_us 0: off (the default). */
HOSA_API int hosa_sampler_stretch(uint32_t min_interval_us, uint32_t stretch_us, int r, uint32_t slot,
				  double fall_bytes_per_s);

/* Stop the thread (at once, not at the end of its sleep), join it, drop every
 * pending snapshot. Registrations stay. */
HOSA_API int hosa_sampler_stop(void);

/* out[0..5): thread alive (1/0), snapshots pending, snapshots skipped (ring
 * full), tripwires fired, snapshots taken. */
HOSA_API int hosa_sampler_status(uint64_t *out);

/* Clear the wake (the caller reads the pipe's bytes): the next batch or tripwire writes again. */
HOSA_API int hosa_sampler_ack(void);

/* Serve the oldest pending snapshot: times[0] its CLOCK_MONOTONIC ns, times[1]
 * the ns it was scheduled at; returns how many things it holds, -EAGAIN when
 * none is pending. */
HOSA_API int hosa_sampler_begin(double *times);

/* Done with the served snapshot: its slot goes back to the thread. */
HOSA_API int hosa_sampler_end(void);

/* Drop every pending snapshot (JavaScript reads live from now); returns how many. */
HOSA_API int hosa_sampler_discard(void);

/* Sample read set r with room caps[i] per slot (a copy is kept; register again
 * after the set's files or rooms change: it replaces the last registration of
 * r). min_interval_us: read at most that often (0: every snapshot), in the
 * same snapshots as the other registrations of that interval. rate_per_s
 * > 0: a tripwire: a slot whose leading decimal number rose faster than that
 * since the set's last read wakes JavaScript at once; < 0: any change of its
 * bytes since its last read does (a count of cgroups). Returns a registration. */
HOSA_API int hosa_sampler_add_readset(int r, const uint32_t *caps, uint32_t min_interval_us, double rate_per_s);

/* Sample hosa_percpu_sum(map_fd, key, words) of object h's map at every snapshot. */
HOSA_API int hosa_sampler_add_percpu(int h, int map_fd, const void *key, uint32_t key_size, uint32_t words);

/* Sample a pass of object h's attached iterator prog (at most room bytes at
 * first, doubled when a pass fills it); its records are (u64 id, u64 value).
 * rate_per_s > 0: a tripwire when an id's value rose faster than that since
 * the last pass. min_interval_us: a pass at most that often (0: every
 * snapshot). A registration with a minimum interval (a read set's too) is
 * taken in the same snapshots as any other of the same interval. */
HOSA_API int hosa_sampler_add_iter(int h, const char *prog, uint32_t room, double rate_per_s, uint32_t min_interval_us);

/* Gate read set r's change-wake (registered with rate_per_s < 0) on directories: when its bytes changed,
 * the thread looks at each directory's link count (cgroupfs: 2 + its subdirectories) and wakes only if
 * one moved since it last looked (a cgroup made or removed under one of them, not elsewhere on the node).
 * dirs: len bytes of NUL-terminated paths; len 0: no gate (any change wakes). links: the caller's link
 * count of each (-1: none), what the first look compares with. Register again after a
 * hosa_sampler_add_readset of r (a new registration has no gate). */
HOSA_API int hosa_sampler_gate(int r, const char *dirs, uint32_t len, const double *links);

/* Whether the snapshot being served holds read set r: 1 yes, 0 no, -1 none is served. */
HOSA_API int hosa_sampler_holds(int r);

/* The iterator registration reg's tripwire fires only for these n cgroup ids (a watch's cgroups: growth
 * elsewhere in the hierarchy is no reason to wake its agent); ids NULL: for any, as registered. */
HOSA_API int hosa_sampler_iter_watch(int reg, const double *ids, uint32_t n);

/* Drop a registration (closing its set or object drops it too). */
HOSA_API int hosa_sampler_remove(int reg);

/* CLOCK_MONOTONIC now, ns: the snapshots' clock. */
HOSA_API int64_t hosa_monotonic_ns(void);

#ifdef __cplusplus
}
#endif
#endif
