/* util.c - flags, API calls, prefix resolution and tables for the CLI. */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/jsonx.h"
#include "common/macros.h"
#include "common/tls.h"

bool cli_opt(const char *name, int argc, char **argv, int *i, const char **ret) {
        const char *a = argv[*i];
        if (a[0] == '-' && a[1] == '-')
                a++;
        size_t n = strlen(name);
        if (a[0] != '-' || strncmp(a + 1, name, n) != 0)
                return false;
        if (a[1 + n] == '=') {
                *ret = a + 2 + n;
                return true;
        }
        if (a[1 + n] == '\0' && *i + 1 < argc) {
                *ret = argv[++*i];
                return true;
        }
        return false;
}

/* -ca-cert=X, -ca-cert X, --ca-cert... into dst; true when argv[*i] was one. */
static bool tls_flag(const char *name, char *dst, size_t cap, int argc, char **argv, int *i, bool *bad) {
        const char *v;
        if (!cli_opt(name, argc, argv, i, &v))
                return false;
        if (strlen(v) >= cap) {
                fprintf(stderr, "-%s: path longer than %zu bytes\n", name, cap - 1);
                *bad = true;
        } else {
                memcpy(dst, v, strlen(v) + 1);
        }
        return true;
}

int cli_parse_common(struct cli *c, int argc, char **argv, const char *help) {
        int out = 0;
        struct tls_client tls = {0};
        bool bad = false;
        const char *token = NULL;
        for (int i = 0; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "-h") == 0 || strcmp(a, "-help") == 0 || strcmp(a, "--help") == 0) {
                        fputs(help, stdout);
                        return -1;
                }
                if (tls_flag("ca-cert", tls.ca_cert, sizeof(tls.ca_cert), argc, argv, &i, &bad) ||
                    tls_flag("client-cert", tls.client_cert, sizeof(tls.client_cert), argc, argv, &i, &bad) ||
                    tls_flag("client-key", tls.client_key, sizeof(tls.client_key), argc, argv, &i, &bad))
                        continue;
                if (strncmp(a, "-token=", 7) == 0 || strncmp(a, "--token=", 8) == 0) {
                        token = strchr(a, '=') + 1;
                        continue;
                }
                if ((strcmp(a, "-token") == 0 || strcmp(a, "--token") == 0) && i + 1 < argc) {
                        token = argv[++i];
                        continue;
                }
                if (strcmp(a, "-json") == 0 || strcmp(a, "--json") == 0) {
                        c->json = true;
                        continue;
                }
                if (strncmp(a, "-t=", 3) == 0) {
                        c->tmpl = a + 3;
                        continue;
                }
                if (strcmp(a, "-t") == 0 && i + 1 < argc) {
                        c->tmpl = argv[++i];
                        continue;
                }
                if (strncmp(a, "-region=", 8) == 0 || strncmp(a, "-namespace=", 11) == 0) {
                        *(a[1] == 'r' ? &c->region : &c->namespace) = strchr(a, '=') + 1;
                        continue;
                }
                if ((strcmp(a, "-region") == 0 || strcmp(a, "-namespace") == 0) && i + 1 < argc) {
                        *(a[1] == 'r' ? &c->region : &c->namespace) = argv[++i];
                        continue;
                }
                if (strncmp(a, "-address=", 9) == 0 || strncmp(a, "--address=", 10) == 0) {
                        c->address = strchr(a, '=') + 1;
                        continue;
                }
                if ((strcmp(a, "-address") == 0 || strcmp(a, "--address") == 0) && i + 1 < argc) {
                        c->address = argv[++i];
                        continue;
                }
                argv[out++] = argv[i];
        }
        struct error err = {0};
        if (!bad && (tls_client_from_env(&tls, &err) < 0 || tls_client_check(&tls, &err) < 0)) {
                fprintf(stderr, "Error with TLS settings: %s\n", err.msg);
                bad = true;
        }
        if (!token || !*token)
                token = getenv("DROVER_TOKEN");
        if (!token || !*token)
                token = getenv("NOMAD_TOKEN");
        if (!bad && http_client_set_token(token) < 0) {
                fprintf(stderr, "Error with the ACL token (-token, DROVER_TOKEN, NOMAD_TOKEN): at most %d printable "
                                "characters, no spaces\n", HTTP_CLIENT_TOKEN_MAX);
                bad = true;
        }
        if (bad)
                return -2;
        http_client_set_tls(&tls);
        return out;
}

static bool take_flag(const struct cli_flag *f, int argc, char **argv, int *i) {
        const char *a = argv[*i];
        size_t n = strlen(f->name);
        if (strncmp(a, f->name, n) != 0 || (a[n] != '\0' && a[n] != '='))
                return false;
        if (!f->ret_value) {
                if (a[n] == '=')
                        return false;
                *f->ret_set = f->set_to;
                return true;
        }
        if (a[n] == '=') {
                *f->ret_value = a + n + 1;
                return true;
        }
        if (*i + 1 >= argc)
                return false;
        *f->ret_value = argv[++*i];
        return true;
}

