/* routes_agent.c - what a server says about itself: /v1/agent/{self,members,
 * servers,health}, /v1/metrics (JSON and Prometheus text), and the search
 * endpoints /v1/search and /v1/search/fuzzy. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/clock.h"
#include "common/jsonx.h"
#include "common/macros.h"
#include "common/model.h"
#include "common/waitlist.h"
#include "controlplane/api/http.h"
#include "controlplane/api/routes_internal.h"
#include "controlplane/state/state.h"

/* ---- agent ------------------------------------------------------------------------------- */

/* A member is "failed" when the server has not heard from it for this long.
 * Servers ask each other about themselves every 5 s (controlplane/raft/cluster.h,
 * CLUSTER_PROBE_EVERY_MS), a probe waits at most 2 s: three periods missed. */
#define MEMBER_FAILED_MS 15000
/* The Raft protocol a member speaks when the configuration does not say (the
 * raft_vsn tag; /v1/operator/raft/configuration's RaftProtocol). */
#define RAFT_PROTOCOL_DEFAULT "3"

/* What a member's entry says beyond its name and datacenter. */
struct member_info {
        const char *raft_addr; /* "ip:port" */
        const char *id;        /* Raft ID; NULL: not in a Raft configuration */
        const char *raft_vsn;
        bool leader;
        const char *status; /* "alive", "failed" */
};

/* An AgentMember: "ip:port" -> Addr and Port; Tags as Nomad's (role, region, dc,
 * build, port, rpc_addr, raft_vsn, id) and whether it leads. */
static json_t *member_json(const struct api *s, const char *name, const char *dc, const struct member_info *mi) {
        char host[64] = "";
        int port = 0;
        const char *colon = mi->raft_addr ? strrchr(mi->raft_addr, ':') : NULL;
        if (colon && (size_t)(colon - mi->raft_addr) < sizeof(host)) {
                memcpy(host, mi->raft_addr, (size_t)(colon - mi->raft_addr));
                host[colon - mi->raft_addr] = '\0';
                port = atoi(colon + 1);
        }
        char port_s[16];
        snprintf(port_s, sizeof(port_s), "%d", port);
        json_t *m = json_pack("{s:s,s:s,s:i,s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s},s:s,s:i,s:i,s:i,s:i,s:i,s:i}", "Name",
                              name, "Addr", host, "Port", port, "Tags", "role", "nomad", "region", s->region, "dc", dc,
                              "build", API_VERSION, "port", port_s, "rpc_addr", host, "raft_vsn", mi->raft_vsn,
                              "leader", mi->leader ? "true" : "false", "Status", mi->status, "ProtocolMin", 1,
                              "ProtocolMax", 5, "ProtocolCur", 2, "DelegateMin", 2, "DelegateMax", 5, "DelegateCur", 4);
        if (m && mi->id)
                json_object_set_new(json_object_get(m, "Tags"), "id", json_string(mi->id));
        return m;
}

static bool is_leader(struct route_ctx *c) {
        return c->s->ops->is_leader(c->s->data);
}

/* This server's member: "<name>.<region>" in its datacenter; alive, since it answers. */
static json_t *own_member(struct route_ctx *c, const char *raft_addr, const char *id, const char *raft_vsn,
                          bool leader) {
        char name[384];
        snprintf(name, sizeof(name), "%s.%s", c->s->name, c->s->region);
        struct member_info mi = {
            .raft_addr = raft_addr, .id = id, .raft_vsn = raft_vsn, .leader = leader, .status = "alive"};
        return member_json(c->s, name, c->s->datacenter, &mi);
}

/* The server with this Raft ID (a decimal string) among raft/self's Servers, as
 * the servers describe themselves to each other (controlplane/raft/cluster.h). */
static const json_t *told_server(const json_t *self, const char *id) {
        size_t i;
        const json_t *srv;
        json_array_foreach(json_object_get(self, "Servers"), i, srv) {
                char sid[24];
                snprintf(sid, sizeof(sid), "%lld", (long long)jx_int(srv, "ID", 0));
                if (strcmp(sid, id) == 0)
                        return srv;
        }
        return NULL;
}

