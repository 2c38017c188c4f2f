/*
 * Results of `kiln eval` as data: the summary of a run computed from its records, shards of a
 * task file, and merging the results files of shards back into the records and summary that one
 * unsharded run gives.
 *
 * One run visits the tasks in file order and sums each record into the summary as it goes; the
 * sums (pass@k means, stage times) are floating point, so the order matters to the last bit.
 * Every record carries its task's 0-based position in the file ("index"), and the merge sorts
 * the shards' records by it before summing them, so the merged summary is the one the run over
 * the whole file computes from the same records, byte for byte. That the shards' records are
 * the same as the whole run's follows from the pipeline: a candidate's seeds derive from the
 * configuration's seed, its round and its place among the candidates, never from the tasks run
 * before it in the same process.
 *
 * A shard's results file ends with its summary line, which names the shard ("shard": "I/N");
 * the merge insists on every shard 0..N-1 exactly once, one configuration, and no task twice,
 * so a shard that died or ran with other options is an error rather than a quietly smaller
 * denominator.
 */
#include "eval/eval.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* The per-stage timing keys of a record's timings_ms, in the summary's order; the last is the
 * total. */
static const char *const stage_names[] = {"plan", "write", "test", "repair", "rank", "total"};
#define N_TIMINGS (sizeof(stage_names) / sizeof(stage_names[0]))
/* Stages the summary lists under stage_seconds (the first four of stage_names). */
#define N_STAGES_SHOWN 4

/* ------------------------------------------------------------------------------------------ */
/* Shards                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static bool parse_count(const char *s, size_t len, size_t *out)
{
    if (len == 0 || len > 9) {
        return false;
    }
    size_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (size_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

int eval_shard_parse(eval_shard *out, core_str text, core_err *err)
{
    const char *slash = text.ptr ? memchr(text.ptr, '/', text.len) : NULL;
    eval_shard s = {0, 1};
    if (!slash || !parse_count(text.ptr, (size_t)(slash - text.ptr), &s.i) ||
        !parse_count(slash + 1, text.len - (size_t)(slash - text.ptr) - 1, &s.n) || s.n == 0 ||
        s.i >= s.n) {
        return core_err_set(err, CORE_EPARSE,
                            "shard '%.*s': expected I/N with 0 <= I < N (e.g. 0/4)",
                            (int)(text.len > 40 ? 40 : text.len), text.ptr ? text.ptr : "");
    }
    *out = s;
    return 0;
}

bool eval_shard_has(eval_shard shard, size_t index)
{
    return shard.n <= 1 || index % shard.n == shard.i;
}

size_t eval_shard_size(eval_shard shard, size_t n_tasks)
{
    if (shard.n <= 1) {
        return n_tasks;
    }
    return shard.i < n_tasks ? (n_tasks - shard.i + shard.n - 1) / shard.n : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Summaries                                                                                  */
/* ------------------------------------------------------------------------------------------ */

struct eval_summary {
    size_t n_problems;
    size_t *n; /* (n_problems) raw samples of each problem, owned */
    size_t *c; /* (n_problems) of those, samples that passed the hidden tests, owned */
    size_t cap;
    size_t n_ranked;      /* problems whose ranked top-1 passed */
    size_t n_oracle;      /* problems where some candidate passed */
    size_t n_refused;     /* problems the pipeline could not use (records with "refused") */
    double ms[N_TIMINGS]; /* summed timings_ms, by stage_names */
    double tokens;        /* summed tokens */
};

eval_summary_options eval_summary_options_default(void)
{
    static const size_t ks[] = {1, 10};
    eval_summary_options o;
    memset(&o, 0, sizeof(o));
    o.ks = ks;
    o.n_ks = 2;
    o.shard.n = 1;
    return o;
}

int eval_summary_new(eval_summary **out, core_err *err)
{
    *out = core_calloc(1, sizeof(**out));
    return *out ? 0 : core_err_set(err, CORE_ENOMEM, "eval summary: out of memory");
}

