// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Runs glob_match (glob.h) on a pattern and a path that user space passes
 * in, for the package's tests: a BPF_PROG_TYPE_SYSCALL program, run with
 * BPF_PROG_TEST_RUN (Program.testRun), whose context is struct glob_test.
 * The kernel copies the context in, and back out after the run, so the
 * result comes back both as the return value and in `result`.
 *
 * The matcher reads its inputs from a map value (glob.h wants buffers of
 * GLOB_PATTERN_SIZE and GLOB_PATH_SIZE bytes the verifier knows the size
 * of, and its variables in a map value): the context is copied into the
 * one-entry `scratch` first. A run that cannot copy returns -2. Runs must
 * not overlap (one scratch).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "glob.h"

struct glob_test {
	__u32 pattern_len;
	__u32 path_len;
	__s32 result;
	__u32 reserved;
	char pattern[GLOB_PATTERN_SIZE];
	char path[GLOB_PATH_SIZE];
};

struct glob_scratch {
	struct glob_test test;
	struct glob_vars vars;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct glob_scratch);
} scratch SEC(".maps");

SEC("syscall")
int run_glob(struct glob_test *context)
{
	__u32 zero = 0;
	struct glob_scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	int result;

	if (!s || bpf_probe_read_kernel(&s->test, sizeof(s->test), context) != 0)
		return -2;
	result = glob_match(&s->vars, s->test.pattern, s->test.pattern_len, s->test.path, s->test.path_len);
	context->result = result;
	return result;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
