/* acl.c - `drover acl bootstrap`, `drover acl policy apply|list|info|delete`,
 * `drover acl role create|list|info|update|delete`,
 * `drover acl token create|list|info|delete|self`: Nomad's ACL commands over
 * /v1/acl/... (the token to act with comes from -token, DROVER_TOKEN or
 * NOMAD_TOKEN: cli_parse_common). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/jsonx.h"
#include "common/macros.h"

#define POLICY_FILE_MAX (64 * 1024) /* the server's ACL_POLICY_MAX_BYTES */
#define TOKEN_POLICIES_MAX 64
#define TOKEN_ROLES_MAX 16 /* the server's ACL_MAX_ROLES */

static void print_token(const json_t *t) {
        char when[64] = "";
        cli_fmt_time_ns(jx_int(t, "CreateTime", 0), when, sizeof(when));
        char pols[1024] = "";
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(t, "Policies"), i, p) {
                size_t l = strlen(pols);
                snprintf(pols + l, sizeof(pols) - l, "%s%s", i ? " " : "",
                         json_string_value(p) ? json_string_value(p) : "");
        }
        char polb[1040];
        snprintf(polb, sizeof(polb), "[%s]", pols);
        char roles[1024] = "";
        json_array_foreach(json_object_get(t, "Roles"), i, p) {
                size_t l = strlen(roles);
                snprintf(roles + l, sizeof(roles) - l, "%s%s", i ? " " : "", jx_str(p, "Name", jx_str(p, "ID", "")));
        }
        char roleb[1040];
        snprintf(roleb, sizeof(roleb), "[%s]", roles);
        const char *secret = jx_str(t, "SecretID", NULL);
        char expiry[64] = "<none>";
        if (jx_int(t, "ExpirationTime", 0) > 0)
                cli_fmt_time_ns(jx_int(t, "ExpirationTime", 0), expiry, sizeof(expiry));
        const char *keys[] = {"Accessor ID", "Secret ID", "Name",        "Type",       "Global",
                              "Policies",    "Roles",     "Create Time", "Expiry Time"};
        const char *vals[] = {jx_str(t, "AccessorID", ""),
                              secret ? secret : "<hidden>",
                              jx_str(t, "Name", ""),
                              jx_str(t, "Type", ""),
                              jx_bool(t, "Global", false) ? "true" : "false",
                              polb,
                              roleb,
                              when,
                              expiry};
        cli_print_kv(keys, vals, 9);
}

static int fail(const char *what, const struct error *err) {
        fprintf(stderr, "Error %s: %s\n", what, err->msg);
        return 1;
}

/* A command on one policy, token or role (info, delete): its usage unless argc
 * is 1; else METHOD <prefix><argv[0], escaped>, the answer in *ret_out. 0, or 1
 * once the usage or "Error <doing>: ..." is printed. */
static int one_object(struct cli *c, int argc, char **argv, const char *help, const char *method, const char *prefix,
                      const char *doing, json_t **ret_out) {
        if (argc != 1) {
                fputs(help, stderr);
                return 1;
        }
        _cleanup_free_ char *esc = http_escape(argv[0]);
        _cleanup_free_ char *path = NULL;
        if (!esc || asprintf(&path, "%s%s", prefix, esc) < 0)
                return 1;
        struct error err = {0};
        int r = strcmp(method, "GET") == 0 ? cli_get(c, path, ret_out, NULL, &err)
                                           : cli_send(c, method, path, NULL, ret_out, &err);
        return r < 0 ? fail(doing, &err) : 0;
}

/* ---- acl bootstrap ---- */

static const char bootstrap_help[] =
    "Usage: drover acl bootstrap [-address=<addr>]\n\n"
    "  Create the first management token (once per cluster; the server needs -acl-enabled).\n"
    "  Its Secret ID is shown this once: keep it (DROVER_TOKEN or -token).\n";

static int acl_bootstrap(struct cli *c, int argc, char **argv) {
        (void)argv;
        if (argc) {
                fputs(bootstrap_help, stderr);
                return 1;
        }
        struct error err = {0};
        _cleanup_json_ json_t *out = NULL;
        if (cli_send(c, "PUT", "/v1/acl/bootstrap", NULL, &out, &err) < 0)
                return fail("bootstrapping the ACL system", &err);
        print_token(out);
        return 0;
}

const struct cli_command cli_acl_commands[] = {
    {"bootstrap", "Create the first management token", bootstrap_help, acl_bootstrap},
    {0},
};

/* ---- acl policy ---- */

