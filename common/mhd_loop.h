/* mhd_loop.h - drive a libmicrohttpd daemon from a thread of ours.
 *
 * libmicrohttpd 0.9.75 crashes when MHD_stop_daemon runs while its own polling
 * thread (MHD_USE_INTERNAL_POLLING_THREAD) answers a request: once the daemon's
 * shutdown flag is set, MHD_queue_response returns MHD_YES without queueing, and
 * an error answer it builds itself (400 to a malformed request line) then reads
 * the missing response (SEGV; found by fuzz_http). So every daemon of drover is
 * started in external polling mode (MHD_USE_EPOLL, no internal thread) and driven
 * by an mhd_loop: one thread that waits on libmicrohttpd's epoll set, its next
 * timeout or a wake, and calls MHD_run. mhd_loop_stop ends that thread; only then
 * may the owner call MHD_stop_daemon, which then processes no request.
 *
 * Every callback of the daemon (request, completion, connection, a response's
 * reader) runs on the loop's thread. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

struct MHD_Daemon;
struct mhd_loop;

/* The owner's deadlines, on the loop's thread before each wait: do what is due and
 * return the milliseconds until the next one is due, or -1 for none. */
typedef int (*mhd_loop_tick_fn)(void *data);

/* Start the thread driving d, which must have been started with MHD_USE_EPOLL
 * and without MHD_USE_INTERNAL_POLLING_THREAD (its epoll fd is polled). name
 * prefixes debug messages; tick (NULL: none) is called with tick_data before each
 * wait. Returns 0, or a negative errno (nothing started). */
int mhd_loop_start(struct MHD_Daemon *d, const char *name, mhd_loop_tick_fn tick, void *tick_data,
                   struct mhd_loop **ret);
/* Run libmicrohttpd once more soon. Any thread. In external polling mode
 * MHD_resume_connection does not wake the daemon (its signal is outside the
 * epoll set): call this after it. NULL: nothing. */
void mhd_loop_wake(struct mhd_loop *l);
/* End the thread and wait for it; afterwards MHD_stop_daemon is safe. Not from
 * the loop's own thread. Idempotent; NULL: nothing. mhd_loop_wake stays valid
 * until mhd_loop_free. */
void mhd_loop_stop(struct mhd_loop *l);
/* Stop (if still running) and free. Returns NULL. */
struct mhd_loop *mhd_loop_free(struct mhd_loop *l);
/* A message of libmicrohttpd's (MHD_OPTION_EXTERNAL_LOGGER's fmt and ap) as one
 * line in buf: truncated to size bytes, trailing newlines dropped. */
void mhd_loop_log_line(char *buf, size_t size, const char *fmt, va_list ap);
