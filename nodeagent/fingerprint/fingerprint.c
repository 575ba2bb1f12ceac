/* fingerprint.c - the fingerprinter registry and the node's persistent identity. */
#include "nodeagent/fingerprint/fingerprint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"
#include "common/model.h"
#include "nodeagent/fingerprint/fp_part.h"
#include "nodeagent/fingerprint/fp_sources.h"
#include "nodeagent/util.h"

/* memory runs before numa, which falls back to memory.totalbytes. */
static const struct fingerprint_ops *const fingerprinters[] = {
    &fp_cpu,  &fp_memory, &fp_numa,   &fp_storage, &fp_pci,     &fp_network,
    &fp_host, &fp_cgroup, &fp_kernel, &fp_cloud,   &fp_drivers, &fp_drover,
};

int fingerprint_node(const char *data_dir, struct node *n, struct error *err) {
        struct fingerprint_ctx ctx = {.data_dir = data_dir, .root = ""};
        return fingerprint_node_ctx(&ctx, n, err);
}

static bool json_eq(const json_t *a, const json_t *b) {
        if (!a || !b)
                return a == b || json_array_size(a ? a : b) == 0;
        return json_equal((json_t *)a, (json_t *)b);
}

bool fingerprint_changed(const struct node *a, const struct node *b) {
        if (a->attributes.n != b->attributes.n || a->n_drivers != b->n_drivers || a->cpu_shares != b->cpu_shares ||
            a->total_cores != b->total_cores || a->memory_mb != b->memory_mb)
                return true;
        /* Free disk moves all the time: a change counts from 10% of the old value. */
        int64_t dd = a->disk_mb > b->disk_mb ? a->disk_mb - b->disk_mb : b->disk_mb - a->disk_mb;
        if (dd * 10 > a->disk_mb)
                return true;
        for (size_t i = 0; i < a->attributes.n; i++) {
                const char *k = a->attributes.items[i].key;
                if (strcmp(k, "unique.storage.bytesfree") == 0)
                        continue;
                const char *v = strmap_get(&b->attributes, k);
                if (!v || strcmp(v, a->attributes.items[i].value) != 0)
                        return true;
        }
        for (size_t i = 0; i < a->n_drivers; i++)
                if (strcmp(a->drivers[i].name, b->drivers[i].name) != 0 ||
                    a->drivers[i].detected != b->drivers[i].detected || a->drivers[i].healthy != b->drivers[i].healthy)
                        return true;
        return !json_eq(a->devices, b->devices) || !json_eq(a->networks, b->networks);
}

struct fingerprint_memo {
        struct fp_part parts[ARRAY_SIZE(fingerprinters)];
};

struct fingerprint_memo *fingerprint_memo_new(void) {
        return calloc(1, sizeof(struct fingerprint_memo));
}

struct fingerprint_memo *fingerprint_memo_free(struct fingerprint_memo *m) {
        for (size_t i = 0; m && i < ARRAY_SIZE(m->parts); i++)
                fp_part_clear(&m->parts[i]);
        free(m);
        return NULL;
}

bool fingerprint_memo_has(const struct fingerprint_memo *m, const char *name) {
        for (size_t i = 0; m && i < ARRAY_SIZE(fingerprinters); i++)
                if (strcmp(fingerprinters[i]->name, name) == 0)
                        return m->parts[i].valid;
        return false;
}

/* One fingerprinter on n; with memo, a failure puts back its last successful part
 * and a success becomes its part. What went wrong with the memo itself (out of
 * memory) is reported as the fingerprinter's failure. */
