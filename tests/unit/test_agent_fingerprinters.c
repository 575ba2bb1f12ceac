/* test_agent_fingerprinters.c - each fingerprinter against the fixture hosts in
 * tests/fixtures/hosts (see tests/fixtures/README.md), and the live host. */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/model.h"
#include "nodeagent/drivers/driver.h"
#include "nodeagent/fingerprint/fingerprint.h"
#include "nodeagent/fingerprint/fp_part.h"
#include "nodeagent/fingerprint/fp_sources.h"
#include "nodeagent/fingerprint/fp_util.h"
#include "nodeagent/fingerprint/network.h"
#include "nodeagent/fingerprint/pci.h"
#include "tests/unit/tmpdir.h"

#define GPU_HOST "tests/fixtures/hosts/gpu-2numa"
#define AWS_HOST "tests/fixtures/hosts/vm-aws"
#define PCI_IDS "tests/fixtures/pci.ids"

/* ---- injected CPUID: the fixture's cpuid.txt ---------------------------------- */

struct cpuid_table {
        struct {
                uint32_t leaf, sub;
                struct cpuid_regs r;
        } e[64];
        size_t n;
};

static void load_cpuid(const char *host, struct cpuid_table *t) {
        char path[256], line[256];
        snprintf(path, sizeof(path), "%s/cpuid.txt", host);
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f, "%s", path);
        t->n = 0;
        while (fgets(line, sizeof(line), f) && t->n < 64) {
                if (line[0] == '#')
                        continue;
                unsigned leaf, sub, a, b, c, d;
                if (sscanf(line, "%x %x %x %x %x %x", &leaf, &sub, &a, &b, &c, &d) == 6)
                        t->e[t->n++] = (typeof(t->e[0])){leaf, sub, {a, b, c, d}};
        }
        fclose(f);
}

static bool fake_cpuid(uint32_t leaf, uint32_t sub, struct cpuid_regs *ret, void *data) {
        struct cpuid_table *t = data;
        for (size_t i = 0; i < t->n; i++)
                if (t->e[i].leaf == leaf && t->e[i].sub == sub) {
                        *ret = t->e[i].r;
                        return true;
                }
        return false;
}

/* ---- injected netlink dump ----------------------------------------------------- */

static int fake_net(struct net_snapshot *ret, struct error *err, void *data) {
        struct net_snapshot s = {0};
        struct net_iface lo = {.index = 1, .name = "lo", .flags = IFF_UP | IFF_LOOPBACK, .mtu = 65536};
        lo.addrs[lo.n_addrs++] = (struct net_addr){AF_INET, "127.0.0.1", 8};
        struct net_iface eth = {
            .index = 2, .name = "enp75s0f0", .mac = "3c:fd:fe:a1:b2:c3", .flags = IFF_UP, .mtu = 9000};
        eth.addrs[eth.n_addrs++] = (struct net_addr){AF_INET6, "fe80::3efd:feff:fea1:b2c3", 64};
        eth.addrs[eth.n_addrs++] = (struct net_addr){AF_INET, "10.20.0.11", 24};
        struct net_iface ib = {.index = 3, .name = "ibp41s0", .flags = IFF_UP, .mtu = 4092};
        ib.addrs[ib.n_addrs++] = (struct net_addr){AF_INET, "192.168.100.11", 24};
        struct net_iface down = {.index = 4, .name = "docker0", .flags = 0, .mtu = 1500};
        down.addrs[down.n_addrs++] = (struct net_addr){AF_INET, "172.17.0.1", 16};
        net_snapshot_add(&s, &lo);
        net_snapshot_add(&s, &ib); /* listed before the default interface on purpose */
        net_snapshot_add(&s, &eth);
        net_snapshot_add(&s, &down);
        s.default_index = *(int *)data;
        snprintf(s.gateway, sizeof(s.gateway), "10.20.0.1");
        *ret = s;
        return 0;
}

static struct cpuid_table table;

static struct fingerprint_ctx host_ctx(const char *host) {
        load_cpuid(host, &table);
        return (struct fingerprint_ctx){
            .data_dir = "/tmp", .root = host, .pci_ids = PCI_IDS, .cpuid = fake_cpuid, .cpuid_data = &table};
}

static const char *attr(const struct node *n, const char *k) {
        return strmap_get(&n->attributes, k);
}

static void expect_attr(const struct node *n, const char *k, const char *want) {
        const char *v = attr(n, k);
        cr_expect(v && strcmp(v, want) == 0, "%s = \"%s\", want \"%s\"", k, v ? v : "(unset)", want);
}

static bool in_list(const char *list, const char *item) {
        size_t len = strlen(item);
        for (const char *p = list; p && *p;) {
                size_t l = strcspn(p, ",");
                if (l == len && strncmp(p, item, len) == 0)
                        return true;
                p += l + (p[l] == ',');
        }
        return false;
}

static void run(const struct fingerprint_ops *ops, const struct fingerprint_ctx *ctx, struct node *n) {
        struct error err = {0};
        cr_assert_eq(ops->run(ctx, n, &err), 0, "%s: %s", ops->name, err.msg);
}

TestSuite(fingerprinters);

