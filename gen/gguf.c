/*
 * GGUF reader (format versions 2 and 3, as specified in ggml's docs/gguf.md): header, key/value
 * metadata, tensor infos, then the aligned data section. The file is mapped read-only and
 * parsed once with a bounds-checked cursor; every length, count, offset and size is checked
 * against what remains of the mapping before it is used, so hostile files fail with
 * CORE_EPARSE and a message naming the key or tensor and the byte offset. Tensor data is never
 * copied. String arrays (the vocabulary) get one slice table each, allocated at open.
 */
#include "gen/gguf_int.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC             0x46554747u /* "GGUF" little-endian */
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_DIMS          4u

typedef struct gguf_kv {
    core_str key;
    gen_gguf_vtype type;
    const uint8_t *val; /* start of the value (for scalars and strings) */
    gen_gguf_arr arr;   /* for ARRAY values; arr.strs owned */
} gguf_kv;

struct gen_gguf {
    const uint8_t *base; /* mapping or caller's buffer */
    size_t size;
    bool mapped; /* base is our mmap, unmapped at free */
    uint32_t version;
    size_t n_kv;
    gguf_kv *kv; /* (n_kv), owned */
    size_t n_tensors;
    gen_gguf_tensor *tensors; /* (n_tensors), owned */
};

/* ------------------------------------------------------------------------------------------ */
/* Cursor                                                                                     */
/* ------------------------------------------------------------------------------------------ */

typedef struct cursor {
    const uint8_t *base;
    size_t size;
    size_t pos;
    core_err *err;
} cursor;

static int need(cursor *c, size_t n, const char *what)
{
    if (n > c->size - c->pos) {
        return core_err_set(c->err, CORE_EPARSE,
                            "gguf: byte %zu: truncated %s (need %zu bytes, %zu left)", c->pos, what,
                            n, c->size - c->pos);
    }
    return 0;
}

static int read_u32(cursor *c, uint32_t *v, const char *what)
{
    int rc = need(c, 4, what);
    if (rc == 0) {
        memcpy(v, c->base + c->pos, 4);
        c->pos += 4;
    }
    return rc;
}

static int read_u64(cursor *c, uint64_t *v, const char *what)
{
    int rc = need(c, 8, what);
    if (rc == 0) {
        memcpy(v, c->base + c->pos, 8);
        c->pos += 8;
    }
    return rc;
}

static int read_str(cursor *c, core_str *s, const char *what)
{
    uint64_t len = 0;
    size_t at = c->pos;
    int rc = read_u64(c, &len, what);
    if (rc < 0) {
        return rc;
    }
    if (len > c->size - c->pos) {
        return core_err_set(c->err, CORE_EPARSE,
                            "gguf: byte %zu: %s length %llu exceeds the file (%zu bytes left)", at,
                            what, (unsigned long long)len, c->size - c->pos);
    }
    s->ptr = (const char *)c->base + c->pos;
    s->len = (size_t)len;
    c->pos += (size_t)len;
    return 0;
}

