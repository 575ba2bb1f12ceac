/* network.c - the network fingerprinter: interfaces, addresses, link speed, default route.
 *
 * Attributes: unique.network.ip-address (Nomad's: the first IPv4 address of
 * the default-route interface, else of the first interface that is up and not
 * loopback, else 127.0.0.1), network.default_interface. NodeResources.NodeNetworks
 * lists every interface that is up, not loopback and has an address, in
 * Nomad's shape: {Mode:"host", Device, MacAddress, Speed (Mbit/s from
 * /sys/class/net/<if>/speed; 1000, Nomad's default, when the driver does not
 * say), Addresses:[{Family:"ipv4"|"ipv6", Alias:"default", Address, Gateway}]}.
 */
#include "nodeagent/fingerprint/network.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/macros.h"
#include "common/model.h"
#include "nodeagent/fingerprint/fp_sources.h"
#include "nodeagent/fingerprint/fp_util.h"

#define DEFAULT_SPEED_MBITS 1000

struct net_iface *net_snapshot_add(struct net_snapshot *s, const struct net_iface *ifc) {
        struct net_iface *n = realloc(s->ifs, (s->n + 1) * sizeof(*n));
        if (!n)
                return NULL;
        s->ifs = n;
        n[s->n] = *ifc;
        return &n[s->n++];
}

void net_snapshot_free(struct net_snapshot *s) {
        free(s->ifs);
        *s = (struct net_snapshot){0};
}

static struct net_iface *iface_by_index(struct net_snapshot *s, int index) {
        for (size_t i = 0; i < s->n; i++)
                if (s->ifs[i].index == index)
                        return &s->ifs[i];
        return NULL;
}

/* ---- netlink ------------------------------------------------------------------ */

struct dump {
        struct net_snapshot *s;
        int route_metric; /* best default route seen so far */
        int route_family;
        bool oom;
};

static int link_attr(const struct nlattr *a, void *data) {
        const struct nlattr **tb = data;
        int type = mnl_attr_get_type(a);
        if (mnl_attr_type_valid(a, IFLA_MAX) >= 0)
                tb[type] = a;
        return MNL_CB_OK;
}

