/* fp_sources.h - the fingerprinters (fingerprinters.c), listed in fingerprint.c. */
#pragma once

#include "nodeagent/fingerprint/fingerprint.h"

extern const struct fingerprint_ops fp_cpu;     /* cpu.*: CPUID, sysfs cpufreq, /proc/cpuinfo */
extern const struct fingerprint_ops fp_memory;  /* memory.totalbytes: /proc/meminfo */
extern const struct fingerprint_ops fp_host;    /* kernel.*, os.*, unique.hostname: uname, /etc/os-release */
extern const struct fingerprint_ops fp_network; /* unique.network.ip-address: getifaddrs */
extern const struct fingerprint_ops fp_storage; /* unique.storage.*: statvfs on the data dir */
extern const struct fingerprint_ops fp_cgroup;  /* os.cgroups.version: statfs /sys/fs/cgroup */
extern const struct fingerprint_ops fp_drivers; /* driver.<name> and node drivers: each driver's fingerprint */
extern const struct fingerprint_ops fp_drover;  /* drover.version */
