/* network.h - the network fingerprinter's snapshot of interfaces, addresses and the default route.
 *
 * net_dump_netlink() fills it from the kernel (RTM_GETLINK, RTM_GETADDR,
 * RTM_GETROUTE dumps through libmnl); tests build one by hand and inject it
 * through fingerprint_ctx.net_dump.
 */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stddef.h>

struct error;

#define NET_MAX_ADDRS 16

struct net_addr {
        int family; /* AF_INET or AF_INET6 */
        char addr[INET6_ADDRSTRLEN];
        int prefix;
};

struct net_iface {
        int index;
        char name[IF_NAMESIZE];
        char mac[18];   /* "aa:bb:cc:dd:ee:ff" or "" */
        unsigned flags; /* IFF_UP, IFF_LOOPBACK, ... */
        int mtu;
        struct net_addr addrs[NET_MAX_ADDRS];
        size_t n_addrs;
};

struct net_snapshot {
        struct net_iface *ifs;
        size_t n;
        int default_index; /* interface of the IPv4 (else IPv6) default route, 0 when none */
        char gateway[INET6_ADDRSTRLEN];
};

/* Append an interface (copied); returns it or NULL when out of memory. */
struct net_iface *net_snapshot_add(struct net_snapshot *s, const struct net_iface *ifc);
void net_snapshot_free(struct net_snapshot *s);
int net_dump_netlink(struct net_snapshot *ret, struct error *err, void *data);
