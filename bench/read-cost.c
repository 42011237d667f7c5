/* What each kernel file of a tick costs to read, file by file: the thread's
 * own CPU time (CLOCK_THREAD_CPUTIME_ID, the kernel's part included) around
 * each pread(2) at offset 0 of a descriptor kept open, as libhosa's read sets
 * and its sampler read them (a read that comes back short and under 2 KiB is
 * the end), woken every PERIOD_MS on an absolute schedule for COUNT wakes, so
 * each read is as cold as the sampler's (docs/footprint.md § The input's own
 * floor; bench/input-floor.c gives the whole list's cost instead). Also the
 * wake itself: the thread's CPU from the end of one wake's reads to the start
 * of the next one's (the sleep's system call, the switches out and in).
 * LIST: one path a line; "path:N" reads only its first N bytes. The files are
 * read in the list's order: a file read right after another warms what they
 * share (seq_file, procfs), so put the one to measure first to see it cold.
 *
 *   cc -O2 -o /tmp/read-cost bench/read-cost.c
 *   printf '/proc/stat\n/proc/meminfo\n/proc/pressure/cpu\n' > /tmp/tick.lst
 *   /tmp/read-cost 10 3000 /tmp/tick.lst
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 64
#define ROOM 65536
#define SHORT_READ_END 2048

static char buf[ROOM];

static long thread_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

int main(int argc, char **argv)
{
	static char names[MAX_FILES][512];
	int fds[MAX_FILES], caps[MAX_FILES], n = 0;
	double sum[MAX_FILES] = {0}, wake = 0, clock_pair = 0, total = 0;
	char line[512];
	long count, period_ns, after;
	struct timespec next;
	FILE *f;

	if (argc != 4) {
		fprintf(stderr, "usage: %s PERIOD_MS COUNT LIST\n", argv[0]);
		return 2;
	}
	period_ns = (long)(atof(argv[1]) * 1e6);
	count = atol(argv[2]);
	if (period_ns <= 0 || count <= 0) {
		fprintf(stderr, "read-cost: PERIOD_MS and COUNT must be positive\n");
		return 2;
	}
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
		colon = strrchr(line, ':');
		if (colon) {
			*colon = 0;
			caps[n] = atoi(colon + 1);
		}
		snprintf(names[n], sizeof(names[n]), "%s", line);
		fds[n] = open(line, O_RDONLY | O_CLOEXEC);
		if (fds[n] < 0) {
			perror(line);
			continue;
		}
		n++;
	}
	fclose(f);
	clock_gettime(CLOCK_MONOTONIC, &next);
	after = thread_ns();
	for (long it = 0; it < count; it++) {
		long a, b;

		next.tv_nsec += period_ns;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		a = thread_ns();
		wake += a - after;
		/* Two clock reads back to back: what each measurement adds, subtracted below. */
		b = thread_ns();
		clock_pair += b - a;
		for (int i = 0; i < n; i++) {
			long s = thread_ns(), got = 0;

			while (got < caps[i] && got < ROOM) {
				ssize_t r = pread(fds[i], buf + got, (size_t)(caps[i] - got), got);

				if (r <= 0)
					break;
				got += r;
				if (got < caps[i] && r < SHORT_READ_END)
					break;
			}
			sum[i] += thread_ns() - s;
		}
		after = thread_ns();
	}
	clock_pair /= count;
	printf("wake (sleep, switch out and in): %.1f us of the thread's CPU; a clock pair %.1f us (subtracted)\n",
	       (wake / count - clock_pair) / 1e3, clock_pair / 1e3);
	for (int i = 0; i < n; i++) {
		double us = (sum[i] / count - clock_pair) / 1e3;

		total += us;
		printf("%-44s %7.1f us per read  %.3f %% of a core every %s ms\n", names[i], us, us / (period_ns / 1e3) * 100, argv[1]);
	}
	printf("all %d files: %.1f us per wake, %.3f %% of a core; with the wake %.3f %%\n", n, total, total / (period_ns / 1e3) * 100,
	       (total + (wake / count - clock_pair) / 1e3) / (period_ns / 1e3) * 100);
	return 0;
}
