/* Parsers of the tick's /proc files in C (hosa_parse_set, hosa.h): the same
 * walks over the same bytes as src/kernel/proc-parsers.ts, with the same
 * arithmetic on doubles in the same order, so each number is the one the
 * JavaScript parser gives, to the bit (src/kernel/proc-parsers-native.test.ts
 * compares them). A calm tick's JavaScript spent most of the live source's
 * read here (docs/footprint.md § The tick). Build with -ffp-contract=off: a
 * fused multiply-add in `v * 10 + d` would round differently above 2^53. */
#define _GNU_SOURCE
#include "hosa.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NL 10
#define SP 32
#define TAB 9

static bool is_digit(uint8_t c)
{
	return c >= 48 && c <= 57;
}

/* lineEnd: index of the line's "\n" at or after i, or end. */
static uint32_t line_end(const uint8_t *b, uint32_t i, uint32_t end)
{
	while (i < end && b[i] != NL)
		i++;
	return i;
}

/* scanUint: the next unsigned integer at or after i on the same line; NaN at the end of the line.
 * *cursor past it. */
static double scan_uint(const uint8_t *b, uint32_t i, uint32_t end, uint32_t *cursor)
{
	while (i < end) {
		uint8_t c = b[i];
		if (c == NL || is_digit(c))
			break;
		i++;
	}
	if (i >= end || b[i] == NL) {
		*cursor = i;
		return NAN;
	}
	double v = 0;
	while (i < end) {
		uint8_t c = b[i];
		if (!is_digit(c))
			break;
		v = v * 10 + (double)(c - 48);
		i++;
	}
	*cursor = i;
	return v;
}

static uint32_t skip_tokens(const uint8_t *b, uint32_t i, uint32_t end, int count)
{
	for (int k = 0; k < count; k++) {
		while (i < end && (b[i] == SP || b[i] == TAB))
			i++;
		while (i < end && b[i] != SP && b[i] != TAB && b[i] != NL)
			i++;
	}
	return i;
}

static bool starts_with(const uint8_t *b, uint32_t i, uint32_t end, const char *k, uint32_t klen)
{
	if ((uint64_t)i + klen > end)
		return false;
	return memcmp(b + i, k, klen) == 0;
}

/* valueAfterKey: the value of the first line starting with key (its separator included), or NaN. */
static double value_after_key(const uint8_t *b, uint32_t start, uint32_t end, const char *k)
{
	uint32_t klen = (uint32_t)strlen(k), i = start, c;
	if (!starts_with(b, start, end, k, klen)) {
		/* "\n" + key anywhere in [start, end): Buffer.indexOf from start, refused past end. */
		const uint8_t *p = b + start, *stop = b + end;
		const uint8_t *j = NULL;
		while (p < stop) {
			const uint8_t *nl = memchr(p, NL, (size_t)(stop - p));
			if (nl == NULL)
				break;
			if ((uint64_t)(nl - b) + 1 + klen > end)
				return NAN;
			if (memcmp(nl + 1, k, klen) == 0) {
				j = nl;
				break;
			}
			p = nl + 1;
		}
		if (j == NULL)
			return NAN;
		i = (uint32_t)(j - b) + 1;
	}
	return scan_uint(b, i + klen, end, &c);
}

/* parseStatBytes: out[0] cpuTotalTicks, [1] cpuIdleTicks, [2] ctxt, [3] processes, [4] procsRunning,
 * [5] procsBlocked, [6] cpuCount. */
static void parse_stat(const uint8_t *b, uint32_t start, uint32_t end, double *out)
{
	uint32_t c;
	out[0] = NAN;
	out[1] = NAN;
	if (starts_with(b, start, end, "cpu ", 4)) {
		uint32_t e = line_end(b, start, end), p = start + 4;
		double total = 0, idle = 0;
		for (int f = 0; f < 8; f++) {
			double v = scan_uint(b, p, e, &c);
			p = c;
			if (isnan(v))
				break;
			total += v;
			if (f == 3 || f == 4)
				idle += v;
		}
		out[0] = total;
		out[1] = idle;
	}
	double cpus = 0;
	out[2] = NAN;
	out[3] = NAN;
	out[4] = NAN;
	out[5] = NAN;
	uint32_t p = start;
	while (p < end) {
		uint8_t c0 = b[p];
		uint32_t e;
		if (c0 == 'i' || c0 == 's') {
			const uint8_t *nl = memchr(b + p, NL, end - p);
			e = nl == NULL ? end : (uint32_t)(nl - b);
		} else {
			e = line_end(b, p, end);
			if (c0 == 'c' && e - p >= 4 && b[p + 1] == 'p' && b[p + 2] == 'u') {
				if (is_digit(b[p + 3]))
					cpus++;
			} else if (c0 == 'c' && starts_with(b, p, e, "ctxt ", 5)) {
				out[2] = scan_uint(b, p + 5, e, &c);
			} else if (c0 == 'p') {
				if (starts_with(b, p, e, "processes ", 10)) {
					out[3] = scan_uint(b, p + 10, e, &c);
				} else if (starts_with(b, p, e, "procs_running ", 14)) {
					out[4] = scan_uint(b, p + 14, e, &c);
				} else if (starts_with(b, p, e, "procs_blocked ", 14)) {
					out[5] = scan_uint(b, p + 14, e, &c);
					break;
				}
			}
		}
		p = e + 1;
	}
	out[6] = cpus;
}

