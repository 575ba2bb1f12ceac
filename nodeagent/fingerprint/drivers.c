/* drivers.c - the drivers fingerprinter (driver.<name>, node drivers) and drover.version. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/model.h"
#include "nodeagent/drivers/driver.h"
#include "nodeagent/fingerprint/fp_sources.h"
#include "nodeagent/fingerprint/fp_util.h"

static int fp_drivers_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        const struct driver_ops *d;
        for (size_t i = 0; (d = driver_at(i)); i++) {
                struct driver_health h = {0};
                d->fingerprint(&h);
                struct node_driver *nd = NULL;
                for (size_t k = 0; k < n->n_drivers; k++)
                        if (strcmp(n->drivers[k].name, d->name) == 0)
                                nd = &n->drivers[k];
                if (!nd) {
                        struct node_driver *nds = realloc(n->drivers, (n->n_drivers + 1) * sizeof(*nds));
                        if (!nds)
                                return errorf(err, -ENOMEM, "out of memory");
                        n->drivers = nds;
                        nd = &nds[n->n_drivers];
                        *nd = (struct node_driver){.name = strdup(d->name)};
                        if (!nd->name)
                                return errorf(err, -ENOMEM, "out of memory");
                        n->n_drivers++;
                }
                nd->detected = h.detected;
                nd->healthy = h.healthy;
                free(nd->description);
                nd->description = *h.description ? strdup(h.description) : NULL;
                char key[64];
                snprintf(key, sizeof(key), "driver.%s", d->name);
                if (h.detected && fp_set(n, key, "1") < 0)
                        return errorf(err, -ENOMEM, "out of memory");
        }
        return 0;
}

const struct fingerprint_ops fp_drivers = {.name = "drivers", .run = fp_drivers_run};

static int fp_drover_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        if (fp_set(n, "drover.version", DROVER_AGENT_VERSION) < 0)
                return errorf(err, -ENOMEM, "out of memory");
        return 0;
}

const struct fingerprint_ops fp_drover = {.name = "drover", .run = fp_drover_run};
