// A latency-sensitive neighbour: wakes every --period-ms (absolute
// schedule), works --work-us of CPU, and prints once a second the p50, p99
// and max of how late it woke, in microseconds:
//   "lat <unix_ms> <p50_us> <p99_us> <max_us> <n>"
// With --io-file PATH, each wake-up also writes 4 KiB there and fdatasync()s
// it, and what is measured is how long that took (a database's commit).
// With --serve, it is a service answering a request every --period-ms:
// --work-us is CPU time (its own thread's clock, so a preempted request
// takes longer), and what is measured is each request's response time, from
// when it was due to when its work was done.
// Bounded: exits after --seconds.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

static long long ns(struct timespec t) { return (long long)t.tv_sec * 1000000000LL + t.tv_nsec; }
static int cmp(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  double periodMs = 10, seconds = 60;
  long workUs = 1000;
  const char *ioFile = NULL;
  int serve = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--period-ms")) periodMs = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--work-us")) workUs = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--io-file")) ioFile = argv[i + 1];
    else if (!strcmp(argv[i], "--serve")) serve = atoi(argv[i + 1]);
    else { fprintf(stderr, "ticker: unknown option %s\n", argv[i]); return 2; }
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  int fd = -1;
  static char block[4096];
  long long off = 0;
  if (ioFile) {
    fd = open(ioFile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { perror("ticker: open"); return 1; }
  }
  long long period = (long long)(periodMs * 1e6);
  struct timespec now, next, wall;
  clock_gettime(CLOCK_MONOTONIC, &now);
  long long start = ns(now), t = start, lastPrint = start;
  static long long lat[100000];
  int n = 0;
  while (t - start < (long long)(seconds * 1e9)) {
    t += period;
    next.tv_sec = t / 1000000000LL;
    next.tv_nsec = t % 1000000000LL;
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long late = ns(now) - t;
    if (fd >= 0) {
      struct timespec a;
      clock_gettime(CLOCK_MONOTONIC, &a);
      if (pwrite(fd, block, sizeof block, off) != (ssize_t)sizeof block || fdatasync(fd) != 0) { perror("ticker: write"); return 1; }
      off = (off + sizeof block) % (64 << 20);
      clock_gettime(CLOCK_MONOTONIC, &now);
      late = ns(now) - ns(a);
    }
    if (serve) {
      struct timespec c0, c;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
      do clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c);
      while (ns(c) - ns(c0) < workUs * 1000LL);
      clock_gettime(CLOCK_MONOTONIC, &now);
      late = ns(now) - t;
    }
    if (n < 100000) lat[n++] = late / 1000;
    // Fell behind by more than a period: skip the missed wake-ups, they are counted as one late wake.
    if (ns(now) - t > period) t = ns(now) - (ns(now) - t) % period;
    long long w0 = ns(now);
    if (!serve) do clock_gettime(CLOCK_MONOTONIC, &now);
    while (!serve && ns(now) - w0 < workUs * 1000LL);
    if (ns(now) - lastPrint >= 1000000000LL && n > 0) {
      qsort(lat, n, sizeof lat[0], cmp);
      clock_gettime(CLOCK_REALTIME, &wall);
      printf("lat %lld %lld %lld %lld %d\n", ns(wall) / 1000000LL, lat[n / 2], lat[(n * 99) / 100], lat[n - 1], n);
      n = 0;
      lastPrint = ns(now);
    }
  }
  return 0;
}
