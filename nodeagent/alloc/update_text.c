/* update_text.c - an allocation's status update as JSON text (see update_text.h). */
#include "nodeagent/alloc/update_text.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/model.h"

static bool reserve(struct text_buf *b, size_t more) {
        if (b->failed)
                return false;
        if (more > TEXT_BUF_MAX || b->len + more + 1 > TEXT_BUF_MAX) {
                b->failed = true;
                return false;
        }
        size_t need = b->len + more + 1;
        if (need <= b->cap)
                return true;
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < need)
                cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
                b->failed = true;
                return false;
        }
        b->data = d;
        b->cap = cap;
        return true;
}

void text_buf_put(struct text_buf *b, const char *s, size_t n) {
        if (!reserve(b, n))
                return;
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
}

void text_buf_puts(struct text_buf *b, const char *s) {
        text_buf_put(b, s, strlen(s));
}

static void put_int(struct text_buf *b, long long v) {
        char num[24];
        int n = snprintf(num, sizeof(num), "%lld", v);
        text_buf_put(b, num, (size_t)n);
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when s[0] does not start one
 * (overlong forms, surrogates and code points past U+10FFFF are not valid). */
static size_t utf8_len(const unsigned char *s) {
        unsigned char c = s[0];
        size_t n;
        uint32_t cp;
        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf) {
                n = 2;
                cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                cp = c & 0x07;
        } else {
                return 0;
        }
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80) /* the NUL ends it too */
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

void text_buf_json_str(struct text_buf *b, const char *str) {
        const unsigned char *s = (const unsigned char *)(str ? str : "");
        text_buf_put(b, "\"", 1);
        const unsigned char *run = s; /* bytes copied as they are */
        for (;;) {
                unsigned char c = *s;
                size_t n = c ? utf8_len(s) : 0;
                if (c >= 0x20 && c != '"' && c != '\\' && n > 0) {
                        s += n;
                        continue;
                }
                text_buf_put(b, (const char *)run, (size_t)(s - run));
                if (!c)
                        break;
                char esc[8];
                if (n == 0) {
                        text_buf_puts(b, "\\ufffd");
                } else if (c == '"' || c == '\\') {
                        esc[0] = '\\';
                        esc[1] = (char)c;
                        text_buf_put(b, esc, 2);
                } else {
                        snprintf(esc, sizeof(esc), "\\u%04x", c);
                        text_buf_put(b, esc, 6);
                }
                s++;
                run = s;
        }
        text_buf_put(b, "\"", 1);
}

char *text_buf_take(struct text_buf *b) {
        char *d = b->failed || b->len == 0 ? NULL : b->data;
        if (!d)
                free(b->data);
        *b = (struct text_buf){0};
        return d;
}

void text_buf_clear(struct text_buf *b) {
        free(b->data);
        *b = (struct text_buf){0};
}

/* As common/model_json.c writes a time: RFC 3339 with nanoseconds, Go's zero time for 0. */
static void put_time(struct text_buf *b, int64_t ns) {
        if (ns == 0) {
                text_buf_puts(b, "\"0001-01-01T00:00:00Z\"");
                return;
        }
        char buf[80];
        time_t secs = (time_t)(ns / 1000000000LL);
        struct tm tm;
        gmtime_r(&secs, &tm);
        buf[0] = '"';
        size_t n = 1 + strftime(buf + 1, sizeof(buf) - 1, "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, ".%09" PRId64 "Z\"", (int64_t)(ns % 1000000000LL));
        text_buf_put(b, buf, n < sizeof(buf) ? n : sizeof(buf) - 1);
}

static void put_key(struct text_buf *b, const char *key) {
        text_buf_json_str(b, key);
        text_buf_put(b, ":", 1);
}

/* head (the punctuation and key before the value, as JSON text), then the value */
static void put_str_after(struct text_buf *b, const char *head, const char *v) {
        text_buf_puts(b, head);
        text_buf_json_str(b, v);
}

static void put_int_after(struct text_buf *b, const char *head, long long v) {
        text_buf_puts(b, head);
        put_int(b, v);
}

static void put_event(struct text_buf *b, const struct task_event *ev) {
        put_str_after(b, "{\"Type\":", ev->type);
        put_int_after(b, ",\"Time\":", ev->time);
        put_str_after(b, ",\"Message\":", ev->message);
        put_str_after(b, ",\"DisplayMessage\":", ev->message);
        put_int_after(b, ",\"ExitCode\":", ev->exit_code);
        put_int_after(b, ",\"Signal\":", ev->signal);
        text_buf_puts(b, ",\"Details\":{");
        if (ev->type && strcmp(ev->type, "Terminated") == 0) {
                put_int_after(b, "\"exit_code\":\"", ev->exit_code);
                put_int_after(b, "\",\"signal\":\"", ev->signal);
                text_buf_puts(b, "\"");
        }
        text_buf_puts(b, "}}");
}

void update_text_write(struct text_buf *b, const char *alloc_id, const char *client_status, const char *description,
                       const struct task_state *ts, size_t n) {
        put_str_after(b, "{\"ID\":", alloc_id);
        put_str_after(b, ",\"ClientStatus\":", client_status);
        put_str_after(b, ",\"ClientDescription\":", description);
        text_buf_puts(b, ",\"TaskStates\":{");
        for (size_t i = 0; i < n; i++) {
                if (i)
                        text_buf_put(b, ",", 1);
                put_key(b, ts[i].name);
                put_str_after(b, "{\"State\":", task_state_str(ts[i].state));
                text_buf_puts(b, ts[i].failed ? ",\"Failed\":true" : ",\"Failed\":false");
                put_int_after(b, ",\"Restarts\":", ts[i].restarts);
                text_buf_puts(b, ",\"Events\":[");
                for (size_t e = 0; e < ts[i].n_events; e++) {
                        if (e)
                                text_buf_put(b, ",", 1);
                        put_event(b, &ts[i].events[e]);
                }
                text_buf_puts(b, "],\"StartedAt\":");
                put_time(b, ts[i].started_at);
                text_buf_puts(b, ",\"FinishedAt\":");
                put_time(b, ts[i].finished_at);
                text_buf_put(b, "}", 1);
        }
        text_buf_puts(b, "}}");
}
