/*
 * libFuzzer target: the GGUF reader on arbitrary bytes, then every query a model loader makes
 * on whatever it accepted, and the tokenizer built from its keys. Built only with clang and
 * -DFUZZ=ON (the `fuzz` preset):
 *   build/fuzz/tests/fuzz/fuzz_gguf tests/fuzz/corpus/gguf -max_total_time=60
 */
#include <stddef.h>
#include <stdint.h>

#include "gen/gguf_int.h"
#include "gen/tokenizer_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gen_gguf *g = NULL;
    core_err err;
    if (gen__gguf_open_memory(&g, data, size, &err) != 0) {
        return 0;
    }
    for (size_t i = 0; i < gen__gguf_n_kv(g); i++) {
        char key[256];
        core_str k = gen__gguf_key(g, i);
        size_t n = k.len < sizeof(key) - 1 ? k.len : sizeof(key) - 1;
        for (size_t j = 0; j < n; j++) {
            key[j] = k.ptr[j] ? k.ptr[j] : '?';
        }
        key[n] = '\0';
        uint32_t u;
        float f;
        bool b;
        core_str s;
        gen_gguf_arr a;
        gen__gguf_get_u32(g, key, &u, NULL);
        gen__gguf_get_f32(g, key, &f, NULL);
        gen__gguf_get_bool(g, key, &b, NULL);
        gen__gguf_get_str(g, key, &s, NULL);
        if (gen__gguf_get_arr(g, key, &a, NULL) == 0 && a.n > 0 && !a.strs) {
            (void)gen__gguf_arr_int(&a, a.n - 1);
            (void)gen__gguf_arr_float(&a, 0);
        }
    }
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < gen__gguf_n_tensors(g); i++) {
        const gen_gguf_tensor *t = gen__gguf_tensor(g, i);
        if (t->n_bytes) {
            /* Touch the first and last byte: they must lie inside the input. */
            sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->n_bytes - 1];
        }
    }
    (void)sink;
    gen_tokenizer *tok = NULL;
    if (gen__tokenizer_new(&tok, g, &err) == 0) {
        (void)gen__tokenizer_piece(tok, (int32_t)gen__tokenizer_n_vocab(tok) - 1, true);
    }
    gen__tokenizer_free(tok);
    gen__gguf_free(g);
    return 0;
}