int cli_args(int argc, char **argv, const struct cli_flag *flags, int min, int max, const char *operands,
             const char *help, const char **ret_ops, int *ret_n) {
        static const char *const words[] = {"no", "one", "two", "three"};
        int n = 0;
        bool too_many = false;
        for (int i = 0; i < argc; i++) {
                bool known = false;
                for (const struct cli_flag *f = flags; f && f->name && !known; f++)
                        known = take_flag(f, argc, argv, &i);
                if (known)
                        continue;
                if (argv[i][0] == '-' && argv[i][1]) {
                        fprintf(stderr, "Unknown flag \"%s\"\n\n%s", argv[i], help);
                        return 1;
                }
                if (n < max)
                        ret_ops[n++] = argv[i];
                else
                        too_many = true;
        }
        if (too_many || n < min) {
                const char *lo = min < 4 ? words[min] : "some", *hi = max < 4 ? words[max] : "more";
                if (max == 0)
                        fprintf(stderr, "This command takes no arguments\n\n%s", help);
                else if (min == max)
                        fprintf(stderr, "This command takes %s argument%s: %s\n\n%s", lo, max == 1 ? "" : "s", operands,
                                help);
                else
                        fprintf(stderr, "This command takes %s%s%s argument%s: %s\n\n%s", min ? lo : "",
                                min ? " or " : "at most ", hi, max == 1 ? "" : "s", operands, help);
                return 1;
        }
        *ret_n = n;
        return 0;
}

/* The query q ("?a=b&c=d", or NULL) has a parameter starting with key ("region="). */
static bool has_param(const char *q, const char *key) {
        for (const char *p = q; p && *p; p = strchr(p, '&')) {
                p++;
                if (strncmp(p, key, strlen(key)) == 0)
                        return true;
        }
        return false;
}

/* path with ?region= and ?namespace= added (each when set and not in path
 * already); malloc'd, NULL when out of memory. */
static char *scoped(const struct cli *c, const char *path) {
        const char *q = strchr(path, '?');
        char *out = strdup(path);
        const char *names[] = {"region", "namespace"}, *vals[] = {c->region, c->namespace};
        for (size_t i = 0; out && i < 2; i++) {
                char key[16];
                snprintf(key, sizeof(key), "%s=", names[i]);
                if (!vals[i] || !*vals[i] || has_param(q, key))
                        continue;
                _cleanup_free_ char *esc = http_escape(vals[i]);
                char *next = NULL;
                if (!esc || asprintf(&next, "%s%c%s%s", out, strchr(out, '?') ? '&' : '?', key, esc) < 0)
                        next = NULL;
                free(out);
                out = next;
        }
        return out;
}

int cli_get(struct cli *c, const char *path, json_t **ret, uint64_t *ret_index, struct error *err) {
        _cleanup_free_ char *p = scoped(c, path);
        if (!p)
                return errorf(err, -ENOMEM, "out of memory");
        return http_json(c->address, "GET", p, NULL, 30000, ret, ret_index, err);
}

int cli_send_timeout(struct cli *c, const char *method, const char *path, const json_t *body, long timeout_ms,
                     json_t **ret, struct error *err) {
        _cleanup_free_ char *p = scoped(c, path);
        if (!p)
                return errorf(err, -ENOMEM, "out of memory");
        return http_json(c->address, method, p, body, timeout_ms, ret, NULL, err);
}

int cli_send(struct cli *c, const char *method, const char *path, const json_t *body, json_t **ret,
             struct error *err) {
        return cli_send_timeout(c, method, path, body, 30000, ret, err);
}

int cli_resolve_prefix(struct cli *c, const char *list_path, const char *what, const char *prefix, char **ret_id) {
        struct error err = {0};
        _cleanup_free_ char *esc = http_escape(prefix);
        _cleanup_free_ char *path = NULL;
        if (!esc || asprintf(&path, "%s?prefix=%s", list_path, esc) < 0)
                return 1;
        _cleanup_json_ json_t *list = NULL;
        if (cli_get(c, path, &list, NULL, &err) < 0) {
                fprintf(stderr, "Error querying %s: %s\n", what, err.msg);
                return 1;
        }
        size_t n = json_array_size(list);
        if (n == 0) {
                fprintf(stderr, "No %s(s) with prefix or id \"%s\" found\n", what, prefix);
                return 1;
        }
        if (n > 1) {
                /* An exact match wins over longer IDs sharing the prefix. */
                for (size_t i = 0; i < n; i++) {
                        const char *id = jx_str(json_array_get(list, i), "ID", "");
                        if (strcmp(id, prefix) == 0) {
                                *ret_id = strdup(id);
                                return 0;
                        }
                }
                fprintf(stderr, "Prefix \"%s\" matched multiple %ss:\n", prefix, what);
                for (size_t i = 0; i < n; i++)
                        fprintf(stderr, "  %s\n", jx_str(json_array_get(list, i), "ID", ""));
                return 1;
        }
        *ret_id = strdup(jx_str(json_array_get(list, 0), "ID", ""));
        return 0;
}