void eval_summary_free(eval_summary *s)
{
    if (!s) {
        return;
    }
    core_free(s->n);
    core_free(s->c);
    core_free(s);
}

size_t eval_summary_n_problems(const eval_summary *s)
{
    return s->n_problems;
}

size_t eval_summary_n_refused(const eval_summary *s)
{
    return s->n_refused;
}

static double number_or_zero(const cJSON *v)
{
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

/* Adds a parsed record (a JSON object with task_id). */
static int summary_add_json(eval_summary *s, const cJSON *rec, core_err *err)
{
    if (s->n_problems == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        size_t *n = core_realloc(s->n, cap * sizeof(*n));
        if (!n) {
            return core_err_set(err, CORE_ENOMEM, "eval summary: out of memory");
        }
        s->n = n;
        size_t *c = core_realloc(s->c, cap * sizeof(*c));
        if (!c) {
            return core_err_set(err, CORE_ENOMEM, "eval summary: out of memory");
        }
        s->c = c;
        s->cap = cap;
    }
    double n = number_or_zero(cJSON_GetObjectItem(rec, "n_samples"));
    double c = number_or_zero(cJSON_GetObjectItem(rec, "n_samples_passed"));
    /* Negative, fractional or absurd counts would make pass@k meaningless; the records come
       from files, so say which one. */
    if (!(n >= 0 && n <= 1e9 && c >= 0 && c <= n) || n != (double)(size_t)n ||
        c != (double)(size_t)c) {
        const cJSON *id = cJSON_GetObjectItem(rec, "task_id");
        return core_err_set(err, CORE_EPARSE,
                            "record %s: n_samples %g and n_samples_passed %g are not counts",
                            cJSON_IsString(id) ? id->valuestring : "?", n, c);
    }
    s->n[s->n_problems] = (size_t)n;
    s->c[s->n_problems] = (size_t)c;
    s->n_problems++;
    s->n_ranked += cJSON_IsTrue(cJSON_GetObjectItem(rec, "ranked_pass"));
    s->n_oracle += cJSON_IsTrue(cJSON_GetObjectItem(rec, "oracle_pass"));
    s->n_refused += cJSON_IsString(cJSON_GetObjectItem(rec, "refused"));
    const cJSON *tm = cJSON_GetObjectItem(rec, "timings_ms");
    for (size_t i = 0; i < N_TIMINGS; i++) {
        s->ms[i] += number_or_zero(cJSON_GetObjectItem(tm, stage_names[i]));
    }
    s->tokens += number_or_zero(cJSON_GetObjectItem(rec, "tokens"));
    return 0;
}

int eval_summary_add(eval_summary *s, core_str record, core_err *err)
{
    const char *end = NULL;
    cJSON *rec = record.ptr ? cJSON_ParseWithLengthOpts(record.ptr, record.len, &end, false) : NULL;
    int rc = 0;
    if (!rec || !cJSON_IsObject(rec) || !cJSON_IsString(cJSON_GetObjectItem(rec, "task_id"))) {
        rc = core_err_set(err, CORE_EPARSE,
                          "eval summary: a record is not a JSON object with "
                          "a task_id");
    } else {
        rc = summary_add_json(s, rec, err);
    }
    cJSON_Delete(rec);
    return rc;
}

int eval_summary_json(core_buf *out, const eval_summary *t, const eval_summary_options *opts,
                      core_err *err)
{
    cJSON *s = cJSON_CreateObject();
    char *text = NULL;
    int rc = 0;
    cJSON *pk = s ? cJSON_AddObjectToObject(s, "pass_at_k") : NULL;
    if (!pk) {
        rc = core_err_set(err, CORE_ENOMEM, "eval summary: out of memory");
        goto done;
    }
    /* Key order is the format: pass_at_k is moved behind problems and n below. */
    cJSON_DetachItemViaPointer(s, pk);
    cJSON_AddNumberToObject(s, "problems", (double)t->n_problems);
    cJSON_AddNumberToObject(s, "refused", (double)t->n_refused);
    cJSON_AddNumberToObject(s, "n", (double)opts->n);
    cJSON_AddItemToObject(s, "pass_at_k", pk);
    for (size_t i = 0; i < opts->n_ks; i++) {
        double v = 0.0;
        size_t k = opts->ks[i];
        bool fits = true;
        for (size_t j = 0; j < t->n_problems; j++) {
            fits = fits && k <= t->n[j];
        }
        if (!fits || eval_passk_mean(&v, t->n, t->c, t->n_problems, k, NULL) < 0) {
            continue;
        }
        char key[24];
        snprintf(key, sizeof(key), "%zu", k);
        cJSON_AddNumberToObject(pk, key, v);
    }
    double np = t->n_problems ? (double)t->n_problems : 1.0;
    cJSON_AddNumberToObject(s, "ranked_top1", (double)t->n_ranked / np);
    cJSON_AddNumberToObject(s, "oracle", (double)t->n_oracle / np);
    double secs = t->ms[N_TIMINGS - 1] / 1000.0;
    cJSON_AddNumberToObject(s, "seconds", secs);
    cJSON_AddNumberToObject(s, "tokens_per_s", secs > 0 ? t->tokens / secs : 0.0);
    cJSON_AddNumberToObject(s, "wall_seconds", opts->wall_s);
    cJSON *st = cJSON_AddObjectToObject(s, "stage_seconds");
    for (size_t i = 0; st && i < N_STAGES_SHOWN; i++) {
        cJSON_AddNumberToObject(st, stage_names[i], t->ms[i] / 1000.0);
    }
    if (opts->shard.n > 1) {
        char name[48];
        snprintf(name, sizeof(name), "%zu/%zu", opts->shard.i, opts->shard.n);
        cJSON_AddStringToObject(s, "shard", name);
        cJSON_AddNumberToObject(s, "tasks", (double)opts->n_tasks);
    }
    text = cJSON_PrintUnformatted(s);
    if (!text || core_buf_append(out, text, strlen(text)) < 0) {
        rc = core_err_set(err, CORE_ENOMEM, "eval summary: out of memory");
    }

done:
    cJSON_free(text);
    cJSON_Delete(s);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Merging shards                                                                             */
/* ------------------------------------------------------------------------------------------ */

/* One record taken into the merge. */
typedef struct merged {
    size_t index;     /* the task's place in the task file */
    const cJSON *rec; /* borrowed from its file's parsed lines */
    core_str text;    /* the record's line as written, borrowed from the file's text */
} merged;

/* What one shard's results file holds. */
typedef struct shard_file {
    cJSON *lines;  /* array of the parsed lines, owned */
    core_str *raw; /* (n_lines) each parsed line's text, owned array of borrowed text */
    size_t n_lines;
    const cJSON *summary; /* the last summary object, borrowed from lines; NULL: none */
    const cJSON *config;  /* the configuration of its last record; NULL: no record */
    eval_shard shard;
} shard_file;

static int file_read(shard_file *f, core_str text, const char *name, core_err *err)
{
    f->lines = cJSON_CreateArray();
    if (!f->lines) {
        return core_err_set(err, CORE_ENOMEM, "eval merge: out of memory");
    }
    size_t pos = 0;
    const cJSON *last_rec = NULL;
    while (pos < text.len) {
        const char *start = text.ptr + pos;
        const char *nl = memchr(start, '\n', text.len - pos);
        size_t len = nl ? (size_t)(nl - start) : text.len - pos;
        pos += len + (nl ? 1 : 0);
        const char *end = NULL;
        /* A line that does not parse is a record torn by a crash; a rerun skips it too. So is
           one with a NUL byte, which no record holds (JSON escapes it) and which would cut the
           merged text. */
        cJSON *line = len && !memchr(start, '\0', len)
                          ? cJSON_ParseWithLengthOpts(start, len, &end, false)
                          : NULL;
        if (!line) {
            continue;
        }
        core_str *raw = core_realloc(f->raw, (f->n_lines + 1) * sizeof(*raw));
        if (raw) {
            f->raw = raw;
        }
        if (!raw || !cJSON_AddItemToArray(f->lines, line)) {
            cJSON_Delete(line);
            return core_err_set(err, CORE_ENOMEM, "eval merge: out of memory");
        }
        f->raw[f->n_lines++] = (core_str){start, len};
        const cJSON *sum = cJSON_GetObjectItem(line, "summary");
        if (cJSON_IsObject(sum)) {
            f->summary = sum;
            f->config = last_rec ? cJSON_GetObjectItem(last_rec, "config") : NULL;
        } else if (cJSON_IsString(cJSON_GetObjectItem(line, "task_id"))) {
            last_rec = line;
        }
    }
    if (!f->summary) {
        return core_err_set(err, CORE_EPARSE,
                            "%s: no summary line: the shard did not finish (run it again with "
                            "the same --out to complete it)",
                            name);
    }
    f->shard = (eval_shard){0, 1};
    const cJSON *sh = cJSON_GetObjectItem(f->summary, "shard");
    if (sh && (!cJSON_IsString(sh) ||
               eval_shard_parse(&f->shard, core_str_c(sh->valuestring), NULL) < 0)) {
        return core_err_set(err, CORE_EPARSE, "%s: the summary's shard is not I/N", name);
    }
    return 0;
}

static int merged_cmp(const void *a, const void *b)
{
    const merged *x = a;
    const merged *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

/* Checks the files together: one shard count, each shard once, one configuration. */
static int files_check(const shard_file *files, const char *const *names, size_t n_files,
                       const cJSON **config, core_err *err)
{
    size_t n = files[0].shard.n;
    for (size_t f = 0; f < n_files; f++) {
        if (files[f].shard.n != n) {
            return core_err_set(err, CORE_EINVAL, "%s is shard %zu/%zu but %s is of %zu shards",
                                names[f], files[f].shard.i, files[f].shard.n, names[0], n);
        }
        for (size_t g = 0; g < f; g++) {
            if (files[g].shard.i == files[f].shard.i) {
                return core_err_set(err, CORE_EINVAL, "%s and %s are both shard %zu/%zu", names[g],
                                    names[f], files[f].shard.i, n);
            }
        }
        if (files[f].config) {
            if (*config && !cJSON_Compare(*config, files[f].config, true)) {
                return core_err_set(err, CORE_EINVAL,
                                    "%s ran with another configuration than the shards before "
                                    "it (its records' \"config\" differs)",
                                    names[f]);
            }
            *config = files[f].config;
        }
    }
    if (n_files != n) {
        /* All indices present and distinct, so some shard below n is missing. */
        for (size_t i = 0; i < n; i++) {
            bool have = false;
            for (size_t f = 0; f < n_files; f++) {
                have = have || files[f].shard.i == i;
            }
            if (!have) {
                return core_err_set(err, CORE_EINVAL, "shard %zu/%zu is missing", i, n);
            }
        }
    }
    return 0;
}

/* Collects every file's records of the configuration, checked against their shard. */
static int records_collect(merged **out, size_t *n_out, const shard_file *files,
                           const char *const *names, size_t n_files, const cJSON *config,
                           core_err *err)
{
    size_t cap = 0;
    for (size_t f = 0; f < n_files; f++) {
        cap += (size_t)cJSON_GetArraySize(files[f].lines);
    }
    merged *m = core_calloc(cap + 1, sizeof(*m));
    if (!m) {
        return core_err_set(err, CORE_ENOMEM, "eval merge: out of memory");
    }
    size_t n = 0;
    for (size_t f = 0; f < n_files; f++) {
        const cJSON *line = NULL;
        size_t first = n;
        size_t i_line = 0;
        cJSON_ArrayForEach(line, files[f].lines)
        {
            core_str text = files[f].raw[i_line++];
            const cJSON *id = cJSON_GetObjectItem(line, "task_id");
            if (!cJSON_IsString(id) ||
                !cJSON_Compare(cJSON_GetObjectItem(line, "config"), config, true)) {
                continue; /* a summary, or a record of an earlier run with other options */
            }
            const cJSON *ix = cJSON_GetObjectItem(line, "index");
            double v = cJSON_IsNumber(ix) ? ix->valuedouble : -1.0;
            if (!(v >= 0 && v < 1e12) || v != (double)(size_t)v) {
                core_free(m);
                return core_err_set(err, CORE_EPARSE,
                                    "%s: record %s has no task index (\"index\"; written by "
                                    "kiln eval since sharding)",
                                    names[f], id->valuestring);
            }
            size_t index = (size_t)v;
            if (!eval_shard_has(files[f].shard, index)) {
                core_free(m);
                return core_err_set(err, CORE_EINVAL,
                                    "%s: task %s (index %zu) is not in shard %zu/%zu", names[f],
                                    id->valuestring, index, files[f].shard.i, files[f].shard.n);
            }
            /* A rerun keeps the first record of a task, as `kiln eval` resuming does. */
            bool seen = false;
            for (size_t j = first; j < n && !seen; j++) {
                seen = m[j].index == index;
            }
            if (!seen) {
                m[n++] = (merged){index, line, text};
            }
        }
    }
    /* Every index is in its file's shard, the shards are distinct and a file keeps one record
       per index, so the indices are distinct. */
    qsort(m, n, sizeof(*m), merged_cmp);
    *out = m;
    *n_out = n;
    return 0;
}

int eval_results_merge(core_buf *records, core_buf *summary, const core_str *files_text,
                       const char *const *names, size_t n_files, const size_t *ks, size_t n_ks,
                       core_err *err)
{
    if (n_files == 0) {
        return core_err_set(err, CORE_EINVAL, "eval merge: no results files");
    }
    shard_file *files = core_calloc(n_files, sizeof(*files));
    merged *m = NULL;
    size_t n_m = 0;
    eval_summary *sum = NULL;
    const cJSON *config = NULL;
    int rc = 0;
    if (!files) {
        return core_err_set(err, CORE_ENOMEM, "eval merge: out of memory");
    }
    for (size_t f = 0; f < n_files && rc == 0; f++) {
        rc = file_read(&files[f], files_text[f], names[f], err);
    }
    if (rc == 0) {
        rc = files_check(files, names, n_files, &config, err);
    }
    if (rc == 0) {
        rc = records_collect(&m, &n_m, files, names, n_files, config, err);
    }
    if (rc == 0) {
        rc = eval_summary_new(&sum, err);
    }
    for (size_t j = 0; rc == 0 && j < n_m; j++) {
        rc = summary_add_json(sum, m[j].rec, err);
        if (rc == 0 && (core_buf_append(records, m[j].text.ptr, m[j].text.len) < 0 ||
                        core_buf_append(records, "\n", 1) < 0)) {
            rc = core_err_set(err, CORE_ENOMEM, "eval merge: out of memory");
        }
    }
    if (rc == 0) {
        eval_summary_options o = eval_summary_options_default();
        o.ks = ks;
        o.n_ks = n_ks;
        const double n = config ? number_or_zero(cJSON_GetObjectItem(config, "n")) : 0.0;
        const double two53 = 9007199254740992.0; /* 2^53: a count, or none when out of range */
        o.n = n >= 0.0 && n < two53 ? (size_t)n : 0;
        /* The shards ran side by side: the merged run took as long as the longest. */
        for (size_t f = 0; f < n_files; f++) {
            double w = number_or_zero(cJSON_GetObjectItem(files[f].summary, "wall_seconds"));
            o.wall_s = w > o.wall_s ? w : o.wall_s;
        }
        size_t mark = summary->len;
        rc = eval_summary_json(summary, sum, &o, err);
        if (rc == 0 && core_buf_appendf(records, "{\"summary\":%s}\n", summary->ptr + mark) < 0) {
            rc = core_err_set(err, CORE_ENOMEM, "eval merge: out of memory");
        }
    }
    eval_summary_free(sum);
    core_free(m);
    for (size_t f = 0; f < n_files; f++) {
        cJSON_Delete(files[f].lines);
        core_free(files[f].raw);
    }
    core_free(files);
    return rc;
}
