// SPDX-License-Identifier: GPL-2.0
/* Inbound load shedding at the driver (seed 004 §6.2, §7, §8): one program,
 * its behaviour chosen by the policy map so that changing level is one map
 * update, never a re-attach. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdp_shed.h"

/* uapi #defines that vmlinux.h (types only) does not carry. */
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IP_OFFSET_MASK 0x1FFF
#define NEXTHDR_HOP 0
#define NEXTHDR_TCP 6
#define NEXTHDR_UDP 17
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_ICMPV6 58
#define NEXTHDR_DEST 60
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10
#define DHCP4_SERVER_PORT 67
#define DHCP4_CLIENT_PORT 68
#define DHCP6_CLIENT_PORT 546
#define DHCP6_SERVER_PORT 547
#define NS_PER_S 1000000000ULL
/* IPv6 extension headers walked before giving up on finding TCP. */
#define MAX_EXT_HEADERS 6

struct hosa_vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct hosa_ipv6_ext {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hosa_xdp_policy);
} xdp_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HOSA_XDP_POLICIES);
	__type(key, __u32);
	__type(value, struct hosa_xdp_counters);
} xdp_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hosa_xdp_v4_key);
	__type(value, __u32);
} xdp_allow_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hosa_xdp_v6_key);
	__type(value, __u32);
} xdp_allow_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hosa_xdp_rate);
} xdp_rate SEC(".maps");

/* What the parser learned about one packet. */
struct pkt_info {
	__u32 classes; /* HOSA_XDP_HEALTHCHECK | HOSA_XDP_MANAGEMENT of the source */
	bool is_ip;
	bool is_new_tcp; /* SYN without ACK: a connection being opened */
	bool is_nd;      /* IPv6 neighbour discovery, the ARP of IPv6 */
	bool is_dhcp;    /* a DHCP server's answer to this node's client */
};

static __always_inline __u32 classes_v4(__u32 saddr)
{
	struct hosa_xdp_v4_key key = { .prefixlen = 32 };
	__u32 *v;

	__builtin_memcpy(key.addr, &saddr, 4);
	v = bpf_map_lookup_elem(&xdp_allow_v4, &key);
	return v ? *v : 0;
}

static __always_inline __u32 classes_v6(struct in6_addr *saddr)
{
	struct hosa_xdp_v6_key key = { .prefixlen = 128 };
	__u32 *v;

	__builtin_memcpy(key.addr, saddr, 16);
	v = bpf_map_lookup_elem(&xdp_allow_v6, &key);
	return v ? *v : 0;
}

