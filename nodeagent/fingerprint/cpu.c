/* cpu.c - the cpu fingerprinter: CPUID for identity and features, sysfs for topology.
 *
 * Attributes: cpu.arch, cpu.vendor, cpu.modelname, cpu.family, cpu.model,
 * cpu.stepping, cpu.flags (comma list, /proc/cpuinfo spelling, for
 * set_contains), cpu.hypervisor (true|false) and cpu.hypervisor.vendor,
 * cpu.numcores (online logical cpus), cpu.physicalcores, cpu.sockets,
 * cpu.threads_per_core, cpu.online (cpu list), cpu.frequency (MHz),
 * cpu.totalcompute = cpu.usablecompute (MHz x cores), cpu.reservablecores.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "common/error.h"
#include "common/macros.h"
#include "common/model.h"
#include "nodeagent/fingerprint/fp_sources.h"
#include "nodeagent/fingerprint/fp_util.h"

#define MAX_CPUS 8192

static bool cpuid_hw(uint32_t leaf, uint32_t subleaf, struct cpuid_regs *ret, void *data) {
#if defined(__x86_64__) || defined(__i386__)
        uint32_t max = __get_cpuid_max(leaf & 0xf0000000u, NULL);
        if (max == 0 || leaf > max)
                return false;
        __cpuid_count(leaf, subleaf, ret->eax, ret->ebx, ret->ecx, ret->edx);
        return true;
#else
        return false;
#endif
}

struct cpuid_src {
        bool (*fn)(uint32_t leaf, uint32_t subleaf, struct cpuid_regs *ret, void *data);
        void *data;
};

static bool cpuid(const struct cpuid_src *s, uint32_t leaf, uint32_t subleaf, struct cpuid_regs *ret) {
        *ret = (struct cpuid_regs){0};
        return s->fn(leaf, subleaf, ret, s->data);
}

enum reg { EAX, EBX, ECX, EDX };

struct flag {
        uint32_t leaf, subleaf;
        enum reg reg;
        unsigned bit;
        const char *name;
};

/* Names as the kernel spells them in /proc/cpuinfo. */
static const struct flag flags[] = {
    {1, 0, EDX, 0, "fpu"},
    {1, 0, EDX, 4, "tsc"},
    {1, 0, EDX, 8, "cx8"},
    {1, 0, EDX, 9, "apic"},
    {1, 0, EDX, 15, "cmov"},
    {1, 0, EDX, 23, "mmx"},
    {1, 0, EDX, 25, "sse"},
    {1, 0, EDX, 26, "sse2"},
    {1, 0, EDX, 28, "ht"},
    {1, 0, ECX, 0, "pni"},
    {1, 0, ECX, 1, "pclmulqdq"},
    {1, 0, ECX, 5, "vmx"},
    {1, 0, ECX, 9, "ssse3"},
    {1, 0, ECX, 12, "fma"},
    {1, 0, ECX, 13, "cx16"},
    {1, 0, ECX, 19, "sse4_1"},
    {1, 0, ECX, 20, "sse4_2"},
    {1, 0, ECX, 21, "x2apic"},
    {1, 0, ECX, 22, "movbe"},
    {1, 0, ECX, 23, "popcnt"},
    {1, 0, ECX, 25, "aes"},
    {1, 0, ECX, 26, "xsave"},
    {1, 0, ECX, 28, "avx"},
    {1, 0, ECX, 29, "f16c"},
    {1, 0, ECX, 30, "rdrand"},
    {1, 0, ECX, 31, "hypervisor"},
    {7, 0, EBX, 0, "fsgsbase"},
    {7, 0, EBX, 3, "bmi1"},
    {7, 0, EBX, 4, "hle"},
    {7, 0, EBX, 5, "avx2"},
    {7, 0, EBX, 7, "smep"},
    {7, 0, EBX, 8, "bmi2"},
    {7, 0, EBX, 9, "erms"},
    {7, 0, EBX, 11, "rtm"},
    {7, 0, EBX, 16, "avx512f"},
    {7, 0, EBX, 17, "avx512dq"},
    {7, 0, EBX, 18, "rdseed"},
    {7, 0, EBX, 19, "adx"},
    {7, 0, EBX, 20, "smap"},
    {7, 0, EBX, 21, "avx512ifma"},
    {7, 0, EBX, 23, "clflushopt"},
    {7, 0, EBX, 24, "clwb"},
    {7, 0, EBX, 28, "avx512cd"},
    {7, 0, EBX, 29, "sha_ni"},
    {7, 0, EBX, 30, "avx512bw"},
    {7, 0, EBX, 31, "avx512vl"},
    {7, 0, ECX, 1, "avx512vbmi"},
    {7, 0, ECX, 2, "umip"},
    {7, 0, ECX, 3, "pku"},
    {7, 0, ECX, 6, "avx512_vbmi2"},
    {7, 0, ECX, 8, "gfni"},
    {7, 0, ECX, 9, "vaes"},
    {7, 0, ECX, 10, "vpclmulqdq"},
    {7, 0, ECX, 11, "avx512_vnni"},
    {7, 0, ECX, 12, "avx512_bitalg"},
    {7, 0, ECX, 14, "avx512_vpopcntdq"},
    {7, 0, ECX, 16, "la57"},
    {7, 0, ECX, 22, "rdpid"},
    {7, 0, EDX, 14, "serialize"},
    {7, 0, EDX, 22, "amx_bf16"},
    {7, 0, EDX, 23, "avx512_fp16"},
    {7, 0, EDX, 24, "amx_tile"},
    {7, 0, EDX, 25, "amx_int8"},
    {7, 1, EAX, 4, "avx_vnni"},
    {7, 1, EAX, 5, "avx512_bf16"},
    {0x80000001, 0, EDX, 11, "syscall"},
    {0x80000001, 0, EDX, 20, "nx"},
    {0x80000001, 0, EDX, 26, "pdpe1gb"},
    {0x80000001, 0, EDX, 27, "rdtscp"},
    {0x80000001, 0, EDX, 29, "lm"},
    {0x80000001, 0, ECX, 0, "lahf_lm"},
    {0x80000001, 0, ECX, 5, "abm"},
    {0x80000001, 0, ECX, 6, "sse4a"},
    {0x80000001, 0, ECX, 16, "fma4"},
};

