/* pci.c - the PCI fingerprinter: /sys/bus/pci/devices, named from pci.ids, exposed as node devices.
 *
 * Every function is read (vendor, device, class, subsystem ids, numa_node, the
 * network interface of a NIC). GPUs (display controllers, class 0x03xxxx, of
 * NVIDIA, AMD or Intel: a server's BMC VGA is not one), processing
 * accelerators (class 0x12xxxx) and NICs (class 0x02xxxx) become device groups
 * in Nomad's NodeResources.Devices shape, grouped by vendor/type/name, so that
 * a task's `device "nvidia/gpu" { count = 1 }` can match them:
 *
 *   {"Vendor":"nvidia","Type":"gpu","Name":"H100 SXM5 80GB",
 *    "Instances":[{"ID":"0000:17:00.0","Healthy":true,"HealthDescription":"",
 *                  "Locality":{"PciBusID":"0000:17:00.0","NumaNode":0}}],
 *    "Attributes":{"vendor_id":{"String":"0x10de"},"device_id":{"String":"0x2330"}, ...}}
 *
 * The name is the bracketed model of the pci.ids entry ("GH100 [H100 SXM5
 * 80GB]" gives "H100 SXM5 80GB"), the whole entry when it has no brackets, or
 * the device id ("0x2330") when pci.ids is not installed. Attributes:
 * pci.gpu.count, pci.nic.count, pci.accelerator.count (0 when none).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/macros.h"
#include "common/model.h"
#include "nodeagent/fingerprint/fp_sources.h"
#include "nodeagent/fingerprint/fp_util.h"
#include "nodeagent/fingerprint/pci.h"

#define MAX_PCI 4096

struct pci_dev {
        char bdf[32];
        unsigned vendor, device, class;
        int numa;
        char ifname[32];
        const char *type; /* "gpu", "nic", "accelerator" or NULL */
        char vendor_name[128];
        char device_name[192];
};

struct mapped {
        char *data;
        size_t size;
};

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static const struct {
        unsigned id;
        const char *name;
} vendors[] = {
    {0x10de, "nvidia"}, {0x1002, "amd"},    {0x8086, "intel"},  {0x15b3, "mellanox"},   {0x14e4, "broadcom"},
    {0x1af4, "virtio"}, {0x1d0f, "amazon"}, {0x1077, "qlogic"}, {0x1924, "solarflare"}, {0x19e5, "huawei"},
    {0x1da3, "habana"}, {0x1137, "cisco"},  {0x177d, "cavium"}, {0x1fc9, "tehuti"},     {0x1ae0, "google"},
};

static bool gpu_vendor(unsigned v) {
        return v == 0x10de || v == 0x1002 || v == 0x8086;
}

static const char *type_of(unsigned vendor, unsigned class) {
        unsigned base = class >> 16;
        if (base == 0x03 && gpu_vendor(vendor))
                return "gpu";
        if (base == 0x12)
                return "accelerator";
        if (base == 0x02)
                return "nic";
        return NULL;
}

static int hex_line(const char *s, unsigned *ret) {
        char *end;
        unsigned long v = strtoul(s, &end, 16);
        if (end == s)
                return -EINVAL;
        *ret = (unsigned)v;
        return 0;
}

static int bdf_cmp(const void *a, const void *b) {
        return strcmp(((const struct pci_dev *)a)->bdf, ((const struct pci_dev *)b)->bdf);
}

/* The interface name under <dev>/net/, if any. */
static void nic_ifname(const struct fingerprint_ctx *ctx, const char *bdf, char *out, size_t size) {
        char rel[256], path[4096];
        out[0] = '\0';
        snprintf(rel, sizeof(rel), "/sys/bus/pci/devices/%s/net", bdf);
        _cleanup_(closedirp) DIR *d = opendir(fp_path(ctx, rel, path, sizeof(path)));
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (de->d_name[0] != '.') {
                        fp_strlcpy(out, de->d_name, size);
                        return;
                }
}