/* Another member's status as this server knows it: the leader a follower hears
 * from is alive; any other is alive while it answers this server's probes
 * (LastContact within MEMBER_FAILED_MS), failed once it stopped. One never heard
 * from counts as alive only while this server itself is younger than the bound
 * (it has not asked yet). */
static const char *peer_status(struct route_ctx *c, const json_t *self, const json_t *told, bool leader) {
        if (leader && self && !jx_bool(self, "IsLeader", false) && *jx_str(self, "Leader", "") &&
            jx_int(self, "LastContact", MEMBER_FAILED_MS + 1) <= MEMBER_FAILED_MS)
                return "alive";
        const json_t *contact = json_object_get(told, "LastContact");
        if (json_is_integer(contact))
                return json_integer_value(contact) <= MEMBER_FAILED_MS ? "alive" : "failed";
        int64_t up_ms = (clock_now_ns() - c->s->started_ns) / 1000000;
        return up_ms <= MEMBER_FAILED_MS ? "alive" : "failed";
}

/* The members: the Raft configuration's servers (this one alone without Raft),
 * all in this server's region (one Raft cluster per region). Another server is
 * "<name>.<region>" in its datacenter as it told them; one that did not (an
 * older server, or not heard from yet) is "server-<Raft ID>" in this server's.
 * A server removed from the configuration is no longer listed. */
static json_t *members_json(struct route_ctx *c) {
        json_t *out = json_array();
        json_t *conf = c->s->ops->raft_configuration ? c->s->ops->raft_configuration(c->s->data) : NULL;
        json_t *self = conf && c->s->ops->raft_self ? c->s->ops->raft_self(c->s->data) : NULL;
        size_t i;
        json_t *srv;
        json_array_foreach(json_object_get(conf, "Servers"), i, srv) {
                const char *addr = jx_str(srv, "Address", "");
                const char *id = jx_str(srv, "ID", "?");
                const char *vsn = jx_str(srv, "RaftProtocol", RAFT_PROTOCOL_DEFAULT);
                bool leader = jx_bool(srv, "Leader", false);
                if (strcmp(addr, c->s->raft_addr) == 0) {
                        json_array_append_new(out, own_member(c, addr, id, vsn, leader));
                        continue;
                }
                const json_t *told = told_server(self, id);
                const char *told_name = jx_str(told, "Name", "");
                char name[384];
                if (*told_name)
                        snprintf(name, sizeof(name), "%s.%s", told_name, c->s->region);
                else
                        snprintf(name, sizeof(name), "server-%s.%s", id, c->s->region);
                const char *dc = jx_str(told, "Datacenter", "");
                struct member_info mi = {.raft_addr = addr,
                                         .id = id,
                                         .raft_vsn = vsn,
                                         .leader = leader,
                                         .status = peer_status(c, self, told, leader)};
                json_array_append_new(out, member_json(c->s, name, *dc ? dc : c->s->datacenter, &mi));
        }
        if (!conf)
                json_array_append_new(out, own_member(c, c->s->raft_addr, NULL, RAFT_PROTOCOL_DEFAULT, is_leader(c)));
        json_decref(self);
        json_decref(conf);
        return out;
}

/* This server's entry among the members (by its Raft address). */
static json_t *self_member(struct route_ctx *c) {
        json_t *members = members_json(c);
        size_t i;
        json_t *m;
        json_t *found = NULL;
        json_array_foreach(members, i, m) {
                char addr[96];
                snprintf(addr, sizeof(addr), "%s:%lld", jx_str(m, "Addr", ""), (long long)jx_int(m, "Port", 0));
                if (strcmp(addr, c->s->raft_addr) == 0) {
                        found = json_incref(m);
                        break;
                }
        }
        json_decref(members);
        return found ? found : own_member(c, c->s->raft_addr, NULL, RAFT_PROTOCOL_DEFAULT, is_leader(c));
}