static __always_inline bool tcp_is_syn(void *l4, void *data_end)
{
	__u8 *flags = (__u8 *)l4 + 13;

	if ((void *)(flags + 1) > data_end)
		return false;
	return (*flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

static __always_inline bool udp_is_dhcp_reply(void *l4, void *data_end, __u16 server, __u16 client)
{
	struct udphdr *udp = l4;

	if ((void *)(udp + 1) > data_end)
		return false;
	return udp->source == bpf_htons(server) && udp->dest == bpf_htons(client);
}

static __always_inline void parse_ipv4(void *cursor, void *data_end, struct pkt_info *info)
{
	struct iphdr *iph = cursor;
	void *l4;

	if ((void *)(iph + 1) > data_end)
		return;
	info->classes = classes_v4(iph->saddr);
	/* A non-first fragment carries no TCP or UDP header; the first one decides. */
	if (iph->ihl < 5 || (iph->frag_off & bpf_htons(IP_OFFSET_MASK)))
		return;
	l4 = cursor + iph->ihl * 4;
	if (iph->protocol == NEXTHDR_TCP)
		info->is_new_tcp = tcp_is_syn(l4, data_end);
	else if (iph->protocol == NEXTHDR_UDP)
		info->is_dhcp = udp_is_dhcp_reply(l4, data_end, DHCP4_SERVER_PORT, DHCP4_CLIENT_PORT);
}

static __always_inline void parse_ipv6(void *cursor, void *data_end, struct pkt_info *info)
{
	struct ipv6hdr *ip6h = cursor;
	__u8 nexthdr;
	int i;

	if ((void *)(ip6h + 1) > data_end)
		return;
	info->classes = classes_v6(&ip6h->saddr);
	nexthdr = ip6h->nexthdr;
	cursor = ip6h + 1;
#pragma unroll
	for (i = 0; i < MAX_EXT_HEADERS; i++) {
		struct hosa_ipv6_ext *ext = cursor;

		if (nexthdr != NEXTHDR_HOP && nexthdr != NEXTHDR_ROUTING && nexthdr != NEXTHDR_DEST &&
		    nexthdr != NEXTHDR_FRAGMENT && nexthdr != NEXTHDR_AUTH)
			break;
		if ((void *)(ext + 1) > data_end)
			return;
		if (nexthdr == NEXTHDR_FRAGMENT) {
			struct frag_hdr *fh = cursor;

			if ((void *)(fh + 1) > data_end)
				return;
			if (fh->frag_off & bpf_htons(0xFFF8))
				return;
			nexthdr = fh->nexthdr;
			cursor = fh + 1;
		} else if (nexthdr == NEXTHDR_AUTH) {
			nexthdr = ext->nexthdr;
			cursor += (ext->hdrlen + 2) * 4;
		} else {
			nexthdr = ext->nexthdr;
			cursor += (ext->hdrlen + 1) * 8;
		}
	}
	if (nexthdr == NEXTHDR_TCP) {
		info->is_new_tcp = tcp_is_syn(cursor, data_end);
	} else if (nexthdr == NEXTHDR_UDP) {
		info->is_dhcp = udp_is_dhcp_reply(cursor, data_end, DHCP6_SERVER_PORT, DHCP6_CLIENT_PORT);
	} else if (nexthdr == NEXTHDR_ICMPV6) {
		__u8 *type = cursor;

		/* RFC 4861 §7.1: ND is valid only with hop limit 255, so it
		 * cannot come from beyond the link. Types 133..137. */
		if ((void *)(type + 1) <= data_end && *type >= 133 && *type <= 137 && ip6h->hop_limit == 255)
			info->is_nd = true;
	}
}

static __always_inline bool rate_allows_new(__u32 rate_per_s)
{
	__u32 zero = 0;
	struct hosa_xdp_rate *r = bpf_map_lookup_elem(&xdp_rate, &zero);
	__u64 now = bpf_ktime_get_ns();

	if (!r)
		return true;
	/* Two CPUs may both reset the window at its turn; admitting a few more
	 * connections than the rate at that instant is harmless. */
	if (now - r->window_start_ns >= NS_PER_S) {
		r->window_start_ns = now;
		r->new_in_window = 0;
	}
	/* No fetch variant: that needs -mcpu=v3; re-reading is close enough. */
	__sync_fetch_and_add(&r->new_in_window, 1);
	return r->new_in_window <= rate_per_s;
}

static __always_inline bool decide(__u32 policy, __u32 rate_new_per_s, const struct pkt_info *info)
{
	/* ARP, neighbour discovery and DHCP answers keep the node reachable at
	 * every level: a cloud VM whose lease lapses during quarantine loses its
	 * address, and with it its management access (seed 004 §9.2). */
	if (!info->is_ip || info->is_nd || info->is_dhcp)
		return true;
	switch (policy) {
	case HOSA_XDP_SHED_NEW:
		return !info->is_new_tcp || info->classes;
	case HOSA_XDP_RATE_NEW:
		return !info->is_new_tcp || info->classes || rate_allows_new(rate_new_per_s);
	case HOSA_XDP_BLOCK_ALL:
		return info->classes & (HOSA_XDP_HEALTHCHECK | HOSA_XDP_MANAGEMENT);
	case HOSA_XDP_ISOLATE:
		return info->classes & HOSA_XDP_MANAGEMENT;
	default:
		return true;
	}
}

SEC("xdp")
int xdp_shed(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pkt_info info = {};
	struct hosa_xdp_counters *c;
	struct hosa_xdp_policy *p;
	struct ethhdr *eth = data;
	__u32 zero = 0, policy;
	void *cursor;
	__be16 proto;
	bool pass;
	int i;

	p = bpf_map_lookup_elem(&xdp_policy, &zero);
	policy = p ? p->policy : HOSA_XDP_OFF;
	/* A value this program does not know (a newer hosa's) must not black-hole the node. */
	if (policy >= HOSA_XDP_POLICIES)
		policy = HOSA_XDP_OFF;

	if (policy == HOSA_XDP_OFF || (void *)(eth + 1) > data_end) {
		pass = true;
		goto out;
	}
	proto = eth->h_proto;
	cursor = eth + 1;
#pragma unroll
	for (i = 0; i < 2; i++) {
		struct hosa_vlan_hdr *vh = cursor;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > data_end)
			break;
		proto = vh->encapsulated_proto;
		cursor = vh + 1;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		info.is_ip = true;
		parse_ipv4(cursor, data_end, &info);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		info.is_ip = true;
		parse_ipv6(cursor, data_end, &info);
	}
	pass = decide(policy, p ? p->rate_new_per_s : 0, &info);
out:
	c = bpf_map_lookup_elem(&xdp_counters, &policy);
	if (c) {
		if (pass)
			c->passed++;
		else
			c->dropped++;
	}
	return pass ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
