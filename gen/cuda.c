/*
 * The bridge from a loaded model to the CUDA engine (kernels/cuda/kern_cuda.h): loads the
 * engine module where the machine shows a device (a CPU-only run maps no CUDA library),
 * describes the model's weights as the engine wants them and uploads them. Weights of a type the
 * engine does not read are converted to F16 on the host first (the buffers live only until the
 * upload is done). Contexts of a model with weights on the GPU run there (gen/ctx.c). With fallback
 * (GEN_DEVICE_AUTO) a machine without CUDA stays on the CPU silently, and a device that cannot
 * take the model leaves a warning in the log.
 */
#include "gen/model_int.h"

#include <string.h>

typedef struct converted {
    void **bufs;
    size_t n;
    size_t cap;
} converted;

/* Describes w; converts it to F16 (into a buffer recorded in conv) when the engine lacks its
 * type. */
static int describe(kern_cuda_matrix *out, const gen_weight *w, const gen_model *m, converted *conv,
                    core_err *err)
{
    out->type = w->type;
    out->data = w->data;
    out->row_bytes = w->row_bytes;
    out->n_rows = w->n_rows;
    out->n_cols = w->n_cols;
    if (m->cu->type_supported(w->type)) {
        return 0;
    }
    if (conv->n == conv->cap) {
        size_t cap = conv->cap ? 2 * conv->cap : 16;
        void **p = core_realloc(conv->bufs, cap * sizeof(void *));
        if (!p) {
            return core_err_set(err, CORE_ENOMEM, "cuda: out of memory");
        }
        conv->bufs = p;
        conv->cap = cap;
    }
    const size_t row_bytes = w->n_cols * sizeof(uint16_t);
    uint16_t *h = core_malloc(row_bytes * w->n_rows);
    float *row = core_malloc(w->n_cols * sizeof(float));
    if (!h || !row) {
        core_free(h);
        core_free(row);
        return core_err_set(err, CORE_ENOMEM, "cuda: out of memory converting weights");
    }
    for (size_t r = 0; r < w->n_rows; r++) {
        m->ops->dequantize_row(w->type, (const char *)w->data + r * w->row_bytes, row, w->n_cols);
        m->ops->quantize_row(KERN_TYPE_F16, row, h + r * w->n_cols, w->n_cols);
    }
    core_free(row);
    conv->bufs[conv->n++] = h;
    out->type = KERN_TYPE_F16;
    out->data = h;
    out->row_bytes = row_bytes;
    return 0;
}

static int describe_model(kern_cuda_model_desc *d, kern_cuda_layer *layers, const gen_model *m,
                          converted *conv, core_err *err)
{
    const gen_hparams *hp = &m->hp;
    CORE_ASSERT(layers != NULL); /* for analyzers: the caller allocated one per layer */
    memset(d, 0, sizeof(*d));
    d->n_vocab = hp->n_vocab;
    d->n_embd = hp->n_embd;
    d->n_layer = hp->n_layer;
    d->n_head = hp->n_head;
    d->n_head_kv = hp->n_head_kv;
    d->head_dim = hp->head_dim;
    d->n_ff = hp->n_ff;
    d->n_rot = hp->n_rot;
    d->n_swa = hp->n_swa;
    d->eps = hp->eps;
    d->attn_scale = hp->attn_scale;
    d->embd_scale = hp->embd_scale;
    d->rope_neox = hp->rope_mode == KERN_ROPE_MODE_NEOX;
    d->gelu = m->arch == GEN_ARCH_GEMMA3;
    d->output_norm = m->output_norm;
    d->layers = layers;
    int rc = describe(&d->tok_embd, &m->tok_embd, m, conv, err);
    if (rc == 0) {
        if (m->output.data == m->tok_embd.data) {
            d->output = d->tok_embd;
        } else {
            rc = describe(&d->output, &m->output, m, conv, err);
        }
    }
    for (size_t il = 0; rc == 0 && il < hp->n_layer; il++) {
        const gen_layer *l = &m->layers[il];
        kern_cuda_layer *c = &layers[il];
        c->attn_norm = l->attn_norm;
        c->ffn_norm = l->ffn_norm;
        c->bq = l->bq;
        c->bk = l->bk;
        c->bv = l->bv;
        c->q_norm = l->q_norm;
        c->k_norm = l->k_norm;
        c->post_attn_norm = l->post_attn_norm;
        c->post_ffn_norm = l->post_ffn_norm;
        c->is_swa = l->is_swa;
        c->rope_base = l->rope_base;
        const gen_weight *w[7] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
        kern_cuda_matrix *o[7] = {&c->wq, &c->wk, &c->wv, &c->wo, &c->w_gate, &c->w_up, &c->w_down};
        for (size_t i = 0; rc == 0 && i < 7; i++) {
            rc = describe(o[i], w[i], m, conv, err);
        }
    }
    return rc;
}

int gen__cuda_upload(gen_model *m, bool fallback, const core_log *log, core_err *err)
{
    core_err e2 = {0};
    int rc = 0;
    int n_dev = 0;
    bool absent = !kern_cuda_device_present();
    if (absent) {
        rc = core_err_set(&e2, CORE_EUNSUPPORTED, "cuda: no CUDA device");
    }
    if (rc == 0) {
        rc = kern_cuda_module_open(&m->cuda, NULL, &e2);
    }
    if (rc == 0) {
        m->cu = kern_cuda_module_api(m->cuda);
        rc = m->cu->device_count(&n_dev, &e2);
    }
    if (rc == 0 && n_dev == 0) {
        absent = true;
        rc = core_err_set(&e2, CORE_EUNSUPPORTED, "cuda: no CUDA device");
    }
    converted conv = {0};
    kern_cuda_layer *layers = NULL;
    if (rc == 0) {
        layers = core_calloc(m->hp.n_layer ? m->hp.n_layer : 1, sizeof(*layers));
        rc = layers ? 0 : core_err_set(&e2, CORE_ENOMEM, "cuda: out of memory");
    }
    if (rc == 0) {
        kern_cuda_model_desc d;
        rc = describe_model(&d, layers, m, &conv, &e2);
        if (rc == 0) {
            rc = m->cu->model_new(&m->gpu, &d, &e2);
        }
    }
    for (size_t i = 0; i < conv.n; i++) {
        core_free(conv.bufs[i]);
    }
    core_free(conv.bufs);
    core_free(layers);
    if (rc < 0) {
        /* The module stays loaded only for a model on the device. */
        kern_cuda_module_close(m->cuda);
        m->cuda = NULL;
        m->cu = NULL;
    }
    if (rc < 0 && fallback) {
        /* Without a device the CPU is the expected place: say nothing. A device that kiln
         * cannot use (no module, a broken one, a failed upload) is worth a warning. */
        if (!absent) {
            core_log_write(log, CORE_LOG_LEVEL_WARN, "%s; running on the CPU", e2.msg);
        }
        return 0;
    }
    if (rc < 0 && err) {
        *err = e2;
    }
    return rc;
}
