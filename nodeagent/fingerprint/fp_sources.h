/* fp_sources.h - the fingerprinters, one file each, listed in fingerprint.c. */
#pragma once

#include "nodeagent/fingerprint/fingerprint.h"

extern const struct fingerprint_ops fp_cpu;     /* cpu.c: CPUID, sysfs topology and cpufreq, /proc/cpuinfo */
extern const struct fingerprint_ops fp_memory;  /* memory.c: /proc/meminfo */
extern const struct fingerprint_ops fp_numa;    /* numa.c: /sys/devices/system/node */
extern const struct fingerprint_ops fp_storage; /* storage.c: statvfs of the data dir */
extern const struct fingerprint_ops fp_pci;     /* pci.c: /sys/bus/pci/devices, pci.ids; node devices */
extern const struct fingerprint_ops fp_network; /* network.c: netlink (libmnl), /sys/class/net speed */
extern const struct fingerprint_ops fp_host;    /* host.c: kernel.*, os.*, unique.hostname */
extern const struct fingerprint_ops fp_cgroup;  /* cgroup.c: cgroup2 mount and controllers */
extern const struct fingerprint_ops fp_kernel;  /* kernel_features.c: BTF, BPF, seccomp */
extern const struct fingerprint_ops fp_cloud;   /* cloud.c: AWS, GCE, Azure from DMI */
extern const struct fingerprint_ops fp_drivers; /* drivers.c: driver.<name> and node drivers */
extern const struct fingerprint_ops fp_drover;  /* drivers.c: drover.version */