static uint32_t reg_of(const struct cpuid_regs *r, enum reg which) {
        switch (which) {
        case EAX:
                return r->eax;
        case EBX:
                return r->ebx;
        case ECX:
                return r->ecx;
        default:
                return r->edx;
        }
}

/* Identity and features from CPUID. Returns false when there is no CPUID. */
static bool cpuid_facts(const struct cpuid_src *s, struct node *n, char *model, size_t msize, int *r) {
        struct cpuid_regs l0, l1;
        if (!cpuid(s, 0, 0, &l0) || !cpuid(s, 1, 0, &l1))
                return false;
        char vendor[13];
        memcpy(vendor, &l0.ebx, 4);
        memcpy(vendor + 4, &l0.edx, 4);
        memcpy(vendor + 8, &l0.ecx, 4);
        vendor[12] = '\0';
        const char *v = strcmp(vendor, "GenuineIntel") == 0   ? "intel"
                        : strcmp(vendor, "AuthenticAMD") == 0 ? "amd"
                        : strcmp(vendor, "HygonGenuine") == 0 ? "hygon"
                                                              : vendor;
        unsigned fam = (l1.eax >> 8) & 0xf, mod = (l1.eax >> 4) & 0xf, step = l1.eax & 0xf;
        if (fam == 0xf)
                fam += (l1.eax >> 20) & 0xff;
        if (fam == 0x6 || fam >= 0xf)
                mod |= ((l1.eax >> 16) & 0xf) << 4;
        *r |= fp_set(n, "cpu.vendor", v);
        *r |= fp_set_ll(n, "cpu.family", fam);
        *r |= fp_set_ll(n, "cpu.model", mod);
        *r |= fp_set_ll(n, "cpu.stepping", step);

        struct cpuid_regs b[3];
        if (cpuid(s, 0x80000000, 0, &b[0]) && b[0].eax >= 0x80000004) {
                unsigned int regs[12];
                for (unsigned int i = 0; i < 3; i++) {
                        cpuid(s, 0x80000002 + i, 0, &b[i]);
                        regs[i * 4] = b[i].eax;
                        regs[i * 4 + 1] = b[i].ebx;
                        regs[i * 4 + 2] = b[i].ecx;
                        regs[i * 4 + 3] = b[i].edx;
                }
                if (msize > sizeof(regs)) {
                        memcpy(model, regs, sizeof(regs));
                        model[sizeof(regs)] = '\0';
                        fp_trim(model);
                }
        }

        /* Leaves that do not exist read as zero: their flags are absent. */
        uint32_t max = l0.eax;
        struct cpuid_regs l7_0 = {0}, l7_1 = {0}, e1 = {0}, e0 = {0};
        if (max >= 7) {
                cpuid(s, 7, 0, &l7_0);
                if (l7_0.eax >= 1)
                        cpuid(s, 7, 1, &l7_1);
        }
        if (cpuid(s, 0x80000000, 0, &e0) && e0.eax >= 0x80000001)
                cpuid(s, 0x80000001, 0, &e1);
        char list[2048] = "";
        size_t len = 0;
        for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
                const struct cpuid_regs *src = flags[i].leaf == 1            ? &l1
                                               : flags[i].leaf == 0x80000001 ? &e1
                                               : flags[i].subleaf == 1       ? &l7_1
                                                                             : &l7_0;
                if (!(reg_of(src, flags[i].reg) >> flags[i].bit & 1))
                        continue;
                len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", len ? "," : "", flags[i].name);
                if (len >= sizeof(list))
                        break;
        }
        *r |= fp_set(n, "cpu.flags", list);
        bool hv = (l1.ecx >> 31) & 1;
        *r |= fp_set(n, "cpu.hypervisor", hv ? "true" : "false");
        struct cpuid_regs h;
        if (hv && cpuid(s, 0x40000000, 0, &h)) {
                char sig[13];
                memcpy(sig, &h.ebx, 4);
                memcpy(sig + 4, &h.ecx, 4);
                memcpy(sig + 8, &h.edx, 4);
                sig[12] = '\0';
                const char *hvn = strncmp(sig, "KVMKVMKVM", 9) == 0       ? "kvm"
                                  : strcmp(sig, "Microsoft Hv") == 0      ? "hyperv"
                                  : strcmp(sig, "VMwareVMware") == 0      ? "vmware"
                                  : strcmp(sig, "XenVMMXenVMM") == 0      ? "xen"
                                  : strncmp(sig, "TCGTCGTCGTCG", 12) == 0 ? "qemu"
                                  : strcmp(sig, "VBoxVBoxVBox") == 0      ? "virtualbox"
                                  : strcmp(sig, "bhyve bhyve ") == 0      ? "bhyve"
                                                                          : NULL;
                char clean[13];
                size_t k = 0;
                for (size_t i = 0; i < 12 && sig[i]; i++)
                        if (sig[i] > ' ' && sig[i] < 127)
                                clean[k++] = sig[i];
                clean[k] = '\0';
                if (hvn || k)
                        *r |= fp_set(n, "cpu.hypervisor.vendor", hvn ? hvn : clean);
        }
        return true;
}

