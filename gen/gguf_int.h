/*
 * Private to gen/: the GGUF reader. A file is mapped read-only; every offset, count and size is
 * checked against the mapping before use, so a malformed file yields CORE_EPARSE with a message
 * naming the key or tensor and the byte offset, never a crash. Tensor data pointers point into
 * the mapping. A gen_gguf is immutable after opening: share it freely between threads.
 */
#ifndef KILN_GEN_GGUF_H
#define KILN_GEN_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "kernels/kern.h"

typedef enum gen_gguf_vtype {
    GEN_GGUF_VTYPE_UINT8 = 0,
    GEN_GGUF_VTYPE_INT8 = 1,
    GEN_GGUF_VTYPE_UINT16 = 2,
    GEN_GGUF_VTYPE_INT16 = 3,
    GEN_GGUF_VTYPE_UINT32 = 4,
    GEN_GGUF_VTYPE_INT32 = 5,
    GEN_GGUF_VTYPE_FLOAT32 = 6,
    GEN_GGUF_VTYPE_BOOL = 7,
    GEN_GGUF_VTYPE_STRING = 8,
    GEN_GGUF_VTYPE_ARRAY = 9,
    GEN_GGUF_VTYPE_UINT64 = 10,
    GEN_GGUF_VTYPE_INT64 = 11,
    GEN_GGUF_VTYPE_FLOAT64 = 12,
} gen_gguf_vtype;

typedef struct gen_gguf gen_gguf;

/** A tensor's description; data points into the mapping (borrowed, as long as the gen_gguf). */
typedef struct gen_gguf_tensor {
    core_str name; /* into the mapping */
    kern_type type;
    uint32_t n_dims;  /* 1..4 */
    uint64_t ne[4];   /* elements per dimension, ne[0] innermost (the row); unused ones are 1 */
    const void *data; /* n_bytes bytes, aligned as the file's general.alignment */
    size_t n_bytes;
} gen_gguf_tensor;

/** An array value. Numeric elements are little-endian and may be unaligned: use the getters. */
typedef struct gen_gguf_arr {
    gen_gguf_vtype type; /* element type */
    size_t n;
    const void *data;     /* numeric elements, into the mapping */
    const core_str *strs; /* STRING elements: n slices into the mapping; NULL otherwise */
} gen_gguf_arr;

/** Maps and validates the file at path. CORE_ENOTFOUND, CORE_EIO, CORE_EPARSE, CORE_ENOMEM. */
int gen__gguf_open(gen_gguf **out, const char *path, core_err *err);
/** Validates len bytes at data, which the caller keeps alive and unchanged. Same codes. */
int gen__gguf_open_memory(gen_gguf **out, const void *data, size_t len, core_err *err);
void gen__gguf_free(gen_gguf *g);

uint32_t gen__gguf_version(const gen_gguf *g);
size_t gen__gguf_file_size(const gen_gguf *g);

/** True when the file has key. */
bool gen__gguf_has(const gen_gguf *g, const char *key);
/** Type of the key's value; CORE_ENOTFOUND. */
int gen__gguf_type(const gen_gguf *g, const char *key, gen_gguf_vtype *out, core_err *err);
/** Any integer value that fits. CORE_ENOTFOUND, CORE_EPARSE (wrong type or out of range). */
int gen__gguf_get_u32(const gen_gguf *g, const char *key, uint32_t *out, core_err *err);
int gen__gguf_get_i32(const gen_gguf *g, const char *key, int32_t *out, core_err *err);
/** FLOAT32 or FLOAT64 (or an integer). CORE_ENOTFOUND, CORE_EPARSE. */
int gen__gguf_get_f32(const gen_gguf *g, const char *key, float *out, core_err *err);
int gen__gguf_get_bool(const gen_gguf *g, const char *key, bool *out, core_err *err);
/** A STRING value, borrowed from the mapping. CORE_ENOTFOUND, CORE_EPARSE. */
int gen__gguf_get_str(const gen_gguf *g, const char *key, core_str *out, core_err *err);
/** An ARRAY value. CORE_ENOTFOUND, CORE_EPARSE. */
int gen__gguf_get_arr(const gen_gguf *g, const char *key, gen_gguf_arr *out, core_err *err);

/** Element i of a numeric array converted to int64 / double (the caller checks i < n). */
int64_t gen__gguf_arr_int(const gen_gguf_arr *a, size_t i);
double gen__gguf_arr_float(const gen_gguf_arr *a, size_t i);

size_t gen__gguf_n_tensors(const gen_gguf *g);
/** Tensor i < n_tensors; borrowed. */
const gen_gguf_tensor *gen__gguf_tensor(const gen_gguf *g, size_t i);
/** The tensor called name, or NULL. */
const gen_gguf_tensor *gen__gguf_find_tensor(const gen_gguf *g, const char *name);

/** Number of key/value pairs and the key of pair i (for dumps). */
size_t gen__gguf_n_kv(const gen_gguf *g);
core_str gen__gguf_key(const gen_gguf *g, size_t i);

#endif /* KILN_GEN_GGUF_H */
