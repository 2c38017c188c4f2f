/*
 * The JSON reading every eval/ parser shares: one value filling the whole text (task lines,
 * ranking weights), with the byte where it stops being valid for the error message.
 */
#include "eval/eval_int.h"

cJSON *eval__json_parse_whole(core_str s, size_t *at)
{
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(s.ptr, s.len, &end, false);
    bool blank_tail = end && end >= s.ptr && end <= s.ptr + s.len;
    for (const char *p = end; blank_tail && p < s.ptr + s.len; p++) {
        blank_tail = *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n';
    }
    if (obj && !blank_tail) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    *at = (end && end >= s.ptr ? (size_t)(end - s.ptr) : 0) + 1;
    return obj;
}
