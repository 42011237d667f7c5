// leaker: a memory leak on a fixed schedule, for tests and benchmarks.
//
//   leaker --rate-mb 50 --max-mb 3000 [--populate] [--hold]
//
// Every 10 ms tick (absolute schedule: clock_nanosleep TIMER_ABSTIME, so a
// slow tick does not shift the ones after it) it maps rate/100 MB and writes
// every page, so the memory is charged to the cgroup at once. One line per
// second on stdout: `t=<s> mb=<n>` (seconds since start, MB written so far).
// It exits 0 at --max-mb, or with --hold stays alive (still printing) until a
// signal. --populate maps with MAP_POPULATE (the kernel faults the pages in)
// and then still writes them, so both paths are charged the same way.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define TICK_NS 10000000L
#define PAGE 4096L
#define MB (1024L * 1024L)

static void usage(void) {
  fprintf(stderr, "usage: leaker --rate-mb N --max-mb N [--populate] [--hold]\n");
  exit(2);
}

static long parse_pos(const char *flag, const char *v) {
  char *end = NULL;
  errno = 0;
  long n = v ? strtol(v, &end, 10) : -1;
  if (!v || errno || *end || n <= 0) {
    fprintf(stderr, "leaker: %s needs a positive integer, got %s\n", flag, v ? v : "nothing");
    exit(2);
  }
  return n;
}

static void add_ns(struct timespec *t, long ns) {
  t->tv_nsec += ns;
  while (t->tv_nsec >= 1000000000L) {
    t->tv_nsec -= 1000000000L;
    t->tv_sec++;
  }
}

static double since(const struct timespec *a, const struct timespec *b) {
  return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

int main(int argc, char **argv) {
  long rate_mb = 0, max_mb = 0;
  int populate = 0, hold = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--rate-mb")) rate_mb = parse_pos("--rate-mb", i + 1 < argc ? argv[++i] : NULL);
    else if (!strcmp(argv[i], "--max-mb")) max_mb = parse_pos("--max-mb", i + 1 < argc ? argv[++i] : NULL);
    else if (!strcmp(argv[i], "--populate")) populate = 1;
    else if (!strcmp(argv[i], "--hold")) hold = 1;
    else usage();
  }
  if (!rate_mb || !max_mb) usage();
  setvbuf(stdout, NULL, _IOLBF, 0);

  // Bytes per tick, rounded to whole pages; the remainder is carried so the
  // long-run rate is exact even when rate/100 MB is not a page multiple.
  const long per_tick_x100 = rate_mb * MB;
  long owed_x100 = 0;
  long written = 0;
  const long max_bytes = max_mb * MB;

  struct timespec start, next, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  next = start;
  long last_print = -1;
  for (;;) {
    if (written < max_bytes) {
      owed_x100 += per_tick_x100;
      long want = (owed_x100 / 100 / PAGE) * PAGE;
      if (want > max_bytes - written) want = max_bytes - written;
      if (want > 0) {
        owed_x100 -= want * 100;
        int flags = MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0);
        char *p = mmap(NULL, (size_t)want, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (p == MAP_FAILED) {
          fprintf(stderr, "leaker: mmap %ld bytes: %s\n", want, strerror(errno));
          return 1;
        }
        for (long off = 0; off < want; off += PAGE) p[off] = (char)(off >> 12 | 1);
        written += want;
      }
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    long sec = (long)since(&start, &now);
    if (sec != last_print) {
      last_print = sec;
      printf("t=%ld mb=%ld\n", sec, written / MB);
    }
    if (written >= max_bytes && !hold) {
      printf("t=%.2f mb=%ld done\n", since(&start, &now), written / MB);
      return 0;
    }
    add_ns(&next, TICK_NS);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
    }
  }
}
