// SPDX-License-Identifier: GPL-2.0
/* hosa's sensing probes: per-CPU counters, global and per cgroup, plus a ring
 * buffer of discrete events. Layout after bcc's libbpf-tools (runqlat,
 * biolatency, tcpstates, oomkill): CO-RE reads, options as const volatile. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "probes.h"

#define TASK_RUNNING 0
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define IPPROTO_TCP 6
#if defined(__TARGET_ARCH_arm64)
/* arm64 uses the generic table (include/uapi/asm-generic/unistd.h); the
 * number of the syscall in progress is pt_regs::syscallno
 * (arch/arm64/include/asm/ptrace.h). */
#define __NR_mmap 222
#define __NR_brk 214
#define SYSCALL_NR(regs) ((regs)->syscallno)
#else
/* x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
#define __NR_mmap 9
#define __NR_brk 12
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#endif

/* Set by the loader before load (hosa_obj_set_rodata). */
const volatile __u32 cgroup_mode = HOSA_CGROUP_V2;
const volatile bool per_cgroup = true;
const volatile __u32 fork_burst_threshold = 64;
const volatile __u64 fork_burst_window_ns = 100000000;
/* oom:mark_victim's arguments: (task, uid) since Linux 6.8, (pid) before. */
const volatile bool mark_victim_has_task = true;
/* [sense] probes = "lean" (docs/footprint.md): wake-ups are counted per CPU
 * only, and run-queue latency is not timed on every switch but read from the
 * scheduler's own accounting (task->sched_info, CONFIG_SCHED_INFO) by the
 * runq_totals iterator once per tick; sched_switch is not loaded. */
const volatile bool lean = false;

/* run_delay and pcount of the tasks that have exited since load: with the
 * live tasks' sums (runq_totals) they make totals that only grow. */
__u64 runq_exited_delay_ns = 0;
__u64 runq_exited_slices = 0;
/* runq_totals' running sums over one iteration. */
__u64 runq_iter_delay_ns = 0;
__u64 runq_iter_slices = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hosa_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, HOSA_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct hosa_counters);
} cgroup_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* When the task became runnable, and its cgroup then (so the switch-in, the
 * hottest path, need not walk task->cgroups again). Task storage rather than
 * a pid-keyed hash (runqlat's choice): no capacity to exhaust, no hash lookup. */
struct runnable {
	__u64 since_ns;
	__u64 cgroup_id;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct runnable);
} runnable_since SEC(".maps");

struct rq_start {
	__u64 ts_ns;
	__u64 cgroup_id;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64); /* struct request * */
	__type(value, struct rq_start);
} rq_started SEC(".maps");

struct fork_window {
	__u64 start_ns;
	__u32 count;
	__u32 reported;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fork_window);
} fork_windows SEC(".maps");

/* The cgroup a task is charged to in the selected hierarchy. On a hybrid host
 * memory is a v1 controller, so the unified hierarchy's cgroup (dfl_cgrp)
 * says nothing about memory: read task->cgroups->subsys[memory_cgrp_id]
 * instead. Either way the kernfs id equals the directory's inode number.
 * Direct BTF loads rather than bpf_probe_read_kernel (BPF_CORE_READ): the JIT
 * turns them into plain loads with an exception-table entry (a NULL on the
 * way reads as 0), several times cheaper on the hottest paths (sched_switch). */
static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	if (cgroup_mode == HOSA_CGROUP_MEMORY_V1) {
		/* A load-time constant (CO-RE relocation), so the offset below is fixed. */
		int idx = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
		struct cgroup_subsys_state *css;

		if (idx < 0 || idx >= 16)
			return 0;
		css = task->cgroups->subsys[idx];
		if (!css)
			return 0;
		return css->cgroup->kn->id;
	}
	return task->cgroups->dfl_cgrp->kn->id;
}

static __always_inline __u64 current_cgroup_id(void)
{
	if (cgroup_mode == HOSA_CGROUP_V2)
		return bpf_get_current_cgroup_id();
	return task_cgroup_id(bpf_get_current_task_btf());
}

static __always_inline struct hosa_counters *cgroup_slot(__u64 cgroup_id)
{
	struct hosa_counters *slot;

	if (!per_cgroup || !cgroup_id)
		return NULL;
	slot = bpf_map_lookup_elem(&cgroup_counters, &cgroup_id);
	if (slot)
		return slot;
	struct hosa_counters zero = {};
	/* Full map: the global counters still count, attribution is lost. */
	bpf_map_update_elem(&cgroup_counters, &cgroup_id, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&cgroup_counters, &cgroup_id);
}

