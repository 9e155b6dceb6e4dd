// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Bulwark enforcer: BPF LSM programs that decide, for the processes of
 * a container scope, file operations (open for read or write, exec, unlink,
 * rmdir, mkdir, mknod and file creation, rename, link, symlink, truncate,
 * chmod), socket creation and capability use, by the scope's rules; and
 * that stop any scoped process from signalling the protected processes
 * (the agent's). What user space shares with it (constants, the rule
 * keys and values, the event records) is in layout.h, versioned by
 * LAYOUT_VERSION; README.md describes it field by field.
 *
 * scopes:    cgroup id (u64) -> struct scope_entry: the scope index (the
 *            container's counters, throttle and events) and the set index
 *            (its rule set). A task whose cgroup is not in it is not
 *            affected. Containers selected by the same policies share one
 *            set: a new one is one update here, and moving a container to
 *            another set is too (it sees the old set or the new one).
 * rules:     ARRAY_OF_MAPS, set index -> inner LPM_TRIE of the rule set
 *            (struct rule_key -> struct rule_value). Replacing the inner
 *            map swaps the whole set, its settings included, at once, for
 *            every scope that uses it.
 *            A path is one longest-prefix lookup of "<source><path>\0": a
 *            file rule's key ends with the NUL, a directory's with '/', and
 *            user space merges into each entry what the directories above
 *            it add (encodeRules), so the longest match says everything.
 * decisions: ARRAY, scope index -> counts of allowed, denied, failed
 *            (undecidable, denied) and audited decisions, and of events
 *            lost because the ring buffer was full.
 * throttle:  ARRAY, scope index -> the event throttle's state.
 * config:    ARRAY[1], the event throttle's limits, flags, and the host
 *            scope: the index (plus one; 0 for none) and rule set whose rules decide
 *            for user processes of the initial pid namespace that are in
 *            no container scope and not protected (host policies).
 * protected: HASH, tgid -> 1: processes no scoped process may signal,
 *            and that no host policy applies to.
 * sources:   TASK_STORAGE, the source index of a task's executable.
 * events:    RINGBUF of struct event, one per Block or Audit decision.
 * generations: ARRAY, set index -> the generation of the rule set,
 *            which user space increments after every change of the set.
 * verdicts:  INODE_STORAGE, the decision cache: per inode, what file_open
 *            and exec last allowed (below).
 *
 * The decision cache. An allow of file_open or exec that depended on
 * nothing but the path (no Audit, no ownerOnly, no fromSource) is kept on
 * the inode, with what it was decided for: the dentry and mount opened,
 * the task's root, the scope, the rule set (its index, its inner map and
 * its generation), and the
 * sequence counts of the kernel's rename_lock and mount_lock. The path of
 * a dentry changes only when it or a directory above it is moved (every
 * dentry move holds rename_lock for writing) or when the mount tree
 * changes (mount_lock); each writer makes the count odd while it works and
 * leaves it changed, as d_path's own retry relies on. So a later open of
 * the same inode is allowed without resolving the path only when both
 * counts are even and unchanged, and everything else is the same: where
 * resolving the path again would give the path it was decided for.
 * Writers take an entry under its lock with a sequence count of its own
 * (odd while written); a reader that sees it odd or changed does not use
 * it.
 *
 * A path comes from bpf_d_path where the kernel allows it (file_open,
 * bprm_check_security, bprm_committed_creds) and from a bounded walk of the
 * dentry chain elsewhere (the path_* hooks); both stop at the task's root,
 * so rules name paths as the container sees them, with symlinks resolved.
 * A path that cannot be resolved (longer than PATH_MAX, deeper than
 * MAX_COMPONENTS, or a failed read) is denied to a scope with rules (fail
 * closed, counted as failed).
 *
 * The per-CPU scratch buffer relies on the program not being preempted by
 * another run of itself on the same CPU: true with PREEMPT_NONE and
 * PREEMPT_VOLUNTARY (Debian's default), not guaranteed with full PREEMPT.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "layout.h"
#include "glob.h"

#define EPERM 1
#define PROC_SUPER_MAGIC 0x9fa0
#define CGROUP2_SUPER_MAGIC 0x63677270
/* The most cgroup levels walked up from a cgroup2 file to the writer's own cgroup. */
#define CGROUP_DEPTH 32

#define PATH_MAX_BYTES 4096
/* The scratch path buffer is twice PATH_MAX so that any index below
 * PATH_MAX_BYTES plus a key's length stays inside it after masking. */
#define SCRATCH_PATH_SIZE (2 * PATH_MAX_BYTES)
/* The prefixlen bits of struct rule_value's match_bits (the rest: MATCH_DIRECTORY). */
#define MATCH_PREFIX_BITS 0xffff
#define MAX_COMPONENTS 160
#define NAME_MAX_BYTES 255

#define FMODE_READ 0x1
#define FMODE_WRITE 0x2
#define S_IFMT 00170000
#define S_IFREG 0100000
/* mmap and mprotect: the protections and the mapping's type; a vma's flags. */
#define PROT_WRITE 0x2
#define PROT_EXEC 0x4
#define MAP_TYPE 0x0f
#define MAP_SHARED 0x01
#define MAP_SHARED_VALIDATE 0x03
#define VM_WRITE 0x2
#define VM_EXEC 0x4
#define VM_SHARED 0x8
/* file_permission's mask. */
#define MAY_WRITE 0x2
#define MAY_APPEND 0x8
/* struct iattr's ia_valid: what an attribute change changes. */
#define ATTR_MODE 0x1
#define ATTR_UID 0x2
#define ATTR_GID 0x4
#define ATTR_SIZE 0x8
#define ATTR_ATIME 0x10
#define ATTR_MTIME 0x20

/* Only the fields used here; CO-RE relocates them against the running kernel's BTF. */
struct qstr {
	union {
		struct {
			__u32 hash;
			__u32 len;
		};
		__u64 hash_len;
	};
	const unsigned char *name;
} __attribute__((preserve_access_index));

struct super_block {
	__u32 s_dev;
	unsigned long s_magic;
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
	unsigned int i_nlink;
	unsigned long i_ino;
	struct super_block *i_sb;
	void *i_private;
	struct {
		__u32 val;
	} i_uid;
} __attribute__((preserve_access_index));

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
	struct inode *d_inode;
	struct super_block *d_sb;
} __attribute__((preserve_access_index));

struct vfsmount {
	struct dentry *mnt_root;
	struct super_block *mnt_sb;
} __attribute__((preserve_access_index));

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
} __attribute__((preserve_access_index));

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
} __attribute__((preserve_access_index));

struct file {
	struct path f_path;
	struct inode *f_inode;
	unsigned int f_mode;
} __attribute__((preserve_access_index));

struct fs_struct {
	struct path root;
} __attribute__((preserve_access_index));

struct cred {
	struct {
		__u32 val;
	} fsuid;
} __attribute__((preserve_access_index));

struct mm_struct {
	struct file *exe_file;
} __attribute__((preserve_access_index));

struct hlist_node {
	struct hlist_node *next;
} __attribute__((preserve_access_index));

struct hlist_head {
	struct hlist_node *first;
} __attribute__((preserve_access_index));

struct pid {
	unsigned int level;
	struct hlist_head tasks[4];
} __attribute__((preserve_access_index));

struct task_struct {
	unsigned int flags;
	int pid;
	int tgid;
	struct hlist_node pid_links[4];
	struct pid *thread_pid;
	struct fs_struct *fs;
	struct mm_struct *mm;
	const struct cred *cred;
} __attribute__((preserve_access_index));

struct linux_binprm {
	struct file *file;
} __attribute__((preserve_access_index));

/* A kernfs node (cgroup2's files and directories): its parent, and its id (a cgroup directory's is the cgroup id). */
struct kernfs_node {
	struct kernfs_node *parent;
	__u64 id;
} __attribute__((preserve_access_index));

/* Since 6.15 the parent is __parent (RCU-protected). */
struct kernfs_node___rcu {
	struct kernfs_node *__parent;
} __attribute__((preserve_access_index));

/* A /proc inode: the process it stands for (fs/proc/internal.h). */
struct proc_inode {
	struct pid *pid;
	struct inode vfs_inode;
} __attribute__((preserve_access_index));

struct vm_area_struct {
	unsigned long vm_flags;
	struct file *vm_file;
} __attribute__((preserve_access_index));

struct iattr {
	unsigned int ia_valid;
} __attribute__((preserve_access_index));