Test(fingerprinters, cpu_of_a_two_socket_sapphire_rapids) {
        struct fingerprint_ctx ctx = host_ctx(GPU_HOST);
        struct node *n = node_new();
        run(&fp_cpu, &ctx, n);
        expect_attr(n, "cpu.numcores", "16");
        expect_attr(n, "cpu.sockets", "2");
        expect_attr(n, "cpu.physicalcores", "8");
        expect_attr(n, "cpu.threads_per_core", "2");
        expect_attr(n, "cpu.online", "0-15");
        expect_attr(n, "cpu.frequency", "3800");
        expect_attr(n, "cpu.totalcompute", "60800");
        expect_attr(n, "cpu.vendor", "intel");
        expect_attr(n, "cpu.family", "6");
        expect_attr(n, "cpu.model", "143");
        expect_attr(n, "cpu.stepping", "8");
        expect_attr(n, "cpu.modelname", "Intel(R) Xeon(R) Platinum 8480+");
        expect_attr(n, "cpu.hypervisor", "false");
        cr_expect_null(attr(n, "cpu.hypervisor.vendor"));
        const char *flags = attr(n, "cpu.flags");
        cr_assert_not_null(flags);
        const char *want[] = {"sse4_2",   "avx",         "avx2",     "avx512f", "avx512bw", "avx512_vnni",
                              "amx_tile", "avx512_bf16", "avx_vnni", "sha_ni",  "aes",      "lm"};
        for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
                cr_expect(in_list(flags, want[i]), "cpu.flags has %s: %s", want[i], flags);
        cr_expect(!in_list(flags, "hypervisor"), "bare metal: %s", flags);
        cr_expect_eq(n->cpu_shares, 60800);
        cr_expect_eq(n->total_cores, 16);
        node_unref(n);
}

Test(fingerprinters, cpu_of_an_aws_vm_without_cpufreq) {
        struct fingerprint_ctx ctx = host_ctx(AWS_HOST);
        struct node *n = node_new();
        run(&fp_cpu, &ctx, n);
        expect_attr(n, "cpu.numcores", "4");
        expect_attr(n, "cpu.physicalcores", "2");
        expect_attr(n, "cpu.sockets", "1");
        expect_attr(n, "cpu.frequency", "2500"); /* "@ 2.50GHz" in the brand string, not cpuinfo's 3110 */
        expect_attr(n, "cpu.totalcompute", "10000");
        expect_attr(n, "cpu.family", "6");
        expect_attr(n, "cpu.model", "85");
        expect_attr(n, "cpu.stepping", "7");
        expect_attr(n, "cpu.hypervisor", "true");
        expect_attr(n, "cpu.hypervisor.vendor", "kvm");
        const char *flags = attr(n, "cpu.flags");
        cr_expect(in_list(flags, "avx512f") && in_list(flags, "hypervisor") && in_list(flags, "avx512_vnni"), "%s",
                  flags);
        cr_expect(!in_list(flags, "amx_tile") && !in_list(flags, "avx512_bf16"), "%s", flags);
        node_unref(n);
}

Test(fingerprinters, cpu_without_cpuid_uses_cpuinfo) {
        struct fingerprint_ctx ctx = host_ctx(AWS_HOST);
        /* A fake that has no leaves: like arm64. */
        struct cpuid_table empty = {0};
        ctx.cpuid = fake_cpuid;
        ctx.cpuid_data = &empty;
        struct node *n = node_new();
        run(&fp_cpu, &ctx, n);
        expect_attr(n, "cpu.modelname", "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz");
        expect_attr(n, "cpu.frequency", "2500");
        cr_expect_null(attr(n, "cpu.flags"));
        cr_expect_null(attr(n, "cpu.vendor"));
        node_unref(n);
}

Test(fingerprinters, cpu_of_a_tree_without_cpus_is_an_error) {
        struct fingerprint_ctx ctx = {.root = "tests/fixtures/no-such-host", .cpuid = fake_cpuid, .cpuid_data = &table};
        table.n = 0;
        struct node *n = node_new();
        struct error err = {0};
        cr_expect_lt(fp_cpu.run(&ctx, n, &err), 0);
        cr_expect(strstr(err.msg, "no-such-host/sys/devices/system/cpu/online"), "%s", err.msg);
        node_unref(n);
}

Test(fingerprinters, memory_and_two_numa_nodes) {
        struct fingerprint_ctx ctx = host_ctx(GPU_HOST);
        struct node *n = node_new();
        run(&fp_memory, &ctx, n);
        run(&fp_numa, &ctx, n);
        expect_attr(n, "memory.totalbytes", "268435456000");
        cr_expect_eq(n->memory_mb, 256000);
        expect_attr(n, "numa.node.count", "2");
        expect_attr(n, "numa.node0.cpus", "0-3,8-11");
        expect_attr(n, "numa.node1.cpus", "4-7,12-15");
        expect_attr(n, "numa.node0.memorybytes", "134217728000");
        expect_attr(n, "numa.node1.memorybytes", "134217728000");
        node_unref(n);
}

Test(fingerprinters, a_host_without_numa_is_one_node) {
        struct fingerprint_ctx ctx = host_ctx(AWS_HOST);
        struct node *n = node_new();
        run(&fp_memory, &ctx, n);
        run(&fp_numa, &ctx, n);
        expect_attr(n, "numa.node.count", "1");
        expect_attr(n, "numa.node0.cpus", "0-3");
        expect_attr(n, "numa.node0.memorybytes", attr(n, "memory.totalbytes"));
        node_unref(n);
}