/* model name and cpu MHz from /proc/cpuinfo, where CPUID has none (arm64) or no frequency. */
static void cpuinfo_fields(const struct fingerprint_ctx *ctx, char *model, size_t msize, double *mhz) {
        char path[4096];
        _cleanup_fclose_ FILE *f = fopen(fp_path(ctx, "/proc/cpuinfo", path, sizeof(path)), "re");
        if (!f)
                return;
        char line[512];
        bool have_model = *model != '\0', have_mhz = *mhz > 0;
        while ((!have_model || !have_mhz) && fgets(line, sizeof(line), f)) {
                char *colon = strchr(line, ':');
                if (!colon)
                        continue;
                *colon = '\0';
                char *val = colon + 1;
                fp_trim(line);
                fp_trim(val);
                if (!have_model && (strcmp(line, "model name") == 0 || strcmp(line, "Processor") == 0)) {
                        snprintf(model, msize, "%s", val);
                        have_model = true;
                } else if (!have_mhz && strcmp(line, "cpu MHz") == 0) {
                        *mhz = strtod(val, NULL);
                        have_mhz = *mhz > 0;
                }
        }
}

struct topo {
        const struct fingerprint_ctx *ctx;
        int n;
        int first;
        /* distinct (package, die, core) and packages, as sorted-free small sets */
        long long *cores;
        size_t n_cores;
        long long *pkgs;
        size_t n_pkgs;
        bool oom;
};

static bool set_add(long long **set, size_t *n, long long v, bool *oom) {
        for (size_t i = 0; i < *n; i++)
                if ((*set)[i] == v)
                        return false;
        long long *s = realloc(*set, (*n + 1) * sizeof(**set));
        if (!s) {
                *oom = true;
                return false;
        }
        s[(*n)++] = v;
        *set = s;
        return true;
}