/* What a cached allow was decided for (the decision cache, at the top of the file). */
struct cache_key {
	__u64 dentry;
	__u64 parent;     /* the dentry's parent and its name's hash and length: */
	__u64 name;       /* a dentry freed and made again at the same address is another name */
	__u64 mnt;
	__u64 root_dentry;
	__u64 root_mnt;
	__u64 rules_generation;
	__u64 rules_map;  /* the rule set (its inner map) the allow was decided with */
	__u32 rename_sequence;
	__u32 mount_sequence;
	__u32 scope;
	__u32 set;        /* the rule set's index: rules_generation is that index's */
};

struct verdict_cache {
	struct bpf_spin_lock lock; /* writers only */
	__u32 sequence;   /* odd while a writer fills the entry */
	struct cache_key key;
	__u32 allowed;    /* operations allowed */
	__u32 reserved;
};

struct throttle_state {
	__u64 window_start;
	__u64 suppressed_until;
	__u32 emitted;
	__u32 dropped;
};

#define DEFAULT_EVENTS_PER_SECOND 100
#define NSEC_PER_SEC 1000000000ULL

#define DECIDE_FULL 0
#define DECIDE_BLOCK_ONLY 1
#define DECIDE_SOFTENED 2

struct scratch {
	char path[SCRATCH_PATH_SIZE];
	struct rule_key key;
	struct rule_key settings;
	/* The resolved path's length in bytes, for the glob matcher. */
	__u32 path_len;
	/*
	 * DECIDE_BLOCK_ONLY: only a Block rule denies. Audit rules and
	 * allow-list postures are left to the hooks that decide the operation
	 * itself (an exec, an open), so that a mapping or a write through an
	 * open file is not reported twice, and the libraries a program maps
	 * are not held to an exec allow-list. DECIDE_SOFTENED: decide_path
	 * allowed what the operation itself would not get (never cached).
	 * Kept here, not on the stack: the programs are at the verifier's
	 * combined stack limit.
	 */
	__u32 mode;
	struct glob_vars glob;
};

/* Read by user space to check that it writes the layout this object reads. */
const volatile __u32 layout_version = LAYOUT_VERSION;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SCOPES);
	__type(key, __u64);
	__type(value, struct scope_entry);
} scopes SEC(".maps");

/*
 * The template; inner hash maps may hold any number of entries. Sizes, not
 * BTF types: on 6.1 an inner map must match the template's timer offset,
 * which is -EINVAL for a map without BTF (as user space creates them) but
 * -ENOENT for one whose BTF value is a struct without a timer.
 */
struct scope_rules {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(struct rule_key));
	__uint(value_size, sizeof(struct rule_value));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, MAX_SETS);
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
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SCOPES);
	__type(key, __u32);
	__type(value, struct throttle_state);
} throttle SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct throttle_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} protected SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
} sources SEC(".maps");

/*
 * The cgroup whose scope a task belongs to, wherever it moves
 * (container_scope), with ORIGIN_EXECED set once the task, or the parent
 * it was cloned from, has exec'd in the scope: the workload, as opposed to
 * the runtime's own set-up in the container (runc init mounting, pivoting
 * and joining namespaces before it execs the container's process).
 */
#define ORIGIN_EXECED (1ULL << 63)

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} origins SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SETS);
	__type(key, __u32);
	__type(value, __u64);
} generations SEC(".maps");

/*
 * The kernel's seqlocks around dentry moves and mount tree changes; their
 * sequence count is the first u32. Weak: a kernel whose kallsyms lacks
 * them (no CONFIG_KALLSYMS_ALL) loads with the cache off.
 */
extern const void rename_lock __ksym __weak;
extern const void mount_lock __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_INODE_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct verdict_cache);
} verdicts SEC(".maps");

/*
 * identities: HASH, (scope, device, inode) -> what the scope's Block rules
 * on that file's path deny. A path names one of a file's names; a hard
 * link made before the rule, or the file after it was unlinked (reopened
 * through /proc/<pid>/fd), is another name for the same inode. User space
 * stats each blocked file in the container's root and writes its identity
 * here; a file with more or fewer than one name (i_nlink != 1) is also
 * decided by it. Per scope, not per set: two containers share a rule set,
 * never a file system.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_IDENTITIES);
	__type(key, struct identity_key);
	__type(value, struct identity_value);
} identities SEC(".maps");

/* The scope of the current task: its index, its rule set's index and inner map, or 0. */
struct scope_ref {
	__u64 cgroup_id;
	__u32 index;
	__u32 set;
	void *rules;
};

/* The kernel's PF_KTHREAD: a kernel thread is never a host process here. */
#define PF_KTHREAD 0x00200000

/*
 * Fills in the scope and set of a `scopes` entry. One 8-byte load: user
 * space moves a cgroup to another set while programs run, and a torn read
 * would pair one scope's counters with another's rules.
 */
static __always_inline void read_entry(struct scope_ref *scope, struct scope_entry *entry)
{
	union {
		struct scope_entry value;
		__u64 bits;
	} copy;

	copy.bits = *(volatile __u64 *)entry;
	scope->index = copy.value.scope;
	scope->set = copy.value.set;
	scope->rules = bpf_map_lookup_elem(&rules, &scope->set);
}

/*
 * The current task's container scope. A task belongs to the scope of the
 * cgroup it was first seen in (its origin, in task storage, which
 * task_alloc hands to every child), so moving itself to another cgroup, to
 * a child cgroup it made or cloning into one does not take it out of the
 * scope. A task with no origin, or whose origin's scope is gone (its
 * container stopped), is decided by the cgroup it is in, which becomes its
 * origin when that is a scope. task_kill asks for this one only: host
 * processes may signal the agent (systemd stops it that way).
 */
static __always_inline int container_scope(struct scope_ref *scope)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 *origin = bpf_task_storage_get(&origins, task, 0, 0);
	struct scope_entry *entry = 0;

	if (origin && (*origin & ~ORIGIN_EXECED)) {
		scope->cgroup_id = *origin & ~ORIGIN_EXECED;
		entry = bpf_map_lookup_elem(&scopes, &scope->cgroup_id);
	}
	if (!entry) {
		scope->cgroup_id = bpf_get_current_cgroup_id();
		entry = bpf_map_lookup_elem(&scopes, &scope->cgroup_id);
		if (!entry)
			return 0;
		origin = bpf_task_storage_get(&origins, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (origin)
			*origin = scope->cgroup_id;
	}
	read_entry(scope, entry);
	return 1;
}

/*
 * The host scope (host policies), for a task in no container scope: when
 * user space has set one (config's host_scope, the index plus one), and
 * the task is a user process of the initial pid namespace that is not
 * protected (the agent is never under a host policy that could stop it).
 */
static __always_inline int host_scope(struct scope_ref *scope)
{
	struct task_struct *task;
	struct throttle_config *settings;
	__u32 zero = 0, tgid, host, set;

	settings = bpf_map_lookup_elem(&config, &zero);
	if (!settings || !settings->host_scope || settings->host_scope > MAX_SCOPES || settings->host_set >= MAX_SETS)
		return 0;
	host = settings->host_scope - 1;
	set = settings->host_set;
	task = bpf_get_current_task_btf();
	if (task->flags & PF_KTHREAD)
		return 0;
	if (BPF_CORE_READ(task, thread_pid, level) != 0)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (bpf_map_lookup_elem(&protected, &tgid))
		return 0;
	scope->index = host;
	scope->set = set;
	scope->rules = bpf_map_lookup_elem(&rules, &set);
	return 1;
}

/* The scope whose rules decide for the current task: its container's, else the host's, else none. */
static __always_inline int current_scope(struct scope_ref *scope)
{
	return container_scope(scope) || host_scope(scope);
}

static __always_inline __u32 current_source(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 *source = bpf_task_storage_get(&sources, task, 0, 0);

	return source ? *source : SOURCE_ANY;
}

/* ---- Paths ---------------------------------------------------------------- */

/* State of one dentry walk, all kernel addresses as scalars (read with probe reads). */
struct walk {
	__u64 dentry;
	__u64 mount;      /* struct mount * */
	__u64 mnt_root;   /* the current mount's root dentry */
	__u64 root_dentry;
	__u64 root_mnt;   /* struct vfsmount * of the task's root */
	char *buffer;
	__s32 position;   /* the path so far starts here; it ends at PATH_MAX_BYTES - 1 */
	__s32 status;     /* 0 walking, 1 done, -1 failed */
};

static __always_inline __u64 vfsmount_of(__u64 mount)
{
	return mount + bpf_core_field_offset(struct mount, mnt);
}