Test(fingerprinters, memory_without_meminfo_is_an_error) {
        struct fingerprint_ctx ctx = {.root = "tests/fixtures/no-such-host"};
        struct node *n = node_new();
        struct error err = {0};
        cr_expect_lt(fp_memory.run(&ctx, n, &err), 0);
        cr_expect(strstr(err.msg, "/proc/meminfo"), "%s", err.msg);
        cr_expect_null(attr(n, "memory.totalbytes"));
        node_unref(n);
}

static json_t *group(const struct node *n, const char *vendor, const char *type, const char *name) {
        size_t i;
        json_t *g;
        json_array_foreach(n->devices, i, g) {
                if (strcmp(json_string_value(json_object_get(g, "Vendor")), vendor) == 0 &&
                    strcmp(json_string_value(json_object_get(g, "Type")), type) == 0 &&
                    strcmp(json_string_value(json_object_get(g, "Name")), name) == 0)
                        return g;
        }
        return NULL;
}

static const char *instance_field(json_t *g, size_t i, const char *key) {
        json_t *inst = json_array_get(json_object_get(g, "Instances"), i);
        json_t *v = json_object_get(inst, key);
        if (!v)
                v = json_object_get(json_object_get(inst, "Locality"), key);
        return json_string_value(v);
}

static json_int_t instance_numa(json_t *g, size_t i) {
        json_t *inst = json_array_get(json_object_get(g, "Instances"), i);
        json_t *v = json_object_get(json_object_get(inst, "Locality"), "NumaNode");
        return json_is_integer(v) ? json_integer_value(v) : -1;
}

Test(fingerprinters, pci_gpus_and_nics_become_node_devices) {
        struct fingerprint_ctx ctx = host_ctx(GPU_HOST);
        struct node *n = node_new();
        run(&fp_pci, &ctx, n);
        cr_assert_not_null(n->devices);
        expect_attr(n, "pci.gpu.count", "5");
        expect_attr(n, "pci.nic.count", "2");
        expect_attr(n, "pci.accelerator.count", "0");
        json_t *h100 = group(n, "nvidia", "gpu", "H100 SXM5 80GB");
        cr_assert_not_null(h100, "%s", json_dumps(n->devices, 0));
        json_t *inst = json_object_get(h100, "Instances");
        cr_assert_eq(json_array_size(inst), 4);
        const char *ids[] = {"0000:18:00.0", "0000:2a:00.0", "0000:9a:00.0", "0000:ab:00.0"};
        const int numa[] = {0, 0, 1, 1};
        for (size_t i = 0; i < 4; i++) {
                cr_expect_str_eq(instance_field(h100, i, "ID"), ids[i]);
                cr_expect_str_eq(instance_field(h100, i, "PciBusID"), ids[i]);
                cr_expect_eq(instance_numa(h100, i), numa[i]);
                cr_expect(json_is_true(json_object_get(json_array_get(inst, i), "Healthy")));
        }
        json_t *attrs = json_object_get(h100, "Attributes");
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(attrs, "vendor_id"), "String")), "0x10de");
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(attrs, "device_id"), "String")), "0x2330");
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(attrs, "pci_class"), "String")), "0x030200");
        cr_expect_str_eq(json_string_value(json_object_get(json_object_get(attrs, "product"), "String")),
                         "GH100[H100 SXM5 80GB]");
        /* A VGA-class NVIDIA card is a GPU too; the BMC's ASPEED VGA is not. */
        json_t *rtx = group(n, "nvidia", "gpu", "GeForce RTX 3090");
        cr_assert_not_null(rtx);
        cr_expect_eq(instance_numa(rtx, 0), 1);
        size_t i;
        json_t *g;
        json_array_foreach(n->devices, i, g)
            cr_expect_str_neq(json_string_value(json_object_get(g, "Vendor")), "aspeed");
        json_t *cx6 = group(n, "mellanox", "nic", "ConnectX-6");
        cr_assert_not_null(cx6);
        cr_expect_str_eq(instance_field(cx6, 0, "Interface"), "ibp41s0");
        cr_expect_not_null(group(n, "intel", "nic", "Ethernet Controller X710 for 10GbE SFP+"));
        cr_expect_eq(json_array_size(n->devices), 4, "h100, rtx 3090, connectx-6, x710");
        node_unref(n);
}

Test(fingerprinters, pci_without_pci_ids_names_devices_by_id) {
        struct fingerprint_ctx ctx = host_ctx(GPU_HOST);
        ctx.pci_ids = "tests/fixtures/no-such-pci.ids";
        struct node *n = node_new();
        run(&fp_pci, &ctx, n);
        json_t *h100 = group(n, "nvidia", "gpu", "0x2330");
        cr_assert_not_null(h100);
        cr_expect_eq(json_array_size(json_object_get(h100, "Instances")), 4);
        cr_expect_null(json_object_get(json_object_get(h100, "Attributes"), "product"));
        node_unref(n);
}

