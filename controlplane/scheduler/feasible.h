/* feasible.h - node feasibility checks and scores, Nomad's semantics
 * (scheduler/feasible/feasible.go, rank.go, nomad/structs/funcs.go). Pure functions.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/model.h"

/* Resolve a constraint target against a node: ${node.unique.id}, ${node.unique.name},
 * ${node.datacenter}, ${node.region} (the region the node registered in; "global" when
 * not recorded), ${node.class}, ${node.pool}, ${attr.<k>}, ${meta.<k>}; anything
 * not starting with "${" is a literal. NULL (and *ret_found false) when missing. */
const char *sched_resolve_target(const struct node *n, const char *target, bool *ret_found);

/* Nomad's checkConstraint for one operand on resolved values. distinct_hosts and
 * distinct_property are not checked here (true). Missing values: "=", orders,
 * regexp, version, semver, set_contains* are false; "!=" is true unless both sides
 * are equal (two missing sides are equal); is_set / is_not_set test the left side.
 * Orders compare as integers, then floats, then strings. version/semver compare
 * dotted numeric versions with =, !=, >, >=, <, <=, ~> and comma-separated ANDs;
 * a pre-release ("-rc.1") orders before its release as in Semantic Versioning 2.0,
 * build metadata ("+abc") is ignored; semver takes only strict MAJOR.MINOR.PATCH
 * versions on both sides (anything else does not match). */
bool sched_check_operand(const char *operand, const char *l, bool l_found, const char *r, bool r_found);
bool sched_node_meets(const struct node *n, const struct constraint *c);

/* Compiled regular expressions of one evaluation, keyed by pattern: each pattern is
 * compiled once however many nodes it is checked against. Not thread-safe (one per
 * evaluation). */
struct sched_regexps;
struct sched_regexps *sched_regexps_create(void);                     /* NULL on ENOMEM */
struct sched_regexps *sched_regexps_destroy(struct sched_regexps *c); /* returns NULL */
size_t sched_regexps_compiled(const struct sched_regexps *c);         /* regcomp calls so far */
/* As above, with regexps taken from (and added to) cache; NULL cache compiles each time. */
bool sched_check_operand_re(const char *operand, const char *l, bool l_found, const char *r, bool r_found,
                            struct sched_regexps *cache);
bool sched_node_meets_re(const struct node *n, const struct constraint *c, struct sched_regexps *cache);
/* The constraint refers to unique.* values: its result cannot be memoised per class. */
bool sched_constraint_escapes(const struct constraint *c);
/* "${attr.kernel.name} = linux": the key in AllocationMetric.ConstraintFiltered. */
void sched_constraint_string(const struct constraint *c, char *buf, size_t size);

/* Datacenter pattern ("dc1", "*", "us-*") matches a node's datacenter. */
bool sched_dc_match(const char *pattern, const char *dc);

/* Nomad's ScoreFitBinPack, normalised: clamp(20 - (10^freeCpu + 10^freeMem), 0, 18) / 18,
 * with util = used (including the new alloc) over available (total - reserved). */
double sched_binpack_score(int64_t avail_cpu, int64_t avail_mem, int64_t used_cpu, int64_t used_mem);
/* Compare versions (dotted numbers, then SemVer pre-release precedence): <0, 0, >0. */
int sched_version_cmp(const char *a, const char *b);