/* kbToBytes: kb / (1/1024), exact. */
static double kb_to_bytes(double kb)
{
	return kb / (1.0 / 1024.0);
}

/* parseMeminfoBytes: out[0] memTotalBytes, [1] memAvailableBytes. */
static void parse_meminfo(const uint8_t *b, uint32_t start, uint32_t end, double *out)
{
	out[0] = kb_to_bytes(value_after_key(b, start, end, "MemTotal:"));
	double avail = value_after_key(b, start, end, "MemAvailable:");
	if (isnan(avail))
		avail = value_after_key(b, start, end, "MemFree:") + value_after_key(b, start, end, "Buffers:") +
			value_after_key(b, start, end, "Cached:");
	out[1] = kb_to_bytes(avail);
}

/* parsePressureBytes: out[0] someTotalUs, [1] fullTotalUs. */
static void parse_pressure(const uint8_t *b, uint32_t start, uint32_t end, double *out)
{
	uint32_t c;
	out[0] = NAN;
	out[1] = NAN;
	for (uint32_t i = start; i < end;) {
		uint32_t e = line_end(b, i, end);
		bool some = starts_with(b, i, e, "some", 4);
		if (some || starts_with(b, i, e, "full", 4)) {
			for (uint32_t t = i; t < e; t++) {
				if (b[t] == 't' && starts_with(b, t, e, "total=", 6)) {
					double v = scan_uint(b, t + 6, e, &c);
					if (some)
						out[0] = v;
					else
						out[1] = v;
					break;
				}
			}
		}
		i = e + 1;
	}
}

/* parseVmstatBytes: out[0] pgfault, [1] pgmajfault. */
static void parse_vmstat(const uint8_t *b, uint32_t start, uint32_t end, double *out)
{
	out[0] = value_after_key(b, start, end, "pgfault ");
	out[1] = value_after_key(b, start, end, "pgmajfault ");
}

static const char *const NOT_A_DISK[] = {"loop", "ram", "zram", "dm-", "md", "nbd", "sr", "fd"};

static bool is_partition_of(const uint8_t *b, uint32_t name, uint32_t name_len, uint32_t disk, uint32_t disk_len)
{
	if (name_len <= disk_len)
		return false;
	if (memcmp(b + name, b + disk, disk_len) != 0)
		return false;
	uint32_t i = disk_len;
	if (b[name + i] == 'p')
		i++;
	if (i >= name_len)
		return false;
	for (; i < name_len; i++)
		if (!is_digit(b[name + i]))
			return false;
	return true;
}

/* The names of /proc/diskstats's lines (only the main thread parses). */
static uint32_t *name_start, *name_len;
static uint32_t names_room;

