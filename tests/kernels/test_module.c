/* Tests of kernels/cuda/module.c: loading the CUDA engine module, and refusing by name a
 * missing file, a file that is no shared object, one without the engine's symbol and one from
 * another build (stand-ins built from fake_engine.c; paths from CMake). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "tests/kernels/tests.h"

#include "kernels/cuda/kern_cuda.h"

START_TEST(module__loads_an_engine)
{
    kern_cuda_module *m = NULL;
    core_err err = {0};
    ck_assert_msg(kern_cuda_module_open(&m, FAKE_ENGINE_GOOD, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(m);
    const kern_cuda_api *api = kern_cuda_module_api(m);
    ck_assert_uint_eq(api->abi, KERN_CUDA_ABI);
    int n = 0;
    ck_assert_int_eq(api->device_count(&n, &err), 0);
    ck_assert_int_eq(n, 3);
    ck_assert(api->type_supported(KERN_TYPE_Q8_0));
    kern_cuda_module_close(m);
    kern_cuda_module_close(NULL);
}
END_TEST

/* Opening path must fail with code, leave no module and name needle in the message. */
static void expect_refused(const char *path, int code, const char *needle)
{
    kern_cuda_module *m = (kern_cuda_module *)&m;
    core_err err = {0};
    ck_assert_int_eq(kern_cuda_module_open(&m, path, &err), code);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "'%s' lacks '%s'", err.msg, needle);
}

START_TEST(module__missing_file_is_unsupported)
{
    const char *path = KILN_TEST_TMP "/no-such-libkiln-cuda.so";
    expect_refused(path, CORE_EUNSUPPORTED, path);
}
END_TEST

START_TEST(module__not_a_shared_object)
{
    const char *path = KILN_TEST_TMP "/libkiln-cuda-garbage.so";
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("this is not an ELF file\n", f);
    fclose(f);
    expect_refused(path, CORE_ERROR, path);
    expect_refused(path, CORE_ERROR, "cuda: loading");
}
END_TEST

START_TEST(module__without_the_entry_symbol)
{
    expect_refused(FAKE_ENGINE_NO_SYMBOL, CORE_ERROR, "no kern_cuda_engine_api");
}
END_TEST

START_TEST(module__from_another_build)
{
    expect_refused(FAKE_ENGINE_OLD_ABI, CORE_ERROR, "another build");
}
END_TEST

TCase *tcase_module(void)
{
    TCase *tc = tcase_create("module");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, module__loads_an_engine);
    tcase_add_test(tc, module__missing_file_is_unsupported);
    tcase_add_test(tc, module__not_a_shared_object);
    tcase_add_test(tc, module__without_the_entry_symbol);
    tcase_add_test(tc, module__from_another_build);
    return tc;
}