static long walk_step(__u32 index, struct walk *w)
{
	struct dentry *dentry = (struct dentry *)w->dentry;
	struct mount *mount = (struct mount *)w->mount;
	struct dentry *parent;
	const unsigned char *name;
	__u32 length;
	__s32 position;

	if (w->dentry == w->root_dentry && vfsmount_of(w->mount) == w->root_mnt) {
		w->status = 1;
		return 1;
	}
	if (w->dentry == w->mnt_root) {
		struct mount *up = BPF_CORE_READ(mount, mnt_parent);

		if (!up || (__u64)up == w->mount) {
			/* The top of the mount tree, outside the task's root: stop here, as d_path would. */
			w->status = 1;
			return 1;
		}
		w->dentry = (__u64)BPF_CORE_READ(mount, mnt_mountpoint);
		w->mount = (__u64)up;
		w->mnt_root = (__u64)BPF_CORE_READ(up, mnt.mnt_root);
		return 0;
	}
	parent = BPF_CORE_READ(dentry, d_parent);
	if (!parent || (__u64)parent == w->dentry) {
		w->status = 1;
		return 1;
	}
	length = BPF_CORE_READ(dentry, d_name.len);
	name = BPF_CORE_READ(dentry, d_name.name);
	position = w->position;
	if (length == 0 || length > NAME_MAX_BYTES || position < (__s32)length + 1) {
		w->status = -1;
		return 1;
	}
	position -= length;
	if (bpf_probe_read_kernel(w->buffer + (position & (PATH_MAX_BYTES - 1)), length & NAME_MAX_BYTES, name)) {
		w->status = -1;
		return 1;
	}
	position -= 1;
	w->buffer[position & (PATH_MAX_BYTES - 1)] = '/';
	w->position = position;
	w->dentry = (__u64)parent;
	return 0;
}

/*
 * Writes the path of `dentry` on the mount `vfsmnt`, relative to the
 * current task's root, into buffer[start..PATH_MAX_BYTES - 1) (NUL at the
 * end) and returns start, or -1 when it cannot be resolved.
 */
static __noinline int walk_path(char *buffer, struct dentry *dentry, struct vfsmount *vfsmnt)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct walk w = {};

	if (!buffer || !dentry || !vfsmnt)
		return -1;
	w.dentry = (__u64)dentry;
	w.mount = (__u64)vfsmnt - bpf_core_field_offset(struct mount, mnt);
	w.mnt_root = (__u64)BPF_CORE_READ(vfsmnt, mnt_root);
	w.root_dentry = (__u64)BPF_CORE_READ(task, fs, root.dentry);
	w.root_mnt = (__u64)BPF_CORE_READ(task, fs, root.mnt);
	w.buffer = buffer;
	w.position = PATH_MAX_BYTES - 1;
	buffer[PATH_MAX_BYTES - 1] = 0;
	bpf_loop(MAX_COMPONENTS, walk_step, &w, 0);
	if (w.status != 1)
		return -1;
	if (w.position == PATH_MAX_BYTES - 1) {
		w.position -= 1;
		buffer[PATH_MAX_BYTES - 2] = '/';
	}
	return w.position;
}

/* ---- Rules ---------------------------------------------------------------- */

/*
 * What matched, per action: the operations, the first rule id, the
 * operations an ownerOnly entry gave, and those an entry without ownerOnly
 * gave. The owner is spared (Block, Audit) or alone allowed (Allow) only
 * what every matching entry gave as ownerOnly: owner_ops & ~plain_ops.
 */
struct match {
	__u32 ops[ACTIONS];
	__u32 rule_id[ACTIONS];
	__u32 owner_ops[ACTIONS];
	__u32 plain_ops[ACTIONS];
};

static __always_inline void add_match(struct match *m, struct rule_value *v, int children, __u32 operation)
{
	int a;

	for (a = 0; a < ACTIONS; a++) {
		__u32 hit = (children ? v->child_ops[a] : v->ops[a]) & operation;

		if (hit) {
			if (!m->ops[a])
				m->rule_id[a] = v->rule_id[a];
			m->ops[a] |= hit;
			m->owner_ops[a] |= v->owner_ops[a] & hit;
			m->plain_ops[a] |= hit & ~v->owner_ops[a];
		}
	}
}

/* Whether the path at s->path[from...] (to its NUL) is one name: no '/' in it (bpf_loop's context). */
struct name_scan {
	struct scratch *s;
	__u32 from;
	__u32 slash;
};

static long name_step(__u32 index, struct name_scan *w)
{
	struct scratch *s = w->s;
	char c;

	if (!s)
		return 1;
	c = s->path[(w->from + index) & (SCRATCH_PATH_SIZE - 1)];
	if (c == 0)
		return 1;
	if (c == '/') {
		w->slash = 1;
		return 1;
	}
	return 0;
}

/* A lookup whose answer must be the key itself, not a shorter prefix of it. */
static __always_inline struct rule_value *lookup_exact(void *scope_rules, struct rule_key *key)
{
	struct rule_value *v = bpf_map_lookup_elem(scope_rules, key);

	if (v && (v->match_bits & MATCH_PREFIX_BITS) != key->prefixlen)
		return 0;
	return v;
}

/*
 * Matches the path at s->path[start...] (s->path_len bytes) for one key
 * source: one longest-prefix lookup of the source and the path with its
 * NUL (or its first RULE_PATH_SIZE bytes; no rule is that long, so a
 * longer path matches directories only). The entry found carries what the
 * directories above it add; a directory's entry also gives its
 * non-recursive operations when the rest of the path is one name.
 */
static __always_inline void match_path(void *scope_rules, struct scratch *s, __u32 start, __u32 source, __u32 operation, struct match *m)
{
	struct rule_value *v;
	struct name_scan scan = {};
	__u32 length, covered;

	if (!s || !m)
		return;
	length = s->path_len + 1;
	if (length > RULE_PATH_SIZE)
		length = RULE_PATH_SIZE;
	/* Masked after a barrier, so that the compiler keeps the bound the verifier needs. */
	barrier_var(length);
	length &= 0xff;
	s->key.source = source;
	if (bpf_probe_read_kernel(s->key.path, length, s->path + (start & (PATH_MAX_BYTES - 1))))
		return;
	s->key.prefixlen = 32 + 8 * length;
	v = bpf_map_lookup_elem(scope_rules, &s->key);
	if (!v)
		return;
	add_match(m, v, 0, operation);
	if (!(v->match_bits & MATCH_DIRECTORY) || !(v->child_ops[ACTION_BLOCK] | v->child_ops[ACTION_AUDIT] | v->child_ops[ACTION_ALLOW]))
		return;
	covered = ((v->match_bits & MATCH_PREFIX_BITS) - 32) / 8;
	if (covered >= s->path_len)
		return;
	scan.s = s;
	scan.from = (start + covered) & (PATH_MAX_BYTES - 1);
	bpf_loop(PATH_MAX_BYTES, name_step, &scan, 0);
	if (!scan.slash)
		add_match(m, v, 1, operation);
}

static __always_inline void match_key(void *scope_rules, struct rule_key *key, __u32 operation, struct match *m)
{
	struct rule_value *v = lookup_exact(scope_rules, key);

	if (v)
		add_match(m, v, 0, operation);
}

/*
 * Glob rules: keys RESOURCE_GLOB, slot (0, 1, ...) per source, each value
 * holding one pattern. Every pattern of the source is matched against the
 * whole path; a pair the matcher cannot decide within its bound counts as
 * a match for block and audit rules, never for allow (fail closed). The
 * slots are walked with bpf_loop, so the verifier checks one slot's work
 * once rather than MAX_GLOBS times.
 */
struct glob_walk {
	void *scope_rules;
	struct scratch *s;
	struct match *m;
	__u32 start;
	__u32 operation;
};

static long glob_slot(__u32 index, struct glob_walk *w)
{
	struct scratch *s = w->s;
	struct match *m = w->m;
	struct rule_value *v;
	int result, a;

	if (!s || !m || index >= MAX_GLOBS)
		return 1;
	s->key.path[1] = index;
	v = lookup_exact(w->scope_rules, &s->key);
	if (!v)
		return 1;
	result = glob_match(&s->glob, v->pattern, v->pattern_len, s->path + (w->start & (PATH_MAX_BYTES - 1)), s->path_len);
	if (result == GLOB_NO_MATCH)
		return 0;
	for (a = 0; a < ACTIONS; a++) {
		__u32 hit = v->ops[a] & w->operation;

		if (!hit || (a == ACTION_ALLOW && result != GLOB_MATCH))
			continue;
		if (!m->ops[a])
			m->rule_id[a] = v->rule_id[a];
		m->ops[a] |= hit;
		m->owner_ops[a] |= v->owner_ops[a] & hit;
		m->plain_ops[a] |= hit & ~v->owner_ops[a];
	}
	return 0;
}

