// SPDX-License-Identifier: Apache-2.0
/*
 * The workload of bench/enforcer-guest.ts, built static so that executing it
 * loads nothing else:
 *
 *   workload                               exits 0 at once (the exec loop's target)
 *   workload PROCS open N FILE...          N times: open and close each FILE
 *   workload PROCS stat-open N FILE...     N times: stat, open and close each FILE
 *   workload PROCS exec N PROGRAM          N times: posix_spawn PROGRAM, wait for it
 *   workload PROCS try FILE                opens FILE once; prints ok or the error
 *
 * PROCS is a cgroup's cgroup.procs: the process moves itself there first,
 * so the loop (and what it spawns) runs in that cgroup. The loops print the
 * nanoseconds they took (CLOCK_MONOTONIC, the loop alone) and fail on the
 * first error.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void enter_cgroup(const char *procs)
{
	FILE *file = fopen(procs, "w");

	if (!file || fprintf(file, "%d\n", getpid()) < 0 || fclose(file) != 0) {
		fprintf(stderr, "workload: cannot enter %s: %s\n", procs, strerror(errno));
		exit(2);
	}
}

static void open_close(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "workload: open %s: %s\n", path, strerror(errno));
		exit(1);
	}
	close(fd);
}

int main(int argc, char **argv)
{
	long long start;
	long count;
	int i;

	if (argc == 1)
		return 0;
	if (argc < 4) {
		fprintf(stderr, "usage: workload PROCS (open|stat-open|exec) N ARG... | workload PROCS try FILE\n");
		return 2;
	}
	enter_cgroup(argv[1]);
	if (strcmp(argv[2], "try") == 0) {
		int fd = open(argv[3], O_RDONLY | O_CLOEXEC);

		printf("%s\n", fd < 0 ? strerror(errno) : "ok");
		return 0;
	}
	count = strtol(argv[3], NULL, 10);
	if (count <= 0 || argc < 5) {
		fprintf(stderr, "workload: expected a positive count and at least one argument after it\n");
		return 2;
	}
	start = now_ns();
	if (strcmp(argv[2], "open") == 0 || strcmp(argv[2], "stat-open") == 0) {
		int with_stat = argv[2][0] == 's';

		for (long n = 0; n < count; n++) {
			for (i = 4; i < argc; i++) {
				struct stat st;

				if (with_stat && stat(argv[i], &st) != 0) {
					fprintf(stderr, "workload: stat %s: %s\n", argv[i], strerror(errno));
					return 1;
				}
				open_close(argv[i]);
			}
		}
	} else if (strcmp(argv[2], "exec") == 0) {
		char *child_argv[] = { argv[4], NULL };

		for (long n = 0; n < count; n++) {
			pid_t pid;
			int status;
			int error = posix_spawn(&pid, argv[4], NULL, NULL, child_argv, environ);

			if (error != 0) {
				fprintf(stderr, "workload: spawn %s: %s\n", argv[4], strerror(error));
				return 1;
			}
			if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				fprintf(stderr, "workload: %s did not exit 0\n", argv[4]);
				return 1;
			}
		}
	} else {
		fprintf(stderr, "workload: unknown mode %s\n", argv[2]);
		return 2;
	}
	printf("%lld\n", now_ns() - start);
	return 0;
}
