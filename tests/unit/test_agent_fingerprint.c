/* test_agent_fingerprint.c - the node's attributes, resources and persistent identity. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "nodeagent/drivers/driver.h"
#include "common/ids.h"
#include "common/model.h"
#include "nodeagent/fingerprint/fingerprint.h"

static char dir[64];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
        return remove(p);
}

static void setup(void) {
        struct driver_settings ds = *driver_settings();
        ds.raw_exec_enabled = true; /* opt-in, as drover dev does */
        driver_configure(&ds);
        snprintf(dir, sizeof(dir), "/tmp/drover-fp-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static long long attr_int(const struct node *n, const char *k) {
        const char *v = strmap_get(&n->attributes, k);
        cr_assert_not_null(v, "attribute %s missing", k);
        char *end;
        long long x = strtoll(v, &end, 10);
        cr_assert(end != v && *end == '\0', "attribute %s = \"%s\" is not an integer", k, v);
        return x;
}

TestSuite(agent_fingerprint, .init = setup, .fini = teardown);

Test(agent_fingerprint, attributes_are_present_and_sane) {
        struct node *n = node_new();
        struct error err = {0};
        cr_assert_eq(fingerprint_node(dir, n, &err), 0, "%s", err.msg);
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cr_expect_eq(attr_int(n, "cpu.numcores"), cores);
        long long mhz = attr_int(n, "cpu.frequency");
        cr_expect(mhz >= 100 && mhz <= 10000, "cpu.frequency %lld MHz", mhz);
        cr_expect_eq(attr_int(n, "cpu.totalcompute"), mhz * cores);
        cr_expect(strlen(strmap_get(&n->attributes, "cpu.modelname")) > 0);
        cr_expect_not_null(strmap_get(&n->attributes, "cpu.arch"));
        long long mem = attr_int(n, "memory.totalbytes");
        cr_expect(mem > 64LL * 1024 * 1024, "memory.totalbytes %lld", mem);
        cr_expect_str_eq(strmap_get(&n->attributes, "kernel.name"), "linux");
        cr_expect(strlen(strmap_get(&n->attributes, "kernel.version")) > 0);
        cr_expect_not_null(strmap_get(&n->attributes, "kernel.arch"));
        cr_expect(strlen(strmap_get(&n->attributes, "os.name")) > 0);
        cr_expect_not_null(strmap_get(&n->attributes, "os.version"));
        char host[256] = "";
        gethostname(host, sizeof(host) - 1);
        cr_expect_str_eq(strmap_get(&n->attributes, "unique.hostname"), host);
        long long total = attr_int(n, "unique.storage.bytestotal"), free_ = attr_int(n, "unique.storage.bytesfree");
        cr_expect(total > 0 && free_ >= 0 && free_ <= total, "storage total %lld free %lld", total, free_);
        const char *cg = strmap_get(&n->attributes, "os.cgroups.version");
        cr_expect(cg && (strcmp(cg, "1") == 0 || strcmp(cg, "2") == 0), "os.cgroups.version %s", cg ? cg : "(none)");
        cr_expect_str_eq(strmap_get(&n->attributes, "driver.raw_exec"), "1");
        cr_expect_str_eq(strmap_get(&n->attributes, "drover.version"), DROVER_AGENT_VERSION);
        /* resources the scheduler uses */
        cr_expect_eq(n->cpu_shares, mhz * cores);
        cr_expect_eq(n->total_cores, cores);
        cr_expect_eq(n->memory_mb, mem / (1024 * 1024));
        cr_expect_eq(n->disk_mb, free_ / (1024 * 1024));
        cr_expect(node_has_driver(n, "raw_exec"), "raw_exec detected and healthy");
        /* -fingerprint prints them all */
        json_t *j = fingerprint_attributes_json(n);
        cr_expect_eq(json_object_size(j), n->attributes.n);
        cr_expect_str_eq(json_string_value(json_object_get(j, "kernel.name")), "linux");
        json_decref(j);
        node_unref(n);
}

Test(agent_fingerprint, storage_of_a_data_dir_that_does_not_exist_yet) {
        char sub[128];
        snprintf(sub, sizeof(sub), "%s/not/yet", dir);
        struct node *n = node_new();
        struct error err = {0};
        cr_assert_eq(fingerprint_node(sub, n, &err), 0, "%s", err.msg);
        cr_expect_gt(attr_int(n, "unique.storage.bytestotal"), 0);
        struct stat st;
        cr_expect_neq(stat(sub, &st), 0, "fingerprinting does not create the data dir");
        node_unref(n);
}

Test(agent_fingerprint, node_id_persists_across_restarts) {
        char data[128];
        snprintf(data, sizeof(data), "%s/data", dir);
        char id1[ID_BUF], s1[ID_BUF], id2[ID_BUF], s2[ID_BUF];
        struct error err = {0};
        cr_assert_eq(node_identity_load(data, id1, s1, &err), 0, "%s", err.msg);
        cr_assert_eq(node_identity_load(data, id2, s2, &err), 0, "%s", err.msg);
        cr_expect(id_is_valid(id1) && id_is_valid(s1));
        cr_expect_str_eq(id1, id2, "the same data dir keeps the same node ID");
        cr_expect_str_eq(s1, s2, "and the same secret");
        cr_expect_str_neq(id1, s1);
        char path[256];
        snprintf(path, sizeof(path), "%s/node-secret", data);
        struct stat st;
        cr_assert_eq(stat(path, &st), 0);
        cr_expect_eq(st.st_mode & 0777, 0600, "the secret is readable by its owner only");

        char other[128], id3[ID_BUF], s3[ID_BUF];
        snprintf(other, sizeof(other), "%s/other", dir);
        cr_assert_eq(node_identity_load(other, id3, s3, &err), 0, "%s", err.msg);
        cr_expect_str_neq(id1, id3, "another data dir is another node");
}

Test(agent_fingerprint, corrupt_node_id_is_a_clear_error) {
        char path[128];
        snprintf(path, sizeof(path), "%s/node-id", dir);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fputs("garbage\n", f);
        fclose(f);
        char id[ID_BUF] = "unchanged", secret[ID_BUF];
        struct error err = {0};
        cr_expect_lt(node_identity_load(dir, id, secret, &err), 0);
        cr_expect(strstr(err.msg, "node-id") && strstr(err.msg, "not a valid ID"), "%s", err.msg);
        cr_expect_str_eq(id, "unchanged", "output untouched on failure");
}
