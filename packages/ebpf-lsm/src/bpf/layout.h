/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The layout the enforcer (enforcer.bpf.c) shares with user space: the
 * constants and the structs of the map keys and values and of the event
 * records that user space writes or reads. This header is the one source:
 * src/layout.ts mirrors it (the same constants, the structs as codecs), and
 * src/layout.test.ts parses this file and fails when the two disagree.
 * README.md describes the layout field by field.
 *
 * Keep to what that test reads: `#define NAME VALUE` with an integer
 * expression of literals and names defined above (( ) + - * << | ~), one
 * field a line in structs, of __u8, __u16, __u32, __u64, __s32 or char,
 * arrays sized by a literal or a name, and _Static_assert lines. What only
 * the BPF side uses stays in enforcer.bpf.c.
 */
#ifndef BULWARK_LAYOUT_H
#define BULWARK_LAYOUT_H

#include <linux/types.h>

/* The version of this layout; user space compares it with the object's .rodata layout_version. */
#define LAYOUT_VERSION 9
/* Container scopes (`decisions`, `throttle`, events) and rule sets (`rules`, `generations`): each has its own index. */
#define MAX_SCOPES 4096
#define MAX_SETS 4096
/* Identities (struct identity_key) all scopes may hold together. */
#define MAX_IDENTITIES 65536

/* An LPM trie key: u32 prefixlen, then u32 source and the path bytes (LPM's maximum of 256 bytes of data). */
#define RULE_KEY_SIZE 260
#define RULE_PATH_SIZE 252
/* struct rule_value's match_bits: the entry's prefixlen, and whether its key is a directory (ends in '/'). */
#define MATCH_DIRECTORY 0x80000000
/* prefixlen of the keys that are not paths: the source, then the resource's bytes. */
#define PREFIX_SETTINGS 32
#define PREFIX_GLOB (32 + 8 * 2)
#define PREFIX_CAPABILITY (32 + 8 * 5)
#define PREFIX_SOCKET (32 + 8 * 7)
#define PREFIX_PRESET (32 + 8 * 2)

/* Key sources with a meaning of their own. */
#define SOURCE_ANY 0
#define SOURCE_SETTINGS 0xffffffff
#define SOURCE_DEFINITION 0xfffffffe

/* Non-path resources: the first byte of the key's path. */
#define RESOURCE_SOCKET 1
#define RESOURCE_CAPABILITY 2
#define RESOURCE_GLOB 3
/* A preset: RESOURCE_PRESET, then which one (an exec without a file name to decide by). */
#define RESOURCE_PRESET 4
#define PRESET_FILELESS_EXEC 1
#define PRESET_ANONYMOUS_MAP_EXEC 2
/* Glob rules a source may have in one scope (slots 0 to MAX_GLOBS - 1, consecutive). */
#define MAX_GLOBS 32
#define ANY_16 0xffff

/* Operations, one bit each. */
#define OP_READ (1 << 0)
#define OP_WRITE (1 << 1)
#define OP_EXEC (1 << 2)
#define OP_UNLINK (1 << 3)
#define OP_RMDIR (1 << 4)
#define OP_MKDIR (1 << 5)
#define OP_RENAME (1 << 6)
#define OP_TRUNCATE (1 << 7)
#define OP_CHMOD (1 << 8)
#define OP_LINK (1 << 9)
#define OP_SYMLINK (1 << 10)
#define OP_MKNOD (1 << 11)
#define OP_SOCKET (1 << 12)
#define OP_CAPABILITY (1 << 13)
#define OP_SIGNAL (1 << 14)

/* Actions, indexes into a rule value's arrays. */
#define ACTION_BLOCK 0
#define ACTION_AUDIT 1
#define ACTION_ALLOW 2
#define ACTIONS 3

/* Verdicts, as events report them. */
#define VERDICT_ALLOW 0
#define VERDICT_BLOCK 1
#define VERDICT_AUDIT 2
#define VERDICT_POSTURE_BLOCK 3
#define VERDICT_POSTURE_AUDIT 4
#define VERDICT_FAIL_CLOSED 5
#define VERDICT_DROPPED 6
#define VERDICT_PROTECTED 7

