// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A program the verifier must reject: it dereferences the result of a hash
 * map lookup without checking it for NULL. (An array map would not do: recent
 * kernels know that a lookup with a constant, in-range key cannot miss.) The
 * object opens fine; loading fails with the verifier's log.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int read_unchecked(void *context)
{
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&values, &key);

	return *value == 42;
}

/* GPL-compatible: LSM programs and GPL-only helpers need it. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