static __always_inline void match_globs(void *scope_rules, struct scratch *s, __u32 start, __u32 source, __u32 operation, struct match *m)
{
	struct glob_walk w = {};

	w.scope_rules = scope_rules;
	w.s = s;
	w.m = m;
	w.start = start;
	w.operation = operation;
	s->key.prefixlen = PREFIX_GLOB;
	s->key.source = source;
	s->key.path[0] = RESOURCE_GLOB;
	bpf_loop(MAX_GLOBS, glob_slot, &w, 0);
}

/* ---- Decisions and events --------------------------------------------------- */

struct decision {
	__u32 verdict;
	__u32 rule_id;
};

/* The verdict from what matched, ownerOnly applied, then the scope's posture. */
static __always_inline struct decision decide(void *scope_rules, struct scratch *s, struct match *m, __u32 operation, int is_owner)
{
	struct decision d = { VERDICT_ALLOW, 0 };
	struct rule_value *settings;
	__u32 block = m->ops[ACTION_BLOCK];
	__u32 audit = m->ops[ACTION_AUDIT];
	__u32 allow = m->ops[ACTION_ALLOW];

	/* ownerOnly: a block or audit rule spares the owner; an allow rule allows only the owner (unless a rule without ownerOnly says the same). */
	if (is_owner) {
		block &= ~(m->owner_ops[ACTION_BLOCK] & ~m->plain_ops[ACTION_BLOCK]);
		audit &= ~(m->owner_ops[ACTION_AUDIT] & ~m->plain_ops[ACTION_AUDIT]);
	} else {
		allow &= ~(m->owner_ops[ACTION_ALLOW] & ~m->plain_ops[ACTION_ALLOW]);
	}
	if (block) {
		d.verdict = VERDICT_BLOCK;
		d.rule_id = m->rule_id[ACTION_BLOCK];
		return d;
	}
	if (audit) {
		d.verdict = VERDICT_AUDIT;
		d.rule_id = m->rule_id[ACTION_AUDIT];
		return d;
	}
	if (allow)
		return d;
	s->settings.prefixlen = PREFIX_SETTINGS;
	s->settings.source = SOURCE_SETTINGS;
	settings = lookup_exact(scope_rules, &s->settings);
	if (!settings)
		return d;
	if (settings->ops[ACTION_BLOCK] & operation)
		d.verdict = VERDICT_POSTURE_BLOCK;
	else if (settings->ops[ACTION_AUDIT] & operation)
		d.verdict = VERDICT_POSTURE_AUDIT;
	return d;
}

static __always_inline void count(__u32 scope, __u32 verdict)
{
	struct decision_counts *counts = bpf_map_lookup_elem(&decisions, &scope);

	if (!counts)
		return;
	switch (verdict) {
	case VERDICT_ALLOW:
		__sync_fetch_and_add(&counts->allowed, 1);
		break;
	case VERDICT_AUDIT:
	case VERDICT_POSTURE_AUDIT:
		__sync_fetch_and_add(&counts->audited, 1);
		break;
	case VERDICT_FAIL_CLOSED:
		__sync_fetch_and_add(&counts->failed, 1);
		break;
	default:
		__sync_fetch_and_add(&counts->denied, 1);
	}
}

static __always_inline void count_cached(__u32 scope)
{
	struct decision_counts *counts = bpf_map_lookup_elem(&decisions, &scope);

	if (!counts)
		return;
	__sync_fetch_and_add(&counts->allowed, 1);
	__sync_fetch_and_add(&counts->cached, 1);
}

/* An event the ring buffer had no room for (user space reads too slowly): counted, never silent. */
static __always_inline void count_lost(__u32 scope)
{
	struct decision_counts *counts = bpf_map_lookup_elem(&decisions, &scope);

	if (counts)
		__sync_fetch_and_add(&counts->lost, 1);
}

/* The throttle: 1 to emit, 0 to drop; *dropped is set when a summary is due first. */
static __always_inline int throttle_admit(__u32 scope, __u32 *dropped)
{
	__u32 zero = 0;
	struct throttle_config *limits = bpf_map_lookup_elem(&config, &zero);
	struct throttle_state *state = bpf_map_lookup_elem(&throttle, &scope);
	__u64 now = bpf_ktime_get_ns();
	__u32 per_second = DEFAULT_EVENTS_PER_SECOND;
	__u64 suppress = NSEC_PER_SEC;

	*dropped = 0;
	if (!state)
		return 1;
	if (limits && limits->events_per_second)
		per_second = limits->events_per_second;
	if (limits && limits->suppress_ns)
		suppress = limits->suppress_ns;
	if (now < state->suppressed_until) {
		__sync_fetch_and_add(&state->dropped, 1);
		return 0;
	}
	if (now - state->window_start >= NSEC_PER_SEC || state->window_start == 0) {
		*dropped = state->dropped;
		state->dropped = 0;
		state->emitted = 0;
		state->window_start = now;
	}
	if (state->emitted >= per_second) {
		state->suppressed_until = now + suppress;
		state->window_start = 0;
		__sync_fetch_and_add(&state->dropped, 1);
		return 0;
	}
	state->emitted += 1;
	return 1;
}

static __always_inline struct event *reserve_event(struct scope_ref *scope, __u32 operation, __u32 verdict, __u32 rule_id)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	__u64 id;

	if (!e)
		return 0;
	id = bpf_get_current_pid_tgid();
	e->time_ns = bpf_ktime_get_ns();
	e->cgroup_id = scope->cgroup_id;
	e->scope = scope->index;
	e->pid = (__u32)id;
	e->tgid = id >> 32;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->operation = operation;
	e->rule_id = rule_id;
	e->verdict = verdict;
	e->dropped = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->resource[0] = 0;
	e->source[0] = 0;
	return e;
}

/* The current task's executable, into e->source (what the source walk fits in RULE_PATH_SIZE). */
static __always_inline void fill_source(struct scratch *s, struct event *e)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	int start;

	if (!exe)
		return;
	start = walk_path(s->path + PATH_MAX_BYTES, BPF_CORE_READ(exe, f_path.dentry), BPF_CORE_READ(exe, f_path.mnt));
	if (start < 0)
		return;
	bpf_probe_read_kernel_str(e->source, sizeof(e->source), s->path + PATH_MAX_BYTES + (start & (PATH_MAX_BYTES - 1)));
}

/*
 * Counts a decision and, for a block or an audit, emits an event (through
 * the throttle). The event's resource is the resolved path in s->path from
 * `start`, or, when `start` is negative, s->key.path copied whole: a socket
 * or capability key holds zero bytes (AF_INET is 02 00), which a string
 * copy would stop at, losing the type and protocol.
 */
static __noinline void report(struct scope_ref *scope, struct scratch *s, int start, __u32 operation, struct decision *d)
{
	struct event *e;
	__u32 dropped;

	if (!scope || !s || !d)
		return;
	count(scope->index, d->verdict);
	if (d->verdict == VERDICT_ALLOW)
		return;
	if (!throttle_admit(scope->index, &dropped))
		return;
	if (dropped) {
		e = reserve_event(scope, 0, VERDICT_DROPPED, 0);
		if (e) {
			e->dropped = dropped;
			bpf_ringbuf_submit(e, 0);
		} else {
			count_lost(scope->index);
		}
	}
	e = reserve_event(scope, operation, d->verdict, d->rule_id);
	if (!e) {
		count_lost(scope->index);
		return;
	}
	if (start >= 0)
		bpf_probe_read_kernel_str(e->resource, sizeof(e->resource), s->path + (start & (PATH_MAX_BYTES - 1)));
	else
		bpf_probe_read_kernel(e->resource, sizeof(e->resource), &s->key.path);
	fill_source(s, e);
	bpf_ringbuf_submit(e, 0);
}

static __always_inline int verdict_errno(__u32 verdict)
{
	return verdict == VERDICT_ALLOW || verdict == VERDICT_AUDIT || verdict == VERDICT_POSTURE_AUDIT ? 0 : -EPERM;
}

static __always_inline int is_owner_of(struct inode *inode)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 fsuid = BPF_CORE_READ(task, cred, fsuid.val);

	/* A file about to be created has no inode yet: its creator will own it. */
	return !inode || BPF_CORE_READ(inode, i_uid.val) == fsuid;
}

/*
 * The decision on the path at s->path[start...] (start < 0: unresolvable)
 * for `operation`, counted and reported: -EPERM, 0 to allow, or 1 to allow
 * when the allow depended on the path alone (no Audit, no ownerOnly, no
 * fromSource), so the decision cache may keep it.
 */