/* struct throttle_config's flags: decide every open and exec afresh (no decision cache). */
#define CONFIG_NO_CACHE 1
/*
 * A `generations` value is the rule set's generation shifted left by one,
 * with this bit set when the set has fromSource rules: only then does the
 * cache need the task's source.
 */
#define GENERATION_HAS_SOURCES 1

/* glob.h's buffers: a pattern (struct rule_value's pattern) and a path. */
#define GLOB_PATTERN_SIZE 256
#define GLOB_PATH_SIZE 4096
/* Steps glob_match takes at most before it gives up (undecided). */
#ifndef GLOB_MAX_STEPS
#define GLOB_MAX_STEPS 65536
#endif

struct rule_key {
	__u32 prefixlen; /* bits of source and path that the key covers */
	__u32 source;
	char path[RULE_PATH_SIZE];
};
_Static_assert(sizeof(struct rule_key) == RULE_KEY_SIZE, "struct rule_key is RULE_KEY_SIZE bytes");

/*
 * Per action (block, audit, allow): the operations a key matches (for a
 * path that ends in '/', everything under it), the operations it matches
 * for direct children only (non-recursive directory rules), the subset of
 * both qualified by ownerOnly, and a rule id for events. The settings key
 * reuses it: ops[BLOCK] and ops[AUDIT] are the operations in allow-list
 * mode whose default posture is block or audit.
 */
struct rule_value {
	__u32 ops[ACTIONS];
	__u32 child_ops[ACTIONS];
	__u32 owner_ops[ACTIONS];
	__u32 rule_id[ACTIONS];
	/* Glob keys only: the pattern (glob.h), its length in bytes. */
	__u32 pattern_len;
	/* The entry's own prefixlen, | MATCH_DIRECTORY for a directory's key. */
	__u32 match_bits;
	char pattern[GLOB_PATTERN_SIZE];
};

/*
 * A `scopes` value: the cgroup's scope index (its counters, throttle and
 * events) and the index of the rule set it is enforced with, which scopes
 * whose containers are selected by the same policies share.
 */
struct scope_entry {
	__u32 scope;
	__u32 set;
};

/*
 * An identity: a file's device (the kernel's dev_t of its super block) and
 * inode number, in one scope (`identities`). Its value: the operations the
 * scope's Block rules on that file's path deny, and the first such rule.
 */
struct identity_key {
	__u32 scope;
	__u32 dev;
	__u64 ino;
};

struct identity_value {
	__u32 ops;
	__u32 rule_id;
};

struct decision_counts {
	__u64 allowed;
	__u64 denied;
	__u64 failed;
	__u64 audited;
	/* Of `allowed`, how many came from the decision cache. */
	__u64 cached;
	/* Events not emitted because the ring buffer was full. */
	__u64 lost;
};

struct throttle_config {
	/* Events a scope may emit per second; 0 means DEFAULT_EVENTS_PER_SECOND. */
	__u32 events_per_second;
	/* CONFIG_NO_CACHE: decide every open and exec afresh. */
	__u32 flags;
	/* Once over the limit, nothing is emitted for this long; 0 means one second. */
	__u64 suppress_ns;
	/* The host scope's index plus one (host policies); 0: no host scope. */
	__u32 host_scope;
	/* The rule set the host scope is enforced with (read only when host_scope is set). */
	__u32 host_set;
};

struct event {
	__u64 time_ns;
	__u64 cgroup_id;
	__u32 scope;
	__u32 pid;
	__u32 tgid;
	__u32 uid;
	__u32 operation;
	__u32 rule_id;
	__u32 verdict;
	/* For VERDICT_DROPPED: how many events the throttle did not emit. */
	__u32 dropped;
	char comm[16];
	char resource[RULE_PATH_SIZE];
	char source[RULE_PATH_SIZE];
};

#endif
