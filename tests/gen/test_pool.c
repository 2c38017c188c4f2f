/* Tests of gen/pool.c: every thread runs once per call, and barriers order the phases. */
#include "tests/gen/tests.h"

#include <stdatomic.h>
#include <string.h>

#include "core/core.h"
#include "gen/pool_int.h"

#define POOL_MAX 8

typedef struct phases {
    gen_pool *pool;
    atomic_int ran[POOL_MAX]; /* calls per thread index */
    atomic_int arrived;       /* threads past phase one */
    atomic_int wrong_order;   /* phase-two observations of an incomplete phase one */
    size_t nth_seen;
} phases;

static void run_phases(void *payload, size_t ith, size_t nth)
{
    phases *p = payload;
    atomic_fetch_add(&p->ran[ith], 1);
    p->nth_seen = nth;
    for (int round = 1; round <= 50; round++) {
        atomic_fetch_add(&p->arrived, 1);
        gen__pool_barrier(p->pool);
        if (atomic_load(&p->arrived) < round * (int)nth) {
            atomic_fetch_add(&p->wrong_order, 1);
        }
        gen__pool_barrier(p->pool);
    }
}

START_TEST(pool__every_thread_runs_and_barriers_order_phases)
{
    for (size_t n = 1; n <= 4; n++) {
        gen_pool *pool = NULL;
        ck_assert_int_eq(gen__pool_new(&pool, n, NULL), 0);
        ck_assert_uint_eq(gen__pool_n_threads(pool), n);
        static phases p;
        for (int call = 0; call < 3; call++) {
            memset(&p, 0, sizeof(p));
            p.pool = pool;
            gen__pool_run(pool, run_phases, &p);
            ck_assert_uint_eq(p.nth_seen, n);
            ck_assert_int_eq(atomic_load(&p.arrived), 50 * (int)n);
            ck_assert_int_eq(atomic_load(&p.wrong_order), 0);
            for (size_t i = 0; i < n; i++) {
                ck_assert_int_eq(atomic_load(&p.ran[i]), 1);
            }
        }
        gen__pool_free(pool);
    }
}
END_TEST

START_TEST(pool__bad_sizes_are_refused)
{
    gen_pool *pool = NULL;
    core_err err = {0};
    ck_assert_int_eq(gen__pool_new(&pool, 0, &err), CORE_EINVAL);
    ck_assert_ptr_null(pool);
    gen__pool_free(NULL);
}
END_TEST

TCase *tcase_pool(void)
{
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, pool__every_thread_runs_and_barriers_order_phases);
    tcase_add_test(tc, pool__bad_sizes_are_refused);
    return tc;
}