static __noinline int decide_path(struct scope_ref *scope, struct scratch *s, int start, __u32 operation, __u64 inode)
{
	struct match m = {};
	struct decision d;
	__u32 source;

	if (!scope || !s || !scope->rules)
		return 0;
	if (start < 0) {
		d.verdict = VERDICT_FAIL_CLOSED;
		d.rule_id = 0;
		s->key.path[0] = 0;
		report(scope, s, -1, operation, &d);
		return -EPERM;
	}
	source = current_source();
	match_path(scope->rules, s, start & (PATH_MAX_BYTES - 1), SOURCE_ANY, operation, &m);
	match_globs(scope->rules, s, start & (PATH_MAX_BYTES - 1), SOURCE_ANY, operation, &m);
	if (source != SOURCE_ANY) {
		match_path(scope->rules, s, start & (PATH_MAX_BYTES - 1), source, operation, &m);
		match_globs(scope->rules, s, start & (PATH_MAX_BYTES - 1), source, operation, &m);
	}
	/* Whose file it is matters only to ownerOnly rules: read only when one matched. */
	d = decide(scope->rules, s, &m, operation,
		   (m.owner_ops[ACTION_BLOCK] | m.owner_ops[ACTION_AUDIT] | m.owner_ops[ACTION_ALLOW]) && is_owner_of((struct inode *)inode));
	if (s->mode == DECIDE_BLOCK_ONLY && d.verdict != VERDICT_BLOCK && d.verdict != VERDICT_ALLOW) {
		/* Allowed here, but not what the operation itself would get: never cached. */
		d.verdict = VERDICT_ALLOW;
		s->mode = DECIDE_SOFTENED;
	}
	report(scope, s, start, operation, &d);
	if (d.verdict == VERDICT_ALLOW && source == SOURCE_ANY && s->mode != DECIDE_SOFTENED &&
	    !(m.owner_ops[ACTION_BLOCK] | m.owner_ops[ACTION_AUDIT] | m.owner_ops[ACTION_ALLOW]))
		return 1;
	return verdict_errno(d.verdict);
}

/*
 * An inode with other names than its path, or none (i_nlink != 1): denied
 * when the scope's identities block `operation` on it, reported with the
 * path it was reached by. 0 otherwise.
 */
static __noinline int decide_identity(struct scope_ref *scope, struct scratch *s, int start, __u32 operation, struct inode *inode)
{
	struct identity_key key = {};
	struct identity_value *v;
	struct decision d;

	if (!scope || !s || !inode)
		return 0;
	key.scope = scope->index;
	key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	key.ino = BPF_CORE_READ(inode, i_ino);
	v = bpf_map_lookup_elem(&identities, &key);
	if (!v || !(v->ops & operation))
		return 0;
	d.verdict = VERDICT_BLOCK;
	d.rule_id = v->rule_id;
	report(scope, s, start, operation, &d);
	return -EPERM;
}

/* For an inode read with BPF_CORE_READ (a plain value to the verifier): a probe read. */
static __always_inline int other_names(struct inode *inode)
{
	return inode && BPF_CORE_READ(inode, i_nlink) != 1;
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);

	if (s)
		s->mode = DECIDE_FULL;
	return s;
}

/* ---- Hooks ------------------------------------------------------------------ */

/* ---- The decision cache (see the top of the file) ---------------------------- */

#define barrier() asm volatile("" ::: "memory")
#define READ_ONCE_U32(x) (*(volatile __u32 *)&(x))
#define READ_ONCE_U64(x) (*(volatile __u64 *)&(x))

/* What a decision made now is made for, taken before the path is resolved. */
struct cache_ticket {
	struct cache_key key;
	int usable;
};

static __always_inline int cache_key_equal(struct cache_key *a, struct cache_key *b)
{
	return a->dentry == b->dentry && a->parent == b->parent && a->name == b->name && a->mnt == b->mnt && a->root_dentry == b->root_dentry &&
	       a->root_mnt == b->root_mnt && a->rules_generation == b->rules_generation && a->rules_map == b->rules_map && a->rename_sequence == b->rename_sequence &&
	       a->mount_sequence == b->mount_sequence && a->scope == b->scope && a->set == b->set;
}

/*
 * 1 when the cache allows `operation` on `file`; otherwise 0, with
 * t->usable set when a decision made now may be kept.
 */
static __always_inline int cache_check(struct scope_ref *scope, struct file *file, __u32 operation, struct cache_ticket *t)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct throttle_config *settings;
	struct cache_key *k = &t->key;
	struct verdict_cache *c;
	__u64 *generation;
	__u32 zero = 0, sequence;
	int hit;

	t->usable = 0;
	settings = bpf_map_lookup_elem(&config, &zero);
	if (settings && (settings->flags & CONFIG_NO_CACHE))
		return 0;
	generation = bpf_map_lookup_elem(&generations, &scope->set);
	if (!generation || !&rename_lock || !&mount_lock)
		return 0;
	k->rules_generation = READ_ONCE_U64(*generation);
	/*
	 * User space swaps a set's inner map in, then moves its generation:
	 * between the two, the generation alone would let an allow decided under
	 * the old set stand beside decisions of the new one (a rule set that is
	 * neither). The inner map this run decides with ties the entry to that
	 * set; the generation, which only grows, tells apart two sets that the
	 * kernel allocated at the same address one after the other.
	 */
	k->rules_map = (__u64)scope->rules;
	/* Odd: a move or a mount change is under way. */
	if (bpf_probe_read_kernel(&k->rename_sequence, sizeof(k->rename_sequence), &rename_lock) || (k->rename_sequence & 1))
		return 0;
	if (bpf_probe_read_kernel(&k->mount_sequence, sizeof(k->mount_sequence), &mount_lock) || (k->mount_sequence & 1))
		return 0;
	if ((k->rules_generation & GENERATION_HAS_SOURCES) && current_source() != SOURCE_ANY)
		return 0;
	k->dentry = (__u64)file->f_path.dentry;
	k->parent = (__u64)file->f_path.dentry->d_parent;
	/* Two loads: 6.1's verifier walks the union's first member and refuses hash_len as one. */
	k->name = ((__u64)file->f_path.dentry->d_name.len << 32) | file->f_path.dentry->d_name.hash;
	k->mnt = (__u64)file->f_path.mnt;
	k->root_dentry = (__u64)task->fs->root.dentry;
	k->root_mnt = (__u64)task->fs->root.mnt;
	k->scope = scope->index;
	k->set = scope->set;
	t->usable = 1;
	c = bpf_inode_storage_get(&verdicts, file->f_inode, 0, 0);
	if (!c)
		return 0;
	sequence = READ_ONCE_U32(c->sequence);
	if (sequence & 1)
		return 0;
	barrier();
	hit = cache_key_equal(&c->key, k) && !(operation & ~c->allowed);
	barrier();
	return hit && READ_ONCE_U32(c->sequence) == sequence;
}

static __always_inline void cache_store(struct file *file, __u32 operation, struct cache_ticket *t)
{
	struct verdict_cache *c = bpf_inode_storage_get(&verdicts, file->f_inode, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!c)
		return;
	bpf_spin_lock(&c->lock);
	c->sequence += 1;
	barrier();
	if (cache_key_equal(&c->key, &t->key)) {
		c->allowed |= operation;
	} else {
		c->key = t->key;
		c->allowed = operation;
	}
	barrier();
	c->sequence += 1;
	bpf_spin_unlock(&c->lock);
}

/*
 * `operation` on an open file, through the decision cache. `through_fd` 0
 * (file_open, bprm_check_security): every rule decides, and the path comes
 * from bpf_d_path; 1 (a mapping, a write through a file descriptor): Block
 * rules only (DECIDE_BLOCK_ONLY), and the path comes from the dentry walk
 * (bpf_d_path is not allowed in those hooks).
 */
static __always_inline int check_file_by(struct file *file, __u32 operation, int through_fd)
{
	struct scope_ref scope;
	struct cache_ticket ticket;
	struct scratch *s;
	long length;
	int verdict, start;

	if (!current_scope(&scope) || !scope.rules)
		return 0;
	if (cache_check(&scope, file, operation, &ticket)) {
		count_cached(scope.index);
		return 0;
	}
	s = get_scratch();
	if (!s)
		return -EPERM;
	if (through_fd) {
		s->mode = DECIDE_BLOCK_ONLY;
		start = walk_path(s->path, file->f_path.dentry, file->f_path.mnt);
		s->path_len = start >= 0 ? PATH_MAX_BYTES - 1 - start : 0;
	} else {
		length = bpf_d_path(&file->f_path, s->path, PATH_MAX_BYTES);
		s->path_len = length > 0 ? length - 1 : 0;
		start = length > 0 ? 0 : -1;
	}
	verdict = decide_path(&scope, s, start, operation, (__u64)file->f_inode);
	if (verdict < 0)
		return -EPERM;
	/* Another name of a file, or none: its identity decides too, and the allow is not kept (identities change apart from the set). */
	/* file->f_inode is a BTF pointer: a direct load, no helper call on the open path (under TCG a probe read cost about 1 us). */
	if (file->f_inode && file->f_inode->i_nlink != 1)
		return decide_identity(&scope, s, start, operation, file->f_inode);
	if (verdict > 0 && ticket.usable)
		cache_store(file, operation, &ticket);
	return 0;
}

