/* Shared between bpf/xdp_shed.bpf.c and src/respond/xdp.ts (which mirrors
 * these numbers and layouts by hand: keep both in step). */
#ifndef HOSA_XDP_SHED_H
#define HOSA_XDP_SHED_H

/* Policies, indexes of the counters map. Levels from seed 004 §6.2, §7, §8. */
#define HOSA_XDP_OFF 0       /* pass everything */
#define HOSA_XDP_SHED_NEW 1  /* Level 3: drop inbound TCP SYN (no ACK) unless allow-listed */
#define HOSA_XDP_BLOCK_ALL 2 /* Level 4: drop inbound IP unless healthcheck or management */
#define HOSA_XDP_ISOLATE 3   /* Level 5: drop inbound IP unless management */
#define HOSA_XDP_RATE_NEW 4  /* way down from Level 3: at most rate_new_per_s new TCP connections */
#define HOSA_XDP_POLICIES 5

/* Classes of an allow-list entry, OR-ed in the value of the LPM tries. */
#define HOSA_XDP_HEALTHCHECK 1
#define HOSA_XDP_MANAGEMENT 2

/* The one entry of the policy map. 8 bytes. */
struct hosa_xdp_policy {
	__u32 policy;
	__u32 rate_new_per_s;
};

/* One PERCPU_ARRAY slot per policy. 16 bytes. */
struct hosa_xdp_counters {
	__u64 passed;
	__u64 dropped;
};

/* LPM trie keys: prefix length in bits, then the address in network order. */
struct hosa_xdp_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct hosa_xdp_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Global window for the rate-limit-new step. 16 bytes. */
struct hosa_xdp_rate {
	__u64 window_start_ns;
	__u64 new_in_window;
};

#endif
