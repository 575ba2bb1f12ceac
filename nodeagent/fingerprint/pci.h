/* pci.h - the pci.ids lookup the PCI fingerprinter uses (pci.c), for its tests. */
#pragma once

#include <stddef.h>

/* Vendor and device names from the pci.ids file at path ("" where unknown).
 * Returns 0, or negative errno when the file cannot be read. */
int pci_ids_lookup(const char *path, unsigned vendor, unsigned device, char *vname, size_t vsize, char *dname,
                   size_t dsize);