static __always_inline int check_file(struct file *file, __u32 operation)
{
	return check_file_by(file, operation, 0);
}

static __always_inline int guard(__u32 tgid, char a, char b, char c);

/*
 * The thread group a /proc inode stands for (/proc/<pid>/... and
 * /proc/<pid>/task/<tid>/...), from its struct pid's first task; 0 for
 * /proc files of no process, and for a process gone meanwhile.
 */
static __always_inline __u32 proc_inode_tgid(struct inode *inode)
{
	struct proc_inode *proc = (struct proc_inode *)((unsigned long)inode - bpf_core_field_offset(struct proc_inode, vfs_inode));
	struct pid *pid = BPF_CORE_READ(proc, pid);
	struct hlist_node *first;
	struct task_struct *task;

	if (!pid)
		return 0;
	first = BPF_CORE_READ(pid, tasks[0].first);
	if (!first)
		return 0;
	task = (struct task_struct *)((unsigned long)first - bpf_core_field_offset(struct task_struct, pid_links));
	return BPF_CORE_READ(task, tgid);
}

static __always_inline struct kernfs_node *kernfs_parent(struct kernfs_node *node)
{
	if (bpf_core_field_exists(struct kernfs_node___rcu, __parent))
		return BPF_CORE_READ((struct kernfs_node___rcu *)node, __parent);
	return BPF_CORE_READ(node, parent);
}

/*
 * A cgroup2 file opened for writing from a container scope: allowed only
 * in the scope's own cgroup or below it (its kernfs parents walked up,
 * CGROUP_DEPTH levels at most, to a directory whose id is the scope's
 * cgroup id). Elsewhere (the agent's cgroup, another container's, the
 * root's) a write would kill, freeze, move or starve what is not the
 * container's: cgroup.kill, cgroup.freeze, cgroup.procs, the limits.
 * Reported as a protection event whose way is `cgr`.
 */
static __noinline int guard_cgroup_write(struct inode *inode)
{
	struct scope_ref scope;
	struct kernfs_node *node;
	struct scratch *s;
	struct decision d = { VERDICT_PROTECTED, 0 };

	if (!inode || !container_scope(&scope))
		return 0;
	node = BPF_CORE_READ(inode, i_private);
	for (int level = 0; level < CGROUP_DEPTH && node; level++) {
		node = kernfs_parent(node);
		if (node && BPF_CORE_READ(node, id) == scope.cgroup_id)
			return 0;
	}
	s = get_scratch();
	if (!s)
		return -EPERM;
	__builtin_memset(&s->key, 0, sizeof(s->key));
	s->key.path[0] = 'c';
	s->key.path[1] = 'g';
	s->key.path[2] = 'r';
	report(&scope, s, -1, OP_SIGNAL, &d);
	return -EPERM;
}

SEC("lsm/file_open")
int BPF_PROG(enforce_file_open, struct file *file)
{
	unsigned int mode = file->f_mode;
	__u32 operation = 0;

	if (mode & FMODE_READ)
		operation |= OP_READ;
	if (mode & FMODE_WRITE) {
		operation |= OP_WRITE;
		/*
		 * A protected process's /proc files are not written from a
		 * scope: oom_score_adj (made the OOM killer's first choice),
		 * and the rest of what root may write there without ptrace's
		 * access check (which guards mem, environ and the like).
		 */
		if (file->f_inode && file->f_inode->i_sb) {
			unsigned long magic = file->f_inode->i_sb->s_magic;

			if (magic == PROC_SUPER_MAGIC) {
				__u32 tgid = proc_inode_tgid(file->f_inode);

				if (tgid && guard(tgid, 'p', 'r', 'c'))
					return -EPERM;
			} else if (magic == CGROUP2_SUPER_MAGIC && guard_cgroup_write(file->f_inode)) {
				return -EPERM;
			}
		}
	}
	if (!operation)
		operation = OP_READ;
	return check_file(file, operation);
}

/*
 * The presets: execs no path names, decided by the scope's rule for the
 * preset alone (no posture: the path, where there is one, was decided
 * already). `start` >= 0: the event names s->path[start...]; otherwise the
 * preset's key. `block_only`: an Audit rule is not reported (the exec that
 * maps its program is, at bprm_check_security).
 */
static __noinline int decide_preset(struct scope_ref *scope, struct scratch *s, __u32 preset, int start, int block_only)
{
	struct match m = {};
	struct decision d;
	__u32 source;

	if (!scope || !s || !scope->rules)
		return 0;
	__builtin_memset(&s->key, 0, sizeof(s->key));
	s->key.prefixlen = PREFIX_PRESET;
	s->key.path[0] = RESOURCE_PRESET;
	s->key.path[1] = preset;
	match_key(scope->rules, &s->key, OP_EXEC, &m);
	source = current_source();
	if (source != SOURCE_ANY) {
		s->key.source = source;
		match_key(scope->rules, &s->key, OP_EXEC, &m);
		s->key.source = SOURCE_ANY;
	}
	if (!(m.ops[ACTION_BLOCK] | (block_only ? 0 : m.ops[ACTION_AUDIT])))
		return 0;
	d = decide(scope->rules, s, &m, OP_EXEC, 0);
	report(scope, s, start, OP_EXEC, &d);
	return verdict_errno(d.verdict);
}

/*
 * filelessExec: code run or mapped from a file that has no name left (no
 * link anywhere: a memfd, an unlinked file, an O_TMPFILE file), so that no
 * rule on a path can name it; decided after its path was. `through_fd` as
 * for check_file_by: where bpf_d_path is not allowed the path comes from
 * the dentry walk, and a file that was never linked (a memfd) has none;
 * there, as for paths, only Block rules decide (the loader maps what the
 * exec already reported).
 */
static __always_inline int check_fileless(struct file *file, int through_fd)
{
	struct scope_ref scope;
	struct scratch *s;
	long length;
	int start;

	if (BPF_CORE_READ(file, f_inode, i_nlink) != 0)
		return 0;
	if (!current_scope(&scope) || !scope.rules)
		return 0;
	s = get_scratch();
	if (!s)
		return -EPERM;
	if (through_fd) {
		start = walk_path(s->path, file->f_path.dentry, file->f_path.mnt);
		if (start >= PATH_MAX_BYTES - 2)
			start = -1;
	} else {
		length = bpf_d_path(&file->f_path, s->path, PATH_MAX_BYTES);
		start = length > 0 ? 0 : -1;
	}
	return decide_preset(&scope, s, PRESET_FILELESS_EXEC, start, through_fd);
}

/* anonymousMapExec: an executable mapping of no file (JIT-compiled or injected code). */
static __always_inline int check_anonymous_exec(void)
{
	struct scope_ref scope;
	struct scratch *s;

	if (!current_scope(&scope) || !scope.rules)
		return 0;
	s = get_scratch();
	if (!s)
		return -EPERM;
	return decide_preset(&scope, s, PRESET_ANONYMOUS_MAP_EXEC, -1, 0);
}

SEC("lsm/bprm_check_security")
int BPF_PROG(enforce_bprm_check_security, struct linux_binprm *bprm)
{
	int verdict = check_file(bprm->file, OP_EXEC);

	return verdict ? verdict : check_fileless(bprm->file, 0);
}

/*
 * Code mapped from a file is exec'ed code: the dynamic loader run on a
 * blocked program (`ld.so /bin/x`) or any program's own mmap(PROT_EXEC)
 * maps it without an exec. A Block rule on exec denies that mapping; the
 * loader's own mappings of libraries are not held to an allow-list
 * (DECIDE_BLOCK_ONLY). A shared writable mapping writes the file: a Block
 * rule on write denies it, whenever the file was opened.
 */
