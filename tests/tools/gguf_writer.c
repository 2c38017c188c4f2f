/*
 * A GGUF v3 writer for tests. Layout (GGUF specification, version 3, little-endian):
 * magic "GGUF", version, tensor count (u64), key/value count (u64), the key/values (key as a
 * u64-length string, u32 value type, value), the tensor infos (name, u32 n_dims, u64 ne[n_dims],
 * u32 type, u64 offset relative to the data section), padding to the alignment, then the data,
 * each tensor starting on a multiple of the alignment. Key/values are serialized as they are
 * added into one buffer; tensors keep a copy of their data until the file is written. The
 * machines we run on are little-endian, so values are copied in host order.
 */
#include "tests/tools/gguf_writer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define GGUF_MAGIC   0x46554747u /* "GGUF" read as a little-endian u32 */
#define GGUF_VERSION 3u

typedef struct writer_tensor {
    char *name; /* owned */
    kern_type type;
    uint32_t n_dims;
    uint64_t ne[4];
    void *data; /* (n_bytes), owned */
    size_t n_bytes;
} writer_tensor;

struct gguf_writer {
    size_t alignment;
    core_buf kvs; /* serialized key/values, in order */
    uint64_t n_kvs;
    writer_tensor *tensors; /* (n_tensors), owned */
    size_t n_tensors;
    size_t cap_tensors;
};

size_t gguf_vtype_size(gguf_vtype t)
{
    switch (t) {
    case GGUF_VTYPE_UINT8:
    case GGUF_VTYPE_INT8:
    case GGUF_VTYPE_BOOL:
        return 1;
    case GGUF_VTYPE_UINT16:
    case GGUF_VTYPE_INT16:
        return 2;
    case GGUF_VTYPE_UINT32:
    case GGUF_VTYPE_INT32:
    case GGUF_VTYPE_FLOAT32:
        return 4;
    case GGUF_VTYPE_UINT64:
    case GGUF_VTYPE_INT64:
    case GGUF_VTYPE_FLOAT64:
        return 8;
    case GGUF_VTYPE_STRING:
    case GGUF_VTYPE_ARRAY:
        return 0;
    }
    return 0;
}

int gguf_writer_new(gguf_writer **out, size_t alignment, core_err *err)
{
    *out = NULL;
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
        return core_err_set(err, CORE_EINVAL, "gguf writer: alignment %zu is not a power of two",
                            alignment);
    }
    gguf_writer *w = core_calloc(1, sizeof(*w));
    if (w == NULL) {
        return core_err_set(err, CORE_ENOMEM, "gguf writer: out of memory");
    }
    w->alignment = alignment;
    *out = w;
    return 0;
}

void gguf_writer_free(gguf_writer *w)
{
    if (w == NULL) {
        return;
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        core_free(w->tensors[i].name);
        core_free(w->tensors[i].data);
    }
    core_free(w->tensors);
    core_buf_dispose(&w->kvs);
    core_free(w);
}

/* ------------------------------------------------------------------------------------------ */
/* Serialization helpers                                                                      */
/* ------------------------------------------------------------------------------------------ */

static int put_u32(core_buf *b, uint32_t v)
{
    return core_buf_append(b, &v, sizeof(v));
}

static int put_u64(core_buf *b, uint64_t v)
{
    return core_buf_append(b, &v, sizeof(v));
}

static int put_str(core_buf *b, const char *s, size_t len)
{
    int rc = put_u64(b, len);
    if (rc == 0 && len > 0) {
        rc = core_buf_append(b, s, len);
    }
    return rc;
}

/*
 * Appends key, type and value to the key/value buffer; on failure the buffer is cut back so
 * that a failed call leaves the writer as it was.
 */
static int add_kv(gguf_writer *w, const char *key, gguf_vtype type, const void *value,
                  size_t value_len, core_err *err)
{
    const size_t len_before = w->kvs.len;
    int rc = put_str(&w->kvs, key, strlen(key));
    if (rc == 0) {
        rc = put_u32(&w->kvs, (uint32_t)type);
    }
    if (rc == 0 && value_len > 0) {
        rc = core_buf_append(&w->kvs, value, value_len);
    }
    if (rc != 0) {
        w->kvs.len = len_before;
        if (w->kvs.ptr != NULL) {
            w->kvs.ptr[len_before] = '\0';
        }
        return core_err_set(err, CORE_ENOMEM, "gguf writer: key %s: out of memory", key);
    }
    w->n_kvs++;
    return 0;
}

int gguf_writer_add_u8(gguf_writer *w, const char *key, uint8_t v, core_err *err)
{
    return add_kv(w, key, GGUF_VTYPE_UINT8, &v, sizeof(v), err);
}

