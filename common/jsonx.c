#include "common/jsonx.h"

#include <math.h>
#include <string.h>
#include <stdlib.h>

const char *jx_str(const json_t *obj, const char *key, const char *def) {
        json_t *v = json_object_get(obj, key);
        return json_is_string(v) ? json_string_value(v) : def;
}

int64_t jx_int(const json_t *obj, const char *key, int64_t def) {
        json_t *v = json_object_get(obj, key);
        if (json_is_integer(v))
                return json_integer_value(v);
        if (json_is_real(v) && fabs(json_real_value(v)) < 9.2e18) /* no out-of-range cast */
                return (int64_t)json_real_value(v);
        return def;
}

bool jx_bool(const json_t *obj, const char *key, bool def) {
        json_t *v = json_object_get(obj, key);
        return json_is_boolean(v) ? json_is_true(v) : def;
}

double jx_real(const json_t *obj, const char *key, double def) {
        json_t *v = json_object_get(obj, key);
        return json_is_number(v) ? json_number_value(v) : def;
}

json_t *jx_obj(const json_t *obj, const char *key) {
        json_t *v = json_object_get(obj, key);
        return json_is_object(v) ? v : NULL;
}

json_t *jx_arr(const json_t *obj, const char *key) {
        json_t *v = json_object_get(obj, key);
        return json_is_array(v) ? v : NULL;
}

char *jx_strdup(const json_t *obj, const char *key) {
        const char *s = jx_str(obj, key, NULL);
        return s ? strdup(s) : NULL;
}

void jx_set_str(json_t *obj, const char *key, const char *val) {
        json_object_set_new(obj, key, val ? json_string(val) : json_string(""));
}
