/* Tests of kernels/backend.c: backend creation, variant listing, out-of-memory. */
#include "tests/kernels/tests.h"

#include <stdio.h>
#include <string.h>

#include "kernels/kern.h"

static void check_complete(const kern_ops *ops)
{
    ck_assert_msg(ops->quantize_row != NULL, "quantize_row is NULL");
    ck_assert_msg(ops->dequantize_row != NULL, "dequantize_row is NULL");
    ck_assert_msg(ops->matmul != NULL, "matmul is NULL");
    ck_assert_msg(ops->rmsnorm != NULL, "rmsnorm is NULL");
    ck_assert_msg(ops->softmax != NULL, "softmax is NULL");
    ck_assert_msg(ops->rope != NULL, "rope is NULL");
    ck_assert_msg(ops->rope_cs != NULL, "rope_cs is NULL");
    ck_assert_msg(ops->swiglu != NULL, "swiglu is NULL");
    ck_assert_msg(ops->geglu != NULL, "geglu is NULL");
    ck_assert_msg(ops->attn != NULL, "attn is NULL");
}

START_TEST(backend__ref_and_best_fill_every_required_op)
{
    kern_backend *ref = NULL;
    kern_backend *best = NULL;
    ck_assert_int_eq(kern_backend_new(&ref, KERN_BACKEND_KIND_REF, NULL), 0);
    ck_assert_int_eq(kern_backend_new(&best, KERN_BACKEND_KIND_BEST, NULL), 0);
    check_complete(kern_backend_ops(ref));
    check_complete(kern_backend_ops(best));
    ck_assert_str_eq(kern_backend_name(ref), "cpu: ref");
    const char *name = NULL;
    kern_backend_variant(kern_backend_n_variants() - 1, &name);
    char want[64];
    snprintf(want, sizeof(want), "cpu: %s", name);
    ck_assert_str_eq(kern_backend_name(best), want);
    kern_backend_free(ref);
    kern_backend_free(best);
    kern_backend_free(NULL);
}
END_TEST

START_TEST(backend__variants_start_with_ref_and_generic)
{
    const size_t n = kern_backend_n_variants();
    ck_assert_uint_ge(n, 2);
    ck_assert_uint_le(n, 5);
    const char *names[] = {"ref", "generic", "avx2", "avx512", "amx"};
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL;
        const kern_ops *ops = kern_backend_variant(i, &name);
        ck_assert_ptr_nonnull(ops);
        ck_assert_str_eq(name, names[i]);
        check_complete(ops);
    }
}
END_TEST

START_TEST(backend__new_fails_cleanly_without_memory)
{
    const long live = core_alloc_live();
    int rc = -1;
    for (long n = 1; rc != 0; n++) {
        kern_backend *b = NULL;
        core_err err = {0};
        core_alloc_fail_after(n);
        rc = kern_backend_new(&b, KERN_BACKEND_KIND_BEST, &err);
        core_alloc_fail_after(0);
        if (rc != 0) {
            ck_assert_int_eq(rc, CORE_ENOMEM);
            ck_assert_ptr_null(b);
            ck_assert_int_eq(err.code, CORE_ENOMEM);
            ck_assert_int_eq(core_alloc_live(), live);
        } else {
            kern_backend_free(b);
        }
        ck_assert_int_lt(n, 100);
    }
    ck_assert_int_eq(core_alloc_live(), live);
}
END_TEST

/* --kernels: every name maps to the variant of that name where the CPU has it, and is refused by
 * name (CORE_EUNSUPPORTED) where it does not; unknown names are CORE_EINVAL. */
START_TEST(backend__kind_parse_names_and_refuses)
{
    static const char *const NAMES[] = {"ref", "generic", "avx2", "avx512", "amx"};
    const size_t n_have = kern_backend_n_variants();
    for (size_t i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]); i++) {
        kern_backend_kind kind = KERN_BACKEND_KIND_BEST;
        core_err err = {0};
        const int rc = kern_backend_kind_parse(&kind, NAMES[i], &err);
        if (i >= n_have) {
            ck_assert_int_eq(rc, CORE_EUNSUPPORTED);
            ck_assert_ptr_nonnull(strstr(err.msg, NAMES[i]));
            ck_assert_ptr_nonnull(strstr(err.msg, "lacks"));
            kern_backend *b = NULL;
            ck_assert_int_eq(kern_backend_new(&b, (kern_backend_kind)(i == 0 ? 0 : i + 1), &err),
                             CORE_EUNSUPPORTED);
            ck_assert_ptr_null(b);
            continue;
        }
        ck_assert_msg(rc == 0, "%s: %s", NAMES[i], err.msg);
        kern_backend *b = NULL;
        ck_assert_int_eq(kern_backend_new(&b, kind, &err), 0);
        char want[64];
        snprintf(want, sizeof(want), "cpu: %s", NAMES[i]);
        ck_assert_str_eq(kern_backend_name(b), want);
        kern_backend_free(b);
    }
    kern_backend_kind kind = KERN_BACKEND_KIND_REF;
    core_err err = {0};
    ck_assert_int_eq(kern_backend_kind_parse(&kind, "best", &err), 0);
    ck_assert_int_eq(kind, KERN_BACKEND_KIND_BEST);
    ck_assert_int_eq(kern_backend_kind_parse(&kind, "avx9000", &err), CORE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "avx9000"));
    ck_assert_int_eq(kind, KERN_BACKEND_KIND_BEST);
}
END_TEST

TCase *tcase_backend(void)
{
    TCase *tc = tcase_create("backend");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, backend__ref_and_best_fill_every_required_op);
    tcase_add_test(tc, backend__variants_start_with_ref_and_generic);
    tcase_add_test(tc, backend__new_fails_cleanly_without_memory);
    tcase_add_test(tc, backend__kind_parse_names_and_refuses);
    return tc;
}
