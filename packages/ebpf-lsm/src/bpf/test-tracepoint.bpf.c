// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Counts getppid(2) calls by thread-group id, for the package's own tests and
 * as a smoke test of an installed copy. Attach to the tracepoint
 * syscalls/sys_enter_getppid; Node.js calls getppid() once for each read of
 * process.ppid, so a test can cause an exact number of events.
 *
 * settings[0] holds the one tgid to count (0 counts every process);
 * counts maps a tgid (u32) to its number of calls (u64).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} settings SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_getppid(void *context)
{
	__u32 setting = 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 *target = bpf_map_lookup_elem(&settings, &setting);

	if (target && *target != 0 && *target != tgid)
		return 0;

	__u64 *count = bpf_map_lookup_elem(&counts, &tgid);
	if (count) {
		__sync_fetch_and_add(count, 1);
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&counts, &tgid, &one, BPF_NOEXIST);
	}
	return 0;
}

/* GPL-compatible: LSM programs and GPL-only helpers need it. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
