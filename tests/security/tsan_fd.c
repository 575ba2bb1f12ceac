/* tsan_fd.c - the TSan tier's check of common/tsan_close.c (make integration-tsan).
 *
 * The race ThreadSanitizer reported in CI, session 27, replayed in one process:
 * the loop thread makes a socketpair and hands one end to a libuv pipe, libuv
 * closes it (with syscall(SYS_close), unseen by TSan), another thread accepts a
 * connection that gets the same fd number. Without tsan_close.c's syscall() TSan
 * reports accept4 racing with socketpair (it frees the pair's sync object, which
 * the loop thread allocated, with no ordering between the two threads); with it,
 * nothing. tests/security/tsan.sh builds this twice and expects exactly that:
 * a report without the shim (the check can see the race) and none with it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

/* Relaxed on purpose: the threads must not be ordered by anything TSan sees. */
static int listening, pipe_closed;

static void nap(void) {
        usleep(1000);
}

static void *acceptor(void *arg) {
        int *got = arg;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof(a);
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
            getsockname(l, (struct sockaddr *)&a, &al) < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0) {
                perror("tsan_fd: loopback listener");
                exit(2);
        }
        __atomic_store_n(&listening, 1, __ATOMIC_RELAXED);
        for (int i = 0; i < 10000 && !__atomic_load_n(&pipe_closed, __ATOMIC_RELAXED); i++)
                nap();
        *got = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        close(l);
        close(c);
        return NULL;
}

int main(void) {
        pthread_t th;
        int got = -1, sp[2];
        uv_loop_t loop;
        uv_pipe_t pipe;
        if (pthread_create(&th, NULL, acceptor, &got) != 0)
                return 2;
        for (int i = 0; i < 10000 && !__atomic_load_n(&listening, __ATOMIC_RELAXED); i++)
                nap();
        if (uv_loop_init(&loop) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 ||
            uv_pipe_init(&loop, &pipe, 0) < 0 || uv_pipe_open(&pipe, sp[0]) < 0) {
                perror("tsan_fd: socketpair and pipe");
                return 2;
        }
        int reused = sp[0];
        uv_close((uv_handle_t *)&pipe, NULL); /* libuv closes sp[0] */
        uv_run(&loop, UV_RUN_DEFAULT);
        close(sp[1]);
        __atomic_store_n(&pipe_closed, 1, __ATOMIC_RELAXED);
        pthread_join(th, NULL);
        uv_loop_close(&loop);
        if (got < 0) {
                perror("tsan_fd: accept4");
                return 2;
        }
        close(got);
        /* Another fd number would not replay the race: say so rather than pass. */
        if (got != reused) {
                fprintf(stderr, "tsan_fd: accept4 got fd %d, not the pipe's %d: nothing checked\n", got, reused);
                return 3;
        }
        return 0;
}
