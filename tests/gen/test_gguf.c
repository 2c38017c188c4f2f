/*
 * Tests of gen/gguf.c: a small GGUF file built in memory is read back; every truncation and a
 * set of hostile edits are refused with CORE_EPARSE (or CORE_EUNSUPPORTED) and a message that
 * names the problem; allocation failures return CORE_ENOMEM without leaks.
 */
#include "tests/gen/tests.h"

#include <stdint.h>
#include <string.h>

#include "core/core.h"
#include "gen/gguf_int.h"

static void put(core_buf *b, const void *p, size_t n)
{
    ck_assert_int_eq(core_buf_append(b, p, n), 0);
}

static void put_u32(core_buf *b, uint32_t v)
{
    put(b, &v, 4);
}

static void put_u64(core_buf *b, uint64_t v)
{
    put(b, &v, 8);
}

static void put_str(core_buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

/* Offsets of interesting fields in the file built below, for hostile edits. */
typedef struct layout {
    size_t n_tensors_at;
    size_t n_kv_at;
    size_t arr_len_at;     /* length of the string array */
    size_t tensor_dim0_at; /* ne[0] of the second tensor */
    size_t tensor_type_at;
    size_t tensor_off_at;
} layout;

/* Builds: 4 keys (u32, f32, string, string array) and 2 tensors (f32 [4], q8_0 [32, 2]). */
static void build(core_buf *b, layout *lo)
{
    put_u32(b, 0x46554747u);
    put_u32(b, 3);
    lo->n_tensors_at = b->len;
    put_u64(b, 2);
    lo->n_kv_at = b->len;
    put_u64(b, 4);
    put_str(b, "test.count");
    put_u32(b, 4);
    put_u32(b, 7);
    put_str(b, "test.eps");
    put_u32(b, 6);
    float f = 0.5f;
    put(b, &f, 4);
    put_str(b, "general.name");
    put_u32(b, 8);
    put_str(b, "tiny");
    put_str(b, "tokenizer.ggml.tokens");
    put_u32(b, 9);
    put_u32(b, 8);
    lo->arr_len_at = b->len;
    put_u64(b, 3);
    put_str(b, "a");
    put_str(b, "bc");
    put_str(b, "");
    /* tensor 0: f32 [4] at 0 */
    put_str(b, "norm.weight");
    put_u32(b, 1);
    put_u64(b, 4);
    put_u32(b, 0);
    put_u64(b, 0);
    /* tensor 1: q8_0 [32, 2] at 32 (two blocks of 34 bytes) */
    put_str(b, "w.weight");
    put_u32(b, 2);
    lo->tensor_dim0_at = b->len;
    put_u64(b, 32);
    put_u64(b, 2);
    lo->tensor_type_at = b->len;
    put_u32(b, 8);
    lo->tensor_off_at = b->len;
    put_u64(b, 32);
    while (b->len % 32) {
        put(b, "", 1);
    }
    uint8_t data[32 + 68];
    memset(data, 0x11, sizeof(data));
    put(b, data, sizeof(data));
}

START_TEST(gguf__reads_keys_and_tensors)
{
    core_buf b = {0};
    layout lo;
    build(&b, &lo);
    gen_gguf *g = NULL;
    core_err err = {0};
    ck_assert_int_eq(gen__gguf_open_memory(&g, b.ptr, b.len, &err), 0);
    uint32_t u = 0;
    float f = 0;
    core_str s;
    gen_gguf_arr arr;
    ck_assert_int_eq(gen__gguf_get_u32(g, "test.count", &u, &err), 0);
    ck_assert_uint_eq(u, 7);
    ck_assert_int_eq(gen__gguf_get_f32(g, "test.eps", &f, &err), 0);
    ck_assert_double_eq((double)f, 0.5);
    ck_assert_int_eq(gen__gguf_get_str(g, "general.name", &s, &err), 0);
    ck_assert(core_str_eq_c(s, "tiny"));
    ck_assert_int_eq(gen__gguf_get_arr(g, "tokenizer.ggml.tokens", &arr, &err), 0);
    ck_assert_uint_eq(arr.n, 3);
    ck_assert(core_str_eq_c(arr.strs[1], "bc"));
    ck_assert_int_eq(gen__gguf_get_u32(g, "missing", &u, &err), CORE_ENOTFOUND);
    ck_assert_int_eq(gen__gguf_get_str(g, "test.count", &s, &err), CORE_EPARSE);
    ck_assert_uint_eq(gen__gguf_n_tensors(g), 2);
    const gen_gguf_tensor *t = gen__gguf_find_tensor(g, "w.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->type, KERN_TYPE_Q8_0);
    ck_assert_uint_eq(t->ne[0], 32);
    ck_assert_uint_eq(t->ne[1], 2);
    ck_assert_uint_eq(t->n_bytes, 68);
    ck_assert_uint_eq((size_t)((const char *)t->data - b.ptr) % 32, 0);
    gen__gguf_free(g);
    core_buf_dispose(&b);
}
END_TEST

START_TEST(gguf__every_truncation_is_refused)
{
    core_buf b = {0};
    layout lo;
    build(&b, &lo);
    for (size_t n = 0; n < b.len; n++) {
        gen_gguf *g = NULL;
        core_err err = {0};
        int rc = gen__gguf_open_memory(&g, b.ptr, n, &err);
        ck_assert_msg(rc == CORE_EPARSE, "truncated at %zu: rc %d", n, rc);
        ck_assert_ptr_null(g);
        ck_assert_msg(strlen(err.msg) > 0, "truncated at %zu: no message", n);
    }
    core_buf_dispose(&b);
}
END_TEST

static int open_edited(const core_buf *orig, size_t at, const void *val, size_t n, core_err *err)
{
    core_buf b = {0};
    put(&b, orig->ptr, orig->len);
    memcpy(b.ptr + at, val, n);
    gen_gguf *g = NULL;
    int rc = gen__gguf_open_memory(&g, b.ptr, b.len, err);
    gen__gguf_free(g);
    core_buf_dispose(&b);
    return rc;
}

START_TEST(gguf__hostile_fields_are_named)
{
    core_buf b = {0};
    layout lo;
    build(&b, &lo);
    core_err err = {0};
    uint64_t huge = UINT64_MAX / 2;
    uint32_t bad_type = 999;
    uint64_t bad_dim = 33;
    uint64_t far = 1u << 20;
    uint64_t misaligned = 31;
    uint32_t magic = 0x12345678;

    ck_assert_int_eq(open_edited(&b, 0, &magic, 4, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "magic"));
    ck_assert_int_eq(open_edited(&b, lo.n_kv_at, &huge, 8, &err), CORE_EPARSE);
    ck_assert_int_eq(open_edited(&b, lo.n_tensors_at, &huge, 8, &err), CORE_EPARSE);
    ck_assert_int_eq(open_edited(&b, lo.arr_len_at, &huge, 8, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "tokenizer.ggml.tokens"));
    ck_assert_int_eq(open_edited(&b, lo.tensor_type_at, &bad_type, 4, &err), CORE_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "w.weight"));
    ck_assert_int_eq(open_edited(&b, lo.tensor_dim0_at, &bad_dim, 8, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "block"));
    ck_assert_int_eq(open_edited(&b, lo.tensor_dim0_at, &huge, 8, &err), CORE_EPARSE);
    ck_assert_int_eq(open_edited(&b, lo.tensor_off_at, &far, 8, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "past the end"));
    ck_assert_int_eq(open_edited(&b, lo.tensor_off_at, &misaligned, 8, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "alignment"));
    core_buf_dispose(&b);
}
END_TEST

START_TEST(gguf__missing_file_is_enotfound)
{
    gen_gguf *g = NULL;
    core_err err = {0};
    ck_assert_int_eq(gen__gguf_open(&g, KILN_TEST_TMP "/no-such-model.gguf", &err), CORE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "no-such-model.gguf"));
}
END_TEST

START_TEST(gguf__enomem_leaks_nothing)
{
    core_buf b = {0};
    layout lo;
    build(&b, &lo);
    long live = core_alloc_live();
    for (long n = 1;; n++) {
        gen_gguf *g = NULL;
        core_alloc_fail_after(n);
        int rc = gen__gguf_open_memory(&g, b.ptr, b.len, NULL);
        core_alloc_fail_after(0);
        if (rc == 0) {
            gen__gguf_free(g);
            break;
        }
        ck_assert_int_eq(rc, CORE_ENOMEM);
        ck_assert_int_eq(core_alloc_live(), live);
    }
    ck_assert_int_eq(core_alloc_live(), live);
    core_buf_dispose(&b);
}
END_TEST

TCase *tcase_gguf(void)
{
    TCase *tc = tcase_create("gguf");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, gguf__reads_keys_and_tensors);
    tcase_add_test(tc, gguf__every_truncation_is_refused);
    tcase_add_test(tc, gguf__hostile_fields_are_named);
    tcase_add_test(tc, gguf__missing_file_is_enotfound);
    tcase_add_test(tc, gguf__enomem_leaks_nothing);
    return tc;
}
