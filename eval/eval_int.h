/*
 * Private to the .c files of eval/: what the JSON readers (task lines, ranking weights) share.
 */
#ifndef KILN_EVAL_INT_H
#define KILN_EVAL_INT_H

#include "eval/eval.h"

#include <cjson/cJSON.h>

/**
 * Parses s as exactly one JSON value followed by nothing but blanks (cJSON alone stops after
 * the first value). Returns the tree (the caller frees it with cJSON_Delete), or NULL with *at
 * set to the 1-based byte where the text stops being valid. s must hold no NUL byte.
 */
cJSON *eval__json_parse_whole(core_str s, size_t *at);

#endif /* KILN_EVAL_INT_H */