static size_t vtype_size(uint32_t t)
{
    switch (t) {
    case GEN_GGUF_VTYPE_UINT8:
    case GEN_GGUF_VTYPE_INT8:
    case GEN_GGUF_VTYPE_BOOL:
        return 1;
    case GEN_GGUF_VTYPE_UINT16:
    case GEN_GGUF_VTYPE_INT16:
        return 2;
    case GEN_GGUF_VTYPE_UINT32:
    case GEN_GGUF_VTYPE_INT32:
    case GEN_GGUF_VTYPE_FLOAT32:
        return 4;
    case GEN_GGUF_VTYPE_UINT64:
    case GEN_GGUF_VTYPE_INT64:
    case GEN_GGUF_VTYPE_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Parsing                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static int parse_value(cursor *c, gguf_kv *kv)
{
    size_t at = c->pos;
    kv->val = c->base + c->pos;
    if (kv->type == GEN_GGUF_VTYPE_STRING) {
        core_str s;
        return read_str(c, &s, "string value");
    }
    if (kv->type != GEN_GGUF_VTYPE_ARRAY) {
        int rc = need(c, vtype_size(kv->type), "value");
        if (rc == 0) {
            c->pos += vtype_size(kv->type);
        }
        return rc;
    }
    uint32_t et = 0;
    uint64_t n = 0;
    int rc = read_u32(c, &et, "array type");
    if (rc == 0) {
        rc = read_u64(c, &n, "array length");
    }
    if (rc < 0) {
        return rc;
    }
    if (et == GEN_GGUF_VTYPE_ARRAY) {
        return core_err_set(c->err, CORE_EPARSE, "gguf: key '%.*s': byte %zu: nested arrays",
                            (int)kv->key.len, kv->key.ptr, at);
    }
    kv->arr.type = (gen_gguf_vtype)et;
    kv->arr.data = c->base + c->pos;
    if (et == GEN_GGUF_VTYPE_STRING) {
        /* Each string takes at least its 8-byte length: bound n before allocating. */
        if (n > (c->size - c->pos) / 8) {
            return core_err_set(c->err, CORE_EPARSE,
                                "gguf: key '%.*s': byte %zu: %llu strings cannot fit in the file",
                                (int)kv->key.len, kv->key.ptr, at, (unsigned long long)n);
        }
        core_str *strs = core_malloc((size_t)(n ? n : 1) * sizeof(*strs));
        if (!strs) {
            return core_err_set(c->err, CORE_ENOMEM, "gguf: key '%.*s': out of memory",
                                (int)kv->key.len, kv->key.ptr);
        }
        kv->arr.strs = strs;
        kv->arr.n = (size_t)n;
        for (size_t i = 0; i < n; i++) {
            rc = read_str(c, &strs[i], "array string");
            if (rc < 0) {
                return core_err_wrap(c->err, rc, "gguf: key '%.*s': element %zu", (int)kv->key.len,
                                     kv->key.ptr, i);
            }
        }
        return 0;
    }
    size_t es = vtype_size(et);
    if (es == 0) {
        return core_err_set(c->err, CORE_EPARSE,
                            "gguf: key '%.*s': byte %zu: unknown array element type %u",
                            (int)kv->key.len, kv->key.ptr, at, et);
    }
    if (n > (c->size - c->pos) / es) {
        return core_err_set(c->err, CORE_EPARSE,
                            "gguf: key '%.*s': byte %zu: array of %llu elements exceeds the file",
                            (int)kv->key.len, kv->key.ptr, at, (unsigned long long)n);
    }
    kv->arr.n = (size_t)n;
    c->pos += (size_t)n * es;
    return 0;
}

static const gguf_kv *find_kv(const gen_gguf *g, const char *key)
{
    core_str k = core_str_c(key);
    for (size_t i = 0; i < g->n_kv; i++) {
        if (core_str_eq(g->kv[i].key, k)) {
            return &g->kv[i];
        }
    }
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    const core_str *x = a;
    const core_str *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = n ? memcmp(x->ptr, y->ptr, n) : 0;
    if (r != 0) {
        return r;
    }
    return (x->len > y->len) - (x->len < y->len);
}

/*
 * Fails on a repeated name among n slices read at base + i * stride + offset. Sorting keeps this
 * O(n log n), so a hostile file with a million entries cannot stall the loader.
 */
static int check_unique(cursor *c, const void *base, size_t n, size_t stride, size_t offset,
                        const char *what)
{
    if (n < 2) {
        return 0;
    }
    core_str *v = core_malloc(n * sizeof(*v));
    if (!v) {
        return core_err_set(c->err, CORE_ENOMEM, "gguf: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(&v[i], (const char *)base + i * stride + offset, sizeof(core_str));
    }
    qsort(v, n, sizeof(*v), cmp_str);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++) {
        if (core_str_eq(v[i], v[i - 1])) {
            rc = core_err_set(c->err, CORE_EPARSE, "gguf: duplicate %s '%.*s'", what, (int)v[i].len,
                              v[i].ptr);
        }
    }
    core_free(v);
    return rc;
}

static int parse_kvs(cursor *c, gen_gguf *g, uint64_t n_kv)
{
    /* A pair takes at least 8 (key length) + 4 (type) + 1 bytes. */
    if (n_kv > (c->size - c->pos) / 13) {
        return core_err_set(c->err, CORE_EPARSE,
                            "gguf: %llu key/value pairs cannot fit in %zu bytes",
                            (unsigned long long)n_kv, c->size);
    }
    g->kv = core_calloc((size_t)n_kv ? (size_t)n_kv : 1, sizeof(*g->kv));
    if (!g->kv) {
        return core_err_set(c->err, CORE_ENOMEM, "gguf: out of memory");
    }
    for (size_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        size_t at = c->pos;
        uint32_t type = 0;
        int rc = read_str(c, &kv->key, "key");
        if (rc == 0) {
            rc = read_u32(c, &type, "value type");
        }
        if (rc < 0) {
            return core_err_wrap(c->err, rc, "gguf: key/value pair %zu", i);
        }
        if (type > GEN_GGUF_VTYPE_FLOAT64) {
            return core_err_set(c->err, CORE_EPARSE, "gguf: key '%.*s': byte %zu: unknown type %u",
                                (int)kv->key.len, kv->key.ptr, at, type);
        }
        kv->type = (gen_gguf_vtype)type;
        g->n_kv = i + 1; /* so that free() sees the strs allocated below */
        rc = parse_value(c, kv);
        if (rc < 0) {
            return rc;
        }
    }
    return check_unique(c, g->kv, g->n_kv, sizeof(*g->kv), offsetof(gguf_kv, key), "key");
}

static int parse_tensors(cursor *c, gen_gguf *g, uint64_t n_tensors, uint32_t alignment)
{
    /* A tensor info takes at least 8 + 4 + 8 + 4 + 8 bytes. */
    if (n_tensors > (c->size - c->pos) / 32) {
        return core_err_set(c->err, CORE_EPARSE, "gguf: %llu tensors cannot fit in %zu bytes",
                            (unsigned long long)n_tensors, c->size);
    }
    g->tensors = core_calloc((size_t)n_tensors ? (size_t)n_tensors : 1, sizeof(*g->tensors));
    if (!g->tensors) {
        return core_err_set(c->err, CORE_ENOMEM, "gguf: out of memory");
    }
    uint64_t *offsets = (uint64_t *)core_calloc((size_t)n_tensors ? (size_t)n_tensors : 1, 8);
    if (!offsets) {
        return core_err_set(c->err, CORE_ENOMEM, "gguf: out of memory");
    }
    int rc = 0;
    for (size_t i = 0; i < n_tensors && rc == 0; i++) {
        gen_gguf_tensor *t = &g->tensors[i];
        size_t at = c->pos;
        uint32_t type = 0;
        rc = read_str(c, &t->name, "tensor name");
        if (rc == 0) {
            rc = read_u32(c, &t->n_dims, "tensor dimension count");
        }
        if (rc < 0) {
            rc = core_err_wrap(c->err, rc, "gguf: tensor %zu", i);
            break;
        }
        if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS) {
            rc = core_err_set(c->err, CORE_EPARSE, "gguf: tensor '%.*s': byte %zu: %u dimensions",
                              (int)t->name.len, t->name.ptr, at, t->n_dims);
            break;
        }
        for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
            t->ne[d] = 1;
        }
        for (uint32_t d = 0; d < t->n_dims && rc == 0; d++) {
            rc = read_u64(c, &t->ne[d], "tensor dimension");
        }
        if (rc == 0) {
            rc = read_u32(c, &type, "tensor type");
        }
        if (rc == 0) {
            rc = read_u64(c, &offsets[i], "tensor offset");
        }
        if (rc < 0) {
            rc = core_err_wrap(c->err, rc, "gguf: tensor '%.*s'", (int)t->name.len, t->name.ptr);
            break;
        }
        if (!kern_type_is_known(type)) {
            rc = core_err_set(c->err, CORE_EUNSUPPORTED,
                              "gguf: tensor '%.*s': unsupported tensor type %u", (int)t->name.len,
                              t->name.ptr, type);
            break;
        }
        t->type = (kern_type)type;
        /* Element count, guarding against overflow: each dimension must be nonzero and the
         * product must stay below 2^62. */
        uint64_t n_elems = 1;
        for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
            if (t->ne[d] == 0 || t->ne[d] > ((uint64_t)1 << 62) / n_elems) {
                rc = core_err_set(c->err, CORE_EPARSE,
                                  "gguf: tensor '%.*s': bad shape (dimension %u is %llu)",
                                  (int)t->name.len, t->name.ptr, d, (unsigned long long)t->ne[d]);
                break;
            }
            n_elems *= t->ne[d];
        }
        if (rc < 0) {
            break;
        }
        size_t row = kern_type_row_bytes(t->type, (size_t)t->ne[0]);
        if (row == 0) {
            rc = core_err_set(c->err, CORE_EPARSE,
                              "gguf: tensor '%.*s': row of %llu is not a multiple of %s's block "
                              "of %zu",
                              (int)t->name.len, t->name.ptr, (unsigned long long)t->ne[0],
                              kern_type_name(t->type), kern_type_block_elems(t->type));
            break;
        }
        uint64_t n_rows = n_elems / t->ne[0];
        if (n_rows > SIZE_MAX / row) {
            rc = core_err_set(c->err, CORE_EPARSE, "gguf: tensor '%.*s': too large",
                              (int)t->name.len, t->name.ptr);
            break;
        }
        t->n_bytes = (size_t)n_rows * row;
        g->n_tensors = i + 1;
    }
    if (rc == 0) {
        rc = check_unique(c, g->tensors, g->n_tensors, sizeof(*g->tensors),
                          offsetof(gen_gguf_tensor, name), "tensor");
    }
    if (rc == 0) {
        size_t data_start = (c->pos + alignment - 1) / alignment * alignment;
        if (data_start > c->size && n_tensors > 0) {
            rc = core_err_set(c->err, CORE_EPARSE, "gguf: data section at byte %zu is past the end",
                              data_start);
        }
        size_t data_size = data_start <= c->size ? c->size - data_start : 0;
        for (size_t i = 0; i < g->n_tensors && rc == 0; i++) {
            gen_gguf_tensor *t = &g->tensors[i];
            if (offsets[i] % alignment != 0) {
                rc = core_err_set(c->err, CORE_EPARSE,
                                  "gguf: tensor '%.*s': offset %llu is not a multiple of the "
                                  "alignment %u",
                                  (int)t->name.len, t->name.ptr, (unsigned long long)offsets[i],
                                  alignment);
            } else if (offsets[i] > data_size || t->n_bytes > data_size - offsets[i]) {
                rc = core_err_set(c->err, CORE_EPARSE,
                                  "gguf: tensor '%.*s': data [%llu, +%zu) runs past the end of the "
                                  "file (data section has %zu bytes)",
                                  (int)t->name.len, t->name.ptr, (unsigned long long)offsets[i],
                                  t->n_bytes, data_size);
            } else {
                t->data = c->base + data_start + offsets[i];
            }
        }
    }
    core_free(offsets);
    return rc;
}