static const char policy_apply_help[] =
    "Usage: drover acl policy apply [-description=<text>] <name> <file>\n\n"
    "  Create or update the ACL policy <name> from the HCL rules in <file> (\"-\": stdin),\n"
    "  e.g. namespace \"default\" { policy = \"read\" }  node { policy = \"read\" }.\n"
    "  Needs a management token.\n";

static int read_all(const char *path, char **ret, struct error *err) {
        FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
        if (!f)
                return errorf(err, -errno, "open %s: %s", path, strerror(errno));
        _cleanup_free_ char *buf = malloc(POLICY_FILE_MAX + 1);
        size_t n = buf ? fread(buf, 1, POLICY_FILE_MAX + 1, f) : 0;
        bool bad = f != stdin && ferror(f);
        if (f != stdin)
                fclose(f);
        if (!buf)
                return errorf(err, -ENOMEM, "out of memory");
        if (bad)
                return errorf(err, -EIO, "read %s", path);
        if (n > POLICY_FILE_MAX)
                return errorf(err, -EFBIG, "%s: larger than %d bytes", path, POLICY_FILE_MAX);
        buf[n] = '\0';
        if (strlen(buf) != n)
                return errorf(err, -EINVAL, "%s: contains a NUL byte", path);
        *ret = TAKE_PTR(buf);
        return 0;
}

static int policy_apply(struct cli *c, int argc, char **argv) {
        const char *desc = "", *pos[2];
        int np = 0;
        for (int i = 0; i < argc; i++) {
                if (cli_opt("description", argc, argv, &i, &desc))
                        continue;
                if ((argv[i][0] == '-' && argv[i][1]) || np == 2) {
                        fprintf(stderr, "drover acl policy apply: unexpected argument \"%s\"\n\n%s", argv[i],
                                policy_apply_help);
                        return 1;
                }
                pos[np++] = argv[i];
        }
        if (np != 2) {
                fputs(policy_apply_help, stderr);
                return 1;
        }
        struct error err = {0};
        _cleanup_free_ char *rules = NULL;
        if (read_all(pos[1], &rules, &err) < 0)
                return fail("reading the policy", &err);
        _cleanup_free_ char *esc = http_escape(pos[0]);
        _cleanup_free_ char *path = NULL;
        _cleanup_json_ json_t *body = json_pack("{s:s, s:s, s:s}", "Name", pos[0], "Description", desc, "Rules", rules);
        if (!esc || !body || asprintf(&path, "/v1/acl/policy/%s", esc) < 0)
                return 1;
        _cleanup_json_ json_t *out = NULL;
        if (cli_send(c, "PUT", path, body, &out, &err) < 0)
                return fail("writing the ACL policy", &err);
        printf("Successfully wrote \"%s\" ACL policy!\n", pos[0]);
        return 0;
}

static const char policy_list_help[] = "Usage: drover acl policy list\n\n  The ACL policies (management token).\n";

static int policy_list(struct cli *c, int argc, char **argv) {
        (void)argc, (void)argv;
        struct error err = {0};
        _cleanup_json_ json_t *out = NULL;
        if (cli_get(c, "/v1/acl/policies", &out, NULL, &err) < 0)
                return fail("listing ACL policies", &err);
        if (json_array_size(out) == 0) {
                printf("No policies found\n");
                return 0;
        }
        static const char *const hdr[] = {"Name", "Description"};
        struct table *t = table_new(2, hdr);
        size_t i;
        json_t *p;
        json_array_foreach(out, i, p) {
                const char *cells[] = {jx_str(p, "Name", ""), jx_str(p, "Description", "")};
                table_add(t, cells);
        }
        table_print(t);
        return 0;
}

static const char policy_info_help[] = "Usage: drover acl policy info <name>\n\n  One ACL policy and its rules.\n";

static int policy_info(struct cli *c, int argc, char **argv) {
        _cleanup_json_ json_t *p = NULL;
        if (one_object(c, argc, argv, policy_info_help, "GET", "/v1/acl/policy/", "reading the ACL policy", &p))
                return 1;
        char ci[32], mi[32];
        snprintf(ci, sizeof(ci), "%lld", (long long)jx_int(p, "CreateIndex", 0));
        snprintf(mi, sizeof(mi), "%lld", (long long)jx_int(p, "ModifyIndex", 0));
        const char *keys[] = {"Name", "Description", "CreateIndex", "ModifyIndex"};
        const char *vals[] = {jx_str(p, "Name", ""), jx_str(p, "Description", ""), ci, mi};
        cli_print_kv(keys, vals, 4);
        printf("\nRules\n\n%s\n", jx_str(p, "Rules", ""));
        return 0;
}

