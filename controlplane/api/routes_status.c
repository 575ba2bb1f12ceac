/* routes_status.c - /v1/status/leader, /v1/status/peers, /v1/regions. */
#include <string.h>

#include "common/jsonx.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"

void h_status_leader(struct route_ctx *c) {
        const char *leader = leader_address(c);
        http_req_respond_json(c->req, 200, json_string(leader ? leader : ""), 0);
}

/* The Raft addresses of the voters. */
void h_status_peers(struct route_ctx *c) {
        json_t *conf = c->s->ops->raft_configuration ? c->s->ops->raft_configuration(c->s->data) : NULL;
        json_t *out = json_array();
        size_t i;
        json_t *srv;
        json_array_foreach(json_object_get(conf, "Servers"), i, srv) {
                if (jx_bool(srv, "Voter", false))
                        json_array_append_new(out, json_string(jx_str(srv, "Address", "")));
        }
        if (!conf)
                json_array_append_new(out, json_string(c->s->raft_addr));
        json_decref(conf);
        http_req_respond_json(c->req, 200, out, 0);
}

/* One region, this server's (-region): drover has no federation. */
void h_regions(struct route_ctx *c) {
        http_req_respond_json(c->req, 200, json_pack("[s]", c->s->region), 0);
}