void h_agent_self(struct route_ctx *c) {
        json_t *member = self_member(c);
        const char *leader = leader_address(c);
        char uptime[32], jobs[24], nodes[24], allocs[24], evals[24], idx[24];
        snprintf(uptime, sizeof(uptime), "%llds", (long long)((clock_now_ns() - c->s->started_ns) / NS_PER_SEC));
        snprintf(jobs, sizeof(jobs), "%zu", state_count(ctx_state(c), STATE_TABLE_JOBS));
        snprintf(nodes, sizeof(nodes), "%zu", state_count(ctx_state(c), STATE_TABLE_NODES));
        snprintf(allocs, sizeof(allocs), "%zu", state_count(ctx_state(c), STATE_TABLE_ALLOCS));
        snprintf(evals, sizeof(evals), "%zu", state_count(ctx_state(c), STATE_TABLE_EVALS));
        snprintf(idx, sizeof(idx), "%llu", (unsigned long long)state_latest_index(ctx_state(c)));
        /* config.Name and NodeName: the configured name (Nomad: NodeName is the agent's name) */
        json_t *config =
            json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s},s:{s:b},s:{s:b},s:{s:b},s:s}", "Region", c->s->region, "Datacenter",
                      c->s->datacenter, "Name", c->s->name, "NodeName", c->s->name, "Version", "Version", API_VERSION,
                      "Revision", "", "Server", "Enabled", true, "Client", "Enabled", false, "ACL", "Enabled",
                      c->s->acl_enabled, "BindAddr", jx_str(member, "Addr", "127.0.0.1"));
        json_t *stats =
            json_pack("{s:{s:s,s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s},s:{s:s}}", "nomad", "server", "true", "leader",
                      is_leader(c) ? "true" : "false", "leader_addr", leader ? leader : "", "raft", "last_log_index",
                      idx, "jobs", jobs, "nodes", nodes, "allocs", allocs, "evals", evals, "runtime", "uptime", uptime);
        http_req_respond_json(c->req, 200,
                              json_pack("{s:o,s:o,s:o}", "config", config, "member", member, "stats", stats), 0);
}

void h_agent_members(struct route_ctx *c) {
        json_t *self = self_member(c);
        json_t *out = json_pack("{s:s,s:s,s:s,s:o}", "ServerName", jx_str(self, "Name", ""), "ServerRegion",
                                c->s->region, "ServerDC", c->s->datacenter, "Members", members_json(c));
        json_decref(self);
        http_req_respond_json(c->req, 200, out, 0);
}

/* The servers' RPC (here: Raft) addresses, as a client agent would be told. */
void h_agent_servers(struct route_ctx *c) {
        json_t *members = members_json(c);
        json_t *out = json_array();
        size_t i;
        json_t *m;
        json_array_foreach(members, i, m) {
                char addr[96];
                snprintf(addr, sizeof(addr), "%s:%lld", jx_str(m, "Addr", ""), (long long)jx_int(m, "Port", 0));
                json_array_append_new(out, json_string(addr));
        }
        json_decref(members);
        http_req_respond_json(c->req, 200, out, 0);
}

/* Healthy when a leader is known (Nomad: the server has a leader); 500 otherwise. */
void h_agent_health(struct route_ctx *c) {
        bool known = true;
        uint64_t contact = 0;
        if (c->s->ops->leader_info)
                c->s->ops->leader_info(c->s->data, &known, &contact);
        else
                known = leader_address(c) != NULL || is_leader(c);
        json_t *server = json_pack("{s:b,s:s}", "ok", known, "message", known ? "ok" : "No cluster leader");
        http_req_respond_json(c->req, known ? 200 : 500, json_pack("{s:o}", "server", server), 0);
}

/* GET /v1/agent/schedulers: this server's scheduler workers, in Nomad's shape. A
 * worker takes evaluations while a leader is known ("WaitingToDequeue" between
 * them), else it waits ("WaitingForRaft"). */