static const char policy_delete_help[] = "Usage: drover acl policy delete <name>\n\n  Delete an ACL policy.\n";

static int policy_delete(struct cli *c, int argc, char **argv) {
        _cleanup_json_ json_t *out = NULL;
        if (one_object(c, argc, argv, policy_delete_help, "DELETE", "/v1/acl/policy/", "deleting the ACL policy", &out))
                return 1;
        printf("Successfully deleted \"%s\" ACL policy!\n", argv[0]);
        return 0;
}

const struct cli_command cli_acl_policy_commands[] = {
    {"apply", "Create or update an ACL policy", policy_apply_help, policy_apply},
    {"list", "List ACL policies", policy_list_help, policy_list},
    {"info", "Show an ACL policy", policy_info_help, policy_info},
    {"delete", "Delete an ACL policy", policy_delete_help, policy_delete},
    {0},
};

/* ---- acl role ---- */

static void print_role(const json_t *r) {
        char pols[1024] = "";
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(r, "Policies"), i, p) {
                size_t l = strlen(pols);
                snprintf(pols + l, sizeof(pols) - l, "%s%s", i ? " " : "", jx_str(p, "Name", ""));
        }
        char polb[1040];
        snprintf(polb, sizeof(polb), "[%s]", pols);
        const char *keys[] = {"ID", "Name", "Description", "Policies"};
        const char *vals[] = {jx_str(r, "ID", ""), jx_str(r, "Name", ""), jx_str(r, "Description", ""), polb};
        cli_print_kv(keys, vals, 4);
}

static const char role_create_help[] =
    "Usage: drover acl role create -name=<name> [-description=<text>] -policy=<name>...\n\n"
    "  Create an ACL role: a name for a set of policies. Tokens made with -role-id or\n"
    "  -role-name get the role's policies, as the role is at each request. Management token.\n";

static const char role_update_help[] =
    "Usage: drover acl role update [-name=<name>] [-description=<text>] [-policy=<name>]... <role_id>\n\n"
    "  Change an ACL role; what is not given stays as it was. Tokens with the role get the\n"
    "  change at their next request. Management token.\n";

static int role_path(const char *id, bool by_name, char **ret) {
        _cleanup_free_ char *esc = http_escape(id);
        return !esc || asprintf(ret, "/v1/acl/role/%s%s", by_name ? "name/" : "", esc) < 0 ? -ENOMEM : 0;
}

/* create (update false) or update: the flags into body, the one positional (update's ID) into *ret_id. */
static int role_flags(int argc, char **argv, bool update, json_t *body, const char **ret_id) {
        const char *help = update ? role_update_help : role_create_help, *v = NULL;
        _cleanup_json_ json_t *pols = json_array();
        int np = 0;
        if (!pols)
                return -ENOMEM;
        for (int i = 0; i < argc; i++) {
                if (cli_opt("name", argc, argv, &i, &v)) {
                        json_object_set_new(body, "Name", json_string(v));
                } else if (cli_opt("description", argc, argv, &i, &v)) {
                        json_object_set_new(body, "Description", json_string(v));
                } else if (cli_opt("policy", argc, argv, &i, &v)) {
                        if (json_array_size(pols) >= TOKEN_POLICIES_MAX) {
                                fprintf(stderr, "drover acl role: at most %d -policy\n", TOKEN_POLICIES_MAX);
                                return -E2BIG;
                        }
                        json_array_append_new(pols, json_pack("{s:s}", "Name", v));
                } else if (update && argv[i][0] != '-' && np == 0) {
                        *ret_id = argv[i];
                        np++;
                } else {
                        fprintf(stderr, "drover acl role %s: unexpected argument \"%s\"\n\n%s",
                                update ? "update" : "create", argv[i], help);
                        return -EINVAL;
                }
        }
        if (json_array_size(pols))
                json_object_set(body, "Policies", pols);
        if ((update && np != 1) || (!update && (!json_object_get(body, "Name") || !json_array_size(pols)))) {
                fputs(help, stderr);
                return -EINVAL;
        }
        return 0;
}

static int role_create(struct cli *c, int argc, char **argv) {
        _cleanup_json_ json_t *body = json_object();
        if (!body || role_flags(argc, argv, false, body, NULL) < 0)
                return 1;
        struct error err = {0};
        _cleanup_json_ json_t *out = NULL;
        if (cli_send(c, "POST", "/v1/acl/role", body, &out, &err) < 0)
                return fail("creating the ACL role", &err);
        print_role(out);
        return 0;
}

