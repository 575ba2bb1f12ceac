/* jsonx.h - small helpers over jansson used by every codec. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* json_decrefp() comes from jansson >= 2.9; _cleanup_json_ uses it. */

/* Getters that tolerate missing keys and JSON null: return def. */
const char *jx_str(const json_t *obj, const char *key, const char *def);
int64_t jx_int(const json_t *obj, const char *key, int64_t def);
bool jx_bool(const json_t *obj, const char *key, bool def);
double jx_real(const json_t *obj, const char *key, double def);
/* Returns the child if it is an object/array, else NULL. */
json_t *jx_obj(const json_t *obj, const char *key);
json_t *jx_arr(const json_t *obj, const char *key);

/* strdup of jx_str, NULL when absent. */
char *jx_strdup(const json_t *obj, const char *key);

/* Set helpers that steal nothing and skip NULL strings (set JSON null instead when null_ok). */
void jx_set_str(json_t *obj, const char *key, const char *val);
