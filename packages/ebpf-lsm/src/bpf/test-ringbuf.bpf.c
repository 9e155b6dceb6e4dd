// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Emits records into a ring buffer on getppid(2), for the package's own
 * tests and benchmarks. Attach to the tracepoint syscalls/sys_enter_getppid;
 * Node.js calls getppid() once for each read of process.ppid, so a test can
 * cause an exact number of events.
 *
 * settings[SETTING_TARGET] holds the one tgid to serve (0 serves every
 * process); settings[SETTING_BURST] how many records each event emits (0 or
 * 1 emits one, at most MAX_BURST), so that one syscall can fill the ring.
 *
 * Each record is a struct event: a sequence number, counting every record
 * this object submitted, the tgid, and the record's index in its burst.
 * stats[STAT_SUBMITTED] counts the records submitted (the next sequence
 * number) and stats[STAT_DROPPED] the records lost because the ring was full.
 * The sequence is exact while one thread at a time produces (a target set);
 * the drop count is atomic.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define SETTING_TARGET 0
#define SETTING_BURST 1
#define STAT_SUBMITTED 0
#define STAT_DROPPED 1
#define MAX_BURST (1 << 22)

struct event {
	__u64 sequence;
	__u32 pid;
	__u32 index;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct burst {
	__u32 pid;
};

static long emit_one(__u32 index, void *context)
{
	struct burst *burst = context;
	__u32 submitted_key = STAT_SUBMITTED;
	__u32 dropped_key = STAT_DROPPED;
	__u64 *submitted = bpf_map_lookup_elem(&stats, &submitted_key);
	__u64 *dropped = bpf_map_lookup_elem(&stats, &dropped_key);

	if (!submitted || !dropped)
		return 1;
	struct event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		__sync_fetch_and_add(dropped, 1);
		return 0;
	}
	event->sequence = *submitted;
	event->pid = burst->pid;
	event->index = index;
	*submitted = event->sequence + 1;
	bpf_ringbuf_submit(event, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int emit_getppid(void *context)
{
	__u32 target_key = SETTING_TARGET;
	__u32 burst_key = SETTING_BURST;
	struct burst burst = { .pid = bpf_get_current_pid_tgid() >> 32 };
	__u64 *target = bpf_map_lookup_elem(&settings, &target_key);
	__u64 *size = bpf_map_lookup_elem(&settings, &burst_key);

	if (!target || !size)
		return 0;
	if (*target != 0 && *target != burst.pid)
		return 0;
	__u64 count = *size;
	if (count == 0)
		count = 1;
	if (count > MAX_BURST)
		count = MAX_BURST;
	bpf_loop(count, emit_one, &burst, 0);
	return 0;
}

/* GPL-compatible, like the package's other programs. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";