int gguf_writer_add_i8(gguf_writer *w, const char *key, int8_t v, core_err *err)
{
    return add_kv(w, key, GGUF_VTYPE_INT8, &v, sizeof(v), err);
}

int gguf_writer_add_u16(gguf_writer *w, const char *key, uint16_t v, core_err *err)
{
    return add_kv(w, key, GGUF_VTYPE_UINT16, &v, sizeof(v), err);
}

int gguf_writer_add_i16(gguf_writer *w, const char *key, int16_t v, core_err *err)
{
    return add_kv(w, key, GGUF_VTYPE_INT16, &v, sizeof(v), err);
}

int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v, core_err *err)
{
    return add_kv(w, key, GGUF_VTYPE_UINT32, &v, sizeof(v), err);
}

int gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v, core_err *err)
{
    return add_kv(w, key, GGUF_VTYPE_INT32, &v, sizeof(v), err);
}

int gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v, core_err *err)
{
    return add_kv(w, key, GGUF_VTYPE_UINT64, &v, sizeof(v), err);
}

int gguf_writer_add_i64(gguf_writer *w, const char *key, int64_t v, core_err *err)
{
    return add_kv(w, key, GGUF_VTYPE_INT64, &v, sizeof(v), err);
}

int gguf_writer_add_f32(gguf_writer *w, const char *key, float v, core_err *err)
{
    return add_kv(w, key, GGUF_VTYPE_FLOAT32, &v, sizeof(v), err);
}

int gguf_writer_add_f64(gguf_writer *w, const char *key, double v, core_err *err)
{
    return add_kv(w, key, GGUF_VTYPE_FLOAT64, &v, sizeof(v), err);
}

int gguf_writer_add_bool(gguf_writer *w, const char *key, bool v, core_err *err)
{
    const uint8_t b = v ? 1 : 0;
    return add_kv(w, key, GGUF_VTYPE_BOOL, &b, sizeof(b), err);
}

int gguf_writer_add_str(gguf_writer *w, const char *key, const char *s, core_err *err)
{
    core_buf value = {0};
    int rc = put_str(&value, s, strlen(s));
    if (rc != 0) {
        rc = core_err_set(err, CORE_ENOMEM, "gguf writer: key %s: out of memory", key);
        goto done;
    }
    rc = add_kv(w, key, GGUF_VTYPE_STRING, value.ptr, value.len, err);
done:
    core_buf_dispose(&value);
    return rc;
}

int gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_vtype elem, const void *data,
                        size_t n, core_err *err)
{
    const size_t elem_size = gguf_vtype_size(elem);
    if (elem_size == 0) {
        return core_err_set(err, CORE_EINVAL, "gguf writer: key %s: array of type %d", key,
                            (int)elem);
    }
    core_buf value = {0};
    int rc = put_u32(&value, (uint32_t)elem);
    if (rc == 0) {
        rc = put_u64(&value, n);
    }
    if (rc == 0 && n > 0) {
        rc = core_buf_append(&value, data, n * elem_size);
    }
    if (rc != 0) {
        rc = core_err_set(err, CORE_ENOMEM, "gguf writer: key %s: out of memory", key);
        goto done;
    }
    rc = add_kv(w, key, GGUF_VTYPE_ARRAY, value.ptr, value.len, err);
done:
    core_buf_dispose(&value);
    return rc;
}

