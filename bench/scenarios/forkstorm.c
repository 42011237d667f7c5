// forkstorm: a bounded fork storm for the Lethal Interval benchmark.
//
//   forkstorm --max N --seconds S
//
// Forks children as fast as it can until N are alive or S seconds have
// passed; each child sleeps until its parent dies (PR_SET_PDEATHSIG), so the
// storm piles up like a real fork bomb but cannot outlive the benchmark. A
// failed fork (EAGAIN at the cgroup's pids.max) is counted and retried after
// 1 ms. One line per second: `t=<s> alive=<n> failed=<n>`.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  long max = 0;
  double seconds = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--max")) max = strtol(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--seconds")) seconds = strtod(argv[i + 1], NULL);
  }
  if (max <= 0 || seconds <= 0) {
    fprintf(stderr, "usage: forkstorm --max N --seconds S\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGCHLD, SIG_IGN);
  pid_t parent = getpid();
  double start = now_s();
  long alive = 0, failed = 0, last = -1;
  for (;;) {
    double t = now_s() - start;
    if (t >= seconds) break;
    if ((long)t != last) {
      last = (long)t;
      printf("t=%ld alive=%ld failed=%ld\n", last, alive, failed);
    }
    if (alive >= max) {
      usleep(10000);
      continue;
    }
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(0);
      for (;;) pause();
    }
    if (pid < 0) {
      failed++;
      usleep(1000);
    } else {
      alive++;
    }
  }
  printf("t=%.2f alive=%ld failed=%ld done\n", now_s() - start, alive, failed);
  return 0;
}