/* parseDiskstatsBytes: out[0] ios, [1] sectors, [2] ioTimeMs, [3] weightedMs, [4] devices. */
static int parse_diskstats(const uint8_t *b, uint32_t start, uint32_t end, double *out)
{
	uint32_t c;
	double ios = 0, sectors = 0, io_time = 0, weighted = 0, devices = 0;
	uint32_t lines = 0;
	for (uint32_t i = start; i < end;) {
		uint32_t e = line_end(b, i, end);
		uint32_t s = skip_tokens(b, i, e, 2);
		while (s < e && b[s] == SP)
			s++;
		uint32_t t = s;
		while (t < e && b[t] != SP)
			t++;
		if (lines == names_room) {
			uint32_t room = names_room ? names_room * 2 : 64;
			uint32_t *a = realloc(name_start, room * sizeof(*a));
			if (a == NULL)
				return -ENOMEM;
			name_start = a;
			a = realloc(name_len, room * sizeof(*a));
			if (a == NULL)
				return -ENOMEM;
			name_len = a;
			names_room = room;
		}
		name_start[lines] = s;
		name_len[lines] = t - s;
		lines++;
		i = e + 1;
	}
	uint32_t line = 0;
	for (uint32_t i = start; i < end; line++) {
		uint32_t e = line_end(b, i, end);
		uint32_t ns = name_start[line], nl = name_len[line];
		bool skip = nl == 0;
		for (size_t k = 0; !skip && k < sizeof(NOT_A_DISK) / sizeof(NOT_A_DISK[0]); k++)
			if (starts_with(b, ns, ns + nl, NOT_A_DISK[k], (uint32_t)strlen(NOT_A_DISK[k])))
				skip = true;
		for (uint32_t d = 0; !skip && d < lines; d++)
			if (d != line && is_partition_of(b, ns, nl, name_start[d], name_len[d]))
				skip = true;
		if (!skip) {
			uint32_t p = skip_tokens(b, i, e, 3);
			double f[17];
			int count = 0;
			for (; count < 17; count++) {
				double v = scan_uint(b, p, e, &c);
				p = c;
				if (isnan(v))
					break;
				f[count] = v;
			}
			if (count >= 11) {
				devices++;
				ios += f[0] + f[4];
				sectors += f[2] + f[6];
				io_time += f[3] + f[7];
				weighted += f[10];
				if (count >= 15) {
					ios += f[11];
					sectors += f[13];
					io_time += f[14];
				}
				if (count >= 17) {
					ios += f[15];
					io_time += f[16];
				}
			}
		}
		i = e + 1;
	}
	out[0] = ios;
	out[1] = sectors;
	out[2] = io_time;
	out[3] = weighted;
	out[4] = devices;
	return 0;
}

/* parseNetDevBytes: out[0] rxBytes, [1] rxPackets, [2] txBytes, [3] txPackets, [4] interfaces. */
static void parse_netdev(const uint8_t *b, uint32_t start, uint32_t end, bool include_loopback, double *out)
{
	uint32_t c;
	double rx_bytes_sum = 0, rx_packets_sum = 0, tx_bytes_sum = 0, tx_packets_sum = 0, interfaces = 0;
	for (uint32_t i = start; i < end;) {
		uint32_t e = line_end(b, i, end);
		uint32_t colon = i;
		while (colon < e && b[colon] != ':')
			colon++;
		if (colon > i && colon < e) {
			uint32_t s = i;
			while (s < colon && b[s] == SP)
				s++;
			bool is_lo = colon - s == 2 && b[s] == 'l' && b[s + 1] == 'o';
			if (include_loopback || !is_lo) {
				uint32_t p = colon + 1;
				double rx_bytes = scan_uint(b, p, e, &c);
				p = c;
				double rx_packets = scan_uint(b, p, e, &c);
				p = skip_tokens(b, c, e, 6);
				double tx_bytes = scan_uint(b, p, e, &c);
				p = c;
				double tx_packets = scan_uint(b, p, e, &c);
				if (!isnan(tx_packets)) {
					rx_bytes_sum += rx_bytes;
					rx_packets_sum += rx_packets;
					tx_bytes_sum += tx_bytes;
					tx_packets_sum += tx_packets;
					interfaces++;
				}
			}
		}
		i = e + 1;
	}
	out[0] = rx_bytes_sum;
	out[1] = rx_packets_sum;
	out[2] = tx_bytes_sum;
	out[3] = tx_packets_sum;
	out[4] = interfaces;
}

HOSA_API int hosa_parse_set(const uint8_t *buf, const uint32_t *offsets, const int32_t *lens, const int32_t *kinds,
			    uint32_t n, double *out)
{
	for (uint32_t i = 0; i < n; i++) {
		if (lens[i] < 0)
			continue;
		uint32_t s = offsets[i], e = offsets[i] + (uint32_t)lens[i];
		double *o = out + (size_t)i * HOSA_PARSE_WORDS;
		switch (kinds[i]) {
		case HOSA_PARSE_STAT:
			parse_stat(buf, s, e, o);
			break;
		case HOSA_PARSE_MEMINFO:
			parse_meminfo(buf, s, e, o);
			break;
		case HOSA_PARSE_PRESSURE:
			parse_pressure(buf, s, e, o);
			break;
		case HOSA_PARSE_VMSTAT:
			parse_vmstat(buf, s, e, o);
			break;
		case HOSA_PARSE_DISKSTATS: {
			int r = parse_diskstats(buf, s, e, o);
			if (r < 0)
				return r;
			break;
		}
		case HOSA_PARSE_NETDEV:
		case HOSA_PARSE_NETDEV_LO:
			parse_netdev(buf, s, e, kinds[i] == HOSA_PARSE_NETDEV_LO, o);
			break;
		default:
			break;
		}
	}
	return 0;
}