Test(fingerprinters, pci_of_an_aws_vm) {
        struct fingerprint_ctx ctx = host_ctx(AWS_HOST);
        struct node *n = node_new();
        run(&fp_pci, &ctx, n);
        expect_attr(n, "pci.gpu.count", "0");
        expect_attr(n, "pci.nic.count", "1");
        cr_assert_eq(json_array_size(n->devices), 1, "only the ENA; the display and NVMe are no device groups");
        json_t *ena = group(n, "amazon", "nic", "Elastic Network Adapter (ENA)");
        cr_assert_not_null(ena);
        cr_expect_eq(instance_numa(ena, 0), -1, "numa_node -1 is left out");
        cr_expect_str_eq(instance_field(ena, 0, "Interface"), "ens5");
        node_unref(n);
}

Test(fingerprinters, devices_survive_the_node_json_round_trip) {
        struct fingerprint_ctx ctx = host_ctx(GPU_HOST);
        struct node *n = node_new();
        n->id = strdup("n1");
        run(&fp_pci, &ctx, n);
        json_t *j = node_to_json(n);
        cr_expect_eq(json_array_size(json_object_get(json_object_get(j, "NodeResources"), "Devices")), 4);
        struct node *back = NULL;
        cr_assert_eq(node_from_json(j, &back, NULL), 0);
        cr_expect(json_equal(back->devices, n->devices));
        struct node *c = node_copy(n);
        cr_expect(json_equal(c->devices, n->devices));
        /* Devices are part of the computed class. */
        struct node *plain = node_copy(n);
        json_decref(plain->devices);
        plain->devices = NULL;
        node_compute_class(plain);
        node_compute_class(c);
        cr_expect_str_neq(plain->computed_class, c->computed_class);
        json_decref(j);
        node_unref(back);
        node_unref(c);
        node_unref(plain);
        node_unref(n);
}

Test(fingerprinters, network_from_an_injected_snapshot) {
        struct fingerprint_ctx ctx = host_ctx(GPU_HOST);
        int def = 2;
        ctx.net_dump = fake_net;
        ctx.net_data = &def;
        struct node *n = node_new();
        run(&fp_network, &ctx, n);
        expect_attr(n, "unique.network.ip-address", "10.20.0.11");
        expect_attr(n, "network.default_interface", "enp75s0f0");
        cr_assert_eq(json_array_size(n->networks), 2, "lo and the down docker0 are left out");
        json_t *eth = NULL, *ib = NULL;
        size_t i;
        json_t *v;
        json_array_foreach(n->networks, i, v) {
                const char *dev = json_string_value(json_object_get(v, "Device"));
                if (strcmp(dev, "enp75s0f0") == 0)
                        eth = v;
                if (strcmp(dev, "ibp41s0") == 0)
                        ib = v;
        }
        cr_assert(eth && ib);
        cr_expect_eq(json_integer_value(json_object_get(eth, "Speed")), 10000, "from sysfs");
        cr_expect_eq(json_integer_value(json_object_get(ib, "Speed")), 200000);
        cr_expect_str_eq(json_string_value(json_object_get(eth, "MacAddress")), "3c:fd:fe:a1:b2:c3");
        json_t *addrs = json_object_get(eth, "Addresses");
        cr_expect_eq(json_array_size(addrs), 2);
        cr_expect_str_eq(json_string_value(json_object_get(json_array_get(addrs, 1), "Family")), "ipv4");
        cr_expect_str_eq(json_string_value(json_object_get(json_array_get(addrs, 1), "CIDR")), "10.20.0.11/24");
        cr_expect_str_eq(json_string_value(json_object_get(json_array_get(addrs, 1), "Gateway")), "10.20.0.1");
        node_unref(n);

        /* No default route: the first interface that is up and not loopback. */
        def = 0;
        n = node_new();
        run(&fp_network, &ctx, n);
        expect_attr(n, "unique.network.ip-address", "192.168.100.11");
        cr_expect_null(attr(n, "network.default_interface"));
        node_unref(n);
}

Test(fingerprinters, network_of_the_live_host_through_netlink) {
        struct net_snapshot s = {0};
        struct error err = {0};
        cr_assert_eq(net_dump_netlink(&s, &err, NULL), 0, "%s", err.msg);
        bool lo = false;
        for (size_t i = 0; i < s.n; i++)
                if (strcmp(s.ifs[i].name, "lo") == 0) {
                        lo = (s.ifs[i].flags & IFF_LOOPBACK) != 0;
                        bool v4 = false;
                        for (size_t k = 0; k < s.ifs[i].n_addrs; k++)
                                v4 |= strcmp(s.ifs[i].addrs[k].addr, "127.0.0.1") == 0 && s.ifs[i].addrs[k].prefix == 8;
                        cr_expect(v4, "lo has 127.0.0.1/8");
                }
        cr_expect(lo, "netlink lists lo");
        net_snapshot_free(&s);
}

