/* Structs and constants shared by bpf/probes.bpf.c and src/sense/bpf-probes.ts.
 * The TypeScript side mirrors HOSA_C_* by position: append, never reorder. */
#ifndef HOSA_PROBES_H
#define HOSA_PROBES_H

enum hosa_counter {
	HOSA_C_WAKEUPS,
	HOSA_C_RUNQ_LATENCY_NS,
	HOSA_C_RUNQ_SWITCHES,
	HOSA_C_FORKS,
	HOSA_C_PAGE_FAULTS,
	HOSA_C_BRK_CALLS,
	HOSA_C_MMAP_CALLS,
	HOSA_C_BLK_ISSUED,
	HOSA_C_BLK_COMPLETED,
	HOSA_C_BLK_BYTES,
	HOSA_C_BLK_LATENCY_NS,
	HOSA_C_TCP_STATE_CHANGES,
	HOSA_C_TCP_ACTIVE_OPENS,
	HOSA_C_TCP_PASSIVE_OPENS,
	HOSA_C_TCP_RETRANSMITS,
	HOSA_C_OOM_KILLS,
	/* Ring buffer full: an event was counted but not delivered. */
	HOSA_C_EVENTS_DROPPED,
	HOSA_C_NR,
};

/* One value of the `counters` PERCPU_ARRAY (key 0) and of the `cgroup_counters`
 * PERCPU_HASH (key: u64 cgroup id = kernfs id = inode of the cgroup directory). */
struct hosa_counters {
	unsigned long long c[HOSA_C_NR];
};

enum hosa_event_type {
	HOSA_EV_OOM_KILL = 1,
	HOSA_EV_FORK_BURST = 2,
};

/* One record of the `events` ring buffer; 48 bytes, no padding. */
struct hosa_event {
	unsigned long long ts_ns;     /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	unsigned long long cgroup_id; /* of the victim (OOM) or the forking task */
	unsigned int type;            /* enum hosa_event_type */
	unsigned int pid;             /* victim tid, or the forking task's tid */
	unsigned int tgid;
	unsigned int count;           /* forks in the window (FORK_BURST), else 1 */
	char comm[16];
};

/* Values of the `cgroup_mode` option. */
#define HOSA_CGROUP_V2 0
#define HOSA_CGROUP_MEMORY_V1 1

#define HOSA_MAX_CGROUPS 4096

#endif