static void munmapp(struct mapped *m) {
        if (m->data)
                munmap(m->data, m->size);
}

static int map_file(const char *path, struct mapped *ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0)
                return -errno;
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        *ret = (struct mapped){.data = p, .size = (size_t)st.st_size};
        return 0;
}

/* The rest of the line at p (up to '\n' or end), trimmed, into out. */
static void line_name(const char *p, const char *end, char *out, size_t size) {
        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        if (len >= size)
                len = size - 1;
        memcpy(out, p, len);
        out[len] = '\0';
}

static int hexval(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The vendor id of a "vvvv  Name" line at p, or -1 for any other line. */
static long vendor_line_id(const char *p, const char *end) {
        if (end - p < 7 || p[4] != ' ' || p[5] != ' ')
                return -1;
        long v = 0;
        for (int i = 0; i < 4; i++) {
                int h = hexval(p[i]);
                if (h < 0)
                        return -1;
                v = v * 16 + h;
        }
        return v;
}

/* The first vendor line starting in [from, hi) of data (size bytes), or NULL. */
static const char *next_vendor_line(const char *data, size_t size, size_t from, size_t hi, long *ret_id) {
        size_t q = from;
        if (q > 0 && data[q - 1] != '\n') {
                const char *nl = memchr(data + q, '\n', hi - q);
                if (!nl)
                        return NULL;
                q = (size_t)(nl - data) + 1;
        }
        while (q < hi) {
                long v = vendor_line_id(data + q, data + size);
                if (v >= 0) {
                        *ret_id = v;
                        return data + q;
                }
                const char *nl = memchr(data + q, '\n', hi - q);
                if (!nl)
                        return NULL;
                q = (size_t)(nl - data) + 1;
        }
        return NULL;
}

/* pci.ids lists vendors in ascending order: bisect, so that only a few pages
 * of the 1.3 MB file are touched (a cold -fingerprint stays fast). */
static const char *find_vendor(const struct mapped *m, unsigned vendor) {
        size_t lo = 0, hi = m->size;
        for (int step = 0; lo < hi && step < 64; step++) {
                size_t mid = lo + (hi - lo) / 2;
                long v;
                const char *p = next_vendor_line(m->data, m->size, mid, hi, &v);
                if (!p) {
                        hi = mid;
                        continue;
                }
                if (v == (long)vendor)
                        return p;
                if (v < (long)vendor)
                        lo = (size_t)(p - m->data) + 1;
                else
                        hi = (size_t)(p - m->data);
        }
        return NULL;
}

/* The names of vendor (and device) in a mapped pci.ids: the vendor's line is
 * found by bisection, its device lines ("\tdddd  name"; subsystems have two
 * tabs) read up to the next vendor line. Names not found are left as they are. */
static void lookup_mapped(const struct mapped *m, unsigned vendor, unsigned device, char *vname, size_t vsize,
                          char *dname, size_t dsize) {
        const char *end = m->data + m->size;
        const char *v = find_vendor(m, vendor);
        if (!v)
                return;
        line_name(v + 6, end, vname, vsize);
        const char *p = memchr(v, '\n', (size_t)(end - v));
        while (p && p + 1 < end && (p[1] == '\t' || p[1] == '#')) {
                p++;
                if (p[0] == '\t' && end - p > 6 && p[1] != '\t') {
                        unsigned d = 0;
                        bool ok = true;
                        for (int h = 1; h <= 4; h++) {
                                int x = hexval(p[h]);
                                ok &= x >= 0;
                                d = d * 16 + (unsigned)(x < 0 ? 0 : x);
                        }
                        if (ok && d == device) {
                                line_name(p + 5, end, dname, dsize);
                                return;
                        }
                }
                p = memchr(p, '\n', (size_t)(end - p));
        }
}

int pci_ids_lookup(const char *path, unsigned vendor, unsigned device, char *vname, size_t vsize, char *dname,
                   size_t dsize) {
        _cleanup_(munmapp) struct mapped m = {0};
        int r = map_file(path, &m);
        if (r < 0)
                return r;
        vname[0] = dname[0] = '\0';
        lookup_mapped(&m, vendor, device, vname, vsize, dname, dsize);
        return 0;
}

static void pci_ids_names(const struct fingerprint_ctx *ctx, struct pci_dev *devs, size_t n) {
        char path[4096];
        _cleanup_(munmapp) struct mapped m = {0};
        if (n == 0)
                return;
        if (ctx->pci_ids) {
                if (map_file(ctx->pci_ids, &m) < 0)
                        return;
        } else if (map_file(fp_path(ctx, "/usr/share/misc/pci.ids", path, sizeof(path)), &m) < 0 &&
                   map_file(fp_path(ctx, "/usr/share/hwdata/pci.ids", path, sizeof(path)), &m) < 0) {
                return;
        }
        for (size_t i = 0; i < n; i++)
                lookup_mapped(&m, devs[i].vendor, devs[i].device, devs[i].vendor_name, sizeof(devs[i].vendor_name),
                              devs[i].device_name, sizeof(devs[i].device_name));
}

/* The group name: the bracketed model, else the whole entry, else the id. */
static void model_name(const struct pci_dev *d, char *out, size_t size) {
        const char *open = strchr(d->device_name, '['), *close = open ? strchr(open, ']') : NULL;
        if (open && close && close > open + 1)
                snprintf(out, size, "%.*s", (int)(close - open - 1), open + 1);
        else if (*d->device_name)
                snprintf(out, size, "%s", d->device_name);
        else
                snprintf(out, size, "0x%04x", d->device);
}

static void vendor_short(const struct pci_dev *d, char *out, size_t size) {
        for (size_t i = 0; i < ARRAY_SIZE(vendors); i++)
                if (vendors[i].id == d->vendor) {
                        snprintf(out, size, "%s", vendors[i].name);
                        return;
                }
        if (*d->vendor_name) {
                size_t k = 0;
                for (const char *p = d->vendor_name; *p && *p != ' ' && *p != ',' && k + 1 < size; p++)
                        out[k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
                out[k] = '\0';
                if (k)
                        return;
        }
        snprintf(out, size, "0x%04x", d->vendor);
}

static json_t *str_attr(const char *s) {
        return json_pack("{s:s}", "String", s);
}

static json_t *find_group(json_t *groups, const char *vendor, const char *type, const char *name) {
        size_t i;
        json_t *g;
        json_array_foreach(groups, i, g) {
                if (strcmp(json_string_value(json_object_get(g, "Vendor")), vendor) == 0 &&
                    strcmp(json_string_value(json_object_get(g, "Type")), type) == 0 &&
                    strcmp(json_string_value(json_object_get(g, "Name")), name) == 0)
                        return g;
        }
        return NULL;
}

static json_t *device_groups(const struct pci_dev *devs, size_t n) {
        json_t *groups = json_array();
        for (size_t i = 0; i < n; i++) {
                const struct pci_dev *d = &devs[i];
                if (!d->type)
                        continue;
                char vendor[64], name[192], hex[16];
                vendor_short(d, vendor, sizeof(vendor));
                model_name(d, name, sizeof(name));
                json_t *g = find_group(groups, vendor, d->type, name);
                if (!g) {
                        json_t *attrs = json_object();
                        snprintf(hex, sizeof(hex), "0x%04x", d->vendor);
                        json_object_set_new(attrs, "vendor_id", str_attr(hex));
                        snprintf(hex, sizeof(hex), "0x%04x", d->device);
                        json_object_set_new(attrs, "device_id", str_attr(hex));
                        snprintf(hex, sizeof(hex), "0x%06x", d->class);
                        json_object_set_new(attrs, "pci_class", str_attr(hex));
                        if (*d->vendor_name)
                                json_object_set_new(attrs, "vendor_name", str_attr(d->vendor_name));
                        if (*d->device_name)
                                json_object_set_new(attrs, "product", str_attr(d->device_name));
                        g = json_pack("{s:s,s:s,s:s,s:[],s:o}", "Vendor", vendor, "Type", d->type, "Name", name,
                                      "Instances", "Attributes", attrs);
                        json_array_append_new(groups, g);
                }
                json_t *loc = json_pack("{s:s}", "PciBusID", d->bdf);
                if (d->numa >= 0)
                        json_object_set_new(loc, "NumaNode", json_integer(d->numa));
                if (*d->ifname)
                        json_object_set_new(loc, "Interface", json_string(d->ifname));
                json_array_append_new(json_object_get(g, "Instances"),
                                      json_pack("{s:s,s:b,s:s,s:o}", "ID", d->bdf, "Healthy", 1, "HealthDescription",
                                                "", "Locality", loc));
        }
        return groups;
}

static int fp_pci_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        char path[4096], buf[64];
        _cleanup_(closedirp) DIR *d = opendir(fp_path(ctx, "/sys/bus/pci/devices", path, sizeof(path)));
        _cleanup_free_ struct pci_dev *devs = NULL;
        size_t cnt = 0, cap = 0;
        struct dirent *de;
        while (d && (de = readdir(d)) && cnt < MAX_PCI) {
                if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(devs->bdf))
                        continue;
                struct pci_dev dev = {.numa = -1};
                fp_strlcpy(dev.bdf, de->d_name, sizeof(dev.bdf));
                if (fp_readf(ctx, buf, sizeof(buf), "/sys/bus/pci/devices/%s/vendor", dev.bdf) <= 0 ||
                    hex_line(buf, &dev.vendor) < 0 ||
                    fp_readf(ctx, buf, sizeof(buf), "/sys/bus/pci/devices/%s/device", dev.bdf) <= 0 ||
                    hex_line(buf, &dev.device) < 0 ||
                    fp_readf(ctx, buf, sizeof(buf), "/sys/bus/pci/devices/%s/class", dev.bdf) <= 0 ||
                    hex_line(buf, &dev.class) < 0)
                        continue;
                dev.numa = (int)fp_read_ll(ctx, -1, "/sys/bus/pci/devices/%s/numa_node", dev.bdf);
                dev.type = type_of(dev.vendor, dev.class);
                if (dev.type && strcmp(dev.type, "nic") == 0)
                        nic_ifname(ctx, dev.bdf, dev.ifname, sizeof(dev.ifname));
                if (cnt == cap) {
                        cap = cap ? cap * 2 : 64;
                        struct pci_dev *nd = realloc(devs, cap * sizeof(*nd));
                        if (!nd)
                                return errorf(err, -ENOMEM, "out of memory");
                        devs = nd;
                }
                devs[cnt++] = dev;
        }
        if (cnt)
                qsort(devs, cnt, sizeof(*devs), bdf_cmp);
        /* Only the devices that become groups need names. */
        size_t k = 0;
        for (size_t i = 0; i < cnt; i++)
                if (devs[i].type)
                        devs[k++] = devs[i];
        pci_ids_names(ctx, devs, k);
        long long gpus = 0, nics = 0, accels = 0;
        for (size_t i = 0; i < k; i++) {
                gpus += strcmp(devs[i].type, "gpu") == 0;
                nics += strcmp(devs[i].type, "nic") == 0;
                accels += strcmp(devs[i].type, "accelerator") == 0;
        }
        json_t *groups = device_groups(devs, k);
        if (!groups)
                return errorf(err, -ENOMEM, "out of memory");
        if (n->devices)
                json_decref(n->devices);
        n->devices = json_array_size(groups) ? groups : NULL;
        if (!n->devices)
                json_decref(groups);
        int r = 0;
        r |= fp_set_ll(n, "pci.gpu.count", gpus);
        r |= fp_set_ll(n, "pci.nic.count", nics);
        r |= fp_set_ll(n, "pci.accelerator.count", accels);
        if (r < 0)
                return errorf(err, -ENOMEM, "out of memory");
        return 0;
}

const struct fingerprint_ops fp_pci = {.name = "pci", .run = fp_pci_run};
