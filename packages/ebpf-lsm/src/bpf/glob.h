/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * glob_match: path globs matched in the kernel, for the enforcer and its
 * tests. src/glob.ts holds the same algorithm in TypeScript (globMatch)
 * and checks patterns (validateGlob); the two must stay step for step the
 * same, because the host and kernel tests compare them on random inputs.
 *
 * Syntax, over bytes:
 *   *     any run of bytes except '/', within one component
 *   ?     one byte except '/' (a byte: a non-ASCII character in UTF-8
 *         takes two to four)
 *   **    as a whole component only (after '/', before '/' or the end):
 *         /a/ ** /b (without the spaces) matches /a/b, /a/x/b, /a/x/y/b;
 *         a trailing /a/ ** matches /a/ and everything under /a/.
 *         A '**' inside a component acts as '*'.
 *   other bytes are literal: no escapes, classes ([...]) or braces.
 *
 * Algorithm: a left-to-right scan with two restart points and no
 * recursion. When a '*' is met, the scan records where to resume if what
 * follows fails (star_p, star_n): one more path byte then goes into the
 * star, unless that byte is '/'. When a whole-component '**' is met, it
 * records (dstar_p, dstar_n) likewise: on a failure the star cannot absorb,
 * the '**' takes the next whole path component and the scan resumes after
 * it. A later star replaces an earlier one, which is safe for these
 * semantics: '*' cannot cross '/', so once the scan has matched a literal
 * '/' an earlier '*' can never match differently (star_p is cleared there),
 * and the part after a '**' is tried at every later component start, the
 * leftmost success being as good as any.
 *
 * Each loop iteration ("step") handles one pattern byte, one path byte, or
 * one byte of a restart, so a pattern without stars takes at most
 * pattern_len + 1 steps; star restarts cost up to about
 * pattern_len * path_len steps in the worst case. GLOB_MAX_STEPS bounds
 * the work: a pair that needs more gives GLOB_UNDECIDED, which a caller
 * must treat as "cannot tell" (the enforcer fails closed: deny).
 *
 * Limits: the pattern pointer must point at GLOB_PATTERN_SIZE (256)
 * readable bytes and the path pointer at GLOB_PATH_SIZE (4096), for
 * example map values, because the verifier checks each read against the
 * whole buffer (indexes are masked to the buffer size). pattern_len may be
 * at most GLOB_PATTERN_SIZE and path_len at most GLOB_PATH_SIZE; longer
 * lengths give GLOB_UNDECIDED. Bytes beyond the lengths are never read,
 * and NUL is an ordinary byte here (lengths, not terminators, end strings).
 *
 * Verifier: uses bpf_loop (Linux 5.17), so the verifier checks glob_step
 * on its own rather than every iteration of a bounded loop, and
 * GLOB_MAX_STEPS costs it nothing. The working variables (struct
 * glob_vars) must be in a map value, such as a member of the caller's
 * per-CPU scratch buffer, not on the stack: the verifier tracks the values
 * of stack slots, and newer verifiers (about Linux 6.7 on, and stable
 * kernels that took that fix) check a bpf_loop callback again until the
 * state it starts from repeats, which with known positions
 * (0, 1, 2, ...) runs out of its budget; it does not track what a map
 * value holds, so every step starts from the same state. Like any per-CPU
 * scratch, the variables must not be shared by two runs at once on one
 * CPU (a program preempted by another run of itself).
 */
#ifndef BULWARK_GLOB_H
#define BULWARK_GLOB_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>
/* GLOB_PATTERN_SIZE, GLOB_PATH_SIZE and GLOB_MAX_STEPS, which user space shares. */
#include "layout.h"

#define GLOB_MATCH 1
#define GLOB_NO_MATCH 0
#define GLOB_UNDECIDED (-1)

/* No restart point recorded. */
#define GLOB_NONE 0xffffffffu
/* Still matching (glob_vars.result). */
#define GLOB_PENDING 2

/* The matcher's working variables; keep them in a map value (see above). */
struct glob_vars {
	__u32 pattern_len;
	__u32 path_len;
	/* The scan: pattern and path positions. */
	__u32 p;
	__u32 n;
	/* After the last '*': the pattern byte after it and the path byte it would take next. */
	__u32 star_p;
	__u32 star_n;
	/*
	 * After the last whole-component '**': the pattern byte after it and
	 * its '/', and where the search for the next path component goes on.
	 */
	__u32 dstar_p;
	__u32 dstar_n;
	__s32 result;
	__u32 reserved;
};