void h_agent_schedulers(struct route_ctx *c) {
        bool known = true;
        uint64_t contact = 0;
        if (c->s->ops->leader_info)
                c->s->ops->leader_info(c->s->data, &known, &contact);
        else
                known = leader_address(c) != NULL || is_leader(c);
        char started[96];
        time_t secs = (time_t)(c->s->started_ns / NS_PER_SEC);
        struct tm tm;
        gmtime_r(&secs, &tm);
        size_t len = strftime(started, sizeof(started), "%Y-%m-%d %H:%M:%S", &tm);
        snprintf(started + len, sizeof(started) - len, ".%06lld +0000 UTC",
                 (long long)(c->s->started_ns % NS_PER_SEC / 1000));
        json_t *list = json_array();
        for (int i = 0; i < c->s->num_schedulers; i++)
                json_array_append_new(list, json_pack("{s:s,s:[s,s,s,s],s:s,s:s,s:s}", "id", c->s->worker_ids[i],
                                                      "enabled_schedulers", "service", "batch", "system", "sysbatch",
                                                      "started", started, "status", "Started", "workload_status",
                                                      known ? "WaitingToDequeue" : "WaitingForRaft"));
        http_req_respond_json(c->req, 200, json_pack("{s:s,s:o}", "server_id", c->s->raft_addr, "schedulers", list), 0);
}

/* ---- metrics ------------------------------------------------------------------------------ */

struct metric {
        const char *name; /* Nomad-style, dotted */
        double value;
        bool counter;
};

struct alloc_tally {
        size_t by_client[8];
        size_t desired_run;
};

static bool tally_alloc(void *arg, const struct alloc *a) {
        struct alloc_tally *t = arg;
        if ((unsigned)a->client_status < ARRAY_SIZE(t->by_client))
                t->by_client[a->client_status]++;
        if (a->desired_status == ALLOC_DESIRED_RUN)
                t->desired_run++;
        return true;
}

struct eval_tally {
        size_t pending, blocked;
};

static bool tally_eval(void *arg, const struct eval *e) {
        struct eval_tally *t = arg;
        if (e->status == EVAL_PENDING)
                t->pending++;
        else if (e->status == EVAL_BLOCKED)
                t->blocked++;
        return true;
}

struct node_tally {
        size_t ready, down, ineligible, draining;
};

static bool tally_node(void *arg, const struct node *n) {
        struct node_tally *t = arg;
        if (n->status == NODE_READY)
                t->ready++;
        else if (n->status == NODE_DOWN)
                t->down++;
        if (!n->eligible)
                t->ineligible++;
        if (n->drain)
                t->draining++;
        return true;
}

/* Fills m (room for cap) from the live state; returns how many. */
static size_t collect_metrics(struct route_ctx *c, struct metric *m, size_t cap) {
        struct state_store *st = ctx_state(c);
        struct alloc_tally at = {0};
        struct eval_tally et = {0};
        struct node_tally nt = {0};
        state_allocs_foreach(st, tally_alloc, &at);
        state_evals_foreach(st, tally_eval, &et);
        state_nodes_foreach(st, tally_node, &nt);
        struct metric all[] = {
            {"nomad.state.jobs", (double)state_count(st, STATE_TABLE_JOBS), false},
            {"nomad.state.nodes", (double)state_count(st, STATE_TABLE_NODES), false},
            {"nomad.state.allocs", (double)state_count(st, STATE_TABLE_ALLOCS), false},
            {"nomad.state.evals", (double)state_count(st, STATE_TABLE_EVALS), false},
            {"nomad.state.latest_index", (double)state_latest_index(st), false},
            {"nomad.nomad.allocs.pending", (double)at.by_client[ALLOC_CLIENT_PENDING], false},
            {"nomad.nomad.allocs.running", (double)at.by_client[ALLOC_CLIENT_RUNNING], false},
            {"nomad.nomad.allocs.complete", (double)at.by_client[ALLOC_CLIENT_COMPLETE], false},
            {"nomad.nomad.allocs.failed", (double)at.by_client[ALLOC_CLIENT_FAILED], false},
            {"nomad.nomad.allocs.lost", (double)at.by_client[ALLOC_CLIENT_LOST], false},
            {"nomad.nomad.allocs.desired_run", (double)at.desired_run, false},
            {"nomad.nomad.broker.total_pending", (double)et.pending, false},
            {"nomad.nomad.blocked_evals.total_blocked", (double)et.blocked, false},
            {"nomad.nomad.nodes.ready", (double)nt.ready, false},
            {"nomad.nomad.nodes.down", (double)nt.down, false},
            {"nomad.nomad.nodes.ineligible", (double)nt.ineligible, false},
            {"nomad.nomad.nodes.draining", (double)nt.draining, false},
            {"nomad.nomad.leader.is_leader", is_leader(c) ? 1 : 0, false},
            {"nomad.runtime.uptime_seconds", (double)(clock_now_ns() - c->s->started_ns) / NS_PER_SEC, false},
            {"nomad.http.requests", (double)c->s->requests, true},
            {"nomad.http.denied", (double)c->s->denied, true},
            {"drover.http.parked_queries", (double)waitlist_count(c->s->parked), false},
            {"drover.http.parked_client_gone", (double)c->s->parked_gone, true},
            {"drover.rpc.held", (double)api_hold_count(c->s), false},
            {"drover.rpc.held_total", (double)c->s->held_total, true},
            {"drover.rpc.hold_refused", (double)c->s->hold_refused, true},
            {"drover.rpc.hold_client_gone", (double)c->s->hold_gone, true},
        };
        size_t n = ARRAY_SIZE(all) < cap ? ARRAY_SIZE(all) : cap;
        memcpy(m, all, n * sizeof(*m));
        return n;
}

