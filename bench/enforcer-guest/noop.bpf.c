// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The least a BPF LSM program can do: allow every open and exec. The guest
 * bench attaches it alone ("noop" mode) to measure what any BPF LSM
 * enforcer costs on these hooks before it decides anything: the LSM
 * trampoline and a program that returns 0.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct file;
struct linux_binprm;

SEC("lsm/file_open")
int BPF_PROG(noop_file_open, struct file *file)
{
	return 0;
}

SEC("lsm/bprm_check_security")
int BPF_PROG(noop_bprm_check_security, struct linux_binprm *bprm)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