/* bpf_loop's context, which must be on the stack. */
struct glob_context {
	const char *pattern;
	const char *path;
	struct glob_vars *vars;
};

static __always_inline char glob_pattern_at(const struct glob_context *g, __u32 index)
{
	return g->pattern[index & (GLOB_PATTERN_SIZE - 1)];
}

static __always_inline char glob_path_at(const struct glob_context *g, __u32 index)
{
	return g->path[index & (GLOB_PATH_SIZE - 1)];
}

/* Whether the '*' at p starts a whole-component '**'. */
static __always_inline int glob_double_star_at(const struct glob_context *g, __u32 pattern_len, __u32 p)
{
	if (p + 1 >= pattern_len || glob_pattern_at(g, p + 1) != '*')
		return 0;
	if (p > 0 && glob_pattern_at(g, p - 1) != '/')
		return 0;
	return p + 2 == pattern_len || glob_pattern_at(g, p + 2) == '/';
}

/* One step; bpf_loop's callback: 0 goes on, 1 stops (with vars->result set). */
static long glob_step(__u32 index, void *context)
{
	const struct glob_context *g = context;
	struct glob_vars *v = g->vars;
	__u32 pattern_len = v->pattern_len;
	__u32 path_len = v->path_len;
	__u32 p = v->p;
	__u32 n = v->n;
	char c, d;

	if (p < pattern_len) {
		c = glob_pattern_at(g, p);
		if (c == '*') {
			if (glob_double_star_at(g, pattern_len, p)) {
				if (p + 2 == pattern_len) {
					/* A trailing '**': whatever follows. */
					v->result = GLOB_MATCH;
					return 1;
				}
				v->dstar_p = p + 3;
				v->dstar_n = n;
				v->star_p = GLOB_NONE;
				v->p = p + 3;
				return 0;
			}
			v->star_p = p + 1;
			v->star_n = n;
			v->p = p + 1;
			return 0;
		}
		if (n < path_len) {
			d = glob_path_at(g, n);
			if (c == d || (c == '?' && d != '/')) {
				/* Past a literal '/', an earlier '*' can match no other way. */
				if (c == '/')
					v->star_p = GLOB_NONE;
				v->p = p + 1;
				v->n = n + 1;
				return 0;
			}
		}
	} else if (n == path_len) {
		v->result = GLOB_MATCH;
		return 1;
	}

	/* A mismatch: the last '*' takes one more byte, if it may. */
	if (v->star_p != GLOB_NONE && v->star_n < path_len && glob_path_at(g, v->star_n) != '/') {
		v->star_n++;
		v->p = v->star_p;
		v->n = v->star_n;
		return 0;
	}
	v->star_p = GLOB_NONE;
	/*
	 * Else the last '**' takes one more byte, to the end of the next
	 * component, after which the scan resumes; one byte a step.
	 */
	if (v->dstar_p != GLOB_NONE && v->dstar_n < path_len) {
		d = glob_path_at(g, v->dstar_n);
		v->dstar_n++;
		if (d == '/') {
			v->p = v->dstar_p;
			v->n = v->dstar_n;
		}
		return 0;
	}
	v->result = GLOB_NO_MATCH;
	return 1;
}

/*
 * GLOB_MATCH (1) when the first path_len bytes at path match the first
 * pattern_len bytes at pattern, GLOB_NO_MATCH (0) when they do not, and
 * GLOB_UNDECIDED (-1) when GLOB_MAX_STEPS steps did not decide, a length is
 * out of range or bpf_loop failed. `vars` must be in a map value; see the
 * top of this file for that and for the buffer sizes the pointers need.
 */
static __always_inline int glob_match(struct glob_vars *vars, const char *pattern, __u32 pattern_len, const char *path,
				      __u32 path_len)
{
	struct glob_context g = { .pattern = pattern, .path = path, .vars = vars };
	int result;

	if (pattern_len > GLOB_PATTERN_SIZE || path_len > GLOB_PATH_SIZE)
		return GLOB_UNDECIDED;
	vars->pattern_len = pattern_len;
	vars->path_len = path_len;
	vars->p = 0;
	vars->n = 0;
	vars->star_p = GLOB_NONE;
	vars->star_n = 0;
	vars->dstar_p = GLOB_NONE;
	vars->dstar_n = 0;
	vars->result = GLOB_PENDING;
	if (bpf_loop(GLOB_MAX_STEPS, glob_step, &g, 0) < 0)
		return GLOB_UNDECIDED;
	result = vars->result;
	return result == GLOB_MATCH || result == GLOB_NO_MATCH ? result : GLOB_UNDECIDED;
}

#endif