static __always_inline void count(__u32 idx, __u64 value, __u64 cgroup_id)
{
	__u32 zero = 0;
	struct hosa_counters *c;

	if (idx >= HOSA_C_NR)
		return;
	c = bpf_map_lookup_elem(&counters, &zero);
	if (c)
		c->c[idx] += value;
	c = cgroup_slot(cgroup_id);
	if (c)
		c->c[idx] += value;
}

static __always_inline void count2(__u32 idx1, __u64 value1, __u32 idx2, __u64 value2,
				   __u64 cgroup_id)
{
	__u32 zero = 0;
	struct hosa_counters *c;

	if (idx1 >= HOSA_C_NR || idx2 >= HOSA_C_NR)
		return;
	c = bpf_map_lookup_elem(&counters, &zero);
	if (c) {
		c->c[idx1] += value1;
		c->c[idx2] += value2;
	}
	c = cgroup_slot(cgroup_id);
	if (c) {
		c->c[idx1] += value1;
		c->c[idx2] += value2;
	}
}

static __always_inline void emit(__u32 type, struct task_struct *task, __u64 cgroup_id,
				 __u32 n)
{
	struct hosa_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(HOSA_C_EVENTS_DROPPED, 1, 0);
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->cgroup_id = cgroup_id;
	e->type = type;
	e->pid = BPF_CORE_READ(task, pid);
	e->tgid = BPF_CORE_READ(task, tgid);
	e->count = n;
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	bpf_ringbuf_submit(e, 0);
}

/* An event that knows only a pid (older kernels' oom:mark_victim). */
static __always_inline void emit_pid(__u32 type, __u32 pid)
{
	struct hosa_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(HOSA_C_EVENTS_DROPPED, 1, 0);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->type = type;
	e->pid = pid;
	e->tgid = pid;
	e->count = 1;
	bpf_ringbuf_submit(e, 0);
}

/* Returns the task's cgroup id, computed once for both uses. */
static __always_inline __u64 mark_runnable(struct task_struct *task)
{
	__u64 cgroup_id = task_cgroup_id(task);
	struct runnable *r;

	if (!task->pid)
		return cgroup_id;
	r = bpf_task_storage_get(&runnable_since, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (r) {
		r->since_ns = bpf_ktime_get_ns();
		r->cgroup_id = cgroup_id;
	}
	return cgroup_id;
}

/* The hottest events skip the per-cgroup hash: the global per-CPU counter only. */
static __always_inline void count_global(__u32 idx, __u64 value)
{
	__u32 zero = 0;
	struct hosa_counters *c;

	if (idx >= HOSA_C_NR)
		return;
	c = bpf_map_lookup_elem(&counters, &zero);
	if (c)
		c->c[idx] += value;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *task)
{
	if (lean) {
		count_global(HOSA_C_WAKEUPS, 1);
		return 0;
	}
	count(HOSA_C_WAKEUPS, 1, mark_runnable(task));
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *task)
{
	if (lean) {
		count_global(HOSA_C_WAKEUPS, 1);
		return 0;
	}
	count(HOSA_C_WAKEUPS, 1, mark_runnable(task));
	return 0;
}

/* Run-queue latency: from wakeup (or involuntary preemption) to switch-in. */
SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	struct runnable *r;
	__u64 delta;

	if (prev_state == TASK_RUNNING)
		mark_runnable(prev);
	if (!next->pid)
		return 0;
	r = bpf_task_storage_get(&runnable_since, next, 0, 0);
	if (!r || !r->since_ns)
		return 0;
	delta = bpf_ktime_get_ns() - r->since_ns;
	r->since_ns = 0;
	count2(HOSA_C_RUNQ_LATENCY_NS, delta, HOSA_C_RUNQ_SWITCHES, 1, r->cgroup_id);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	__u64 cgroup_id = task_cgroup_id(parent), now;
	struct fork_window *w;
	__u32 zero = 0;

	count(HOSA_C_FORKS, 1, cgroup_id);
	w = bpf_map_lookup_elem(&fork_windows, &zero);
	if (!w)
		return 0;
	now = bpf_ktime_get_ns();
	if (now - w->start_ns > fork_burst_window_ns) {
		w->start_ns = now;
		w->count = 0;
		w->reported = 0;
	}
	w->count++;
	if (w->count >= fork_burst_threshold && !w->reported) {
		w->reported = 1;
		emit(HOSA_EV_FORK_BURST, parent, cgroup_id, w->count);
	}
	return 0;
}

/* page_fault_user and page_fault_kernel are x86's exception tracepoints;
 * other architectures have none, the loader leaves them out, and
 * page_faults_per_s comes from /proc/vmstat there (src/sense/live-source.ts). */
