/* cloud.c - the cloud fingerprinter: AWS, GCE or Azure from DMI, without network calls.
 *
 * Reads /sys/class/dmi/id (sys_vendor, product_name, product_version,
 * bios_vendor, bios_version, board_asset_tag, chassis_asset_tag). Attributes:
 * platform.cloud (aws|gce|azure), and what DMI tells of each, under Nomad's
 * env_* names: platform.aws.instance-type and unique.platform.aws.instance-id
 * (Nitro instances put them in product_name and board_asset_tag),
 * platform.gce.machine (product_name). Nothing is set on other hosts.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/model.h"
#include "nodeagent/fingerprint/fp_sources.h"
#include "nodeagent/fingerprint/fp_util.h"

/* Azure's fixed chassis asset tag. */
#define AZURE_ASSET_TAG "7783-7084-3265-9085-8269-3286-77"

struct dmi {
        char sys_vendor[128], product_name[128], product_version[128], bios_vendor[128], bios_version[128],
            board_asset_tag[128], chassis_asset_tag[128];
};

static void dmi_read(const struct fingerprint_ctx *ctx, struct dmi *d) {
        fp_read(ctx, "/sys/class/dmi/id/sys_vendor", d->sys_vendor, sizeof(d->sys_vendor));
        fp_read(ctx, "/sys/class/dmi/id/product_name", d->product_name, sizeof(d->product_name));
        fp_read(ctx, "/sys/class/dmi/id/product_version", d->product_version, sizeof(d->product_version));
        fp_read(ctx, "/sys/class/dmi/id/bios_vendor", d->bios_vendor, sizeof(d->bios_vendor));
        fp_read(ctx, "/sys/class/dmi/id/bios_version", d->bios_version, sizeof(d->bios_version));
        fp_read(ctx, "/sys/class/dmi/id/board_asset_tag", d->board_asset_tag, sizeof(d->board_asset_tag));
        fp_read(ctx, "/sys/class/dmi/id/chassis_asset_tag", d->chassis_asset_tag, sizeof(d->chassis_asset_tag));
}

static int fp_cloud_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        struct dmi d = {0};
        dmi_read(ctx, &d);
        int r = 0;
        if (strcasestr(d.sys_vendor, "Amazon") || strcasestr(d.bios_vendor, "Amazon") ||
            strcasestr(d.bios_version, "amazon") || strcasestr(d.product_version, "amazon")) {
                r |= fp_set(n, "platform.cloud", "aws");
                /* Nitro: product_name is the instance type ("m5.large"); Xen
                 * instances say "HVM domU" there, which is no type. */
                if (*d.product_name && strchr(d.product_name, '.') && !strchr(d.product_name, ' '))
                        r |= fp_set(n, "platform.aws.instance-type", d.product_name);
                if (strncmp(d.board_asset_tag, "i-", 2) == 0)
                        r |= fp_set(n, "unique.platform.aws.instance-id", d.board_asset_tag);
        } else if (strcmp(d.product_name, "Google Compute Engine") == 0 || strcasestr(d.sys_vendor, "Google") ||
                   strcasestr(d.bios_vendor, "Google")) {
                r |= fp_set(n, "platform.cloud", "gce");
                if (*d.product_name)
                        r |= fp_set(n, "platform.gce.machine", d.product_name);
        } else if (strcmp(d.chassis_asset_tag, AZURE_ASSET_TAG) == 0) {
                r |= fp_set(n, "platform.cloud", "azure");
        }
        if (r < 0)
                return errorf(err, -ENOMEM, "out of memory");
        return 0;
}

const struct fingerprint_ops fp_cloud = {.name = "cloud", .run = fp_cloud_run};