SEC("lsm/mmap_file")
int BPF_PROG(enforce_mmap_file, struct file *file, unsigned long reqprot, unsigned long prot, unsigned long flags)
{
	unsigned long type = flags & MAP_TYPE;
	int verdict;

	if (!file)
		return (prot & PROT_EXEC) ? check_anonymous_exec() : 0;
	if (prot & PROT_EXEC) {
		verdict = check_file_by(file, OP_EXEC, 1);
		if (!verdict)
			verdict = check_fileless(file, 1);
		if (verdict)
			return verdict;
	}
	if ((prot & PROT_WRITE) && (type == MAP_SHARED || type == MAP_SHARED_VALIDATE))
		return check_file_by(file, OP_WRITE, 1);
	return 0;
}

/* The same for a mapping made executable, or a shared one writable, after the fact. */
SEC("lsm/file_mprotect")
int BPF_PROG(enforce_file_mprotect, struct vm_area_struct *vma, unsigned long reqprot, unsigned long prot)
{
	struct file *file = vma->vm_file;
	unsigned long vm_flags = vma->vm_flags;
	int verdict;

	if (!file)
		return (prot & PROT_EXEC) && !(vm_flags & VM_EXEC) ? check_anonymous_exec() : 0;
	if ((prot & PROT_EXEC) && !(vm_flags & VM_EXEC)) {
		verdict = check_file_by(file, OP_EXEC, 1);
		if (!verdict)
			verdict = check_fileless(file, 1);
		if (verdict)
			return verdict;
	}
	if ((prot & PROT_WRITE) && (vm_flags & VM_SHARED) && !(vm_flags & VM_WRITE))
		return check_file_by(file, OP_WRITE, 1);
	return 0;
}

/*
 * A write through a file descriptor (write, pwrite, fallocate,
 * copy_file_range, splice, sendfile): a Block rule on write denies it
 * whenever the file was opened, before the rule or outside the scope (an fd
 * passed in). Regular files only: pipes, sockets and terminals have no path
 * a rule names. Allowed writes are cached on the inode as opens are.
 */
SEC("lsm/file_permission")
int BPF_PROG(enforce_file_permission, struct file *file, int mask)
{
	if (!(mask & (MAY_WRITE | MAY_APPEND)))
		return 0;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFREG)
		return 0;
	return check_file_by(file, OP_WRITE, 1);
}

/*
 * After the point of no return of an exec, the task's source is the new
 * executable's index when the scope's rules name it (fromSource), or none.
 */
SEC("lsm/bprm_committed_creds")
int BPF_PROG(track_bprm_committed_creds, struct linux_binprm *bprm)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct scope_ref scope;
	struct scratch *s;
	struct rule_value *definition;
	__u32 *slot;
	long length;

	__u64 *origin;

	slot = bpf_task_storage_get(&sources, task, 0, 0);
	if (slot)
		*slot = SOURCE_ANY;
	if (!current_scope(&scope))
		return 0;
	/* container_scope made the origin of a task in a container scope: it has exec'd there. */
	origin = bpf_task_storage_get(&origins, task, 0, 0);
	if (origin && *origin)
		*origin |= ORIGIN_EXECED;
	if (!scope.rules)
		return 0;
	s = get_scratch();
	if (!s)
		return 0;
	length = bpf_d_path(&bprm->file->f_path, s->path, PATH_MAX_BYTES);
	if (length <= 0 || length > RULE_PATH_SIZE)
		return 0;
	s->key.source = SOURCE_DEFINITION;
	length = bpf_probe_read_kernel_str(s->key.path, sizeof(s->key.path), s->path);
	if (length <= 0)
		return 0;
	s->key.prefixlen = 32 + 8 * (__u32)length;
	definition = lookup_exact(scope.rules, &s->key);
	if (!definition)
		return 0;
	slot = bpf_task_storage_get(&sources, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (slot)
		*slot = definition->rule_id[0];
	return 0;
}

/*
 * A new task belongs to its parent's scope (the parent's origin, or the
 * scope its cgroup is in), whatever cgroup it is cloned into; and it runs
 * its parent's executable until it execs, so it inherits the source.
 */
SEC("lsm/task_alloc")
int BPF_PROG(track_task_alloc, struct task_struct *task)
{
	struct task_struct *parent = bpf_get_current_task_btf();
	__u32 *source = bpf_task_storage_get(&sources, parent, 0, 0);
	struct scope_ref scope;
	__u64 *origin;
	__u32 *slot;

	if (container_scope(&scope)) {
		__u64 *from = bpf_task_storage_get(&origins, parent, 0, 0);
		__u64 execed = from ? *from & ORIGIN_EXECED : 0;

		origin = bpf_task_storage_get(&origins, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (origin)
			*origin = scope.cgroup_id | execed;
	}
	if (!source || *source == SOURCE_ANY)
		return 0;
	slot = bpf_task_storage_get(&sources, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (slot)
		*slot = *source;
	return 0;
}

/* A path hook: the path of `dentry` on `vfsmnt`, decided for `operation`. */
static __always_inline int check_dentry(struct dentry *dentry, struct vfsmount *vfsmnt, __u32 operation)
{
	struct scope_ref scope;
	struct scratch *s;
	struct inode *inode;
	int start;

	if (!current_scope(&scope) || !scope.rules)
		return 0;
	s = get_scratch();
	if (!s)
		return -EPERM;
	start = walk_path(s->path, dentry, vfsmnt);
	s->path_len = start >= 0 ? PATH_MAX_BYTES - 1 - start : 0;
	inode = BPF_CORE_READ(dentry, d_inode);
	if (decide_path(&scope, s, start, operation, (__u64)inode) < 0)
		return -EPERM;
	/* What changes the file itself through another of its names (not what removes or adds a name). */
	if ((operation & (OP_WRITE | OP_TRUNCATE | OP_CHMOD)) && other_names(inode))
		return decide_identity(&scope, s, start, operation, inode);
	return 0;
}

SEC("lsm/path_unlink")
int BPF_PROG(enforce_path_unlink, const struct path *dir, struct dentry *dentry)
{
	return check_dentry(dentry, BPF_CORE_READ(dir, mnt), OP_UNLINK);
}

SEC("lsm/path_rmdir")
int BPF_PROG(enforce_path_rmdir, const struct path *dir, struct dentry *dentry)
{
	return check_dentry(dentry, BPF_CORE_READ(dir, mnt), OP_RMDIR);
}

SEC("lsm/path_mkdir")
int BPF_PROG(enforce_path_mkdir, const struct path *dir, struct dentry *dentry)
{
	return check_dentry(dentry, BPF_CORE_READ(dir, mnt), OP_MKDIR);
}

/* Also called for open(O_CREAT) of a new regular file: that is a write. */
SEC("lsm/path_mknod")
int BPF_PROG(enforce_path_mknod, const struct path *dir, struct dentry *dentry, unsigned short mode)
{
	return check_dentry(dentry, BPF_CORE_READ(dir, mnt), (mode & S_IFMT) == S_IFREG || (mode & S_IFMT) == 0 ? OP_WRITE : OP_MKNOD);
}

SEC("lsm/path_symlink")
int BPF_PROG(enforce_path_symlink, const struct path *dir, struct dentry *dentry)
{
	return check_dentry(dentry, BPF_CORE_READ(dir, mnt), OP_SYMLINK);
}

SEC("lsm/path_link")
int BPF_PROG(enforce_path_link, struct dentry *old_dentry, const struct path *new_dir, struct dentry *new_dentry)
{
	struct vfsmount *mnt = BPF_CORE_READ(new_dir, mnt);
	int verdict = check_dentry(old_dentry, mnt, OP_LINK);

	return verdict ? verdict : check_dentry(new_dentry, mnt, OP_LINK);
}

SEC("lsm/path_rename")
int BPF_PROG(enforce_path_rename, const struct path *old_dir, struct dentry *old_dentry, const struct path *new_dir, struct dentry *new_dentry)
{
	int verdict = check_dentry(old_dentry, BPF_CORE_READ(old_dir, mnt), OP_RENAME);

	return verdict ? verdict : check_dentry(new_dentry, BPF_CORE_READ(new_dir, mnt), OP_RENAME);
}

SEC("lsm/path_truncate")
int BPF_PROG(enforce_path_truncate, const struct path *path)
{
	return check_dentry(BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt), OP_TRUNCATE);
}

SEC("lsm/path_chmod")
int BPF_PROG(enforce_path_chmod, const struct path *path)
{
	return check_dentry(BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt), OP_CHMOD);
}

/* chown, fchown, lchown: an attribute change, decided as chmod is (a read-only rule covers both). */
SEC("lsm/path_chown")
int BPF_PROG(enforce_path_chown, const struct path *path, unsigned int uid, unsigned int gid)
{
	return check_dentry(BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt), OP_CHMOD);
}

