/* TCase constructors of the sandbox suite, one per sandbox/ file, and shared helpers. */
#ifndef KILN_TESTS_SANDBOX_H
#define KILN_TESTS_SANDBOX_H

#include <check.h>
#include <stdbool.h>

#include "sandbox/sbx.h"

TCase *tcase_result(void);
TCase *tcase_filter(void);
TCase *tcase_cgroup(void);
TCase *tcase_box(void);
TCase *tcase_pool(void);
TCase *tcase_cstub(void);
TCase *tcase_hostile(void);
TCase *tcase_hostile_c(void);
TCase *tcase_tree(void);

/* The uid range the test pools use (sbx_pool_options.uid_base): 64 uids per test process, so
 * that suites running at once do not see each other's boxes. */
#define SBX_TEST_UID_BASE sbx_test_uid_base()
unsigned sbx_test_uid_base(void);

/* A pool for tests: n slots, prefork on or off, the test uid range, zygotes on (the default).
 * Fails the test on error. */
sbx_pool *sbx_test_pool(size_t n_slots, bool prefork);

/* The same with the zygotes on or off (off: an interpreter is exec'd per box). */
sbx_pool *sbx_test_pool_zygote(size_t n_slots, bool prefork, bool zygote);

/* SIGKILLs the zygotes that are children of this process; returns how many there were. */
int sbx_test_kill_zygotes(void);

/* Runs a Python or C job with default limits; returns sbx_pool_run's code. */
int sbx_test_run(sbx_pool *pool, sbx_lang lang, const char *cand, const char *tests,
                 const char *entry, sbx_result *res, core_err *err);

/* Number of processes on the host whose uid is in the test range. */
int sbx_test_count_box_procs(void);

/* Waits (up to 2 s) until no process of the test range is left; returns how many are left. */
int sbx_test_wait_no_box_procs(void);

#endif