static int role_update(struct cli *c, int argc, char **argv) {
        _cleanup_json_ json_t *body = json_object();
        const char *id = NULL;
        if (!body || role_flags(argc, argv, true, body, &id) < 0)
                return 1;
        _cleanup_free_ char *path = NULL;
        if (role_path(id, false, &path) < 0)
                return 1;
        struct error err = {0};
        _cleanup_json_ json_t *cur = NULL, *out = NULL;
        if (cli_get(c, path, &cur, NULL, &err) < 0)
                return fail("reading the ACL role", &err);
        json_object_update(cur, body); /* what was not given stays */
        json_object_del(cur, "CreateIndex");
        json_object_del(cur, "ModifyIndex");
        if (cli_send(c, "POST", path, cur, &out, &err) < 0)
                return fail("updating the ACL role", &err);
        print_role(out);
        return 0;
}

static const char role_list_help[] = "Usage: drover acl role list\n\n  The ACL roles (management token).\n";

static int role_list(struct cli *c, int argc, char **argv) {
        (void)argc, (void)argv;
        struct error err = {0};
        _cleanup_json_ json_t *out = NULL;
        if (cli_get(c, "/v1/acl/roles", &out, NULL, &err) < 0)
                return fail("listing ACL roles", &err);
        if (json_array_size(out) == 0) {
                printf("No ACL roles found\n");
                return 0;
        }
        static const char *const hdr[] = {"ID", "Name", "Description", "Policies"};
        struct table *t = table_new(4, hdr);
        size_t i;
        json_t *r;
        json_array_foreach(out, i, r) {
                char pols[1024] = "";
                size_t k;
                json_t *p;
                json_array_foreach(json_object_get(r, "Policies"), k, p) {
                        size_t l = strlen(pols);
                        snprintf(pols + l, sizeof(pols) - l, "%s%s", k ? "," : "", jx_str(p, "Name", ""));
                }
                const char *cells[] = {jx_str(r, "ID", ""), jx_str(r, "Name", ""), jx_str(r, "Description", ""), pols};
                table_add(t, cells);
        }
        table_print(t);
        return 0;
}

static const char role_info_help[] =
    "Usage: drover acl role info [-by-name] <role_id | name>\n\n  One ACL role, by ID or (-by-name) by name.\n";

static int role_info(struct cli *c, int argc, char **argv) {
        bool by_name = argc == 2 && (strcmp(argv[0], "-by-name") == 0 || strcmp(argv[0], "--by-name") == 0);
        if (argc != 1 && !by_name) {
                fputs(role_info_help, stderr);
                return 1;
        }
        _cleanup_free_ char *path = NULL;
        if (role_path(argv[argc - 1], by_name, &path) < 0)
                return 1;
        struct error err = {0};
        _cleanup_json_ json_t *out = NULL;
        if (cli_get(c, path, &out, NULL, &err) < 0)
                return fail("reading the ACL role", &err);
        print_role(out);
        return 0;
}

static const char role_delete_help[] =
    "Usage: drover acl role delete <role_id>\n\n  Delete an ACL role; tokens with it lose its policies at once.\n";

static int role_delete(struct cli *c, int argc, char **argv) {
        _cleanup_json_ json_t *out = NULL;
        if (one_object(c, argc, argv, role_delete_help, "DELETE", "/v1/acl/role/", "deleting the ACL role", &out))
                return 1;
        printf("ACL role %s successfully deleted\n", argv[0]);
        return 0;
}

const struct cli_command cli_acl_role_commands[] = {
    {"create", "Create an ACL role", role_create_help, role_create},
    {"list", "List ACL roles", role_list_help, role_list},
    {"info", "Show an ACL role", role_info_help, role_info},
    {"update", "Change an ACL role", role_update_help, role_update},
    {"delete", "Delete an ACL role", role_delete_help, role_delete},
    {0},
};

/* ---- acl token ---- */

static const char token_create_help[] =
    "Usage: drover acl token create [-name=<name>] [-type=client|management] [-policy=<name>]...\n"
    "                               [-role-id=<id>]... [-role-name=<name>]... [-ttl=<d>]\n\n"
    "  Create an ACL token. A client token (the default) needs at least one -policy or role\n"
    "  (it gets the union of its policies and its roles' policies, as they are at each\n"
    "  request); a management token none. -ttl (\"10m\", 1s to 24h) makes it expire: it is then refused\n"
    "  (403 \"ACL token expired\") and deleted by the leader. The Secret ID is shown this once.\n";