Test(fingerprinters, host_kernel_and_os) {
        struct fingerprint_ctx ctx = host_ctx(GPU_HOST);
        struct node *n = node_new();
        run(&fp_host, &ctx, n);
        expect_attr(n, "kernel.name", "linux");
        expect_attr(n, "kernel.version", "5.15.0-97-generic");
        expect_attr(n, "os.name", "ubuntu");
        expect_attr(n, "os.version", "22.04");
        expect_attr(n, "os.pretty_name", "Ubuntu 22.04.4 LTS");
        expect_attr(n, "unique.hostname", "dgx-01");
        expect_attr(n, "unique.host_id", "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
        node_unref(n);
        ctx = host_ctx(AWS_HOST);
        n = node_new();
        run(&fp_host, &ctx, n);
        expect_attr(n, "os.name", "amzn");
        expect_attr(n, "os.version", "2");
        node_unref(n);
}

Test(fingerprinters, cgroup_v2_and_hybrid) {
        struct fingerprint_ctx ctx = host_ctx(GPU_HOST);
        struct node *n = node_new();
        run(&fp_cgroup, &ctx, n);
        expect_attr(n, "os.cgroups.version", "2");
        expect_attr(n, "unique.cgroup.mountpoint", "/sys/fs/cgroup");
        expect_attr(n, "os.cgroups.controllers", "cpuset,cpu,io,memory,hugetlb,pids,rdma,misc");
        expect_attr(n, "os.cgroups.subtree_control", "cpuset,cpu,io,memory,pids");
        node_unref(n);
        ctx = host_ctx(AWS_HOST);
        n = node_new();
        run(&fp_cgroup, &ctx, n);
        expect_attr(n, "os.cgroups.version", "1");
        expect_attr(n, "unique.cgroup.mountpoint", "/sys/fs/cgroup/unified");
        expect_attr(n, "os.cgroups.controllers", "");
        node_unref(n);
}

Test(fingerprinters, kernel_btf_bpf_seccomp) {
        struct fingerprint_ctx ctx = host_ctx(GPU_HOST);
        struct node *n = node_new();
        run(&fp_kernel, &ctx, n);
        expect_attr(n, "kernel.btf", "true");
        expect_attr(n, "kernel.bpf", "true");
        expect_attr(n, "kernel.seccomp", "true");
        expect_attr(n, "kernel.seccomp.actions", "kill_process,kill_thread,trap,errno,user_notif,trace,log,allow");
        node_unref(n);
        ctx = host_ctx(AWS_HOST);
        n = node_new();
        run(&fp_kernel, &ctx, n);
        expect_attr(n, "kernel.btf", "false");
        expect_attr(n, "kernel.bpf", "true");
        expect_attr(n, "kernel.seccomp", "false");
        cr_expect_null(attr(n, "kernel.seccomp.actions"));
        node_unref(n);
}

Test(fingerprinters, cloud_from_dmi) {
        struct fingerprint_ctx ctx = host_ctx(AWS_HOST);
        struct node *n = node_new();
        run(&fp_cloud, &ctx, n);
        expect_attr(n, "platform.cloud", "aws");
        expect_attr(n, "platform.aws.instance-type", "m5.xlarge");
        expect_attr(n, "unique.platform.aws.instance-id", "i-0123456789abcdef0");
        node_unref(n);
        ctx = host_ctx(GPU_HOST);
        n = node_new();
        run(&fp_cloud, &ctx, n);
        cr_expect_null(attr(n, "platform.cloud"), "a DGX is no cloud");
        node_unref(n);
}

/* DMI of one host, written into a scratch root: each field of `fields` is
 * "name=value" for /sys/class/dmi/id/<name>. The values are what the providers'
 * documentation gives (GCE: sys_vendor "Google", product_name "Google Compute
 * Engine"; Azure: the fixed chassis asset tag 7783-7084-3265-9085-8269-3286-77 of
 * every Azure VM, on Hyper-V's "Microsoft Corporation" / "Virtual Machine"). */
static struct node *cloud_of(const char *dir, const char *const *fields) {
        for (const char *const *f = fields; *f; f++) {
                char rel[128];
                const char *eq = strchr(*f, '=');
                snprintf(rel, sizeof(rel), "sys/class/dmi/id/%.*s", (int)(eq - *f), *f);
                tmpdir_put(dir, rel, eq + 1);
        }
        struct fingerprint_ctx ctx = {.data_dir = "/tmp", .root = dir};
        struct node *n = node_new();
        run(&fp_cloud, &ctx, n);
        return n;
}

Test(fingerprinters, cloud_gce_and_azure_from_dmi) {
        char gce[TMPDIR_SIZE], azure[TMPDIR_SIZE], hyperv[TMPDIR_SIZE], kvm[TMPDIR_SIZE];
        tmpdir_create(gce, "fp-gce");
        tmpdir_create(azure, "fp-azure");
        tmpdir_create(hyperv, "fp-hyperv");
        tmpdir_create(kvm, "fp-kvm");
        const char *gce_f[] = {"sys_vendor=Google\n", "product_name=Google Compute Engine\n", "bios_vendor=Google\n",
                               "chassis_asset_tag=\n", NULL};
        struct node *n = cloud_of(gce, gce_f);
        expect_attr(n, "platform.cloud", "gce");
        cr_expect_null(attr(n, "platform.aws.instance-type"));
        node_unref(n);
        const char *azure_f[] = {"sys_vendor=Microsoft Corporation\n", "product_name=Virtual Machine\n",
                                 "bios_vendor=Microsoft Corporation\n",
                                 "chassis_asset_tag=7783-7084-3265-9085-8269-3286-77\n", NULL};
        n = cloud_of(azure, azure_f);
        expect_attr(n, "platform.cloud", "azure");
        node_unref(n);
        /* Hyper-V outside Azure: the same vendor and product, another asset tag. */
        const char *hyperv_f[] = {"sys_vendor=Microsoft Corporation\n", "product_name=Virtual Machine\n",
                                  "chassis_asset_tag=0000-0000-0000-0000-0000-0000-00\n", NULL};
        n = cloud_of(hyperv, hyperv_f);
        cr_expect_null(attr(n, "platform.cloud"), "a Hyper-V VM on premises is no cloud: %s",
                       attr(n, "platform.cloud"));
        node_unref(n);
        /* A QEMU/KVM guest, and a host without DMI at all (the empty root): no cloud. */
        const char *kvm_f[] = {"sys_vendor=QEMU\n", "product_name=Standard PC (Q35 + ICH9, 2009)\n",
                               "bios_vendor=SeaBIOS\n", NULL};
        n = cloud_of(kvm, kvm_f);
        cr_expect_null(attr(n, "platform.cloud"));
        node_unref(n);
        const char *none[] = {NULL};
        char empty[TMPDIR_SIZE];
        tmpdir_create(empty, "fp-nodmi");
        n = cloud_of(empty, none);
        cr_expect_null(attr(n, "platform.cloud"), "no DMI: no cloud, and no error");
        node_unref(n);
        tmpdir_remove(gce);
        tmpdir_remove(azure);
        tmpdir_remove(hyperv);
        tmpdir_remove(kvm);
        tmpdir_remove(empty);
}

Test(fingerprinters, whole_fixture_host_through_the_registry) {
        struct driver_settings ds = *driver_settings();
        ds.raw_exec_enabled = true; /* opt-in, as drover dev does */
        driver_configure(&ds);
        struct fingerprint_ctx ctx = host_ctx(GPU_HOST);
        int def = 2;
        ctx.net_dump = fake_net;
        ctx.net_data = &def;
        struct node *n = node_new();
        struct error err = {0};
        cr_expect_eq(fingerprint_node_ctx(&ctx, n, &err), 0, "%s", err.msg);
        expect_attr(n, "cpu.numcores", "16");
        expect_attr(n, "numa.node.count", "2");
        expect_attr(n, "pci.gpu.count", "5");
        expect_attr(n, "kernel.version", "5.15.0-97-generic");
        expect_attr(n, "driver.raw_exec", "1");
        node_unref(n);
}

Test(fingerprinters, cpu_lists) {
        cr_expect_eq(fp_cpulist_count("0-3,8-11"), 8);
        cr_expect_eq(fp_cpulist_count("5"), 1);
        cr_expect_eq(fp_cpulist_count("0-1,3\n"), 3);
        cr_expect_eq(fp_cpulist_count(""), 0);
        cr_expect_lt(fp_cpulist_count("3-1"), 0);
        cr_expect_lt(fp_cpulist_count("a"), 0);
        cr_expect_lt(fp_cpulist_count("0-"), 0);
}

Test(fingerprinters, change_detection) {
        struct fingerprint_ctx ctx = host_ctx(GPU_HOST);
        int def = 2;
        ctx.net_dump = fake_net;
        ctx.net_data = &def;
        struct node *a = node_new(), *b = node_new();
        struct error err = {0};
        fingerprint_node_ctx(&ctx, a, &err);
        fingerprint_node_ctx(&ctx, b, &err);
        cr_expect(!fingerprint_changed(a, b), "the same host twice is no change");
        b->disk_mb = a->disk_mb + a->disk_mb / 50 + 1;
        strmap_set(&b->attributes, "unique.storage.bytesfree", "1");
        cr_expect(!fingerprint_changed(a, b), "free disk moving by 2%% is no change");
        b->disk_mb = a->disk_mb / 2;
        cr_expect(fingerprint_changed(a, b), "half the free disk gone is");
        b->disk_mb = a->disk_mb;
        strmap_set(&b->attributes, "kernel.version", "6.1.0");
        cr_expect(fingerprint_changed(a, b), "a new kernel is");
        strmap_set(&b->attributes, "kernel.version", attr(a, "kernel.version"));
        cr_expect(!fingerprint_changed(a, b));
        json_array_remove(json_object_get(json_array_get(b->devices, 0), "Instances"), 0);
        cr_expect(fingerprint_changed(a, b), "a GPU gone is");
        node_unref(a);
        node_unref(b);
}

/* ---- periodic passes: a fingerprinter that fails keeps its last part ------------- */

static struct node *pass(const struct fingerprint_ctx *ctx, struct fingerprint_memo *memo, int want_rc,
                         struct error *err) {
        struct node *n = node_new();
        cr_assert_not_null(n);
        *err = (struct error){0};
        int r = fingerprint_node_memo(ctx, memo, n, err);
        cr_expect(want_rc == 0 ? r == 0 : r < 0, "rc %d (%s)", r, err->msg);
        return n;
}

static void put_meminfo(const char *root, const char *total_kb) {
        char path[TMPDIR_PATH_MAX], text[128];
        snprintf(path, sizeof(path), "%s/proc/meminfo", root);
        rmdir(path);
        unlink(path);
        snprintf(text, sizeof(text), "MemTotal:       %s kB\nMemFree:        1000 kB\n", total_kb);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f, "%s", path);
        fputs(text, f);
        fclose(f);
}

