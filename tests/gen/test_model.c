/*
 * Tests of gen/model.c: a tiny model file is loaded, then damaged copies of it (a renamed
 * tensor, an unknown architecture, a wrong shape, a truncation) are refused with a message
 * naming the problem; vocab-only loading skips the tensors; allocation failures while loading
 * return CORE_ENOMEM without leaks.
 */
#include "tests/gen/tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "gen/gen.h"
#include "kernels/cuda/kern_cuda.h"
#include "tests/tools/tiny_model.h"

static tiny_model *tiny;

static void make_tiny(void)
{
    tiny_model_spec spec = tiny_model_spec_default(TINY_ARCH_LLAMA, KERN_TYPE_Q8_0);
    core_err err = {0};
    ck_assert_msg(tiny_model_new(&tiny, &spec, &err) == 0, "%s", err.msg);
}

static void free_tiny(void)
{
    tiny_model_free(tiny);
    tiny = NULL;
}

/* Writes the tiny model's bytes, with every occurrence of the n bytes at from replaced by
 * those at to, cut to len bytes (0: whole), to path. */
static void write_variant(const char *path, const char *from, const char *to, size_t n, size_t len)
{
    core_buf b = {0};
    ck_assert_int_eq(core_buf_append(&b, tiny->file, tiny->n_file_bytes), 0);
    if (from) {
        for (size_t i = 0; i + n <= b.len; i++) {
            if (memcmp(b.ptr + i, from, n) == 0) {
                memcpy(b.ptr + i, to, n);
            }
        }
    }
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b.ptr, 1, len ? len : b.len, f), len ? len : b.len);
    fclose(f);
    core_buf_dispose(&b);
}

static int load(const char *path, bool vocab_only, core_err *err)
{
    gen_model_options o = gen_model_options_default();
    o.vocab_only = vocab_only;
    gen_model *m = NULL;
    int rc = gen_model_load(&m, path, &o, err);
    if (rc == 0) {
        ck_assert_str_eq(gen_model_arch(m), "llama");
        ck_assert_uint_eq(gen_model_n_vocab(m), TINY_MODEL_N_VOCAB);
    } else {
        ck_assert_ptr_null(m);
    }
    gen_model_free(m);
    return rc;
}

START_TEST(model__loads_tiny_model)
{
    const char *path = KILN_TEST_TMP "/model-ok.gguf";
    write_variant(path, NULL, NULL, 0, 0);
    core_err err = {0};
    ck_assert_msg(load(path, false, &err) == 0, "%s", err.msg);
}
END_TEST

START_TEST(model__damage_is_named)
{
    const char *path = KILN_TEST_TMP "/model-bad.gguf";
    core_err err = {0};

    write_variant(path, "blk.1.attn_q.weight", "blk.1.attn_x.weight", 19, 0);
    ck_assert_int_eq(load(path, false, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "blk.1.attn_q.weight"));
    ck_assert_ptr_nonnull(strstr(err.msg, "model-bad.gguf"));
    /* Vocab-only loading does not look at tensors. */
    ck_assert_int_eq(load(path, true, &err), 0);

    write_variant(path, "llama.block_count", "llama.block_xount", 17, 0);
    ck_assert_int_eq(load(path, false, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "block_count"));

    /* The architecture value (a length-prefixed string), not the keys that start with it. */
    write_variant(path, "\005\000\000\000\000\000\000\000llama",
                  "\005\000\000\000\000\000\000\000lloma", 13, 0);
    ck_assert_int_eq(load(path, false, &err), CORE_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "lloma"));

    write_variant(path, NULL, NULL, 0, tiny->n_file_bytes - 7);
    ck_assert_int_eq(load(path, false, &err), CORE_EPARSE);
    ck_assert_ptr_nonnull(strstr(err.msg, "past the end"));
}
END_TEST

START_TEST(model__enomem_leaks_nothing)
{
    const char *path = KILN_TEST_TMP "/model-oom.gguf";
    write_variant(path, NULL, NULL, 0, 0);
    long live = core_alloc_live();
    for (long n = 1;; n++) {
        core_alloc_fail_after(n);
        int rc = load(path, false, NULL);
        core_alloc_fail_after(0);
        if (rc == 0) {
            break;
        }
        ck_assert_int_eq(rc, CORE_ENOMEM);
        ck_assert_int_eq(core_alloc_live(), live);
    }
    ck_assert_int_eq(core_alloc_live(), live);
}
END_TEST

