/*
 * Model loading: reads a GGUF file's hyperparameters for the llama family (llama: SmolLM2,
 * TinyLlama, Llama 3; qwen2: Qwen2.5 with QKV biases; gemma3: Gemma 3 with per-head q/k norms,
 * post-norms and sliding-window layers), checks every tensor the forward pass will read
 * (name, type, shape) against them, and keeps views into the mapping. On the CPU, the matrices
 * of the types the kernels pack (kern_ops.pack) are copied once into the kernels' own layout,
 * in place of the mapped pages (see "Packing"); the rest are used as stored. Key and tensor
 * names follow llama.cpp's llama-arch.cpp conventions.
 */
#include "gen/model_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

gen_model_options gen_model_options_default(void)
{
    gen_model_options o = {.vocab_only = false,
                           .kernels = KERN_BACKEND_KIND_BEST,
                           .kernel_variant = -1,
                           .log = NULL,
                           .device = GEN_DEVICE_CPU,
                           .pack = true,
                           .pack_cache = NULL};
    return o;
}

/* ------------------------------------------------------------------------------------------ */
/* Hyperparameters                                                                            */
/* ------------------------------------------------------------------------------------------ */

typedef struct loader {
    gen_model *m;
    core_err *err;
} loader;

/* Reads "<arch>.<suffix>" as a size; missing keys take dflt unless required. */
static int key_size(loader *ld, const char *suffix, bool required, size_t dflt, size_t *out)
{
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", ld->m->arch_name, suffix);
    if (!gen__gguf_has(ld->m->gguf, key)) {
        if (required) {
            return core_err_set(ld->err, CORE_EPARSE, "model: key '%s' is missing", key);
        }
        *out = dflt;
        return 0;
    }
    gen_gguf_vtype t;
    gen__gguf_type(ld->m->gguf, key, &t, NULL);
    if (t == GEN_GGUF_VTYPE_ARRAY) {
        /* Per-layer values (e.g. head_count_kv); kiln runs models where they agree. */
        gen_gguf_arr a;
        gen__gguf_get_arr(ld->m->gguf, key, &a, NULL);
        if (a.n == 0 || a.type == GEN_GGUF_VTYPE_STRING) {
            return core_err_set(ld->err, CORE_EPARSE, "model: key '%s': bad array", key);
        }
        int64_t v0 = gen__gguf_arr_int(&a, 0);
        for (size_t i = 1; i < a.n; i++) {
            if (gen__gguf_arr_int(&a, i) != v0) {
                return core_err_set(ld->err, CORE_EUNSUPPORTED,
                                    "model: key '%s': per-layer values differ", key);
            }
        }
        if (v0 < 0) {
            return core_err_set(ld->err, CORE_EPARSE, "model: key '%s': negative", key);
        }
        *out = (size_t)v0;
        return 0;
    }
    uint32_t v = 0;
    int rc = gen__gguf_get_u32(ld->m->gguf, key, &v, ld->err);
    *out = v;
    return rc;
}

static int key_f32(loader *ld, const char *suffix, bool required, float dflt, float *out)
{
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", ld->m->arch_name, suffix);
    if (!gen__gguf_has(ld->m->gguf, key)) {
        if (required) {
            return core_err_set(ld->err, CORE_EPARSE, "model: key '%s' is missing", key);
        }
        *out = dflt;
        return 0;
    }
    return gen__gguf_get_f32(ld->m->gguf, key, out, ld->err);
}