/* /proc/meminfo a directory: reading it fails (EISDIR), root or not. */
static void break_meminfo(const char *root) {
        char path[TMPDIR_PATH_MAX];
        snprintf(path, sizeof(path), "%s/proc/meminfo", root);
        cr_assert(unlink(path) == 0 || errno == ENOENT, "%s: %s", path, strerror(errno));
        cr_assert_eq(mkdir(path, 0700), 0, "%s: %s", path, strerror(errno));
}

/* A copy of the GPU host in root (to be broken), and the context that reads it. */
static int def_route = 2;
static struct fingerprint_ctx copied_host(char *root, const char *tag) {
        char cmd[256];
        tmpdir_create(root, tag);
        snprintf(cmd, sizeof(cmd), "cp -a %s/. %s/", GPU_HOST, root);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
        struct fingerprint_ctx ctx = host_ctx(GPU_HOST);
        ctx.root = root;
        ctx.net_dump = fake_net;
        ctx.net_data = &def_route;
        return ctx;
}

Test(fingerprinters, a_failed_source_keeps_its_last_attributes_on_a_periodic_pass) {
        char root[TMPDIR_SIZE];
        struct fingerprint_ctx ctx = copied_host(root, "fp-memo");
        struct fingerprint_memo *memo = fingerprint_memo_new();
        cr_assert_not_null(memo);
        struct error err;

        struct node *first = pass(&ctx, memo, 0, &err);
        expect_attr(first, "memory.totalbytes", "268435456000");
        cr_expect_eq(first->memory_mb, 256000);
        cr_expect(fingerprint_memo_has(memo, "memory"));

        break_meminfo(root);
        /* Without the memo (what the agent published before): memory gone from the node. */
        struct node *bare = node_new();
        cr_expect_lt(fingerprint_node_ctx(&ctx, bare, &err), 0);
        cr_expect_null(attr(bare, "memory.totalbytes"));
        cr_expect_eq(bare->memory_mb, 0);
        cr_expect(fingerprint_changed(first, bare));
        node_unref(bare);

        struct node *broken = pass(&ctx, memo, -1, &err);
        cr_expect(strstr(err.msg, "fingerprint memory") && strstr(err.msg, "/proc/meminfo") &&
                      strstr(err.msg, "last successful pass"),
                  "the failure is said: %s", err.msg);
        expect_attr(broken, "memory.totalbytes", "268435456000");
        cr_expect_eq(broken->memory_mb, 256000);
        expect_attr(broken, "numa.node.count", "2");
        expect_attr(broken, "pci.gpu.count", "5");
        cr_expect(!fingerprint_changed(first, broken), "nothing the servers see changed");
        cr_expect_eq(broken->attributes.n, first->attributes.n);

        put_meminfo(root, "131072000"); /* a successful pass replaces it */
        struct node *smaller = pass(&ctx, memo, 0, &err);
        expect_attr(smaller, "memory.totalbytes", "134217728000");
        cr_expect_eq(smaller->memory_mb, 128000);
        cr_expect(fingerprint_changed(first, smaller));

        break_meminfo(root); /* ...and is what a later failure keeps */
        struct node *again = pass(&ctx, memo, -1, &err);
        expect_attr(again, "memory.totalbytes", "134217728000");
        cr_expect_eq(again->memory_mb, 128000);
        cr_expect(!fingerprint_changed(smaller, again));

        node_unref(first);
        node_unref(broken);
        node_unref(smaller);
        node_unref(again);
        fingerprint_memo_free(memo);
        tmpdir_remove(root);
}

