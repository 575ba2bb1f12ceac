/* test_sched_rank.c - the bin-packing fit score (sched_fit_score, rank.c) on its own:
 * which of two placements it prefers, as a table, and its exact value and range. */
#include <criterion/criterion.h>
#include <math.h>

#include "controlplane/scheduler/feasible.h"
#include "controlplane/scheduler/rank.h"

/* One placement: a node of capacity cpu/mem holding used_* (the ask included) after
 * placing an ask of ask_*. */
struct place {
        int64_t cpu, mem, used_cpu, used_mem, ask_cpu, ask_mem;
};

static double fit(const struct place *p) {
        return sched_fit_score(SCHED_ALG_BINPACK, p->cpu, p->mem, p->used_cpu, p->used_mem, p->ask_cpu, p->ask_mem);
}

Test(sched_rank, binpack_prefers_the_better_placement) {
        static const struct {
                const char *why;
                struct place better, worse;
        } cases[] = {
            {"same node shape, same fill: left balanced beats left with memory stranded",
             {1000, 1000, 700, 700, 100, 100},
             {1000, 1000, 1000, 400, 100, 100}},
            {"left with cpu stranded scores lower too",
             {1000, 1000, 700, 700, 100, 100},
             {1000, 1000, 400, 1000, 100, 100}},
            {"balanced leftovers: the fuller node wins (Nomad's ScoreFit)",
             {1000, 1000, 900, 900, 100, 100},
             {1000, 1000, 300, 300, 100, 100}},
            {"a memory-heavy ask goes where memory is left over rather than onto a balanced node",
             {4000, 8000, 3000, 4000, 100, 2000},
             {4000, 8000, 2100, 6000, 100, 2000}},
            {"a cpu-heavy ask on a node whose cpu is left over beats one whose memory is",
             {4000, 4000, 1000, 3000, 1000, 100},
             {4000, 4000, 3000, 1000, 1000, 100}},
            {"two node shapes: a memory-heavy ask opens the memory node, not the compute one",
             {4000, 32768, 800, 8192, 800, 8192},
             {8000, 8192, 800, 8192, 800, 8192}},
            {"two node shapes: a cpu-heavy ask opens the compute node",
             {8000, 8192, 3000, 1024, 3000, 1024},
             {4000, 32768, 3000, 1024, 3000, 1024}},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                double b = fit(&cases[i].better), w = fit(&cases[i].worse);
                cr_assert_gt(b, w, "case %zu (%s): %.6f <= %.6f", i, cases[i].why, b, w);
        }
}

Test(sched_rank, binpack_score_is_stranded_share_and_imbalance_removed) {
        const struct {
                const char *why;
                struct place p;
                double want;
        } cases[] = {
            /* before 500 / 1500 used (free 0.75 / 0.25, imbalance 0.5), after 1000 / 1600
             * (free 0.5 / 0.2, imbalance 0.3) */
            {"Nomad's ScoreFit, plus the imbalance removed and the share left unstranded",
             {2000, 2000, 1000, 1600, 500, 100},
             (sched_binpack_score(2000, 2000, 1000, 1600) + (1.0 - 0.3) + (0.5 - 0.3)) / 2},
            {"the top: a full balanced node", {1000, 1000, 1000, 1000, 500, 500}, 1.0},
            {"the bottom: an empty node left lopsided by an ask of its whole memory and no cpu "
             "(S 9/18 - 1 stranded - 1 added) / 2",
             {1000, 1000, 0, 1000, 0, 1000},
             (0.5 - 1.0) / 2},
            {"a node without capacity in a dimension: Nomad's ScoreFit alone",
             {0, 1000, 0, 500, 0, 500},
             sched_binpack_score(0, 1000, 0, 500)},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                cr_assert_float_eq(fit(&cases[i].p), cases[i].want, 1e-12, "case %zu (%s)", i, cases[i].why);
}

Test(sched_rank, binpack_ties_are_exact_and_stay_within_its_range) {
        /* mirror images score the same, to the bit: Select's strict comparison then keeps
         * the first in the candidates' (eval-seeded) order */
        cr_assert_eq(sched_fit_score(SCHED_ALG_BINPACK, 1000, 1000, 700, 400, 100, 100),
                     sched_fit_score(SCHED_ALG_BINPACK, 1000, 1000, 400, 700, 100, 100));
        for (int64_t uc = 0; uc <= 1000; uc += 100)
                for (int64_t um = 0; um <= 1000; um += 100)
                        for (int64_t ac = 0; ac <= uc; ac += 250)
                                for (int64_t am = 0; am <= um; am += 250) {
                                        double f = sched_fit_score(SCHED_ALG_BINPACK, 1000, 1000, uc, um, ac, am);
                                        cr_assert(f >= -0.5 && f <= 1.5, "%ld %ld %ld %ld: %f", (long)uc, (long)um,
                                                  (long)ac, (long)am, f);
                                        cr_assert_eq(f, sched_fit_score(SCHED_ALG_BINPACK, 1000, 1000, uc, um, ac, am));
                                }
}

/* Nomad's ScoreFitBinPack as computed before its 10^x values were memoised. */
static double binpack_direct(int64_t avail_cpu, int64_t avail_mem, int64_t used_cpu, int64_t used_mem) {
        double fc = avail_cpu > 0 ? 1.0 - (double)used_cpu / (double)avail_cpu : 0.0;
        double fm = avail_mem > 0 ? 1.0 - (double)used_mem / (double)avail_mem : 0.0;
        double score = 20.0 - (exp(fc * M_LN10) + exp(fm * M_LN10));
        return (score > 18.0 ? 18.0 : score < 0.0 ? 0.0 : score) / 18.0;
}

/* The memo (feasible.c free_pow10) gives exactly the direct value, on a first look-up
 * and on a repeat, for more (used, avail) pairs than it has entries (so entries are
 * replaced and colliding keys must not answer for each other). */
Test(sched_rank, binpack_score_is_the_same_from_its_memo) {
        static const int64_t avail[] = {0, 1000, 3900, 4000, 8192, 16000};
        for (int pass = 0; pass < 2; pass++)
                for (size_t a = 0; a < sizeof(avail) / sizeof(avail[0]); a++)
                        for (int64_t used = 0; used <= 4200; used += 10) {
                                int64_t am = avail[(a + 1) % (sizeof(avail) / sizeof(avail[0]))];
                                double want = binpack_direct(avail[a], am, used, 4200 - used);
                                double got = sched_binpack_score(avail[a], am, used, 4200 - used);
                                cr_assert(got == want, "avail %lld/%lld used %lld: %.17g, want %.17g",
                                          (long long)avail[a], (long long)am, (long long)used, got, want);
                        }
}