static int load_hparams(loader *ld)
{
    gen_model *m = ld->m;
    gen_hparams *hp = &m->hp;
    int rc = 0;
    size_t key_len = 0;
    size_t val_len = 0;
    float rope_base = 10000.0f;
    if ((rc = key_size(ld, "context_length", true, 0, &hp->n_ctx_train)) < 0 ||
        (rc = key_size(ld, "embedding_length", true, 0, &hp->n_embd)) < 0 ||
        (rc = key_size(ld, "block_count", true, 0, &hp->n_layer)) < 0 ||
        (rc = key_size(ld, "feed_forward_length", true, 0, &hp->n_ff)) < 0 ||
        (rc = key_size(ld, "attention.head_count", true, 0, &hp->n_head)) < 0 ||
        (rc = key_size(ld, "attention.head_count_kv", false, hp->n_head, &hp->n_head_kv)) < 0 ||
        (rc = key_f32(ld, "attention.layer_norm_rms_epsilon", true, 0, &hp->eps)) < 0 ||
        (rc = key_f32(ld, "rope.freq_base", false, 10000.0f, &rope_base)) < 0) {
        return rc;
    }
    if (hp->n_embd == 0 || hp->n_layer == 0 || hp->n_head == 0 || hp->n_head_kv == 0 ||
        hp->n_ff == 0 || hp->n_head % hp->n_head_kv != 0 || hp->n_layer > 4096 ||
        hp->n_head > 4096 || hp->n_embd > (1u << 20) || hp->n_ff > (1u << 22)) {
        return core_err_set(ld->err, CORE_EPARSE,
                            "model: inconsistent shape (n_embd %zu, n_layer %zu, n_head %zu, "
                            "n_head_kv %zu, n_ff %zu)",
                            hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv, hp->n_ff);
    }
    if ((rc = key_size(ld, "attention.key_length", false, hp->n_embd / hp->n_head, &key_len)) < 0 ||
        (rc = key_size(ld, "attention.value_length", false, key_len, &val_len)) < 0) {
        return rc;
    }
    if (key_len != val_len || key_len == 0 || key_len % 2 != 0 || key_len > 1024) {
        return core_err_set(ld->err, CORE_EUNSUPPORTED,
                            "model: head sizes %zu (keys) and %zu (values) are not supported",
                            key_len, val_len);
    }
    hp->head_dim = key_len;
    if ((rc = key_size(ld, "rope.dimension_count", false, hp->head_dim, &hp->n_rot)) < 0) {
        return rc;
    }
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0) {
        return core_err_set(ld->err, CORE_EPARSE, "model: rope.dimension_count %zu > head %zu",
                            hp->n_rot, hp->head_dim);
    }
    if (!(hp->eps > 0.0f && hp->eps < 1.0f) || !(rope_base > 0.0f)) {
        return core_err_set(ld->err, CORE_EPARSE, "model: bad epsilon or rope base");
    }
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    hp->embd_scale = 1.0f;
    hp->rope_mode = KERN_ROPE_MODE_NORM;
    hp->n_swa = 0;
    if (m->arch == GEN_ARCH_QWEN2) {
        hp->rope_mode = KERN_ROPE_MODE_NEOX;
    } else if (m->arch == GEN_ARCH_GEMMA3) {
        hp->rope_mode = KERN_ROPE_MODE_NEOX;
        hp->embd_scale = sqrtf((float)hp->n_embd);
        if ((rc = key_size(ld, "attention.sliding_window", false, 0, &hp->n_swa)) < 0) {
            return rc;
        }
    }
    m->layers = core_calloc(hp->n_layer, sizeof(*m->layers));
    if (!m->layers) {
        return core_err_set(ld->err, CORE_ENOMEM, "model: out of memory");
    }
    for (size_t il = 0; il < hp->n_layer; il++) {
        gen_layer *l = &m->layers[il];
        l->rope_base = rope_base;
        /* Gemma 3: five local (sliding-window, RoPE base 10k) layers, then one global. */
        if (m->arch == GEN_ARCH_GEMMA3 && hp->n_swa > 0 && il % 6 < 5) {
            l->is_swa = true;
            l->rope_base = 10000.0f;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Tensors                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* The file's name for tensor name of layer il (il < 0: a model-level tensor). */
static void tensor_name(char *buf, size_t size, const char *name, int il)
{
    if (il >= 0) {
        snprintf(buf, size, "blk.%d.%s", il, name);
    } else {
        snprintf(buf, size, "%s", name);
    }
}

static const gen_gguf_tensor *find(loader *ld, const char *name, int il)
{
    char full[128];
    tensor_name(full, sizeof(full), name, il);
    return gen__gguf_find_tensor(ld->m->gguf, full);
}

static int missing(loader *ld, const char *name, int il)
{
    char full[128];
    tensor_name(full, sizeof(full), name, il);
    return core_err_set(ld->err, CORE_EPARSE, "model: tensor '%s' is missing", full);
}

/* A matrix of n_rows x n_cols (ggml: ne[0] = n_cols); missing ones fail unless optional. */
static int get_weight(loader *ld, gen_weight *w, const char *name, int il, size_t n_rows,
                      size_t n_cols, bool optional)
{
    const gen_gguf_tensor *t = find(ld, name, il);
    if (!t) {
        if (optional) {
            memset(w, 0, sizeof(*w));
            return 0;
        }
        return missing(ld, name, il);
    }
    if (t->n_dims != 2 || t->ne[0] != n_cols || t->ne[1] != n_rows) {
        return core_err_set(ld->err, CORE_EPARSE,
                            "model: tensor '%.*s': shape [%llu, %llu, %llu], expected [%zu, %zu]",
                            (int)t->name.len, t->name.ptr, (unsigned long long)t->ne[0],
                            (unsigned long long)t->ne[1], (unsigned long long)t->ne[2], n_cols,
                            n_rows);
    }
    kern_type vt = kern_type_vec_dot(t->type);
    if (t->type == KERN_TYPE_Q8_1 || t->type == KERN_TYPE_Q8_K ||
        kern_type_row_bytes(vt, n_cols) == 0) {
        return core_err_set(ld->err, CORE_EUNSUPPORTED,
                            "model: tensor '%.*s': type %s is not supported for weights",
                            (int)t->name.len, t->name.ptr, kern_type_name(t->type));
    }
    w->type = t->type;
    w->data = t->data;
    w->packed = false;
    w->row_bytes = kern_type_row_bytes(t->type, n_cols);
    w->n_rows = n_rows;
    w->n_cols = n_cols;
    return 0;
}

/* An F32 vector of n values. */
static int get_vec(loader *ld, const float **v, const char *name, int il, size_t n, bool optional)
{
    const gen_gguf_tensor *t = find(ld, name, il);
    *v = NULL;
    if (!t) {
        if (optional) {
            return 0;
        }
        return missing(ld, name, il);
    }
    if (t->type != KERN_TYPE_F32 || t->n_dims != 1 || t->ne[0] != n) {
        return core_err_set(ld->err, CORE_EPARSE,
                            "model: tensor '%.*s': expected %zu f32 values, found %llu of %s",
                            (int)t->name.len, t->name.ptr, n, (unsigned long long)t->ne[0],
                            kern_type_name(t->type));
    }
    *v = t->data;
    return 0;
}

static int load_tensors(loader *ld)
{
    gen_model *m = ld->m;
    const gen_hparams *hp = &m->hp;
    const size_t n_q = hp->n_head * hp->head_dim;
    const size_t n_kv = hp->n_head_kv * hp->head_dim;
    const bool gemma = m->arch == GEN_ARCH_GEMMA3;
    const bool qwen = m->arch == GEN_ARCH_QWEN2;
    int rc = get_weight(ld, &m->tok_embd, "token_embd.weight", -1, hp->n_vocab, hp->n_embd, false);
    if (rc == 0) {
        rc = get_vec(ld, &m->output_norm, "output_norm.weight", -1, hp->n_embd, false);
    }
    if (rc == 0) {
        rc = get_weight(ld, &m->output, "output.weight", -1, hp->n_vocab, hp->n_embd, true);
        if (rc == 0 && !m->output.data) {
            m->output = m->tok_embd; /* tied embeddings */
        }
    }
    for (size_t i = 0; i < hp->n_layer && rc == 0; i++) {
        gen_layer *l = &m->layers[i];
        int il = (int)i;
        if ((rc = get_vec(ld, &l->attn_norm, "attn_norm.weight", il, hp->n_embd, false)) < 0 ||
            (rc = get_weight(ld, &l->wq, "attn_q.weight", il, n_q, hp->n_embd, false)) < 0 ||
            (rc = get_weight(ld, &l->wk, "attn_k.weight", il, n_kv, hp->n_embd, false)) < 0 ||
            (rc = get_weight(ld, &l->wv, "attn_v.weight", il, n_kv, hp->n_embd, false)) < 0 ||
            (rc = get_weight(ld, &l->wo, "attn_output.weight", il, hp->n_embd, n_q, false)) < 0 ||
            (rc = get_vec(ld, &l->bq, "attn_q.bias", il, n_q, !qwen)) < 0 ||
            (rc = get_vec(ld, &l->bk, "attn_k.bias", il, n_kv, !qwen)) < 0 ||
            (rc = get_vec(ld, &l->bv, "attn_v.bias", il, n_kv, !qwen)) < 0 ||
            (rc = get_vec(ld, &l->q_norm, "attn_q_norm.weight", il, hp->head_dim, !gemma)) < 0 ||
            (rc = get_vec(ld, &l->k_norm, "attn_k_norm.weight", il, hp->head_dim, !gemma)) < 0 ||
            (rc = get_vec(ld, &l->post_attn_norm, "post_attention_norm.weight", il, hp->n_embd,
                          !gemma)) < 0 ||
            (rc = get_vec(ld, &l->ffn_norm, "ffn_norm.weight", il, hp->n_embd, false)) < 0 ||
            (rc = get_weight(ld, &l->w_gate, "ffn_gate.weight", il, hp->n_ff, hp->n_embd, false)) <
                0 ||
            (rc = get_weight(ld, &l->w_up, "ffn_up.weight", il, hp->n_ff, hp->n_embd, false)) < 0 ||
            (rc = get_weight(ld, &l->w_down, "ffn_down.weight", il, hp->n_embd, hp->n_ff, false)) <
                0 ||
            (rc = get_vec(ld, &l->post_ffn_norm, "post_ffw_norm.weight", il, hp->n_embd, !gemma)) <
                0) {
            return rc;
        }
    }
    for (size_t i = 0; i < gen__gguf_n_tensors(m->gguf); i++) {
        m->n_bytes += gen__gguf_tensor(m->gguf, i)->n_bytes;
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Load and free                                                                              */
/* ------------------------------------------------------------------------------------------ */

static int detect_arch(loader *ld)
{
    core_str arch;
    int rc = gen__gguf_get_str(ld->m->gguf, "general.architecture", &arch, ld->err);
    if (rc < 0) {
        return core_err_wrap(ld->err, rc, "model");
    }
    static const struct {
        const char *name;
        gen_arch arch;
    } archs[] = {{"llama", GEN_ARCH_LLAMA}, {"qwen2", GEN_ARCH_QWEN2}, {"gemma3", GEN_ARCH_GEMMA3}};
    for (size_t i = 0; i < sizeof(archs) / sizeof(archs[0]); i++) {
        if (core_str_eq_c(arch, archs[i].name)) {
            ld->m->arch = archs[i].arch;
            snprintf(ld->m->arch_name, sizeof(ld->m->arch_name), "%s", archs[i].name);
            return 0;
        }
    }
    return core_err_set(ld->err, CORE_EUNSUPPORTED,
                        "model: architecture '%.*s' is not supported (kiln runs llama, qwen2, "
                        "gemma3)",
                        (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
}

/* ------------------------------------------------------------------------------------------ */
/* Start-up                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/*
 * The weights are mapped, not read: each 4 KiB page faults in on first use (in 16-page batches),
 * which left alone happens in the first forward pass, a few milliseconds of a start-up of some
 * 40. A helper thread touches every page of the tensor data while the main thread builds the
 * tokenizer (the other large start-up cost), so on two cores the faults, and on a cold page
 * cache the disk reads, overlap it. Once the tokenizer is built the main thread takes its share
 * of the pages that are left, so neither thread waits for the other with work to do. Mapping
 * with MAP_POPULATE instead cost more CPU time here.
 */
#define PREFAULT_STEP  4096u
#define PREFAULT_CHUNK (1u << 20) /* bytes each thread claims at a time */

typedef struct prefault {
    const unsigned char *lo; /* what it touches: [lo, hi) of a mapping */
    const unsigned char *hi;
    /* The next chunk to touch; only hands out chunks, orders nothing else. */
    atomic_size_t next;
} prefault;

/* pf over [lo, hi) (both NULL: nothing), from its first chunk. */
static void prefault_range(prefault *pf, const void *lo, const void *hi)
{
    pf->lo = lo;
    pf->hi = hi;
    atomic_init(&pf->next, 0);
}

/* pf over the file's tensor data. */
static void prefault_init(prefault *pf, const gen_gguf *g)
{
    const unsigned char *lo = NULL;
    const unsigned char *hi = NULL;
    for (size_t i = 0; i < gen__gguf_n_tensors(g); i++) {
        const gen_gguf_tensor *t = gen__gguf_tensor(g, i);
        const unsigned char *p = t->data;
        if (t->n_bytes > 0 && (!lo || p < lo)) {
            lo = p;
        }
        if (t->n_bytes > 0 && (!hi || p + t->n_bytes > hi)) {
            hi = p + t->n_bytes;
        }
    }
    prefault_range(pf, lo, hi);
}

/* Touches chunks until none is left. */
static void prefault_run(prefault *pf)
{
    const size_t len = pf->lo ? (size_t)(pf->hi - pf->lo) : 0;
    for (;;) {
        size_t c = atomic_fetch_add_explicit(&pf->next, 1, memory_order_relaxed);
        if (c >= (len + PREFAULT_CHUNK - 1) / PREFAULT_CHUNK) {
            return;
        }
        const size_t end = (c + 1) * PREFAULT_CHUNK < len ? (c + 1) * PREFAULT_CHUNK : len;
        /* Volatile, so that the reads are not optimized away. */
        const volatile unsigned char *p = pf->lo;
        for (size_t o = c * PREFAULT_CHUNK; o < end; o += PREFAULT_STEP) {
            (void)p[o];
        }
    }
}

static void *prefault_main(void *arg)
{
    prefault_run(arg);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Packing                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/*
 * The matrices the kernels pack are copied once into one anonymous mapping, 2 MiB aligned and
 * advised MADV_HUGEPAGE (fewer faults now, fewer TLB misses per decoded token), in tasks of
 * about PACK_TASK source bytes that the loading thread and a helper claim from a counter. Each
 * task drops its source pages from the process (MADV_DONTNEED on the private read-only file
 * mapping: the page cache keeps them, and a later read faults them back), so the packed copy
 * replaces the mapped one instead of adding to it. Dropping rounds outwards to whole pages: a
 * neighbour's page dropped early only faults in again. The token embedding stays mapped for
 * its row lookups (which touch only the rows they read); a tied output head is packed as a
 * copy of it.
 */
#define PACK_TASK   (256u << 10)
#define PACK_ALIGN  (2u << 20)
#define PACK_AROUND (64u << 10) /* Linux's default fault_around_bytes */

typedef struct pack_mat {
    gen_weight *w;  /* the weight to repoint; packed after the run */
    size_t offset;  /* of its copy in the packed mapping */
    size_t n_tasks; /* its groups split into this many tasks */
} pack_mat;

typedef struct packer {
    const kern_ops *ops;
    char *dst;      /* the packed mapping (of the cache file, when cached) */
    bool cached;    /* dst maps a cache file that holds every packed matrix already */
    pack_mat *mats; /* (n_mats), owned */
    size_t n_mats;
    size_t n_tasks;    /* over all matrices */
    uint64_t t0;       /* when packing began (core_time_ns) */
    size_t page;       /* bytes per page */
    uintptr_t keep_lo; /* pages outside [keep_lo, keep_hi) (the file's tensor data, inward to */
    uintptr_t keep_hi; /* whole pages) are never dropped: they may be another mapping's */
    /* The next task; only hands out tasks, orders nothing else (the joins do). */
    atomic_size_t next;
} packer;

/* Every matrix the forward pass multiplies by, each once (a tied head is its own copy). */
static size_t model_weights(gen_model *m, pack_mat *out)
{
    size_t n = 0;
    for (size_t il = 0; il < m->hp.n_layer; il++) {
        gen_layer *l = &m->layers[il];
        gen_weight *ws[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
        for (size_t i = 0; i < sizeof(ws) / sizeof(ws[0]); i++) {
            if (out) {
                out[n].w = ws[i];
            }
            n++;
        }
    }
    if (out) {
        out[n].w = &m->output;
    }
    return n + 1;
}

/* Drops the pages of [lo, hi) and PACK_AROUND bytes either side, within the tensor data. */
static void pack_drop(const packer *pk, uintptr_t lo, uintptr_t hi)
{
    /* Out to PACK_AROUND: a fault maps the pages around it too (fault-around), so the next
     * task's first fault maps some of this one's pages back. */
    uintptr_t p0 = lo > PACK_AROUND ? (lo - PACK_AROUND) / pk->page * pk->page : 0;
    uintptr_t p1 = (hi + PACK_AROUND + pk->page - 1) / pk->page * pk->page;
    p0 = p0 > pk->keep_lo ? p0 : pk->keep_lo;
    p1 = p1 < pk->keep_hi ? p1 : pk->keep_hi;
    if (p0 < p1) {
        /* Only gives memory back: a failure leaves the pages resident, nothing else. */
        /* The pages' address as a pointer again (the range was rounded as an integer). */
        (void)madvise((void *)p0, p1 - p0, MADV_DONTNEED); /* NOLINT(performance-no-int-to-ptr) */
    }
}

static void pack_task(packer *pk, size_t task)
{
    size_t i = 0;
    while (task >= pk->mats[i].n_tasks) {
        task -= pk->mats[i].n_tasks;
        i++;
    }
    const pack_mat *pm = &pk->mats[i];
    const gen_weight *w = pm->w;
    const size_t n_groups = (w->n_rows + KERN_PACK_ROWS - 1) / KERN_PACK_ROWS;
    const size_t g_lo = n_groups * task / pm->n_tasks;
    const size_t g_hi = n_groups * (task + 1) / pm->n_tasks;
    pk->ops->pack(pk->dst + pm->offset, w->type, w->data, w->row_bytes, w->n_rows, w->n_cols, g_lo,
                  g_hi);
    const size_t r_hi = g_hi * KERN_PACK_ROWS < w->n_rows ? g_hi * KERN_PACK_ROWS : w->n_rows;
    pack_drop(pk, (uintptr_t)w->data + g_lo * KERN_PACK_ROWS * w->row_bytes,
              (uintptr_t)w->data + r_hi * w->row_bytes);
}

static void pack_run(packer *pk)
{
    for (;;) {
        const size_t t = atomic_fetch_add_explicit(&pk->next, 1, memory_order_relaxed);
        if (t >= pk->n_tasks) {
            return;
        }
        pack_task(pk, t);
    }
}

static void *pack_main(void *arg)
{
    pack_run(arg);
    return NULL;
}

/* An anonymous mapping of len bytes (a multiple of PACK_ALIGN) at a PACK_ALIGN boundary. */
static void *map_aligned(size_t len)
{
    char *p =
        mmap(NULL, len + PACK_ALIGN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    const size_t head = (PACK_ALIGN - (uintptr_t)p % PACK_ALIGN) % PACK_ALIGN;
    if (head > 0) {
        munmap(p, head);
    }
    if (PACK_ALIGN - head > 0) {
        munmap(p + head + len, PACK_ALIGN - head);
    }
    /* Advice only: without huge pages the copy works the same. */
    (void)madvise(p + head, len, MADV_HUGEPAGE);
    return p + head;
}

/*
 * The pack cache. Packing costs little CPU but every packed byte is a fresh anonymous page the
 * kernel must zero first, which doubles the start-up of a short run; a copy kept in a file is
 * mapped from the page cache like the model itself. The file is a PACK_HEAD_BYTES head (what
 * the copy was made from and by) and the packed mapping's bytes. It is written to a temporary
 * name and renamed, so a reader sees a whole file or none; a file whose head, size or first
 * matrix (packed again and compared) does not match is ignored and replaced. The magic is part
 * of the hashed head, so a new packed layout (kilnpk2: blocks front to back) gets a file of its
 * own instead of replacing an older binary's on every alternate run.
 */
#define PACK_HEAD_BYTES  4096u
#define PACK_CACHE_MAGIC "kilnpk2"

typedef struct pack_head {
    char magic[8];
    uint64_t size; /* the model file's size, modification time, device and inode */
    uint64_t mtime_s;
    uint64_t mtime_ns;
    uint64_t dev;
    uint64_t ino;
    uint64_t len;    /* packed bytes after the head */
    uint64_t n_mats; /* packed matrices */
    char variant[32];
} pack_head;

typedef struct pack_cache {
    const char *dir; /* borrowed; NULL: no cache */
    char path[4096]; /* the cache file */
    pack_head head;  /* len and n_mats still 0 */
    const core_log *log;
} pack_cache;

/* The cache file for the model at model_path in dir, or c->dir NULL when there is none. */
static void pack_cache_init(pack_cache *c, const char *dir, const char *model_path,
                            const gen_model *m, const core_log *log)
{
    memset(c, 0, sizeof(*c));
    c->log = log;
    struct stat st;
    if (!dir || dir[0] == '\0' || !m->backend || stat(model_path, &st) != 0) {
        return;
    }
    memcpy(c->head.magic, PACK_CACHE_MAGIC, sizeof(PACK_CACHE_MAGIC));
    c->head.size = (uint64_t)st.st_size;
    c->head.mtime_s = (uint64_t)st.st_mtim.tv_sec;
    c->head.mtime_ns = (uint64_t)st.st_mtim.tv_nsec;
    c->head.dev = (uint64_t)st.st_dev;
    c->head.ino = (uint64_t)st.st_ino;
    snprintf(c->head.variant, sizeof(c->head.variant), "%s", kern_backend_name(m->backend));
    /* FNV-1a of the head: a new file name when the model file or the variant changes. */
    uint64_t h = 1469598103934665603u;
    const unsigned char *b = (const unsigned char *)&c->head;
    for (size_t i = 0; i < sizeof(c->head); i++) {
        h = (h ^ b[i]) * 1099511628211u;
    }
    const char *base = strrchr(model_path, '/');
    base = base ? base + 1 : model_path;
    const int n = snprintf(c->path, sizeof(c->path), "%s/%s.%016llx.kilnpack", dir, base,
                           (unsigned long long)h);
    if (n > 0 && (size_t)n < sizeof(c->path)) {
        c->dir = dir;
    }
}

/* True when p holds pk's first matrix as the kernels pack it now (a changed layout or a
 * damaged file fails this). */
static bool pack_cache_matches(const packer *pk, const char *p)
{
    const pack_mat *pm = &pk->mats[0];
    const gen_weight *w = pm->w;
    const size_t n = pk->ops->pack_size(w->type, w->n_rows, w->n_cols);
    void *tmp = core_malloc_aligned((n + 63) / 64 * 64, 64);
    if (!tmp) {
        return false;
    }
    pk->ops->pack(tmp, w->type, w->data, w->row_bytes, w->n_rows, w->n_cols, 0,
                  (w->n_rows + KERN_PACK_ROWS - 1) / KERN_PACK_ROWS);
    const bool same = memcmp(tmp, p + pm->offset, n) == 0;
    core_free_aligned(tmp);
    return same;
}

/* The cache file's packed bytes mapped read-only, when it holds pk's plan of len bytes; else
 * NULL (no cache, no file, or one made from something else). */
static char *pack_cache_open(const packer *pk, size_t len, const pack_cache *c)
{
    if (!c->dir) {
        return NULL;
    }
    const int fd = open(c->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return NULL;
    }
    pack_head want = c->head;
    want.len = len;
    want.n_mats = pk->n_mats;
    pack_head got;
    struct stat st;
    char *p = NULL;
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size == PACK_HEAD_BYTES + (uint64_t)len &&
        pread(fd, &got, sizeof(got), 0) == (ssize_t)sizeof(got) &&
        memcmp(&got, &want, sizeof(got)) == 0) {
        void *q = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, PACK_HEAD_BYTES);
        p = q == MAP_FAILED ? NULL : q;
        /* Advice only: pages that the page cache reads in for this mapping come in 2 MiB folios,
         * mapped whole (see pack_cache_write). */
        if (p) {
            (void)madvise(p, len, MADV_HUGEPAGE);
        }
    }
    close(fd);
    if (p && !pack_cache_matches(pk, p)) {
        core_log_write(c->log, CORE_LOG_LEVEL_WARN,
                       "model: packed copy %s does not match this build's packing; replacing it",
                       c->path);
        munmap(p, len);
        p = NULL;
    }
    return p;
}

/* Creates dir and its missing parents (mode 0700). */
static int make_dirs(const char *dir)
{
    char buf[4096];
    const int n = snprintf(buf, sizeof(buf), "%s", dir);
    if (n <= 0 || (size_t)n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *s = buf + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
                return -1;
            }
            *s = '/';
        }
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Keeps the packed copy that pk just made (len bytes at pk->dst) in the cache file. */
static void pack_cache_write(const pack_cache *c, const packer *pk, size_t len)
{
    if (!c->dir || pk->cached || pk->n_tasks == 0) {
        return;
    }
    char tmp[4096 + 32];
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", c->path, (long)getpid());
    char *head = core_calloc(1, PACK_HEAD_BYTES);
    pack_head h = c->head;
    h.len = len;
    h.n_mats = pk->n_mats;
    int fd = -1;
    bool ok = head != NULL && make_dirs(c->dir) == 0;
    if (ok) {
        memcpy(head, &h, sizeof(h));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ok = fd >= 0 && core_write_full(fd, head, PACK_HEAD_BYTES) == 0 &&
             core_write_full(fd, pk->dst, len) == 0;
    }
    /* The written pages stay in the page cache in whatever folios the writes made, often 4 KiB
     * ones, and a later load maps those as they are: on this project's Zen 4 VM one thread then
     * streams the weights at about half the speed it gets from 2 MiB pages. Dropped (once on
     * disk), they are read back by the next load through its MADV_HUGEPAGE mapping in 2 MiB
     * folios. Advice only: a copy that stays cached works the same, more slowly. */
    if (ok && fdatasync(fd) == 0) {
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    }
    const int saved = errno;
    if (fd >= 0 && close(fd) != 0) {
        ok = false;
    }
    ok = ok && rename(tmp, c->path) == 0;
    if (!ok) {
        core_log_write(c->log, CORE_LOG_LEVEL_WARN, "model: packed weights not kept in %s: %s",
                       c->path, strerror(errno != 0 ? errno : saved));
        (void)unlink(tmp);
    }
    core_free(head);
}

/* Plans the packing of every matrix that m's kernels pack into pk and maps the packed copy
 * (cache's file when it holds it: pk->cached); pack_run does the work, pack_end finishes. With
 * nothing to pack (or all of it cached), pk->n_tasks is 0.
 * CORE_ENOMEM. */
static int pack_begin(gen_model *m, packer *pk, const pack_cache *cache, core_err *err)
{
    const kern_ops *ops = m->ops;
    memset(pk, 0, sizeof(*pk));
    pk->ops = ops;
    pk->page = (size_t)sysconf(_SC_PAGESIZE);
    atomic_init(&pk->next, 0);
    pk->t0 = core_time_ns();
    prefault data;
    prefault_init(&data, m->gguf);
    pk->keep_lo = ((uintptr_t)data.lo + pk->page - 1) / pk->page * pk->page;
    pk->keep_hi = (uintptr_t)data.hi / pk->page * pk->page;
    const size_t n_w = model_weights(m, NULL);
    pack_mat *all = core_calloc(n_w, sizeof(*all));
    pk->mats = core_calloc(n_w, sizeof(*pk->mats));
    int rc = 0;
    if (!all || !pk->mats) {
        rc = core_err_set(err, CORE_ENOMEM, "model: packing: out of memory");
        goto done;
    }
    model_weights(m, all);
    size_t len = 0;
    for (size_t i = 0; i < n_w; i++) {
        gen_weight *w = all[i].w;
        const size_t n = ops->pack_size(w->type, w->n_rows, w->n_cols);
        if (n == 0) {
            continue;
        }
        const size_t src = w->n_rows * w->row_bytes;
        pack_mat *pm = &pk->mats[pk->n_mats++];
        pm->w = w;
        pm->offset = len;
        pm->n_tasks = (src + PACK_TASK - 1) / PACK_TASK;
        len += (n + 63) / 64 * 64;
    }
    if (pk->n_mats == 0) {
        goto done;
    }
    len = (len + PACK_ALIGN - 1) / PACK_ALIGN * PACK_ALIGN;
    pk->dst = pack_cache_open(pk, len, cache);
    pk->cached = pk->dst != NULL;
    if (!pk->cached) {
        pk->dst = map_aligned(len);
    }
    if (!pk->dst) {
        rc = core_err_set(err, CORE_ENOMEM, "model: packing: mmap %zu bytes: %s", len,
                          strerror(errno));
        goto done;
    }
    m->packed = pk->dst;
    m->packed_len = len;
    for (size_t i = 0; i < pk->n_mats && !pk->cached; i++) {
        pk->n_tasks += pk->mats[i].n_tasks;
    }
done:
    core_free(all);
    return rc;
}

/* After every pack_run has returned: the weights point at their packed copies. Frees pk's
 * plan; safe after a failed pack_begin. */
static void pack_end(gen_model *m, packer *pk)
{
    for (size_t i = 0; i < pk->n_mats && (pk->n_tasks > 0 || pk->cached); i++) {
        /* What the other thread's faults mapped back after a task dropped it. */
        gen_weight *w = pk->mats[i].w;
        if (!pk->cached) {
            pack_drop(pk, (uintptr_t)w->data, (uintptr_t)w->data + w->n_rows * w->row_bytes);
        }
        w->data = pk->dst + pk->mats[i].offset;
        w->packed = true;
    }
    m->pack_ms = (double)(core_time_ns() - pk->t0) * 1e-6;
    m->pack_cached = pk->cached;
    core_free(pk->mats);
    pk->mats = NULL;
}

/* Packs every matrix that m's kernels pack, on this thread and a helper. CORE_ENOMEM. */
static int pack_weights(gen_model *m, const pack_cache *cache, core_err *err)
{
    packer pk;
    int rc = pack_begin(m, &pk, cache, err);
    if (rc == 0 && pk.n_tasks > 0) {
        pthread_t helper;
        const bool helping = pthread_create(&helper, NULL, pack_main, &pk) == 0;
        pack_run(&pk);
        if (helping) {
            pthread_join(helper, NULL);
        }
    }
    pack_end(m, &pk);
    if (rc == 0) {
        pack_cache_write(cache, &pk, m->packed_len);
    }
    return rc;
}

/* The vocabulary's size from the token list, before the tokenizer is built; false without one
 * (the tokenizer then says what is wrong). */
static bool vocab_size(const gen_gguf *g, size_t *n)
{
    gen_gguf_arr a;
    if (!gen__gguf_has(g, "tokenizer.ggml.tokens") ||
        gen__gguf_get_arr(g, "tokenizer.ggml.tokens", &a, NULL) < 0 || a.n == 0) {
        return false;
    }
    *n = a.n;
    return true;
}

int gen_model_load(gen_model **out, const char *path, const gen_model_options *opts, core_err *err)
{
    *out = NULL;
    gen_model_options o = opts ? *opts : gen_model_options_default();
    gen_model *m = core_calloc(1, sizeof(*m));
    if (!m) {
        return core_err_set(err, CORE_ENOMEM, "model: out of memory");
    }
    loader ld = {m, err};
    int rc = gen__gguf_open(&m->gguf, path, err);
    if (rc == 0) {
        rc = detect_arch(&ld);
    }
    if (rc == 0 && !o.vocab_only) {
        rc = o.kernel_variant >= 0
                 ? kern_backend_new_variant(&m->backend, (size_t)o.kernel_variant, err)
                 : kern_backend_new(&m->backend, o.kernels, err);
        if (rc == 0) {
            m->ops = kern_backend_ops(m->backend);
        }
    }
    /*
     * Decided before the tokenizer is built: where the kernels pack, the pages are not
     * prefaulted (packing replaces them; faulting them in first would double the resident
     * weights for a while). On a run that is sure to stay on the CPU, the tensors are read
     * first (the vocabulary's size from the token list) and packed on a helper thread while
     * the tokenizer is built; otherwise they are packed after a CUDA upload did not happen.
     */
    const bool may_pack = rc == 0 && !o.vocab_only && o.pack && m->ops->pack != NULL;
    const bool on_cpu =
        o.device == GEN_DEVICE_CPU || (o.device == GEN_DEVICE_AUTO && !kern_cuda_device_present());
    const bool early = may_pack && on_cpu && vocab_size(m->gguf, &m->hp.n_vocab);
    prefault pf;
    packer pk;
    pack_cache cache;
    pack_cache_init(&cache, may_pack ? o.pack_cache : NULL, path, m, o.log);
    pthread_t helper;
    bool prefaulting = false;
    bool packing = false;
    bool packed_early = false;
    if (early) {
        rc = load_hparams(&ld);
        if (rc == 0) {
            rc = load_tensors(&ld);
        }
        if (rc == 0) {
            rc = pack_begin(m, &pk, &cache, err);
            packed_early = true;
        }
        if (rc == 0 && pk.n_tasks > 0) {
            packing = pthread_create(&helper, NULL, pack_main, &pk) == 0;
        } else if (rc == 0 && pk.cached) {
            /* The cached copy's pages, faulted in while the tokenizer is built. */
            prefault_range(&pf, pk.dst, pk.dst + m->packed_len);
            prefaulting = pthread_create(&helper, NULL, prefault_main, &pf) == 0;
        }
    } else if (rc == 0 && !o.vocab_only && !may_pack) {
        prefault_init(&pf, m->gguf);
        prefaulting = pthread_create(&helper, NULL, prefault_main, &pf) == 0;
    }
    if (rc == 0) {
        rc = gen__tokenizer_new(&m->tokenizer, m->gguf, err);
    }
    if (prefaulting) {
        if (rc == 0) {
            prefault_run(&pf);
        }
        pthread_join(helper, NULL);
    }
    if (packed_early) {
        if (rc == 0) {
            pack_run(&pk);
        } else {
            /* The tokenizer failed: the helper stops after its task. */
            atomic_store_explicit(&pk.next, pk.n_tasks, memory_order_relaxed);
        }
        if (packing) {
            pthread_join(helper, NULL);
        }
        if (rc == 0 && (pk.n_tasks > 0 || pk.cached)) {
            pack_end(m, &pk);
            pack_cache_write(&cache, &pk, m->packed_len);
        } else {
            core_free(pk.mats);
        }
    }
    if (rc == 0) {
        const size_t n_vocab = gen__tokenizer_n_vocab(m->tokenizer);
        m->vocab_only = o.vocab_only;
        if (early && n_vocab != m->hp.n_vocab) {
            rc = core_err_set(err, CORE_EPARSE, "model: %zu tokens, but a vocabulary of %zu",
                              m->hp.n_vocab, n_vocab);
        } else if (!early && !o.vocab_only) {
            m->hp.n_vocab = n_vocab;
            rc = load_hparams(&ld);
            if (rc == 0) {
                rc = load_tensors(&ld);
            }
        } else {
            m->hp.n_vocab = n_vocab;
        }
    }
    if (rc < 0) {
        core_err_wrap(err, rc, "%s", path);
        gen_model_free(m);
        return rc;
    }
    if (!o.vocab_only && !early && o.device != GEN_DEVICE_CPU) {
        rc = gen__cuda_upload(m, o.device == GEN_DEVICE_AUTO, o.log, err);
        if (rc < 0) {
            core_err_wrap(err, rc, "%s", path);
            gen_model_free(m);
            return rc;
        }
    }
    if (!early && may_pack && !m->gpu) {
        rc = pack_weights(m, &cache, err);
        if (rc < 0) {
            core_err_wrap(err, rc, "%s", path);
            gen_model_free(m);
            return rc;
        }
    }
    core_str name = core_str_c("");
    gen__gguf_get_str(m->gguf, "general.name", &name, NULL);
    snprintf(m->desc, sizeof(m->desc), "%.*s (%s, %zu layers, %zu embd, %.1f MiB, kernels %s%s)",
             (int)(name.len > 80 ? 80 : name.len), name.ptr, m->arch_name, m->hp.n_layer,
             m->hp.n_embd, (double)m->n_bytes / (1024.0 * 1024.0),
             m->gpu       ? "cuda"
             : m->backend ? kern_backend_name(m->backend)
                          : "none",
             m->packed ? ", packed" : "");
    core_log_write(o.log, CORE_LOG_LEVEL_INFO, "loaded %s", m->desc);
    if (m->packed && m->pack_cached) {
        core_log_write(o.log, CORE_LOG_LEVEL_INFO, "mapped %.1f MiB of packed weights from %s",
                       (double)m->packed_len / (1024.0 * 1024.0), cache.path);
    } else if (m->packed) {
        core_log_write(o.log, CORE_LOG_LEVEL_INFO, "packed %.1f MiB of weights in %.1f ms",
                       (double)m->packed_len / (1024.0 * 1024.0), m->pack_ms);
    }
    *out = m;
    return 0;
}

void gen_model_free(gen_model *model)
{
    if (!model) {
        return;
    }
    if (model->gpu) {
        model->cu->model_free(model->gpu);
    }
    kern_cuda_module_close(model->cuda);
    kern_backend_free(model->backend);
    if (model->packed) {
        munmap(model->packed, model->packed_len);
    }
    gen__tokenizer_free(model->tokenizer);
    core_free(model->layers);
    gen__gguf_free(model->gguf);
    core_free(model);
}

/* ------------------------------------------------------------------------------------------ */
/* Queries                                                                                    */
/* ------------------------------------------------------------------------------------------ */

const char *gen_model_arch(const gen_model *model)
{
    return model->arch_name;
}

const char *gen_model_desc(const gen_model *model)
{
    return model->desc;
}

size_t gen_model_n_vocab(const gen_model *model)
{
    return model->hp.n_vocab;
}

size_t gen_model_n_ctx_train(const gen_model *model)
{
    return model->hp.n_ctx_train;
}

const char *gen_model_device(const gen_model *model)
{
    return model->gpu ? "cuda" : "cpu";
}

size_t gen_model_n_bytes(const gen_model *model)
{
    return model->n_bytes;
}

int32_t gen_model_token_bos(const gen_model *model)
{
    return gen__tokenizer_bos(model->tokenizer);
}

int32_t gen_model_token_eos(const gen_model *model)
{
    return gen__tokenizer_eos(model->tokenizer);
}

bool gen_model_token_is_eog(const gen_model *model, int32_t token)
{
    return gen__tokenizer_is_eog(model->tokenizer, token);
}

core_str gen_model_chat_template(const gen_model *model)
{
    core_str t = core_str_c("");
    gen__gguf_get_str(model->gguf, "tokenizer.chat_template", &t, NULL);
    return t;
}

int gen_model_tokenize(const gen_model *model, core_str text, bool add_special, bool parse_special,
                       int32_t **out, size_t *n_out, core_err *err)
{
    return gen__tokenizer_encode(model->tokenizer, text, add_special, parse_special, out, n_out,
                                 err);
}

core_str gen_model_token_piece(const gen_model *model, int32_t token, bool render_special)
{
    return gen__tokenizer_piece(model->tokenizer, token, render_special);
}

int gen_model_detokenize(const gen_model *model, const int32_t *tokens, size_t n,
                         bool render_special, core_buf *out, core_err *err)
{
    return gen__tokenizer_decode(model->tokenizer, tokens, n, render_special, out, err);
}