static void topo_cpu(int cpu, void *data) {
        struct topo *t = data;
        if (t->n++ == 0)
                t->first = cpu;
        long long pkg = fp_read_ll(t->ctx, 0, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
        long long die = fp_read_ll(t->ctx, 0, "/sys/devices/system/cpu/cpu%d/topology/die_id", cpu);
        long long core = fp_read_ll(t->ctx, cpu, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
        set_add(&t->pkgs, &t->n_pkgs, pkg, &t->oom);
        set_add(&t->cores, &t->n_cores, (pkg << 40) ^ (die << 24) ^ core, &t->oom);
}

static const char *arch_name(struct utsname *u) {
        if (uname(u) < 0)
                return "unknown";
        if (strcmp(u->machine, "x86_64") == 0)
                return "amd64";
        if (strcmp(u->machine, "aarch64") == 0)
                return "arm64";
        return u->machine;
}

static int fp_cpu_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        int r = 0;
        struct cpuid_src src = {.fn = ctx->cpuid ? ctx->cpuid : cpuid_hw, .data = ctx->cpuid_data};
        char model[128] = "";
        cpuid_facts(&src, n, model, sizeof(model), &r);

        /* Topology: the online cpus and their package/core ids. */
        char online[4096];
        struct topo t = {.ctx = ctx};
        int cores = -1;
        if (fp_read(ctx, "/sys/devices/system/cpu/online", online, sizeof(online)) > 0 &&
            fp_cpulist_count(online) > 0 && fp_cpulist_count(online) <= MAX_CPUS)
                cores = fp_cpulist_foreach(online, topo_cpu, &t);
        if (cores <= 0) {
                if (ctx->root && *ctx->root)
                        return errorf(err, -ENOENT, "%s/sys/devices/system/cpu/online: missing or unreadable",
                                      ctx->root);
                cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
                if (cores < 1)
                        cores = 1;
                snprintf(online, sizeof(online), "0-%d", cores - 1);
        }
        if (t.n_pkgs > 0 && !t.oom) {
                r |= fp_set_ll(n, "cpu.sockets", (long long)t.n_pkgs);
                r |= fp_set_ll(n, "cpu.physicalcores", (long long)t.n_cores);
                r |= fp_set_ll(n, "cpu.threads_per_core",
                               t.n_cores ? (cores + (long long)t.n_cores - 1) / (long long)t.n_cores : 1);
        }
        free(t.cores);
        free(t.pkgs);
        r |= fp_set(n, "cpu.online", online);

        if (!*model) {
                double skip = 1; /* the model name only */
                cpuinfo_fields(ctx, model, sizeof(model), &skip);
        }
        /* Frequency: cpufreq's maximum, the brand string's "@ 2.20GHz", then cpuinfo. */
        int c0 = t.n ? t.first : 0;
        double mhz = fp_read_ll(ctx, 0, "/sys/devices/system/cpu/cpu%d/cpufreq/cpuinfo_max_freq", c0) / 1000.0;
        if (mhz <= 0)
                mhz = fp_read_ll(ctx, 0, "/sys/devices/system/cpu/cpu%d/cpufreq/base_frequency", c0) / 1000.0;
        if (mhz <= 0 && *model) {
                const char *at = strrchr(model, '@');
                if (at) {
                        double ghz = strtod(at + 1, NULL);
                        if (ghz > 0 && strstr(at, "GHz"))
                                mhz = ghz * 1000.0;
                }
        }
        cpuinfo_fields(ctx, model, sizeof(model), &mhz);
        if (mhz <= 0)
                mhz = 1000; /* unknown: Nomad's fallback is also a guess; keep scheduling possible */
        long long imhz = (long long)(mhz + 0.5);
        r |= fp_set_ll(n, "cpu.numcores", cores);
        r |= fp_set_ll(n, "cpu.frequency", imhz);
        r |= fp_set(n, "cpu.modelname", *model ? model : "unknown");
        r |= fp_set_ll(n, "cpu.totalcompute", imhz * cores);
        r |= fp_set_ll(n, "cpu.usablecompute", imhz * cores);
        r |= fp_set_ll(n, "cpu.reservablecores", cores);
        struct utsname u;
        r |= fp_set(n, "cpu.arch", arch_name(&u));
        if (r < 0 || t.oom)
                return errorf(err, -ENOMEM, "out of memory");
        n->cpu_shares = imhz * cores;
        n->total_cores = cores;
        return 0;
}

const struct fingerprint_ops fp_cpu = {.name = "cpu", .run = fp_cpu_run};