static int token_create(struct cli *c, int argc, char **argv) {
        const char *name = "", *type = "client", *p = NULL, *ttl = NULL;
        _cleanup_json_ json_t *pols = json_array(), *roles = json_array();
        if (!pols || !roles)
                return 1;
        for (int i = 0; i < argc; i++) {
                if (cli_opt("name", argc, argv, &i, &name) || cli_opt("type", argc, argv, &i, &type) ||
                    cli_opt("ttl", argc, argv, &i, &ttl))
                        continue;
                if (cli_opt("policy", argc, argv, &i, &p)) {
                        if (json_array_size(pols) >= TOKEN_POLICIES_MAX) {
                                fprintf(stderr, "drover acl token create: at most %d -policy\n", TOKEN_POLICIES_MAX);
                                return 1;
                        }
                        json_array_append_new(pols, json_string(p));
                        continue;
                }
                bool by_id = cli_opt("role-id", argc, argv, &i, &p);
                if (by_id || cli_opt("role-name", argc, argv, &i, &p)) {
                        if (json_array_size(roles) >= TOKEN_ROLES_MAX) {
                                fprintf(stderr, "drover acl token create: at most %d roles\n", TOKEN_ROLES_MAX);
                                return 1;
                        }
                        json_array_append_new(roles, json_pack("{s:s}", by_id ? "ID" : "Name", p));
                        continue;
                }
                fprintf(stderr, "drover acl token create: unexpected argument \"%s\"\n\n%s", argv[i],
                        token_create_help);
                return 1;
        }
        _cleanup_json_ json_t *body =
            json_pack("{s:s, s:s, s:O, s:O}", "Name", name, "Type", type, "Policies", pols, "Roles", roles);
        struct error err = {0};
        _cleanup_json_ json_t *out = NULL;
        if (!body)
                return 1;
        if (ttl)
                json_object_set_new(body, "ExpirationTTL", json_string(ttl));
        if (cli_send(c, "PUT", "/v1/acl/token", body, &out, &err) < 0)
                return fail("creating the ACL token", &err);
        print_token(out);
        return 0;
}

static const char token_list_help[] = "Usage: drover acl token list\n\n  The ACL tokens (management token).\n";

static int token_list(struct cli *c, int argc, char **argv) {
        (void)argc, (void)argv;
        struct error err = {0};
        _cleanup_json_ json_t *out = NULL;
        if (cli_get(c, "/v1/acl/tokens", &out, NULL, &err) < 0)
                return fail("listing ACL tokens", &err);
        static const char *const hdr[] = {"Name", "Type", "Global", "Accessor ID"};
        struct table *t = table_new(4, hdr);
        size_t i;
        json_t *k;
        json_array_foreach(out, i, k) {
                const char *cells[] = {jx_str(k, "Name", ""), jx_str(k, "Type", ""),
                                       jx_bool(k, "Global", false) ? "true" : "false", jx_str(k, "AccessorID", "")};
                table_add(t, cells);
        }
        table_print(t);
        return 0;
}

static const char token_info_help[] =
    "Usage: drover acl token info <accessor_id>\n\n  One ACL token (not its secret).\n";

static int token_info(struct cli *c, int argc, char **argv) {
        _cleanup_json_ json_t *out = NULL;
        if (one_object(c, argc, argv, token_info_help, "GET", "/v1/acl/token/", "reading the ACL token", &out))
                return 1;
        print_token(out);
        return 0;
}

static const char token_delete_help[] = "Usage: drover acl token delete <accessor_id>\n\n  Delete an ACL token.\n";

static int token_delete(struct cli *c, int argc, char **argv) {
        _cleanup_json_ json_t *out = NULL;
        if (one_object(c, argc, argv, token_delete_help, "DELETE", "/v1/acl/token/", "deleting the ACL token", &out))
                return 1;
        printf("Token %s successfully deleted\n", argv[0]);
        return 0;
}

static const char token_self_help[] = "Usage: drover acl token self\n\n  The token given by -token / DROVER_TOKEN.\n";

static int token_self(struct cli *c, int argc, char **argv) {
        (void)argc, (void)argv;
        struct error err = {0};
        _cleanup_json_ json_t *out = NULL;
        if (cli_get(c, "/v1/acl/token/self", &out, NULL, &err) < 0)
                return fail("reading the ACL token", &err);
        print_token(out);
        return 0;
}

const struct cli_command cli_acl_token_commands[] = {
    {"create", "Create an ACL token", token_create_help, token_create},
    {"list", "List ACL tokens", token_list_help, token_list},
    {"info", "Show an ACL token", token_info_help, token_info},
    {"delete", "Delete an ACL token", token_delete_help, token_delete},
    {"self", "Show the token in use", token_self_help, token_self},
    {0},
};
