/* test_cli_args.c - cli_args (cli/util.c), the argument scanner the commands share:
 * boolean and valued flags, operand counts, and the errors it prints. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdbool.h>
#include <string.h>

#include "cli/cli.h"

static const char HELP[] = "Usage: drover x\n";

Test(cli_args, flags_values_and_operands_in_order) {
        bool verbose = false, err = true;
        const char *task = NULL, *ops[2] = {0};
        const struct cli_flag flags[] = {{"-verbose", NULL, &verbose, true},
                                         {"-stdout", NULL, &err, false},
                                         {"-task", &task, NULL, false},
                                         {0}};
        char *argv[] = {"-verbose", "abc", "-task", "t1", "-stdout", "web", "-task=t2"};
        int n = -1;
        cr_assert_eq(cli_args(7, argv, flags, 1, 2, "<a> [<b>]", HELP, ops, &n), 0);
        cr_expect_eq(n, 2);
        cr_expect_str_eq(ops[0], "abc");
        cr_expect_str_eq(ops[1], "web");
        cr_expect(verbose);
        cr_expect_not(err, "-stdout sets its bool to false");
        cr_expect_str_eq(task, "t2", "the last value wins");
}

Test(cli_args, a_bool_flag_takes_no_value_and_a_prefix_is_not_the_flag, .init = cr_redirect_stderr) {
        bool f = false;
        const struct cli_flag flags[] = {{"-f", NULL, &f, true}, {0}};
        const char *ops[1] = {0};
        int n = 0;
        char *a1[] = {"-follow"};
        cr_expect_eq(cli_args(1, a1, flags, 0, 1, "[<a>]", HELP, ops, &n), 1, "-follow is not -f");
        char *a2[] = {"-f=1"};
        cr_expect_eq(cli_args(1, a2, flags, 0, 1, "[<a>]", HELP, ops, &n), 1);
        cr_expect_not(f);
        fflush(stderr);
        cr_expect_stderr_eq_str("Unknown flag \"-follow\"\n\nUsage: drover x\nUnknown flag \"-f=1\"\n\nUsage: drover x\n");
}

Test(cli_args, operand_counts_are_checked_and_said, .init = cr_redirect_stderr) {
        const char *ops[2] = {0};
        int n = 0;
        char *none[] = {NULL};
        cr_expect_eq(cli_args(0, none, NULL, 1, 2, "<allocation> [<task>]", HELP, ops, &n), 1);
        char *three[] = {"a", "b", "c"};
        cr_expect_eq(cli_args(3, three, NULL, 1, 1, "<job>", HELP, ops, &n), 1);
        char *one[] = {"a"};
        cr_expect_eq(cli_args(1, one, NULL, 0, 0, "", HELP, ops, &n), 1);
        char *two[] = {"a", "b"};
        cr_expect_eq(cli_args(2, two, NULL, 0, 1, "[<job>]", HELP, ops, &n), 1);
        char *dash[] = {"-"};
        cr_expect_eq(cli_args(1, dash, NULL, 1, 1, "<file>", HELP, ops, &n), 0, "a lone - is an operand (stdin)");
        cr_expect_str_eq(ops[0], "-");
        char *val[] = {"x", "-task"};
        const char *task = NULL;
        const struct cli_flag flags[] = {{"-task", &task, NULL, false}, {0}};
        cr_expect_eq(cli_args(2, val, flags, 1, 1, "<a>", HELP, ops, &n), 1, "a valued flag at the end has no value");
        fflush(stderr);
        cr_expect_stderr_eq_str("This command takes one or two arguments: <allocation> [<task>]\n\nUsage: drover x\n"
                                "This command takes one argument: <job>\n\nUsage: drover x\n"
                                "This command takes no arguments\n\nUsage: drover x\n"
                                "This command takes at most one argument: [<job>]\n\nUsage: drover x\n"
                                "Unknown flag \"-task\"\n\nUsage: drover x\n");
}
