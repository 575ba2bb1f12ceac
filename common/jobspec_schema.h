/* jobspec_schema.h - private to jobspec.c / jobspec_schema.c: the block schema table types. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

struct hcl_item;

enum js_kind {
        K_IGNORE,
        K_STR,
        K_INT,
        K_BOOL,
        K_FLOAT,
        K_DUR,     /* Go duration string -> integer nanoseconds */
        K_STRLIST, /* list of scalars -> list of strings */
        K_STRMAP,  /* map attribute or block of attributes -> map of strings */
        K_ANY,     /* opaque value; a block becomes an object, nested blocks lists of maps */
        K_BLOCK,   /* nested block decoded by js_field.sub */
};

enum {
        FL_REPEAT = 1 << 0, /* block may repeat; JSON value is a list */
        FL_LABEL = 1 << 1,  /* block takes one label, stored under js_field.label_key */
        FL_MAP = 1 << 2,    /* labeled block collected into an object keyed by the label */
        FL_LIST = 1 << 3,   /* single block, but the JSON value is a one-element list */
};

struct js_ctx;
struct js_schema;

struct js_field {
        const char *hcl;  /* HCL attribute / block name */
        const char *json; /* JSON key ("_x" keys are scratch values consumed by a post hook) */
        enum js_kind kind;
        unsigned flags;
        const struct js_schema *sub; /* K_BLOCK */
        const char *label_key;       /* FL_LABEL / FL_MAP */
};

struct js_schema {
        const struct js_field *fields; /* terminated by {NULL} */
        int (*post)(const struct js_ctx *c, json_t *obj, const struct hcl_item *it, const char *path);
        bool path_index; /* name it "type (i) \"name\"" in error paths (services) */
};

/* Post hooks (jobspec.c) referenced by the tables (jobspec_schema.c). */
int js_post_constraint(const struct js_ctx *c, json_t *obj, const struct hcl_item *it, const char *path);
int js_post_network(const struct js_ctx *c, json_t *obj, const struct hcl_item *it, const char *path);
int js_post_task(const struct js_ctx *c, json_t *obj, const struct hcl_item *it, const char *path);
int js_post_periodic(const struct js_ctx *c, json_t *obj, const struct hcl_item *it, const char *path);
int js_post_group_scaling(const struct js_ctx *c, json_t *obj, const struct hcl_item *it, const char *path);
int js_post_task_scaling(const struct js_ctx *c, json_t *obj, const struct hcl_item *it, const char *path);

/* Root of the tables: the body of `job "id" { ... }`. */
extern const struct js_schema js_schema_job;