void h_metrics(struct route_ctx *c) {
        struct metric m[32];
        size_t n = collect_metrics(c, m, ARRAY_SIZE(m));
        const char *format = http_req_query(c->req, "format");
        if (format && strcmp(format, "prometheus") == 0) {
                char buf[8192];
                size_t len = 0;
                for (size_t i = 0; i < n && len < sizeof(buf); i++) {
                        char name[96];
                        size_t k = 0;
                        for (const char *p = m[i].name; *p && k + 1 < sizeof(name); p++)
                                name[k++] = isalnum((unsigned char)*p) ? *p : '_';
                        name[k] = '\0';
                        int w = snprintf(buf + len, sizeof(buf) - len, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name,
                                         m[i].name, name, m[i].counter ? "counter" : "gauge", name, m[i].value);
                        if (w < 0 || (size_t)w >= sizeof(buf) - len)
                                break;
                        len += (size_t)w;
                }
                http_req_respond_raw(c->req, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
                return;
        }
        if (format && *format) {
                http_req_respond_text(c->req, 400, "Invalid format: \"%s\" (prometheus, or none for JSON)", format);
                return;
        }
        char ts[40];
        time_t now = (time_t)(clock_now_ns() / NS_PER_SEC);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
        json_t *gauges = json_array(), *counters = json_array();
        for (size_t i = 0; i < n; i++) {
                if (m[i].counter)
                        json_array_append_new(counters, json_pack("{s:s,s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:{}}", "Name",
                                                                  m[i].name, "Count", 1, "Rate", 0.0, "Sum", m[i].value,
                                                                  "Min", m[i].value, "Max", m[i].value, "Mean",
                                                                  m[i].value, "Stddev", 0.0, "Labels"));
                else
                        json_array_append_new(
                            gauges, json_pack("{s:s,s:f,s:{}}", "Name", m[i].name, "Value", m[i].value, "Labels"));
        }
        http_req_respond_json(c->req, 200,
                              json_pack("{s:s,s:o,s:o,s:[],s:[]}", "Timestamp", ts, "Gauges", gauges, "Counters",
                                        counters, "Samples", "Points"),
                              0);
}

/* ---- search ------------------------------------------------------------------------------- */

/* Nomad truncates each context's matches at 20. */
#define SEARCH_LIMIT 20
#define SEARCH_MAX_TEXT 256

enum { CTX_JOBS, CTX_NODES, CTX_ALLOCS, CTX_EVALS, CTX_COUNT };
static const char *const ctx_names[CTX_COUNT] = {"jobs", "nodes", "allocs", "evals"};

struct search {
        struct route_ctx *c;
        const char *text;
        bool fuzzy;
        json_t *list; /* matches of the context being walked */
        bool truncated;
};

/* Prefix: case-sensitive; fuzzy: case-insensitive substring. */
static bool text_matches(const struct search *s, const char *v) {
        if (!v)
                return false;
        return s->fuzzy ? strcasestr(v, s->text) != NULL : strncmp(v, s->text, strlen(s->text)) == 0;
}

/* Add a match; false once the context is full. */
static bool add_match(struct search *s, json_t *m) {
        if (json_array_size(s->list) >= SEARCH_LIMIT) {
                json_decref(m);
                s->truncated = true;
                return false;
        }
        json_array_append_new(s->list, m);
        return true;
}

static bool search_job(void *arg, const struct job *j) {
        struct search *s = arg;
        if (!s->fuzzy)
                return text_matches(s, j->id) ? add_match(s, json_string(j->id)) : true;
        if (text_matches(s, j->name ? j->name : j->id) &&
            !add_match(s, json_pack("{s:s,s:[s]}", "ID", j->name ? j->name : j->id, "Scope", j->namespace)))
                return false;
        return true;
}

static bool search_node(void *arg, const struct node *n) {
        struct search *s = arg;
        if (!s->fuzzy)
                return text_matches(s, n->id) ? add_match(s, json_string(n->id)) : true;
        return text_matches(s, n->name) ? add_match(s, json_pack("{s:s,s:[s]}", "ID", n->name, "Scope", n->id)) : true;
}

static bool search_alloc(void *arg, const struct alloc *a) {
        struct search *s = arg;
        if (!s->fuzzy)
                return text_matches(s, a->id) ? add_match(s, json_string(a->id)) : true;
        return text_matches(s, a->name) ? add_match(s, json_pack("{s:s,s:[s,s]}", "ID", a->name, "Scope",
                                                                 a->namespace ? a->namespace : "default", a->id))
                                        : true;
}

static bool search_eval(void *arg, const struct eval *e) {
        struct search *s = arg;
        return text_matches(s, e->id) ? add_match(s, json_string(e->id)) : true;
}

static void do_search(struct route_ctx *c, bool fuzzy) {
        _cleanup_json_ json_t *body = parse_body(c);
        if (!body)
                return;
        const char *text = jx_str(body, fuzzy ? "Text" : "Prefix", NULL);
        const char *context = jx_str(body, "Context", "all");
        if (!text || strlen(text) > SEARCH_MAX_TEXT || (fuzzy && strlen(text) < 2)) {
                http_req_respond_text(c->req, 400, "%s: a string of %s%d characters at most is required",
                                      fuzzy ? "Text" : "Prefix", fuzzy ? "2 to " : "", SEARCH_MAX_TEXT);
                return;
        }
        int only = -1;
        for (int i = 0; i < CTX_COUNT; i++)
                if (strcmp(context, ctx_names[i]) == 0)
                        only = i;
        if (only < 0 && strcmp(context, "all") != 0) {
                http_req_respond_text(c->req, 400, "Invalid Context: \"%s\" (all, jobs, nodes, allocs or evals)",
                                      context);
                return;
        }
        json_t *matches = json_object(), *trunc = json_object();
        struct state_store *st = ctx_state(c);
        for (int i = 0; i < CTX_COUNT; i++) {
                if (only >= 0 && i != only)
                        continue;
                if (fuzzy && i == CTX_EVALS)
                        continue; /* Nomad's fuzzy search has no eval context */
                struct search s = {.c = c, .text = text, .fuzzy = fuzzy, .list = json_array()};
                switch (i) {
                case CTX_JOBS:
                        state_jobs_foreach(st, ns_of(c), search_job, &s);
                        break;
                case CTX_NODES:
                        state_nodes_foreach(st, search_node, &s);
                        break;
                case CTX_ALLOCS:
                        state_allocs_foreach(st, search_alloc, &s);
                        break;
                default:
                        state_evals_foreach(st, search_eval, &s);
                        break;
                }
                json_object_set_new(matches, ctx_names[i], s.list);
                json_object_set_new(trunc, ctx_names[i], json_boolean(s.truncated));
        }
        uint64_t index = state_latest_index(st);
        http_req_respond_json(
            c->req, 200,
            json_pack("{s:o,s:o,s:I}", "Matches", matches, "Truncations", trunc, "Index", (json_int_t)index),
            index ? index : 1);
}

void h_search(struct route_ctx *c) {
        do_search(c, false);
}

void h_search_fuzzy(struct route_ctx *c) {
        do_search(c, true);
}