static int parse(gen_gguf *g, core_err *err)
{
    cursor c = {g->base, g->size, 0, err};
    uint32_t magic = 0;
    uint64_t n_tensors = 0;
    uint64_t n_kv = 0;
    int rc = read_u32(&c, &magic, "magic");
    if (rc < 0) {
        return rc;
    }
    if (magic != GGUF_MAGIC) {
        return core_err_set(err, CORE_EPARSE, "gguf: byte 0: bad magic 0x%08x (not a GGUF file)",
                            magic);
    }
    rc = read_u32(&c, &g->version, "version");
    if (rc < 0) {
        return rc;
    }
    if (g->version != 2 && g->version != 3) {
        return core_err_set(err, CORE_EUNSUPPORTED,
                            "gguf: byte 4: version %u (kiln reads versions 2 and 3)", g->version);
    }
    rc = read_u64(&c, &n_tensors, "tensor count");
    if (rc == 0) {
        rc = read_u64(&c, &n_kv, "key/value count");
    }
    if (rc == 0) {
        rc = parse_kvs(&c, g, n_kv);
    }
    uint32_t alignment = GGUF_DEFAULT_ALIGNMENT;
    if (rc == 0 && gen__gguf_has(g, "general.alignment")) {
        rc = gen__gguf_get_u32(g, "general.alignment", &alignment, err);
        if (rc == 0 && (alignment == 0 || (alignment & (alignment - 1)) != 0)) {
            rc = core_err_set(err, CORE_EPARSE, "gguf: general.alignment %u is not a power of two",
                              alignment);
        }
    }
    if (rc == 0) {
        rc = parse_tensors(&c, g, n_tensors, alignment);
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Open and free                                                                              */
/* ------------------------------------------------------------------------------------------ */

static int open_common(gen_gguf **out, gen_gguf *g, core_err *err)
{
    int rc = parse(g, err);
    if (rc < 0) {
        gen__gguf_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

int gen__gguf_open_memory(gen_gguf **out, const void *data, size_t len, core_err *err)
{
    *out = NULL;
    gen_gguf *g = core_calloc(1, sizeof(*g));
    if (!g) {
        return core_err_set(err, CORE_ENOMEM, "gguf: out of memory");
    }
    g->base = data;
    g->size = len;
    return open_common(out, g, err);
}

int gen__gguf_open(gen_gguf **out, const char *path, core_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return core_err_set(err, e == ENOENT ? CORE_ENOTFOUND : CORE_EIO, "open %s: %s", path,
                            strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        close(fd);
        return core_err_set(err, CORE_EIO, "%s: not a regular file%s%s", path, e ? ": " : "",
                            e ? strerror(e) : "");
    }
    if (st.st_size == 0) {
        close(fd);
        return core_err_set(err, CORE_EPARSE, "%s: empty file", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) {
        return core_err_set(err, CORE_EIO, "mmap %s: %s", path, strerror(e));
    }
    gen_gguf *g = core_calloc(1, sizeof(*g));
    if (!g) {
        munmap(p, (size_t)st.st_size);
        return core_err_set(err, CORE_ENOMEM, "gguf: out of memory");
    }
    g->base = p;
    g->size = (size_t)st.st_size;
    g->mapped = true;
    int rc = open_common(out, g, err);
    if (rc < 0) {
        core_err_wrap(err, rc, "%s", path);
    }
    return rc;
}

void gen__gguf_free(gen_gguf *g)
{
    if (!g) {
        return;
    }
    for (size_t i = 0; g->kv && i < g->n_kv; i++) {
        core_free((void *)g->kv[i].arr.strs);
    }
    core_free(g->kv);
    core_free(g->tensors);
    if (g->mapped) {
        munmap((void *)g->base, g->size);
    }
    core_free(g);
}

/* ------------------------------------------------------------------------------------------ */
/* Queries                                                                                    */
/* ------------------------------------------------------------------------------------------ */

uint32_t gen__gguf_version(const gen_gguf *g)
{
    return g->version;
}

size_t gen__gguf_file_size(const gen_gguf *g)
{
    return g->size;
}

bool gen__gguf_has(const gen_gguf *g, const char *key)
{
    return find_kv(g, key) != NULL;
}

static int lookup(const gen_gguf *g, const char *key, const gguf_kv **out, core_err *err)
{
    *out = find_kv(g, key);
    if (!*out) {
        return core_err_set(err, CORE_ENOTFOUND, "gguf: key '%s' is missing", key);
    }
    return 0;
}

int gen__gguf_type(const gen_gguf *g, const char *key, gen_gguf_vtype *out, core_err *err)
{
    const gguf_kv *kv = NULL;
    int rc = lookup(g, key, &kv, err);
    if (rc == 0) {
        *out = kv->type;
    }
    return rc;
}

/* Reads a numeric scalar as int64 (is_int) or double. */
static bool scalar_value(const uint8_t *p, gen_gguf_vtype t, int64_t *iv, double *fv, bool *is_int)
{
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
        float f32;
        double f64;
    } v;
    size_t n = vtype_size(t);
    if (n == 0) {
        return false;
    }
    memcpy(&v, p, n);
    *is_int = true;
    switch (t) {
    case GEN_GGUF_VTYPE_UINT8:
    case GEN_GGUF_VTYPE_BOOL:
        *iv = v.u8;
        break;
    case GEN_GGUF_VTYPE_INT8:
        *iv = (int64_t)v.i8;
        break;
    case GEN_GGUF_VTYPE_UINT16:
        *iv = v.u16;
        break;
    case GEN_GGUF_VTYPE_INT16:
        *iv = v.i16;
        break;
    case GEN_GGUF_VTYPE_UINT32:
        *iv = v.u32;
        break;
    case GEN_GGUF_VTYPE_INT32:
        *iv = v.i32;
        break;
    case GEN_GGUF_VTYPE_UINT64:
        if (v.u64 > INT64_MAX) {
            return false;
        }
        *iv = (int64_t)v.u64;
        break;
    case GEN_GGUF_VTYPE_INT64:
        *iv = v.i64;
        break;
    case GEN_GGUF_VTYPE_FLOAT32:
        *is_int = false;
        *fv = (double)v.f32;
        break;
    case GEN_GGUF_VTYPE_FLOAT64:
        *is_int = false;
        *fv = v.f64;
        break;
    default:
        return false;
    }
    if (*is_int) {
        *fv = (double)*iv;
    }
    return true;
}

static int get_int(const gen_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out,
                   core_err *err)
{
    const gguf_kv *kv = NULL;
    int rc = lookup(g, key, &kv, err);
    if (rc < 0) {
        return rc;
    }
    int64_t iv = 0;
    double fv = 0;
    bool is_int = false;
    if (!scalar_value(kv->val, kv->type, &iv, &fv, &is_int) || !is_int ||
        kv->type == GEN_GGUF_VTYPE_BOOL) {
        return core_err_set(err, CORE_EPARSE, "gguf: key '%s': expected an integer", key);
    }
    if (iv < lo || iv > hi) {
        return core_err_set(err, CORE_EPARSE, "gguf: key '%s': value %lld out of range", key,
                            (long long)iv);
    }
    *out = iv;
    return 0;
}

int gen__gguf_get_u32(const gen_gguf *g, const char *key, uint32_t *out, core_err *err)
{
    int64_t v = 0;
    int rc = get_int(g, key, 0, UINT32_MAX, &v, err);
    if (rc == 0) {
        *out = (uint32_t)v;
    }
    return rc;
}

int gen__gguf_get_i32(const gen_gguf *g, const char *key, int32_t *out, core_err *err)
{
    int64_t v = 0;
    int rc = get_int(g, key, INT32_MIN, INT32_MAX, &v, err);
    if (rc == 0) {
        *out = (int32_t)v;
    }
    return rc;
}

int gen__gguf_get_f32(const gen_gguf *g, const char *key, float *out, core_err *err)
{
    const gguf_kv *kv = NULL;
    int rc = lookup(g, key, &kv, err);
    if (rc < 0) {
        return rc;
    }
    int64_t iv = 0;
    double fv = 0;
    bool is_int = false;
    if (!scalar_value(kv->val, kv->type, &iv, &fv, &is_int) || kv->type == GEN_GGUF_VTYPE_BOOL) {
        return core_err_set(err, CORE_EPARSE, "gguf: key '%s': expected a number", key);
    }
    *out = (float)fv;
    return 0;
}

int gen__gguf_get_bool(const gen_gguf *g, const char *key, bool *out, core_err *err)
{
    const gguf_kv *kv = NULL;
    int rc = lookup(g, key, &kv, err);
    if (rc < 0) {
        return rc;
    }
    if (kv->type != GEN_GGUF_VTYPE_BOOL) {
        return core_err_set(err, CORE_EPARSE, "gguf: key '%s': expected a bool", key);
    }
    *out = kv->val[0] != 0;
    return 0;
}

int gen__gguf_get_str(const gen_gguf *g, const char *key, core_str *out, core_err *err)
{
    const gguf_kv *kv = NULL;
    int rc = lookup(g, key, &kv, err);
    if (rc < 0) {
        return rc;
    }
    if (kv->type != GEN_GGUF_VTYPE_STRING) {
        return core_err_set(err, CORE_EPARSE, "gguf: key '%s': expected a string", key);
    }
    uint64_t len = 0;
    memcpy(&len, kv->val, 8);
    out->ptr = (const char *)kv->val + 8;
    out->len = (size_t)len;
    return 0;
}

int gen__gguf_get_arr(const gen_gguf *g, const char *key, gen_gguf_arr *out, core_err *err)
{
    const gguf_kv *kv = NULL;
    int rc = lookup(g, key, &kv, err);
    if (rc < 0) {
        return rc;
    }
    if (kv->type != GEN_GGUF_VTYPE_ARRAY) {
        return core_err_set(err, CORE_EPARSE, "gguf: key '%s': expected an array", key);
    }
    *out = kv->arr;
    return 0;
}

int64_t gen__gguf_arr_int(const gen_gguf_arr *a, size_t i)
{
    int64_t iv = 0;
    double fv = 0;
    bool is_int = false;
    size_t es = vtype_size(a->type);
    if (es == 0 || !scalar_value((const uint8_t *)a->data + i * es, a->type, &iv, &fv, &is_int)) {
        return 0;
    }
    if (is_int) {
        return iv;
    }
    /* A float out of int64's range (or NaN) reads as 0, as a value of another type does. */
    const double two63 = 9223372036854775808.0; /* 2^63 */
    return fv >= -two63 && fv < two63 ? (int64_t)fv : 0;
}

double gen__gguf_arr_float(const gen_gguf_arr *a, size_t i)
{
    int64_t iv = 0;
    double fv = 0;
    bool is_int = false;
    size_t es = vtype_size(a->type);
    if (es == 0 || !scalar_value((const uint8_t *)a->data + i * es, a->type, &iv, &fv, &is_int)) {
        return 0;
    }
    return fv;
}

size_t gen__gguf_n_tensors(const gen_gguf *g)
{
    return g->n_tensors;
}

const gen_gguf_tensor *gen__gguf_tensor(const gen_gguf *g, size_t i)
{
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const gen_gguf_tensor *gen__gguf_find_tensor(const gen_gguf *g, const char *name)
{
    core_str n = core_str_c(name);
    for (size_t i = 0; i < g->n_tensors; i++) {
        if (core_str_eq(g->tensors[i].name, n)) {
            return &g->tensors[i];
        }
    }
    return NULL;
}

size_t gen__gguf_n_kv(const gen_gguf *g)
{
    return g->n_kv;
}

core_str gen__gguf_key(const gen_gguf *g, size_t i)
{
    return i < g->n_kv ? g->kv[i].key : core_str_c(NULL);
}