SEC("tp_btf/page_fault_user")
int BPF_PROG(page_fault_user, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	count(HOSA_C_PAGE_FAULTS, 1, current_cgroup_id());
	return 0;
}

/* Lean run-queue latency, part 1: what an exiting task waited in total. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit, struct task_struct *task)
{
	__sync_fetch_and_add(&runq_exited_delay_ns, task->sched_info.run_delay);
	__sync_fetch_and_add(&runq_exited_slices, task->sched_info.pcount);
	return 0;
}

/* Part 2, run by the agent once per tick (hosa_iter_read): sum run_delay
 * (ns spent runnable but waiting for a CPU) and pcount (times run) over every
 * task, add the exited ones, and write the two totals as the iterator's
 * output. The agent divides their increments: mean wait per time a task ran,
 * what sched_switch would time in "full" mode, at no cost on the switch. */
SEC("iter/task")
int runq_totals(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	__u64 out[2];

	if (task) {
		runq_iter_delay_ns += task->sched_info.run_delay;
		runq_iter_slices += task->sched_info.pcount;
		return 0;
	}
	/* The last call (no task): the end of one pass. */
	out[0] = runq_iter_delay_ns + runq_exited_delay_ns;
	out[1] = runq_iter_slices + runq_exited_slices;
	runq_iter_delay_ns = 0;
	runq_iter_slices = 0;
	bpf_seq_write(ctx->meta->seq, out, sizeof(out));
	return 0;
}

/* A read() into a fresh buffer faults its pages in kernel mode (copy_to_user),
 * so user-mode faults alone miss them; /proc/vmstat pgfault counts both. */
SEC("tp_btf/page_fault_kernel")
int BPF_PROG(page_fault_kernel, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	if (address < 0x800000000000UL) /* user half of the x86_64 address space */
		count(HOSA_C_PAGE_FAULTS, 1, current_cgroup_id());
	return 0;
}

/* brk and mmap both take the mmap lock for writing: the mmap_lock tracepoint
 * (a static key, off unless attached) plus the syscall number in the task's
 * saved registers tells them apart. Cheaper than the obvious hooks: any
 * syscall tracepoint (raw sys_enter included) sends every syscall of every
 * task through the slow path, and lockdown (integrity) refuses fentry.
 * Before Linux 6.11 the tracepoint also carried a memcg path that the kernel
 * formats on every lock operation once anything is attached; there the loader
 * takes sys_enter below instead (hosa_tracepoint_nargs tells them apart). */
SEC("tp_btf/mmap_lock_acquire_returned")
int BPF_PROG(mmap_lock_acquire_returned, struct mm_struct *mm, bool write, bool success)
{
	struct task_struct *task;
	struct pt_regs *regs;
	long nr;

	if (!write || !success)
		return 0;
	task = bpf_get_current_task_btf();
	/* khugepaged and friends lock other tasks' mm; their registers say nothing. */
	if (task->mm != mm)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	nr = SYSCALL_NR(regs);
	if (nr == __NR_brk)
		count(HOSA_C_BRK_CALLS, 1, current_cgroup_id());
	else if (nr == __NR_mmap)
		count(HOSA_C_MMAP_CALLS, 1, current_cgroup_id());
	return 0;
}

/* Not loaded unless the loader enables it ("?"): see above. */
SEC("?tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	if (id == __NR_brk)
		count(HOSA_C_BRK_CALLS, 1, current_cgroup_id());
	else if (id == __NR_mmap)
		count(HOSA_C_MMAP_CALLS, 1, current_cgroup_id());
	return 0;
}

/* Block I/O is charged to the issuing task's cgroup (issued, bytes). Lean
 * mode times a request from the kernel's own stamp, rq->start_time_ns (set
 * when the request is allocated, whenever the disk keeps I/O statistics or
 * has a scheduler: /proc/diskstats measures from the same stamp, so the
 * latency includes the I/O scheduler's queueing, as the /proc fallback's
 * does), and counts completions and latency globally: no map entry per
 * request. Full mode keeps a hash keyed by the request from issue to
 * completion (which runs in interrupt context, so the cgroup recorded at
 * issue is reused) to charge completions and latency to the cgroup too. */