const char *cli_short_id(const char *id, char buf[9]) {
        snprintf(buf, 9, "%s", id ? id : "");
        return buf;
}

void cli_fmt_time_ns(int64_t ns, char *buf, size_t len) {
        if (ns <= 0) {
                snprintf(buf, len, "<none>");
                return;
        }
        time_t secs = (time_t)(ns / NS_PER_SEC);
        struct tm tm;
        localtime_r(&secs, &tm);
        strftime(buf, len, "%Y-%m-%dT%H:%M:%S%z", &tm);
}

void cli_fmt_age_ns(int64_t ns, char *buf, size_t len) {
        if (ns <= 0) {
                snprintf(buf, len, "-");
                return;
        }
        int64_t d = (clock_now_ns() - ns) / NS_PER_SEC;
        if (d < 0)
                d = 0;
        if (d < 60)
                snprintf(buf, len, "%llds ago", (long long)d);
        else if (d < 3600)
                snprintf(buf, len, "%lldm%llds ago", (long long)(d / 60), (long long)(d % 60));
        else if (d < 86400)
                snprintf(buf, len, "%lldh%lldm ago", (long long)(d / 3600), (long long)(d % 3600 / 60));
        else
                snprintf(buf, len, "%lldd%lldh ago", (long long)(d / 86400), (long long)(d % 86400 / 3600));
}

void cli_print_kv(const char *const *keys, const char *const *vals, int n) {
        size_t w = 0;
        for (int i = 0; i < n; i++)
                w = MAX(w, strlen(keys[i]));
        for (int i = 0; i < n; i++)
                printf("%-*s = %s\n", (int)w, keys[i], vals[i] ? vals[i] : "");
}

struct table {
        int ncols;
        size_t nrows;
        char **cells; /* row-major, row 0 = headers */
};

struct table *table_new(int ncols, const char *const *headers) {
        struct table *t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        t->ncols = ncols;
        table_add(t, headers);
        return t;
}

void table_add(struct table *t, const char *const *cells) {
        char **nc = realloc(t->cells, (t->nrows + 1) * (size_t)t->ncols * sizeof(char *));
        if (!nc)
                return;
        t->cells = nc;
        for (int i = 0; i < t->ncols; i++)
                t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = strdup(cells[i] ? cells[i] : "");
        t->nrows++;
}

void table_print(struct table *t) {
        size_t *w = calloc((size_t)t->ncols, sizeof(size_t));
        for (size_t r = 0; r < t->nrows; r++)
                for (int i = 0; i < t->ncols; i++)
                        w[i] = MAX(w[i], strlen(t->cells[r * (size_t)t->ncols + (size_t)i]));
        for (size_t r = 0; r < t->nrows; r++) {
                for (int i = 0; i < t->ncols; i++) {
                        const char *cell = t->cells[r * (size_t)t->ncols + (size_t)i];
                        if (i == t->ncols - 1)
                                printf("%s\n", cell);
                        else
                                printf("%-*s  ", (int)w[i], cell);
                }
        }
        for (size_t k = 0; k < t->nrows * (size_t)t->ncols; k++)
                free(t->cells[k]);
        free(t->cells);
        free(w);
        free(t);
}

/* Print why a group could not be placed, from an AllocationMetric. */
void cli_print_placement_failures(const json_t *failed) {
        const char *group;
        json_t *m;
        json_object_foreach((json_t *)failed, group, m) {
                int64_t coalesced = jx_int(m, "CoalescedFailures", 0);
                printf("    Task Group \"%s\" (failed to place %lld allocation%s):\n", group, (long long)(coalesced + 1),
                       coalesced ? "s" : "");
                int64_t evaluated = jx_int(m, "NodesEvaluated", 0), filtered = jx_int(m, "NodesFiltered", 0),
                        exhausted = jx_int(m, "NodesExhausted", 0);
                if (evaluated == 0)
                        printf("      * No nodes were eligible for evaluation\n");
                const char *k;
                json_t *v;
                json_t *cf = jx_obj(m, "ConstraintFiltered");
                json_object_foreach(cf, k, v) printf("      * Constraint \"%s\": %lld nodes excluded by filter\n", k,
                                                     (long long)json_integer_value(v));
                json_t *cls = jx_obj(m, "ClassFiltered");
                json_object_foreach(cls, k, v) printf("      * Class \"%s\": %lld nodes excluded by filter\n", k,
                                                      (long long)json_integer_value(v));
                json_t *dim = jx_obj(m, "DimensionExhausted");
                if (exhausted)
                        printf("      * Resources exhausted on %lld nodes\n", (long long)exhausted);
                json_object_foreach(dim, k, v) printf("      * Dimension \"%s\" exhausted on %lld nodes\n", k,
                                                      (long long)json_integer_value(v));
                if (!json_object_size(cf) && !json_object_size(dim) && filtered)
                        printf("      * %lld of %lld nodes were filtered\n", (long long)filtered, (long long)evaluated);
        }
}
