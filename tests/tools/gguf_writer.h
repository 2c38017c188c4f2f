/*
 * Test tool: a small GGUF v3 writer. Tests build model files with it (the tiny random models,
 * malformed files for the reader's tests). Key/values and tensors are collected in memory, in the
 * order they are added, then serialized at once; every tensor's data starts on a multiple of
 * the alignment, which the file records as general.alignment.
 *
 * One thread at a time.
 */
#ifndef KILN_TESTS_TOOLS_GGUF_WRITER_H
#define KILN_TESTS_TOOLS_GGUF_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "kernels/kern.h"

/* Value types, numbered as in the GGUF specification. */
typedef enum gguf_vtype {
    GGUF_VTYPE_UINT8 = 0,
    GGUF_VTYPE_INT8 = 1,
    GGUF_VTYPE_UINT16 = 2,
    GGUF_VTYPE_INT16 = 3,
    GGUF_VTYPE_UINT32 = 4,
    GGUF_VTYPE_INT32 = 5,
    GGUF_VTYPE_FLOAT32 = 6,
    GGUF_VTYPE_BOOL = 7,
    GGUF_VTYPE_STRING = 8,
    GGUF_VTYPE_ARRAY = 9,
    GGUF_VTYPE_UINT64 = 10,
    GGUF_VTYPE_INT64 = 11,
    GGUF_VTYPE_FLOAT64 = 12,
} gguf_vtype;

/** Bytes of one value of a scalar type (BOOL: 1), or 0 for STRING and ARRAY. */
size_t gguf_vtype_size(gguf_vtype t);

typedef struct gguf_writer gguf_writer;

/**
 * Creates an empty writer whose tensor data will be aligned to alignment bytes (a power of two;
 * GGUF's default is 32). The general.alignment key is written as the last key/value. CORE_EINVAL
 * (alignment), CORE_ENOMEM.
 */
int gguf_writer_new(gguf_writer **out, size_t alignment, core_err *err);
void gguf_writer_free(gguf_writer *w);

/*
 * Key/values. Each call copies key and value; keys are not checked for duplicates (tests of the
 * reader write duplicates on purpose). Codes: CORE_ENOMEM.
 */
int gguf_writer_add_u8(gguf_writer *w, const char *key, uint8_t v, core_err *err);
int gguf_writer_add_i8(gguf_writer *w, const char *key, int8_t v, core_err *err);
int gguf_writer_add_u16(gguf_writer *w, const char *key, uint16_t v, core_err *err);
int gguf_writer_add_i16(gguf_writer *w, const char *key, int16_t v, core_err *err);
int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v, core_err *err);
int gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v, core_err *err);
int gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v, core_err *err);
int gguf_writer_add_i64(gguf_writer *w, const char *key, int64_t v, core_err *err);
int gguf_writer_add_f32(gguf_writer *w, const char *key, float v, core_err *err);
int gguf_writer_add_f64(gguf_writer *w, const char *key, double v, core_err *err);
int gguf_writer_add_bool(gguf_writer *w, const char *key, bool v, core_err *err);
/** A string value; s is NUL-terminated. */
int gguf_writer_add_str(gguf_writer *w, const char *key, const char *s, core_err *err);
/**
 * An array of n values of the scalar type elem, packed in host order at data (for BOOL: one
 * byte each). CORE_EINVAL (elem is STRING or ARRAY: use gguf_writer_add_arr_str), CORE_ENOMEM.
 */
int gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_vtype elem, const void *data,
                        size_t n, core_err *err);
/** An array of n strings given as slices (which may hold any bytes, NUL included). */
int gguf_writer_add_arr_str(gguf_writer *w, const char *key, const core_str *strs, size_t n,
                            core_err *err);

/**
 * A tensor of n_dims (1..4) dimensions ne[0..n_dims) (ne[0] innermost: a matrix of r rows of c
 * values has ne = {c, r}) and type; n_bytes of data are copied and must be exactly the
 * tensor's size. CORE_EINVAL (dims, or n_bytes does not match), CORE_ENOMEM.
 */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, kern_type type, uint32_t n_dims,
                           const uint64_t *ne, const void *data, size_t n_bytes, core_err *err);

/** Appends the whole file to out. CORE_ENOMEM. */
int gguf_writer_serialize(const gguf_writer *w, core_buf *out, core_err *err);
/** Writes the file at path (replacing it). CORE_EIO (naming the path), CORE_ENOMEM. */
int gguf_writer_write(const gguf_writer *w, const char *path, core_err *err);

#endif /* KILN_TESTS_TOOLS_GGUF_WRITER_H */