static int run_one(const struct fingerprint_ctx *ctx, size_t i, struct fingerprint_memo *memo, struct node *n,
                   struct error *err) {
        const struct fingerprint_ops *fp = fingerprinters[i];
        if (!memo)
                return fp->run(ctx, n, err);
        struct fp_before b;
        if (fp_before_take(n, &b) < 0)
                return errorf(err, -ENOMEM, "out of memory");
        int r = fp->run(ctx, n, err);
        struct fp_part *part = &memo->parts[i];
        if (r == 0 && fp_part_record(&b, n, part) < 0)
                r = errorf(err, -ENOMEM, "out of memory (its attributes are not kept for a later pass)");
        else if (r < 0 && part->valid) {
                size_t len = strlen(err->msg);
                snprintf(err->msg + len, sizeof(err->msg) - len, "%s",
                         fp_part_restore(&b, part, n) < 0 ? " (out of memory putting back its last attributes)"
                                                          : " (kept what it reported on its last successful pass)");
        }
        fp_before_clear(&b);
        return r;
}

int fingerprint_node_memo(const struct fingerprint_ctx *ctx, struct fingerprint_memo *memo, struct node *n,
                          struct error *err) {
        int first = 0, failed = 0;
        char names[128] = "";
        for (size_t i = 0; i < ARRAY_SIZE(fingerprinters); i++) {
                struct error e = {0};
                int r = run_one(ctx, i, memo, n, &e);
                if (r >= 0)
                        continue;
                if (first == 0)
                        first = errorf(err, r, "fingerprint %s: %s", fingerprinters[i]->name, e.msg);
                else
                        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", failed > 1 ? ", " : "",
                                 fingerprinters[i]->name);
                failed++;
        }
        if (failed > 1) {
                size_t len = strlen(err->msg);
                snprintf(err->msg + len, sizeof(err->msg) - len, " (%d more failed: %s)", failed - 1, names);
        }
        return first;
}

int fingerprint_node_ctx(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        return fingerprint_node_memo(ctx, NULL, n, err);
}

/* Read an ID from path, or write a fresh one there (atomically, via rename). */
static int load_or_create_id(const char *dir, const char *name, char ret[ID_BUF], struct error *err) {
        char path[4096], tmp[4200];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (f) {
                char buf[64] = "";
                if (!fgets(buf, sizeof(buf), f))
                        buf[0] = '\0';
                buf[strcspn(buf, "\r\n \t")] = '\0';
                if (!id_is_valid(buf))
                        return errorf(err, -EINVAL, "%s: not a valid ID (\"%s\"); remove the file to get a new one",
                                      path, buf);
                memcpy(ret, buf, ID_BUF);
                return 0;
        }
        if (errno != ENOENT)
                return errorf(err, -errno, "read %s: %s", path, strerror(errno));
        char id[ID_BUF];
        id_generate(id);
        snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return errorf(err, -errno, "create %s: %s", tmp, strerror(errno));
        char line[ID_BUF + 1];
        int len = snprintf(line, sizeof(line), "%s\n", id);
        if (write(fd, line, (size_t)len) != len || fsync(fd) < 0) {
                int e = errno ? errno : EIO;
                unlink(tmp);
                return errorf(err, -e, "write %s: %s", tmp, strerror(e));
        }
        if (rename(tmp, path) < 0) {
                int e = errno;
                unlink(tmp);
                return errorf(err, -e, "rename %s: %s", tmp, strerror(e));
        }
        memcpy(ret, id, ID_BUF);
        return 0;
}

int node_identity_load(const char *data_dir, char ret_id[ID_BUF], char ret_secret[ID_BUF], struct error *err) {
        int r = mkdir_p(data_dir, 0755);
        if (r < 0)
                return errorf(err, r, "create data dir %s: %s", data_dir, strerror(-r));
        char id[ID_BUF], secret[ID_BUF];
        r = load_or_create_id(data_dir, "node-id", id, err);
        if (r < 0)
                return r;
        r = load_or_create_id(data_dir, "node-secret", secret, err);
        if (r < 0)
                return r;
        memcpy(ret_id, id, ID_BUF);
        memcpy(ret_secret, secret, ID_BUF);
        return 0;
}

json_t *fingerprint_attributes_json(const struct node *n) {
        json_t *attrs = json_object();
        for (size_t i = 0; i < n->attributes.n; i++)
                json_object_set_new(attrs, n->attributes.items[i].key, json_string(n->attributes.items[i].value));
        return attrs;
}
