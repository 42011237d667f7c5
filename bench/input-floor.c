/* The floor of a tick's input: what the kernel alone costs to generate the
 * files a tick reads, with nothing of hosa (docs/footprint.md, "The input's
 * own floor"). Reads every file of LIST (one path a line; "path:N" reads
 * only its first N bytes) with pread(2) at offset 0 on descriptors kept
 * open, as libhosa's read sets do (a read that comes back short and under
 * 2 KiB is the end), woken on an absolute schedule every PERIOD_MS, for
 * SECONDS; prints the CPU per wake (getrusage) and the share of a core.
 * PERIOD_MS "hot" reads SECONDS times in a tight loop instead (warm caches).
 * An empty LIST measures the wake-up alone, to subtract.
 *
 *   cc -O2 -o /tmp/input-floor bench/input-floor.c
 *   printf '/proc/stat\n/proc/meminfo\n' > /tmp/tick.lst
 *   /tmp/input-floor 100 60 /tmp/tick.lst
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 8192
#define ROOM 65536
#define SHORT_READ_END 2048

static char buf[ROOM];

static double cpu_s(int sys_only)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6 + (sys_only ? 0 : r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6);
}

static double mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static int fds[MAX_FILES], caps[MAX_FILES];
	char line[4096];
	int n = 0, hot;
	long iters = 0, bytes = 0;
	double period, secs, c0, s0, t0;
	struct timespec next;
	FILE *f;

	if (argc != 4) {
		fprintf(stderr, "usage: %s PERIOD_MS|hot SECONDS|COUNT LIST\n", argv[0]);
		return 2;
	}
	hot = strcmp(argv[1], "hot") == 0;
	period = hot ? 0 : atof(argv[1]) / 1000;
	secs = atof(argv[2]);
	f = fopen(argv[3], "r");
	if (!f) {
		perror(argv[3]);
		return 1;
	}
	while (n < MAX_FILES && fgets(line, sizeof(line), f)) {
		char *colon;

		line[strcspn(line, "\n")] = 0;
		if (!line[0])
			continue;
		caps[n] = ROOM;
		colon = strchr(line, ':');
		if (colon) {
			*colon = 0;
			caps[n] = atoi(colon + 1);
		}
		fds[n] = open(line, O_RDONLY | O_CLOEXEC);
		if (fds[n] < 0) {
			perror(line);
			continue;
		}
		n++;
	}
	fclose(f);
	c0 = cpu_s(0);
	s0 = cpu_s(1);
	t0 = mono_s();
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		if (hot ? iters >= (long)secs : mono_s() - t0 >= secs)
			break;
		if (!hot) {
			long ns = next.tv_nsec + (long)(period * 1e9);

			next.tv_sec += ns / 1000000000;
			next.tv_nsec = ns % 1000000000;
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		}
		for (int i = 0; i < n; i++) {
			long got = 0;

			while (got < caps[i] && got < ROOM) {
				ssize_t r = pread(fds[i], buf + got, (size_t)(caps[i] - got), got);

				if (r <= 0)
					break;
				got += r;
				bytes += r;
				if (r < SHORT_READ_END)
					break;
			}
		}
		iters++;
	}
	{
		double c = cpu_s(0) - c0, s = cpu_s(1) - s0, wall = mono_s() - t0;

		printf("%d files, %ld reads: %.1f us CPU per read (system %.1f), %.3f %% of a core, %ld bytes per read\n", n, iters, c / iters * 1e6,
		       s / iters * 1e6, hot ? 0.0 : c / wall * 100, iters ? bytes / iters : 0);
	}
	return 0;
}