static int on_link(const struct nlmsghdr *nlh, void *data) {
        struct dump *d = data;
        struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *tb[IFLA_MAX + 1] = {0};
        mnl_attr_parse(nlh, sizeof(*ifm), link_attr, tb);
        struct net_iface ifc = {.index = ifm->ifi_index, .flags = ifm->ifi_flags};
        if (tb[IFLA_IFNAME])
                snprintf(ifc.name, sizeof(ifc.name), "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
        if (tb[IFLA_MTU])
                ifc.mtu = (int)mnl_attr_get_u32(tb[IFLA_MTU]);
        if (tb[IFLA_ADDRESS] && mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == 6) {
                const unsigned char *m = mnl_attr_get_payload(tb[IFLA_ADDRESS]);
                snprintf(ifc.mac, sizeof(ifc.mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
        }
        if (!net_snapshot_add(d->s, &ifc))
                d->oom = true;
        return MNL_CB_OK;
}

static int addr_attr(const struct nlattr *a, void *data) {
        const struct nlattr **tb = data;
        if (mnl_attr_type_valid(a, IFA_MAX) >= 0)
                tb[mnl_attr_get_type(a)] = a;
        return MNL_CB_OK;
}

static int on_addr(const struct nlmsghdr *nlh, void *data) {
        struct dump *d = data;
        struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *tb[IFA_MAX + 1] = {0};
        mnl_attr_parse(nlh, sizeof(*ifa), addr_attr, tb);
        const struct nlattr *a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
        struct net_iface *ifc = iface_by_index(d->s, (int)ifa->ifa_index);
        if (!a || !ifc || ifc->n_addrs >= NET_MAX_ADDRS || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
                return MNL_CB_OK;
        struct net_addr *na = &ifc->addrs[ifc->n_addrs];
        if (!inet_ntop(ifa->ifa_family, mnl_attr_get_payload(a), na->addr, sizeof(na->addr)))
                return MNL_CB_OK;
        na->family = ifa->ifa_family;
        na->prefix = ifa->ifa_prefixlen;
        ifc->n_addrs++;
        return MNL_CB_OK;
}

static int route_attr(const struct nlattr *a, void *data) {
        const struct nlattr **tb = data;
        if (mnl_attr_type_valid(a, RTA_MAX) >= 0)
                tb[mnl_attr_get_type(a)] = a;
        return MNL_CB_OK;
}

static int on_route(const struct nlmsghdr *nlh, void *data) {
        struct dump *d = data;
        struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
        if (rtm->rtm_dst_len != 0 || rtm->rtm_type != RTN_UNICAST || rtm->rtm_table != RT_TABLE_MAIN)
                return MNL_CB_OK;
        const struct nlattr *tb[RTA_MAX + 1] = {0};
        mnl_attr_parse(nlh, sizeof(*rtm), route_attr, tb);
        if (!tb[RTA_OIF])
                return MNL_CB_OK;
        int metric = tb[RTA_PRIORITY] ? (int)mnl_attr_get_u32(tb[RTA_PRIORITY]) : 0;
        /* IPv4 first, then the lowest metric. */
        bool better = d->s->default_index == 0 || (rtm->rtm_family == AF_INET && d->route_family != AF_INET) ||
                      (rtm->rtm_family == d->route_family && metric < d->route_metric);
        if (!better)
                return MNL_CB_OK;
        d->s->default_index = (int)mnl_attr_get_u32(tb[RTA_OIF]);
        d->route_metric = metric;
        d->route_family = rtm->rtm_family;
        d->s->gateway[0] = '\0';
        if (tb[RTA_GATEWAY])
                inet_ntop(rtm->rtm_family, mnl_attr_get_payload(tb[RTA_GATEWAY]), d->s->gateway, sizeof(d->s->gateway));
        return MNL_CB_OK;
}

static int dump(struct mnl_socket *nl, uint16_t type, int family, mnl_cb_t cb, struct dump *d) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        uint32_t seq = (uint32_t)time(NULL) + type;
        nlh->nlmsg_seq = seq;
        struct rtgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
        g->rtgen_family = (unsigned char)family;
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        unsigned int portid = mnl_socket_get_portid(nl);
        for (;;) {
                ssize_t len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
                if (len < 0)
                        return -errno;
                int r = mnl_cb_run(buf, (size_t)len, seq, portid, cb, d);
                if (r == MNL_CB_STOP)
                        return d->oom ? -ENOMEM : 0;
                if (r < 0)
                        return -errno;
        }
}

static void mnl_closep(struct mnl_socket **nl) {
        if (*nl)
                mnl_socket_close(*nl);
}

int net_dump_netlink(struct net_snapshot *ret, struct error *err, void *data) {
        _cleanup_(mnl_closep) struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
        if (!nl)
                return errorf(err, -errno, "netlink socket: %s", strerror(errno));
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
                return errorf(err, -errno, "netlink bind: %s", strerror(errno));
        struct net_snapshot s = {0};
        struct dump d = {.s = &s};
        int r = dump(nl, RTM_GETLINK, AF_UNSPEC, on_link, &d);
        if (r == 0)
                r = dump(nl, RTM_GETADDR, AF_UNSPEC, on_addr, &d);
        if (r == 0)
                r = dump(nl, RTM_GETROUTE, AF_UNSPEC, on_route, &d);
        if (r < 0) {
                net_snapshot_free(&s);
                return errorf(err, r, "netlink dump: %s", strerror(-r));
        }
        *ret = s;
        return 0;
}

/* ---- attributes and NodeNetworks ------------------------------------------------- */

static const char *first_v4(const struct net_iface *ifc) {
        for (size_t i = 0; i < ifc->n_addrs; i++)
                if (ifc->addrs[i].family == AF_INET)
                        return ifc->addrs[i].addr;
        return NULL;
}

static json_t *iface_json(const struct fingerprint_ctx *ctx, const struct net_iface *ifc, const char *gateway) {
        long long speed = fp_read_ll(ctx, -1, "/sys/class/net/%s/speed", ifc->name);
        if (speed <= 0)
                speed = DEFAULT_SPEED_MBITS;
        json_t *addrs = json_array();
        for (size_t i = 0; i < ifc->n_addrs; i++) {
                const struct net_addr *a = &ifc->addrs[i];
                char cidr[INET6_ADDRSTRLEN + 8];
                snprintf(cidr, sizeof(cidr), "%s/%d", a->addr, a->prefix);
                json_array_append_new(
                    addrs, json_pack("{s:s,s:s,s:s,s:s,s:s}", "Family", a->family == AF_INET ? "ipv4" : "ipv6", "Alias",
                                     "default", "Address", a->addr, "CIDR", cidr, "Gateway", gateway ? gateway : ""));
        }
        return json_pack("{s:s,s:s,s:s,s:I,s:i,s:o}", "Mode", "host", "Device", ifc->name, "MacAddress", ifc->mac,
                         "Speed", (json_int_t)speed, "MTU", ifc->mtu, "Addresses", addrs);
}

static int fp_network_run(const struct fingerprint_ctx *ctx, struct node *n, struct error *err) {
        struct net_snapshot s = {0};
        struct error derr = {0};
        int r = ctx->net_dump ? ctx->net_dump(&s, &derr, ctx->net_data) : net_dump_netlink(&s, &derr, NULL);
        if (r < 0) {
                fp_set(n, "unique.network.ip-address", "127.0.0.1");
                return errorf(err, r, "%s", derr.msg);
        }
        const struct net_iface *def = iface_by_index(&s, s.default_index);
        const char *ip = def ? first_v4(def) : NULL;
        for (size_t i = 0; !ip && i < s.n; i++)
                if ((s.ifs[i].flags & IFF_UP) && !(s.ifs[i].flags & IFF_LOOPBACK))
                        ip = first_v4(&s.ifs[i]);
        json_t *nets = json_array();
        for (size_t i = 0; i < s.n; i++) {
                const struct net_iface *ifc = &s.ifs[i];
                if (!(ifc->flags & IFF_UP) || (ifc->flags & IFF_LOOPBACK) || ifc->n_addrs == 0)
                        continue;
                json_array_append_new(nets, iface_json(ctx, ifc, ifc == def && *s.gateway ? s.gateway : NULL));
        }
        int e = 0;
        e |= fp_set(n, "unique.network.ip-address", ip ? ip : "127.0.0.1");
        if (def)
                e |= fp_set(n, "network.default_interface", def->name);
        net_snapshot_free(&s);
        if (n->networks)
                json_decref(n->networks);
        n->networks = json_array_size(nets) ? nets : NULL;
        if (!n->networks)
                json_decref(nets);
        if (e < 0)
                return errorf(err, -ENOMEM, "out of memory");
        return 0;
}

const struct fingerprint_ops fp_network = {.name = "network", .run = fp_network_run};
