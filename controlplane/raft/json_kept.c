/* json_kept.c - the leader's own JSON commands, kept for its FSM. See json_kept.h. */
#include "controlplane/raft/json_kept.h"

#include <stdlib.h>
#include <string.h>

struct kept {
        struct kept *next;
        json_t *obj;
        size_t len;
        void *buf;
};

struct json_kept {
        struct kept *head, *tail; /* in the order proposed */
        size_t n, bytes;
};

struct json_kept *json_kept_create(void) {
        return calloc(1, sizeof(struct json_kept));
}

static void kept_free(struct kept *e) {
        json_decref(e->obj);
        free(e->buf);
        free(e);
}

static struct kept *unlink_head(struct json_kept *k) {
        struct kept *e = k->head;
        k->head = e->next;
        if (!k->head)
                k->tail = NULL;
        k->n--;
        k->bytes -= e->len;
        return e;
}

void json_kept_clear(struct json_kept *k) {
        while (k && k->head)
                kept_free(unlink_head(k));
}

struct json_kept *json_kept_destroy(struct json_kept *k) {
        json_kept_clear(k);
        free(k);
        return NULL;
}

void json_kept_put(struct json_kept *k, void *buf, size_t len, json_t *obj) {
        struct kept *e = k && obj && len <= JSON_KEPT_MAX_BYTES ? malloc(sizeof(*e)) : NULL;
        if (!e) {
                json_decref(obj);
                free(buf);
                return;
        }
        *e = (struct kept){.obj = obj, .len = len, .buf = buf};
        while (k->head && (k->n == JSON_KEPT_MAX || k->bytes + len > JSON_KEPT_MAX_BYTES))
                kept_free(unlink_head(k));
        if (k->tail)
                k->tail->next = e;
        else
                k->head = e;
        k->tail = e;
        k->n++;
        k->bytes += len;
}

json_t *json_kept_take(struct json_kept *k, const void *buf, size_t len) {
        struct kept *match = NULL;
        size_t seen = 0;
        for (struct kept *e = k ? k->head : NULL; e && !match && seen < JSON_KEPT_SCAN; e = e->next, seen++)
                if (e->len == len && memcmp(e->buf, buf, len) == 0)
                        match = e;
        if (!match)
                return NULL;
        for (;;) {
                struct kept *e = unlink_head(k);
                if (e == match)
                        break;
                kept_free(e);
        }
        json_t *obj = match->obj;
        match->obj = NULL;
        kept_free(match);
        return obj;
}

size_t json_kept_count(const struct json_kept *k) {
        return k ? k->n : 0;
}
