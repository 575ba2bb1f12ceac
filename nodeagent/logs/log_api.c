/* log_api.c - libmicrohttpd on its own thread; requests only read files. */
#include "nodeagent/logs/log_api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/ids.h"
#include "common/macros.h"

#define MAX_LOG_BYTES (64u * 1024 * 1024)

struct log_api {
        struct MHD_Daemon *mhd;
        char *data_dir;
        int port;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *ctype, char *buf, size_t len) {
        struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
        if (!r) {
                free(buf);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", ctype);
        enum MHD_Result ret = MHD_queue_response(conn, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *msg) {
        char *copy = strdup(msg);
        return copy ? reply(conn, status, "text/plain; charset=utf-8", copy, strlen(copy)) : MHD_NO;
}

static bool safe_name(const char *s) {
        if (!s || !*s || strlen(s) > 128 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (; *s; s++)
                if (*s == '/' || (unsigned char)*s < 0x20)
                        return false;
        return true;
}

/* Append one file to *buf; -ENOENT when it does not exist. */
static int append_file(const char *path, char **buf, size_t *len) {
        FILE *f = fopen(path, "rb");
        if (!f)
                return -errno;
        char chunk[16384];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
                if (*len + n > MAX_LOG_BYTES)
                        break;
                char *nb = realloc(*buf, *len + n + 1);
                if (!nb) {
                        fclose(f);
                        return -ENOMEM;
                }
                memcpy(nb + *len, chunk, n);
                *buf = nb;
                *len += n;
        }
        fclose(f);
        return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        struct log_api *a = cls;
        static const char prefix[] = "/v1/client/fs/logs/";
        if (strcmp(method, "GET") != 0)
                return reply_text(conn, 405, "only GET is served here");
        if (strncmp(url, prefix, sizeof(prefix) - 1) != 0)
                return reply_text(conn, 404, "the agent serves only /v1/client/fs/logs/<alloc-id>");
        const char *alloc_id = url + sizeof(prefix) - 1;
        const char *task = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "task");
        const char *type = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "type");
        if (!type)
                type = "stdout";
        if (!id_is_valid(alloc_id))
                return reply_text(conn, 400, "bad allocation ID");
        if (!safe_name(task))
                return reply_text(conn, 400, "missing or bad task name (?task=<name>)");
        if (strcmp(type, "stdout") != 0 && strcmp(type, "stderr") != 0)
                return reply_text(conn, 400, "type must be stdout or stderr");
        /* Nomad's offset and origin: bytes from the start (default) or from the end. */
        const char *off_s = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "offset");
        const char *origin = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "origin");
        unsigned long long offset = 0;
        if (off_s) {
                char *end;
                errno = 0;
                offset = strtoull(off_s, &end, 10);
                if (errno || end == off_s || *end || *off_s == '-')
                        return reply_text(conn, 400, "offset must be a byte count");
        }
        bool from_end = origin && strcmp(origin, "end") == 0;
        if (origin && !from_end && strcmp(origin, "start") != 0)
                return reply_text(conn, 400, "origin must be start or end");
        char *buf = malloc(1);
        size_t len = 0;
        int found = 0;
        for (int i = 0; i < 1000; i++) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/alloc/%s/alloc/logs/%s.%s.%d", a->data_dir, alloc_id, task, type,
                         i);
                int r = append_file(path, &buf, &len);
                if (r == -ENOENT)
                        break;
                if (r < 0) {
                        free(buf);
                        return reply_text(conn, 500, "cannot read the log file");
                }
                found++;
        }
        if (!found) {
                free(buf);
                return reply_text(conn, 404, "no logs for this allocation and task on this node");
        }
        size_t from = from_end ? (offset < len ? len - (size_t)offset : 0) : (offset < len ? (size_t)offset : len);
        memmove(buf, buf + from, len - from);
        return reply(conn, 200, "text/plain; charset=utf-8", buf, len - from);
}

int log_api_start(const char *listen, const char *data_dir, struct log_api **ret, struct error *err) {
        char host[64];
        snprintf(host, sizeof(host), "%s", listen);
        char *colon = strrchr(host, ':');
        if (!colon)
                return errorf(err, -EINVAL, "-http-addr \"%s\": expected ip:port", listen);
        *colon = '\0';
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
                return errorf(err, -EINVAL, "-http-addr \"%s\": expected an IPv4 address", listen);
        struct log_api *a = calloc(1, sizeof(*a));
        if (!a || !(a->data_dir = strdup(data_dir))) {
                free(a);
                return -ENOMEM;
        }
        a->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, ntohs(sa.sin_port), NULL, NULL,
                                  on_request, a, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_TIMEOUT,
                                  (unsigned)30, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
        if (!a->mhd) {
                free(a->data_dir);
                free(a);
                return errorf(err, -EADDRINUSE, "cannot listen on %s for the log endpoint", listen);
        }
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_BIND_PORT);
        a->port = info ? info->port : ntohs(sa.sin_port);
        *ret = a;
        return 0;
}

int log_api_port(const struct log_api *a) {
        return a->port;
}

struct log_api *log_api_stop(struct log_api *a) {
        if (!a)
                return NULL;
        MHD_stop_daemon(a->mhd);
        free(a->data_dir);
        free(a);
        return NULL;
}
