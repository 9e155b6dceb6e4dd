// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The first BPF LSM program of the kernel tier: file_open denies a file
 * (by inode) to the processes of one cgroup. It proves that the binding
 * loads and attaches an LSM program in a kernel with BPF LSM active, that
 * the decision is scoped to a container's cgroup, and that CO-RE field reads
 * work without a generated vmlinux.h. The enforcer proper builds on this.
 *
 * blocked: { cgroup id, inode number } -> 1
 * denials[0]: how many opens were denied
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define EPERM 1

/* Only the fields read here; CO-RE relocates them against the running kernel's BTF. */
struct inode {
	unsigned long i_ino;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
} __attribute__((preserve_access_index));

struct rule_key {
	__u64 cgroup_id;
	__u64 inode;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct rule_key);
	__type(value, __u32);
} blocked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} denials SEC(".maps");

SEC("lsm/file_open")
int BPF_PROG(deny_file_open, struct file *file, int ret)
{
	struct rule_key key = {};
	__u32 zero = 0;
	__u64 *count;

	if (ret != 0)
		return ret;
	key.cgroup_id = bpf_get_current_cgroup_id();
	key.inode = BPF_CORE_READ(file, f_inode, i_ino);
	if (!bpf_map_lookup_elem(&blocked, &key))
		return 0;
	count = bpf_map_lookup_elem(&denials, &zero);
	if (count)
		__sync_fetch_and_add(count, 1);
	return -EPERM;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