Test(fingerprinters, a_failed_source_never_seen_keeps_what_it_set) {
        char root[TMPDIR_SIZE];
        struct fingerprint_ctx ctx = copied_host(root, "fp-memo0");
        break_meminfo(root);
        struct fingerprint_memo *memo = fingerprint_memo_new();
        struct error err;
        struct node *n = pass(&ctx, memo, -1, &err);
        cr_expect(!fingerprint_memo_has(memo, "memory"));
        cr_expect(fingerprint_memo_has(memo, "cpu"));
        cr_expect_null(attr(n, "memory.totalbytes"));
        expect_attr(n, "cpu.numcores", "16");
        node_unref(n);
        put_meminfo(root, "1024000");
        n = pass(&ctx, memo, 0, &err);
        expect_attr(n, "memory.totalbytes", "1048576000");
        cr_expect(fingerprint_memo_has(memo, "memory"));
        node_unref(n);
        fingerprint_memo_free(memo);
        tmpdir_remove(root);
}

/* What a fingerprinter left half-done is undone before its last part is applied. */
Test(fingerprinters, a_half_done_failure_is_undone) {
        struct node *n = node_new();
        strmap_set(&n->attributes, "kernel.name", "linux");
        n->drivers = calloc(1, sizeof(*n->drivers));
        n->drivers[0] = (struct node_driver){.name = strdup("exec"), .detected = true};
        n->n_drivers = 1;
        struct fp_before b;
        struct fp_part part = {0};
        /* A successful pass: pci.count, devices, memory and a driver. */
        cr_assert_eq(fp_before_take(n, &b), 0);
        strmap_set(&n->attributes, "pci.count", "3");
        n->devices = json_pack("[{s:s}]", "Vendor", "nvidia");
        n->memory_mb = 42;
        n->drivers[0].healthy = true;
        cr_assert_eq(fp_part_record(&b, n, &part), 0);
        fp_before_clear(&b);
        cr_expect_eq(part.attrs.n, 1);
        cr_expect_eq(part.n_drivers, 1);
        node_unref(n);

        /* The next pass fails halfway: it changed, added and dropped things. */
        n = node_new();
        strmap_set(&n->attributes, "kernel.name", "linux");
        cr_assert_eq(fp_before_take(n, &b), 0);
        strmap_set(&n->attributes, "kernel.name", "half");
        strmap_set(&n->attributes, "pci.half", "1");
        n->networks = json_array();
        n->disk_mb = 7;
        cr_assert_eq(fp_part_restore(&b, &part, n), 0);
        fp_before_clear(&b);
        expect_attr(n, "kernel.name", "linux");
        cr_expect_null(attr(n, "pci.half"));
        expect_attr(n, "pci.count", "3");
        cr_expect_eq(n->attributes.n, 2);
        cr_expect_eq(n->memory_mb, 42);
        cr_expect_eq(n->disk_mb, 0);
        cr_expect_null(n->networks);
        cr_expect_str_eq(json_string_value(json_object_get(json_array_get(n->devices, 0), "Vendor")), "nvidia");
        cr_assert_eq(n->n_drivers, 1);
        cr_expect(n->drivers[0].detected && n->drivers[0].healthy);

        /* Without a part: only undone. */
        cr_assert_eq(fp_before_take(n, &b), 0);
        strmap_set(&n->attributes, "pci.half", "1");
        cr_assert_eq(fp_part_restore(&b, NULL, n), 0);
        fp_before_clear(&b);
        cr_expect_null(attr(n, "pci.half"));
        cr_expect_eq(n->attributes.n, 2);
        fp_part_clear(&part);
        node_unref(n);
}