int gguf_writer_add_arr_str(gguf_writer *w, const char *key, const core_str *strs, size_t n,
                            core_err *err)
{
    core_buf value = {0};
    int rc = put_u32(&value, (uint32_t)GGUF_VTYPE_STRING);
    if (rc == 0) {
        rc = put_u64(&value, n);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = put_str(&value, strs[i].ptr, strs[i].len);
    }
    if (rc != 0) {
        rc = core_err_set(err, CORE_ENOMEM, "gguf writer: key %s: out of memory", key);
        goto done;
    }
    rc = add_kv(w, key, GGUF_VTYPE_ARRAY, value.ptr, value.len, err);
done:
    core_buf_dispose(&value);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Tensors                                                                                    */
/* ------------------------------------------------------------------------------------------ */

int gguf_writer_add_tensor(gguf_writer *w, const char *name, kern_type type, uint32_t n_dims,
                           const uint64_t *ne, const void *data, size_t n_bytes, core_err *err)
{
    if (n_dims < 1 || n_dims > 4) {
        return core_err_set(err, CORE_EINVAL, "gguf writer: tensor %s: %u dimensions", name,
                            n_dims);
    }
    size_t want = kern_type_row_bytes(type, (size_t)ne[0]);
    for (uint32_t d = 1; d < n_dims; d++) {
        want *= (size_t)ne[d];
    }
    if (want == 0 || want != n_bytes) {
        return core_err_set(err, CORE_EINVAL,
                            "gguf writer: tensor %s: %zu bytes given, type %s needs %zu", name,
                            n_bytes, kern_type_name(type), want);
    }
    if (w->n_tensors == w->cap_tensors) {
        const size_t cap = w->cap_tensors == 0 ? 16 : w->cap_tensors * 2;
        writer_tensor *grown = core_realloc(w->tensors, cap * sizeof(*grown));
        if (grown == NULL) {
            return core_err_set(err, CORE_ENOMEM, "gguf writer: tensor %s: out of memory", name);
        }
        w->tensors = grown;
        w->cap_tensors = cap;
    }
    writer_tensor t = {.type = type, .n_dims = n_dims, .n_bytes = n_bytes};
    for (uint32_t d = 0; d < 4; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
    }
    t.name = core_strndup(name, strlen(name));
    t.data = core_malloc(n_bytes);
    if (t.name == NULL || t.data == NULL) {
        core_free(t.name);
        core_free(t.data);
        return core_err_set(err, CORE_ENOMEM, "gguf writer: tensor %s: out of memory", name);
    }
    memcpy(t.data, data, n_bytes);
    w->tensors[w->n_tensors++] = t;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Files                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static size_t align_up(size_t n, size_t alignment)
{
    return (n + alignment - 1) & ~(alignment - 1);
}

static int put_zeros(core_buf *b, size_t n)
{
    static const char zeros[64] = {0};
    int rc = 0;
    while (rc == 0 && n > 0) {
        const size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
        rc = core_buf_append(b, zeros, k);
        n -= k;
    }
    return rc;
}

int gguf_writer_serialize(const gguf_writer *w, core_buf *out, core_err *err)
{
    static const char alignment_key[] = "general.alignment";
    const size_t start = out->len;
    int rc = put_u32(out, GGUF_MAGIC);
    rc = rc != 0 ? rc : put_u32(out, GGUF_VERSION);
    rc = rc != 0 ? rc : put_u64(out, w->n_tensors);
    rc = rc != 0 ? rc : put_u64(out, w->n_kvs + 1);
    if (rc == 0 && w->kvs.len > 0) {
        rc = core_buf_append(out, w->kvs.ptr, w->kvs.len);
    }
    rc = rc != 0 ? rc : put_str(out, alignment_key, sizeof(alignment_key) - 1);
    rc = rc != 0 ? rc : put_u32(out, (uint32_t)GGUF_VTYPE_UINT32);
    rc = rc != 0 ? rc : put_u32(out, (uint32_t)w->alignment);

    size_t offset = 0;
    for (size_t i = 0; rc == 0 && i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        rc = put_str(out, t->name, strlen(t->name));
        rc = rc != 0 ? rc : put_u32(out, t->n_dims);
        for (uint32_t d = 0; rc == 0 && d < t->n_dims; d++) {
            rc = put_u64(out, t->ne[d]);
        }
        rc = rc != 0 ? rc : put_u32(out, (uint32_t)t->type);
        rc = rc != 0 ? rc : put_u64(out, offset);
        offset = align_up(offset + t->n_bytes, w->alignment);
    }

    /* The data section starts aligned relative to the start of the file. */
    if (rc == 0) {
        rc = put_zeros(out, align_up(out->len - start, w->alignment) - (out->len - start));
    }
    for (size_t i = 0; rc == 0 && i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        rc = core_buf_append(out, t->data, t->n_bytes);
        if (rc == 0) {
            rc = put_zeros(out, align_up(t->n_bytes, w->alignment) - t->n_bytes);
        }
    }
    if (rc != 0) {
        return core_err_set(err, CORE_ENOMEM, "gguf writer: out of memory");
    }
    return 0;
}

int gguf_writer_write(const gguf_writer *w, const char *path, core_err *err)
{
    core_buf file = {0};
    FILE *f = NULL;
    int rc = gguf_writer_serialize(w, &file, err);
    if (rc != 0) {
        goto done;
    }
    f = fopen(path, "wb");
    if (f == NULL) {
        rc = core_err_set(err, CORE_EIO, "fopen: %s: %s", strerror(errno), path);
        goto done;
    }
    if (file.len > 0 && fwrite(file.ptr, 1, file.len, f) != file.len) {
        rc = core_err_set(err, CORE_EIO, "fwrite: %s: %s", strerror(errno), path);
        goto done;
    }
    const int closed = fclose(f);
    f = NULL;
    if (closed != 0) {
        rc = core_err_set(err, CORE_EIO, "fclose: %s: %s", strerror(errno), path);
        goto done;
    }
done:
    if (f != NULL) {
        fclose(f);
    }
    core_buf_dispose(&file);
    return rc;
}