/* A larger SentencePiece vocabulary on a llama model (what kiln-gpu-check writes). */
START_TEST(model__big_spm_vocab)
{
    const char *path = KILN_TEST_TMP "/model-spm.gguf";
    tiny_model_spec spec = tiny_model_spec_default(TINY_ARCH_LLAMA, KERN_TYPE_Q8_0);
    spec.n_vocab = 1000;
    spec.spm_vocab = true;
    core_err err = {0};
    ck_assert_msg(tiny_model_write(path, &spec, &err) == 0, "%s", err.msg);
    gen_model *m = NULL;
    ck_assert_msg(gen_model_load(&m, path, NULL, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(gen_model_n_vocab(m), 1000);
    core_str piece = gen_model_token_piece(m, 999, false);
    ck_assert_int_eq((int)piece.len, 5);
    ck_assert_int_eq(memcmp(piece.ptr, " x999", 5), 0);
    gen_model_free(m);
}
END_TEST

/* Pages of mappings of files whose name ends with name that this process has mapped (smaps'
 * Rss), in KiB. */
static size_t mapped_kib(const char *name)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    size_t kib = 0;
    bool in = false;
    while (fgets(line, sizeof(line), f)) {
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\n') {
            line[--n] = '\0';
        }
        if (strchr(line, '-') && strchr(line, ' ') && strchr(line, '-') < strchr(line, ' ')) {
            in = n >= strlen(name) && strcmp(line + n - strlen(name), name) == 0;
        } else if (in && strncmp(line, "Rss:", 4) == 0) {
            kib += strtoull(line + 4, NULL, 10);
        }
    }
    fclose(f);
    return kib;
}

/* Loading touches every page of the weights (on the helper thread and the main thread, in
 * shares), so the first forward pass takes no page faults; a vocabulary-only load does not.
 * When the kernels pack the matrices, the packed copy replaces their mapped pages instead. */
START_TEST(model__load_maps_every_weight_page)
{
    const char *path = KILN_TEST_TMP "/model-pages.gguf";
    tiny_model_spec spec = tiny_model_spec_default(TINY_ARCH_LLAMA, KERN_TYPE_Q8_0);
    /* About 18 MiB of weights: several of the 1 MiB chunks the two threads share, and more than
     * the few (large) page-cache folios that reading the header may map. */
    spec.n_embd = 512;
    spec.n_head = 8;
    spec.head_dim = 64;
    spec.n_ff = 1024;
    spec.n_layer = 8;
    core_err err = {0};
    ck_assert_msg(tiny_model_write(path, &spec, &err) == 0, "%s", err.msg);
    gen_model *m = NULL;
    gen_model_options o = gen_model_options_default();
    o.pack = false;
    ck_assert_msg(gen_model_load(&m, path, &o, &err) == 0, "%s", err.msg);
    const size_t weights_kib = gen_model_n_bytes(m) / 1024;
    ck_assert_uint_gt(weights_kib, 8192);
    ck_assert_uint_ge(mapped_kib("/model-pages.gguf"), weights_kib);
    gen_model_free(m);

    ck_assert_msg(gen_model_load(&m, path, NULL, &err) == 0, "%s", err.msg);
    if (strstr(gen_model_desc(m), ", packed") != NULL) {
        /* Only the embedding's looked-up rows and the small tensors may stay mapped. */
        ck_assert_uint_lt(mapped_kib("/model-pages.gguf"), weights_kib / 4);
    }
    gen_model_free(m);

    o = gen_model_options_default();
    o.vocab_only = true;
    ck_assert_msg(gen_model_load(&m, path, &o, &err) == 0, "%s", err.msg);
    ck_assert_uint_lt(mapped_kib("/model-pages.gguf"), weights_kib / 2);
    gen_model_free(m);
}
END_TEST

/* Without a CUDA device (or without CUDA), asking for it fails with a message naming cuda;
 * auto stays on the CPU and says so through gen_model_device. */
START_TEST(model__cuda_absent)
{
    const char *path = KILN_TEST_TMP "/model-cuda.gguf";
    write_variant(path, NULL, NULL, 0, 0);
    core_err err = {0};
    if (kern_cuda_device_present()) {
        return; /* a GPU machine: kiln-gpu-check covers the device path */
    }
    gen_model_options o = gen_model_options_default();
    o.device = GEN_DEVICE_CUDA;
    gen_model *m = NULL;
    ck_assert_int_eq(gen_model_load(&m, path, &o, &err), CORE_EUNSUPPORTED);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err.msg, "cuda"));
    o.device = GEN_DEVICE_AUTO;
    ck_assert_msg(gen_model_load(&m, path, &o, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(gen_model_device(m), "cpu");
    /* A CPU run pays nothing for CUDA: neither the engine module nor a CUDA library is mapped. */
    FILE *maps = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(maps);
    char line[4096];
    while (fgets(line, sizeof(line), maps)) {
        ck_assert_msg(!strstr(line, "libkiln-cuda") && !strstr(line, "libcublas") &&
                          !strstr(line, "libcudart"),
                      "mapped: %s", line);
    }
    fclose(maps);
    gen_model_free(m);
}
END_TEST

TCase *tcase_model(void)
{
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 30);
    tcase_add_unchecked_fixture(tc, make_tiny, free_tiny);
    tcase_add_test(tc, model__loads_tiny_model);
    tcase_add_test(tc, model__damage_is_named);
    tcase_add_test(tc, model__enomem_leaks_nothing);
    tcase_add_test(tc, model__big_spm_vocab);
    tcase_add_test(tc, model__load_maps_every_weight_page);
    tcase_add_test(tc, model__cuda_absent);
    return tc;
}
