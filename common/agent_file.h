/* agent_file.h - Nomad's agent configuration file, read for one program.
 *
 * drover-server, drover-agent and `drover dev` read the file Nomad's agent reads
 * (`nomad agent -config FILE`): HCL (common/hcl.h) or JSON (a name ending in .json,
 * or a text starting with '{'), in Nomad's layout (name, region, datacenter,
 * data_dir, bind_addr, ports { http rpc serf }, server { ... }, client { ... },
 * acl { ... }, tls { ... }, telemetry { ... }, log_level, and the rest of Nomad's
 * keys). Each program gives a table of the keys it honours and the option of its
 * flag table (common/flags.h) each one sets; the value goes through flags_set, so
 * the option's type and bounds apply to the file as to the command line.
 *
 * Every other key of Nomad's layout is accepted and ignored, with one note per key
 * path ("config: server.enabled is not used by drover-agent (a.hcl:3:3)"), which
 * the program logs. A key outside Nomad's layout is an error naming FILE:LINE:COL
 * (JSON too) and the key path. A value of the wrong type is an error naming where.
 *
 * Several files are read in order, each over the previous (a directory: its *.hcl
 * and *.json files in name order, as Nomad does); the program applies its flags
 * afterwards, so flags win. Bounded: AGENT_FILE_MAX_BYTES per file,
 * AGENT_FILE_MAX_FILES files, nesting of HCL_MAX_DEPTH (JSON: LIMIT_JSON_DEPTH),
 * strings of AGENT_FILE_MAX_STRING bytes, LIMIT_MAP_ENTRIES entries in a map.
 * Reading is linear in the size of the files (the key tables are small and fixed; a
 * JSON key's line is found by a scan of its file, done for an error and for the
 * first 64 notes only).
 * Not thread-safe; one context per program start.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct error;
struct flag;

#define AGENT_FILE_MAX_BYTES (1 << 20) /* one file */
#define AGENT_FILE_MAX_FILES 64        /* -config arguments plus the files of directories */
#define AGENT_FILE_MAX_STRING 4096     /* one string value (a path, an address, a meta value) */
#define AGENT_FILE_MAX_LIST 256        /* strings of one list (client.servers, retry_join) */
#define AGENT_FILE_NOTES 8192          /* the notes kept (cut when full) */

/* How a key's value becomes its option's text. */
enum agent_file_how {
        AGENT_FILE_SET,   /* as the option's type: string, number, bool, or a duration string ("10s") */
        AGENT_FILE_LEVEL, /* a log level, any case: TRACE->debug, ERR->error; debug, info, warn, error */
        AGENT_FILE_LIST,  /* a list of strings, joined with ',' (no element holds a ',') */
        AGENT_FILE_URLS,  /* as LIST; an element without "://" gets "http://" (Nomad's "host:port") */
        AGENT_FILE_MAP,   /* a block or object of strings, numbers or bools: "k=v" joined with ',' and
                           * appended to what earlier files set (the program reads them left to right) */
        AGENT_FILE_HOST,  /* an IP address: the host of the option's "ip:port" ("::1" -> "[::1]:port") */
        AGENT_FILE_PORT,  /* a port number: the port of the option's "ip:port", or the option itself */
        AGENT_FILE_TRUE,  /* must be true (the program always is what the key asks); sets nothing */
};

struct agent_file_key {
        const char *path; /* Nomad's key path: "ports.http", "client.options.driver.raw_exec.enable" */
        enum agent_file_how how;
        const char *flag; /* the option it sets, by name (without the dash); NULL for AGENT_FILE_TRUE */
        const char *why;  /* AGENT_FILE_TRUE: the reason, in the error when the value is not true */
};

struct agent_file_spec {
        const char *program; /* "drover-agent": in notes and help */
        const struct agent_file_key *keys;
        size_t n_keys;
        const struct flag *flags; /* the program's option table the keys name */
        size_t n_flags;
};

struct agent_file;

/* A reader for spec (borrowed: it must outlive the reader). 0 or -ENOMEM. */
int agent_file_create(const struct agent_file_spec *spec, struct agent_file **ret, struct error *err);
/* NULL is fine; returns NULL. */
struct agent_file *agent_file_destroy(struct agent_file *af);
void agent_file_destroyp(struct agent_file **af);

/* Read the file (or the directory's *.hcl and *.json files, in name order) at path
 * over cfg, the program's config struct that spec->flags describes. 0, or negative
 * with err ("a.hcl:3:5: unknown setting \"htp\" in ports (ports.htp)"); cfg may hold
 * what the file set before the error. */
int agent_file_load(struct agent_file *af, void *cfg, const char *path, struct error *err);

/* Every -config FILE of argv (-config X, -config=X, --config X, --config=X), in
 * order, through agent_file_load. Returns how many were given, or negative. */
int agent_file_load_args(struct agent_file *af, void *cfg, int argc, char **argv, struct error *err);

/* "config: KEY is not used by PROGRAM (FILE:LINE:COL)\n" per ignored key path, in
 * the order met; "" when none. Valid until the reader is destroyed. */
const char *agent_file_notes(const struct agent_file *af);
/* The files read, joined with ','; "" when none. */
const char *agent_file_sources(const struct agent_file *af);

/* A program's options in one call: cfg holds its defaults; every -config of argv is
 * read over it, then argv's flags (flags_parse), then spec's option "config" is set
 * to every file read (flags_parse leaves only the last). Returns 0, 1 when -help was
 * asked (nothing printed), or negative with err; on 0 and 1, *ret_notes is the
 * notes (malloc'd, "" when none). */
int agent_file_parse_args(const struct agent_file_spec *spec, void *cfg, int argc, char **argv, char **ret_notes,
                          struct error *err);
/* The notes as "# config: ..." lines, for -print-config (NULL is fine). */
void agent_file_print_notes(const char *notes, FILE *out);

/* For -help: the keys spec honours with the option each sets, and the parts of
 * Nomad's layout it accepts and ignores. */
void agent_file_print_help(const struct agent_file_spec *spec, FILE *out);