SEC("tp_btf/block_rq_issue")
int BPF_PROG(block_rq_issue, struct request *rq)
{
	__u64 cgroup_id = current_cgroup_id();

	if (!lean) {
		struct rq_start start = {
			.ts_ns = bpf_ktime_get_ns(),
			.cgroup_id = cgroup_id,
		};
		__u64 key = (__u64)rq;

		bpf_map_update_elem(&rq_started, &key, &start, BPF_ANY);
	}
	count2(HOSA_C_BLK_ISSUED, 1, HOSA_C_BLK_BYTES, rq->__data_len, cgroup_id);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(block_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	__u64 key = (__u64)rq;
	struct rq_start *start;

	if (lean) {
		__u64 since = rq->start_time_ns;
		__u32 zero = 0;
		struct hosa_counters *c = bpf_map_lookup_elem(&counters, &zero);

		if (!c)
			return 0;
		/* No stamp (no I/O statistics, no scheduler): counted, not timed. */
		c->c[HOSA_C_BLK_COMPLETED] += 1;
		if (since)
			c->c[HOSA_C_BLK_LATENCY_NS] += bpf_ktime_get_ns() - since;
		return 0;
	}
	start = bpf_map_lookup_elem(&rq_started, &key);
	if (!start) {
		count(HOSA_C_BLK_COMPLETED, 1, 0);
		return 0;
	}
	count2(HOSA_C_BLK_COMPLETED, 1, HOSA_C_BLK_LATENCY_NS,
	       bpf_ktime_get_ns() - start->ts_ns, start->cgroup_id);
	bpf_map_delete_elem(&rq_started, &key);
	return 0;
}

/* Passive opens finish in softirq context, on loopback inside the client's
 * send; the socket's own cgroup (v2) is used where the kernel keeps one. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	__u64 cgroup_id = 0;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (cgroup_mode == HOSA_CGROUP_V2)
		cgroup_id = BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
	if (!cgroup_id)
		cgroup_id = current_cgroup_id();
	if (newstate == TCP_SYN_SENT)
		count2(HOSA_C_TCP_STATE_CHANGES, 1, HOSA_C_TCP_ACTIVE_OPENS, 1, cgroup_id);
	else if (oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED)
		count2(HOSA_C_TCP_STATE_CHANGES, 1, HOSA_C_TCP_PASSIVE_OPENS, 1, cgroup_id);
	else
		count(HOSA_C_TCP_STATE_CHANGES, 1, cgroup_id);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit_skb, const struct sock *sk)
{
	__u64 cgroup_id = 0;

	if (cgroup_mode == HOSA_CGROUP_V2)
		cgroup_id = BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
	count(HOSA_C_TCP_RETRANSMITS, 1, cgroup_id);
	return 0;
}

/* oom:mark_victim fires once per victim chosen by the kernel or a memcg OOM.
 * Before 6.8 it passed only the pid: no comm, no cgroup (the loader sets
 * mark_victim_has_task, and the verifier drops the branch not taken). */
SEC("tp_btf/mark_victim")
int mark_victim(__u64 *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	__u64 cgroup_id;

	if (mark_victim_has_task) {
		cgroup_id = task_cgroup_id(task);
		count(HOSA_C_OOM_KILLS, 1, cgroup_id);
		emit(HOSA_EV_OOM_KILL, task, cgroup_id, 1);
		return 0;
	}
	count(HOSA_C_OOM_KILLS, 1, 0);
	emit_pid(HOSA_EV_OOM_KILL, (__u32)ctx[0]);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

/* The danger watch's scan (src/sense/cgroup-watch.ts): every watched cgroup's
 * memory usage, every 100 ms. Read through cgroupfs it is one kernfs read per
 * cgroup (a seq_file generated each time, some 4 µs each on a cold tick);
 * this iterator walks the memory hierarchy under the cgroup it is attached to
 * (hosa_obj_attach_iter_cgroup) and writes, per cgroup, its id (the inode of
 * its directory) and the pages charged to it: what memory.usage_in_bytes (v1)
 * and memory.current (v2) print for any cgroup but the root, from the same
 * page_counter. One read(2) for the whole tree. */
struct hosa_cgroup_usage {
	__u64 id;
	__u64 pages;
};

SEC("iter/cgroup")
int cgroup_usage(struct bpf_iter__cgroup *ctx)
{
	struct cgroup *cgrp = ctx->cgroup;
	struct cgroup_subsys_state *css;
	struct hosa_cgroup_usage out;

	if (!cgrp)
		return 0;
	/* The iterator's cgroup is a trusted pointer: its fields are plain loads. */
	css = cgrp->subsys[bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id)];
	if (!css)
		return 0;
	out.id = cgrp->kn->id;
	/* The mem_cgroup around css (its first member): one probe read. */
	out.pages = BPF_CORE_READ((struct mem_cgroup *)((char *)css - bpf_core_field_offset(struct mem_cgroup, css)), memory.usage.counter);
	bpf_seq_write(ctx->meta->seq, &out, sizeof(out));
	return 0;
}
