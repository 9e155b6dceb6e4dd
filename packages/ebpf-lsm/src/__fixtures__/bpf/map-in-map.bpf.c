// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Maps of maps, for the host tests. On getppid(2), read_policy reads
 * element 0 of the inner map that each outer map holds under key 0 and
 * copies it into `seen` (policies into seen[0], routes into seen[1]), so a
 * test sees which inner map a program finds after a swap.
 *
 * policies declares its inner map (`__array`), from which libbpf makes the
 * template; routes declares none, so it needs one set before load
 * (bpf_map__set_inner_map_fd).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct policy {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, struct policy);
} policies SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

static void copy_first(void *outer, __u32 slot)
{
	__u32 zero = 0;
	void *inner = bpf_map_lookup_elem(outer, &zero);
	if (!inner)
		return;
	__u64 *value = bpf_map_lookup_elem(inner, &zero);
	if (!value)
		return;
	bpf_map_update_elem(&seen, &slot, value, BPF_ANY);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int read_policy(void *context)
{
	copy_first(&policies, 0);
	copy_first(&routes, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