/*
 * An inode hook has a dentry and no mount: it is decided on the task's
 * root mount when the dentry is on the root's filesystem (the container's
 * image: what file-integrity rules name), and left alone otherwise (other
 * mounts, and the upper layer overlayfs writes to on its own behalf).
 */
static __always_inline int check_inode(struct dentry *dentry, __u32 operation)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct vfsmount *root = BPF_CORE_READ(task, fs, root.mnt);

	if (!root || BPF_CORE_READ(dentry, d_sb) != BPF_CORE_READ(root, mnt_sb))
		return 0;
	return check_dentry(dentry, root, operation);
}

/*
 * utimensat, utimes, futimens: an attribute change, decided as chmod is.
 * The changes path_chmod, path_chown and path_truncate decide already
 * (mode, owner, size) are left to them.
 */
SEC("lsm/inode_setattr")
int BPF_PROG(enforce_inode_setattr, struct dentry *dentry, struct iattr *attr)
{
	unsigned int valid = attr->ia_valid;

	if (!(valid & (ATTR_ATIME | ATTR_MTIME)) || (valid & (ATTR_MODE | ATTR_UID | ATTR_GID | ATTR_SIZE)))
		return 0;
	return check_inode(dentry, OP_CHMOD);
}

/* Extended attributes (file capabilities among them): attribute changes, decided as chmod is. */
SEC("lsm/inode_setxattr")
int BPF_PROG(enforce_inode_setxattr, void *mnt_userns, struct dentry *dentry, const char *name, const void *value, unsigned long size, int flags)
{
	return check_inode(dentry, OP_CHMOD);
}

SEC("lsm/inode_removexattr")
int BPF_PROG(enforce_inode_removexattr, void *mnt_userns, struct dentry *dentry, const char *name)
{
	return check_inode(dentry, OP_CHMOD);
}

/* A resource that is not a path: the key is built by the caller in s->key. */
static __always_inline int check_resource(struct scope_ref *scope, struct scratch *s, __u32 operation, struct rule_key *wildcard)
{
	struct match m = {};
	struct decision d;
	__u32 source = current_source();

	match_key(scope->rules, &s->key, operation, &m);
	if (wildcard)
		match_key(scope->rules, wildcard, operation, &m);
	if (source != SOURCE_ANY) {
		s->key.source = source;
		match_key(scope->rules, &s->key, operation, &m);
		s->key.source = SOURCE_ANY;
	}
	d = decide(scope->rules, s, &m, operation, 1);
	report(scope, s, -1, operation, &d);
	return verdict_errno(d.verdict);
}

/*
 * socket_create: keys are (family, type, protocol) as u16 each after the
 * RESOURCE_SOCKET byte, ANY_16 for any. Looked up: all three, then the
 * family and type with any protocol, then the type alone.
 */
SEC("lsm/socket_create")
int BPF_PROG(enforce_socket_create, int family, int type, int protocol, int kern)
{
	struct scope_ref scope;
	struct scratch *s;
	struct match m = {};
	struct decision d;
	__u16 sock_type = type & 0xf; /* without SOCK_NONBLOCK and SOCK_CLOEXEC */
	__u16 fields[3][3] = {
		{ family, sock_type, protocol },
		{ family, sock_type, ANY_16 },
		{ ANY_16, sock_type, ANY_16 },
	};
	__u32 source;
	int i;

	if (kern || !current_scope(&scope) || !scope.rules)
		return 0;
	s = get_scratch();
	if (!s)
		return -EPERM;
	source = current_source();
	for (i = 0; i < 3; i++) {
		__builtin_memset(&s->key, 0, sizeof(s->key));
		s->key.prefixlen = PREFIX_SOCKET;
		s->key.path[0] = RESOURCE_SOCKET;
		__builtin_memcpy(&s->key.path[1], fields[i], sizeof(fields[i]));
		match_key(scope.rules, &s->key, OP_SOCKET, &m);
		if (source != SOURCE_ANY) {
			s->key.source = source;
			match_key(scope.rules, &s->key, OP_SOCKET, &m);
		}
	}
	d = decide(scope.rules, s, &m, OP_SOCKET, 1);
	/* The resource as text for events: "socket <family> <type> <protocol>" is left to user space; keep the exact key. */
	__builtin_memset(&s->key, 0, sizeof(s->key));
	s->key.path[0] = RESOURCE_SOCKET;
	__builtin_memcpy(&s->key.path[1], fields[0], sizeof(fields[0]));
	report(&scope, s, -1, OP_SOCKET, &d);
	return verdict_errno(d.verdict);
}

SEC("lsm/capable")
int BPF_PROG(enforce_capable, const struct cred *cred, void *ns, int cap, unsigned int opts)
{
	struct scope_ref scope;
	struct scratch *s;
	__u32 capability = cap;
	__u64 *origin;

	/*
	 * In a container scope, capability rules are the workload's: the
	 * runtime's set-up before its first exec there (pivot_root, mounts,
	 * setns for `runc exec`) is not held to them.
	 */
	if (container_scope(&scope)) {
		origin = bpf_task_storage_get(&origins, bpf_get_current_task_btf(), 0, 0);
		if (!origin || !(*origin & ORIGIN_EXECED))
			return 0;
	} else if (!host_scope(&scope)) {
		return 0;
	}
	if (!scope.rules)
		return 0;
	s = get_scratch();
	if (!s)
		return -EPERM;
	__builtin_memset(&s->key, 0, sizeof(s->key));
	s->key.prefixlen = PREFIX_CAPABILITY;
	s->key.path[0] = RESOURCE_CAPABILITY;
	__builtin_memcpy(&s->key.path[1], &capability, sizeof(capability));
	return check_resource(&scope, s, OP_CAPABILITY, 0);
}

/*
 * The agent's processes (protected) cannot be harmed from a container
 * scope: not signalled, traced, read or written (ptrace, process_vm_*,
 * /proc/<pid>/mem), limited (prlimit), rescheduled, reniced or moved to
 * other memory nodes. Reported as a Signal operation whose resource names
 * the way in.
 */
static __always_inline int guard(__u32 tgid, char a, char b, char c)
{
	struct scope_ref scope;
	struct scratch *s;
	struct decision d = { VERDICT_PROTECTED, 0 };

	if (!bpf_map_lookup_elem(&protected, &tgid) || !container_scope(&scope))
		return 0;
	if ((bpf_get_current_pid_tgid() >> 32) == tgid)
		return 0;
	s = get_scratch();
	if (!s)
		return -EPERM;
	__builtin_memset(&s->key, 0, sizeof(s->key));
	s->key.path[0] = a;
	s->key.path[1] = b;
	s->key.path[2] = c;
	report(&scope, s, -1, OP_SIGNAL, &d);
	return -EPERM;
}

SEC("lsm/task_kill")
int BPF_PROG(enforce_task_kill, struct task_struct *target, void *info, int sig)
{
	return guard(target->tgid, 's', 'i', 'g');
}

SEC("lsm/ptrace_access_check")
int BPF_PROG(enforce_ptrace_access_check, struct task_struct *child, unsigned int mode)
{
	return guard(child->tgid, 'p', 't', 'r');
}

SEC("lsm/task_setrlimit")
int BPF_PROG(enforce_task_setrlimit, struct task_struct *p, unsigned int resource, void *new_rlim)
{
	return guard(p->tgid, 'l', 'i', 'm');
}

SEC("lsm/task_setscheduler")
int BPF_PROG(enforce_task_setscheduler, struct task_struct *p)
{
	return guard(p->tgid, 's', 'c', 'h');
}

SEC("lsm/task_setnice")
int BPF_PROG(enforce_task_setnice, struct task_struct *p, int nice)
{
	return guard(p->tgid, 'n', 'i', 'c');
}

SEC("lsm/task_setioprio")
int BPF_PROG(enforce_task_setioprio, struct task_struct *p, int ioprio)
{
	return guard(p->tgid, 'i', 'o', 'p');
}

SEC("lsm/task_movememory")
int BPF_PROG(enforce_task_movememory, struct task_struct *p)
{
	return guard(p->tgid, 'm', 'e', 'm');
}

/*
 * SIGIO and SIGURG (F_SETOWN) are sent from whatever context makes the I/O
 * ready, not from the process that asked for them, so the sender's scope
 * is not known here: a protected process gets none at all (the agent
 * never asks for them).
 */
SEC("lsm/file_send_sigiotask")
int BPF_PROG(enforce_file_send_sigiotask, struct task_struct *tsk, void *fown, int sig)
{
	__u32 tgid = tsk->tgid;

	return bpf_map_lookup_elem(&protected, &tgid) ? -EPERM : 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
