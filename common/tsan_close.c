/* tsan_close.c - ThreadSanitizer builds only: let TSan see the fds libuv closes.
 *
 * Debian's libuv (1.44, built without TSan) closes every handle's fd with
 * syscall(SYS_close, fd), not close(): libuv.so imports no close at all. TSan
 * tracks an fd from the call that made it (socketpair, accept4, open: those are
 * intercepted) to the close() that ends it; a close it never sees leaves the fd
 * marked as written by its creator, and the next thread that gets the same number
 * (libmicrohttpd's accept4 in its own thread) is reported as racing with that
 * creator (CI, session 27: on_inner_accept's socketpair against MHD's accept4,
 * an fd the raft transport's pipe had closed through libuv in between).
 *
 * So a TSan build defines syscall() itself (the executable's definition comes
 * before libc's for libuv's calls): SYS_close goes to close(), which TSan
 * intercepts; every other number goes on to libc's syscall unchanged. Only the
 * TSan builds link this file's definition (the Makefile's TSAN_OBJ; the fuzz
 * harnesses build common/ with it); in every other build the file is empty.
 */
#if defined(__has_feature) /* clang 14 does not define __SANITIZE_THREAD__ */
#if __has_feature(thread_sanitizer)
#define TSAN_CLOSE_ON 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(TSAN_CLOSE_ON)
#include <dlfcn.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef long (*syscall_fn)(long, ...);
static syscall_fn libc_syscall;

/* Resolved before main: the agent's forked children call syscall() too, where
 * dlsym is not safe to call. */
__attribute__((constructor)) static void tsan_close_init(void) {
        libc_syscall = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
}

long syscall(long nr, ...) {
        /* A system call takes at most six arguments, each a register's width; reading
         * six whatever the call passed is what libc's syscall does too. */
        va_list ap;
        long a[6];
        va_start(ap, nr);
        for (int i = 0; i < 6; i++)
                a[i] = va_arg(ap, long);
        va_end(ap);
        if (nr == SYS_close)
                return close((int)a[0]);
        if (!libc_syscall)
                tsan_close_init();
        return libc_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
#else
typedef int tsan_close_unused; /* ISO C wants a declaration in every file */
#endif