/* ---- the live host ----------------------------------------------------------------- */

Test(fingerprinters, live_host_cores_and_memory) {
        struct node *n = node_new();
        struct error err = {0};
        cr_expect_eq(fingerprint_node("/tmp", n, &err), 0, "%s", err.msg);
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        char buf[64] = "";
        /* nproc counts the cpus this process may run on: the online ones unless an affinity mask says less. */
        cpu_set_t set;
        cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
        FILE *p = popen("nproc", "r");
        cr_assert_not_null(p);
        cr_assert_not_null(fgets(buf, sizeof(buf), p));
        pclose(p);
        cr_expect_eq(atol(attr(n, "cpu.numcores")), cores, "sysconf says %ld", cores);
        if (CPU_COUNT(&set) == cores)
                cr_expect_eq(atol(attr(n, "cpu.numcores")), atol(buf), "nproc says %s", buf);
        FILE *f = fopen("/proc/meminfo", "r");
        cr_assert_not_null(f);
        long long kb = 0;
        char line[256];
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "MemTotal: %lld kB", &kb) == 1)
                        break;
        fclose(f);
        cr_expect_eq(atoll(attr(n, "memory.totalbytes")), kb * 1024);
        cr_expect_eq(n->memory_mb, kb / 1024);
        long long online = fp_cpulist_count(attr(n, "cpu.online"));
        cr_expect_eq(online, cores);
        node_unref(n);
}

/* The bisection over pci.ids finds what a line-by-line reading finds, for every
 * vendor and one device of each, in the whole database when it is installed. */
Test(fingerprinters, pci_ids_lookup_agrees_with_a_linear_scan) {
        const char *path = "/usr/share/misc/pci.ids";
        FILE *f = fopen(path, "r");
        if (!f) {
                path = PCI_IDS;
                f = fopen(path, "r");
        }
        cr_assert_not_null(f);
        char line[512], vname[512], dname[512], want_v[512] = "";
        unsigned vendor = 0, checked = 0;
        bool dev_checked = true;
        static bool seen[0x10000];
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = '\0';
                if (line[0] == 'C' && line[1] == ' ')
                        break;
                if (line[0] == '#' || !line[0])
                        continue;
                if (line[0] != '\t') {
                        vendor = (unsigned)strtoul(line, NULL, 16);
                        seen[vendor & 0xffff] = true;
                        snprintf(want_v, sizeof(want_v), "%s", line + 6);
                        cr_assert_eq(pci_ids_lookup(path, vendor, 0x10000, vname, sizeof(vname), dname, sizeof(dname)),
                                     0);
                        cr_expect_str_eq(vname, want_v, "vendor %04x", vendor);
                        cr_expect_str_eq(dname, "", "no device 0x10000");
                        dev_checked = false;
                        checked++;
                } else if (line[1] != '\t' && !dev_checked) {
                        unsigned dev = (unsigned)strtoul(line + 1, NULL, 16);
                        cr_assert_eq(pci_ids_lookup(path, vendor, dev, vname, sizeof(vname), dname, sizeof(dname)), 0);
                        cr_expect_str_eq(dname, line + 7, "device %04x:%04x", vendor, dev);
                        dev_checked = true;
                }
        }
        fclose(f);
        cr_expect_gt(checked, 4, "%u vendors checked in %s", checked, path);
        for (unsigned v = 0; v < 0x10000; v += 0x111) /* a few ids the file does not list */
                if (!seen[v]) {
                        cr_expect_eq(pci_ids_lookup(path, v, 0, vname, sizeof(vname), dname, sizeof(dname)), 0);
                        cr_expect_str_eq(vname, "", "vendor %04x is unknown: no name", v);
                }
        cr_expect_lt(pci_ids_lookup("tests/fixtures/no-such-pci.ids", 0x10de, 0x2330, vname, sizeof(vname), dname,
                                    sizeof(dname)),
                     0);
}
