/* ids.h - UUIDs in Nomad's form (8-4-4-4-12 lowercase hex). */
#pragma once

#include <stdbool.h>

#define ID_LEN 36
#define ID_BUF (ID_LEN + 1)

/* Fill buf (ID_BUF bytes) with a random v4 UUID. */
void id_generate(char buf[ID_BUF]);
bool id_is_valid(const char *s);
