// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Bulwark enforcer: lsm/file_open denies opening paths, and
 * lsm/bprm_check_security denies executing them, to the processes of a
 * container scope. The layout below is versioned by
 * LAYOUT_VERSION, which src/rules.ts repeats; README.md describes it.
 *
 * scopes:    cgroup id (u64) -> scope index (u32). A task whose cgroup is
 *            not in it is not affected.
 * rules:     ARRAY_OF_MAPS, scope index -> inner HASH of the scope's rules.
 *            An empty slot means the scope has no rules. Replacing the inner
 *            map swaps the whole rule set at once.
 *   key:     char[RULE_KEY_SIZE], the path's bytes padded with zeros. A rule
 *            path is at most RULE_KEY_SIZE - 1 bytes, so a key always ends in
 *            at least one zero.
 *   value:   u32 flags: a match kind, RULE_EXACT (the path itself) or
 *            RULE_SUBTREE (the key ends in '/' and everything under it), and
 *            the operations denied, RULE_OPEN and/or RULE_EXEC. A rule
 *            without an operation bit denies nothing. Keys ending in '/'
 *            only ever carry RULE_SUBTREE, others only RULE_EXACT, so the
 *            bits of rules merged on one key cannot mix.
 * decisions: ARRAY, scope index -> { allowed, denied, failed } counts.
 * scratch:   PERCPU_ARRAY, the resolved path and the key being built.
 *
 * The opened or executed file's path (file_open's file, bprm->file) comes
 * from bpf_d_path (relative to the task's
 * root, symlinks resolved), so a rule applies to what is opened. When it
 * cannot be resolved (bpf_d_path fails, e.g. longer than PATH_BUFFER_SIZE),
 * a scope with rules is denied the open (fail closed, counted as failed).
 *
 * Matching walks the first RULE_KEY_SIZE - 1 bytes of the path, copying
 * them into a zeroed key; at each '/' the key (the prefix up to and with
 * the '/') is looked up for RULE_SUBTREE, at the end the whole path for
 * RULE_EXACT. A path longer than RULE_KEY_SIZE - 1 bytes can match no exact
 * rule and no directory rule beyond that length, because no rule is longer;
 * its directory prefixes within the length are still checked.
 *
 * The per-CPU scratch buffer relies on the program not being preempted by
 * another run of itself on the same CPU: true with PREEMPT_NONE and
 * PREEMPT_VOLUNTARY (Debian's default), not guaranteed with full PREEMPT.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define EPERM 1

#define LAYOUT_VERSION 2
#define MAX_SCOPES 4096
#define PATH_BUFFER_SIZE 4096
#define RULE_KEY_SIZE 256
#define RULE_EXACT 1
#define RULE_SUBTREE 2
#define RULE_OPEN 4
#define RULE_EXEC 8

/* Only the field used here; CO-RE relocates it against the running kernel's BTF. */
struct path {
	void *mnt;
} __attribute__((preserve_access_index));

struct file {
	struct path f_path;
} __attribute__((preserve_access_index));

struct linux_binprm {
	struct file *file;
} __attribute__((preserve_access_index));

struct rule_key {
	char path[RULE_KEY_SIZE];
};

struct decision_counts {
	__u64 allowed;
	__u64 denied;
	__u64 failed;
};

struct scratch {
	char path[PATH_BUFFER_SIZE];
	struct rule_key key;
};

/* Read by user space to check that it writes the layout this object reads. */
const volatile __u32 layout_version = LAYOUT_VERSION;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SCOPES);
	__type(key, __u64);
	__type(value, __u32);
} scopes SEC(".maps");

/* The template; inner hash maps may hold any number of entries. */
struct scope_rules {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct rule_key);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, MAX_SCOPES);
	__type(key, __u32);
	__array(values, struct scope_rules);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SCOPES);
	__type(key, __u32);
	__type(value, struct decision_counts);
} decisions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

static __always_inline int matches(void *scope_rules, struct rule_key *key, __u32 kind, __u32 operation)
{
	__u32 *value = bpf_map_lookup_elem(scope_rules, key);

	return value && (*value & kind) && (*value & operation);
}

/* 1: deny, 0: allow, -1: cannot decide (deny). */
static __always_inline int decide(void *scope_rules, struct path *path, __u32 operation)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	long length;
	__u32 i;

	if (!s)
		return -1;
	length = bpf_d_path(path, s->path, sizeof(s->path));
	if (length <= 0)
		return -1;
	__builtin_memset(&s->key, 0, sizeof(s->key));
	for (i = 0; i < RULE_KEY_SIZE - 1; i++) {
		char c = s->path[i];

		if (c == 0)
			break;
		s->key.path[i] = c;
		if (c == '/' && matches(scope_rules, &s->key, RULE_SUBTREE, operation))
			return 1;
	}
	/* The whole path fits in a key: look it up as an exact rule. */
	if (s->path[i & (RULE_KEY_SIZE - 1)] == 0 && matches(scope_rules, &s->key, RULE_EXACT, operation))
		return 1;
	return 0;
}

/* The decision for the current task on `path` for `operation`, counted: 0 or -EPERM. */
static __always_inline int enforce(struct path *path, __u32 operation)
{
	__u64 cgroup_id;
	__u32 *scope;
	void *scope_rules;
	struct decision_counts *counts;
	int verdict;

	cgroup_id = bpf_get_current_cgroup_id();
	scope = bpf_map_lookup_elem(&scopes, &cgroup_id);
	if (!scope)
		return 0;
	scope_rules = bpf_map_lookup_elem(&rules, scope);
	if (!scope_rules)
		return 0;
	verdict = decide(scope_rules, path, operation);
	counts = bpf_map_lookup_elem(&decisions, scope);
	if (counts) {
		if (verdict == 0)
			__sync_fetch_and_add(&counts->allowed, 1);
		else if (verdict > 0)
			__sync_fetch_and_add(&counts->denied, 1);
		else
			__sync_fetch_and_add(&counts->failed, 1);
	}
	return verdict == 0 ? 0 : -EPERM;
}

SEC("lsm/file_open")
int BPF_PROG(enforce_file_open, struct file *file, int ret)
{
	if (ret != 0)
		return ret;
	return enforce(&file->f_path, RULE_OPEN);
}

/* bpf_d_path is allowed here on 6.1 (for LSM programs the kernel allows it in the hooks it lists as sleepable, bprm_check_security among them); the kernel tests load it. */
SEC("lsm/bprm_check_security")
int BPF_PROG(enforce_bprm_check_security, struct linux_binprm *bprm, int ret)
{
	if (ret != 0)
		return ret;
	return enforce(&bprm->file->f_path, RULE_EXEC);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
