/*
 * The HTML report of a `kiln eval` run: one self-contained page (inline CSS and SVG, no script,
 * no external font or image) made from the results JSON lines that the pipeline appends, one
 * object per problem and optionally a {"summary": {...}} line (see the pipeline schema). The
 * page shows the summary, a plot of pass@k against k computed here with the unbiased estimator
 * (eval_passk) from each problem's n_samples and n_samples_passed, an overview table, and per
 * problem its plan, visible tests and candidates (code, verdicts, score card, rank) in <details>
 * blocks. Everything that comes from the input is HTML-escaped, so candidate code such as
 * `</pre><script>` shows as text; anchors use record indices, never input text. Lines that do
 * not parse are listed in the page rather than failing the report. Records are read leniently:
 * a missing or mistyped field is shown as absent.
 */
#include "eval/eval.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Bytes of a malformed line quoted in the page. */
#define REPORT_QUOTE_MAX 160
/* Largest n_samples taken into the pass@k plot (larger values are listed as invalid). */
#define REPORT_SAMPLES_MAX 100000
/* Most points drawn on the pass@k curve; above this k is sampled evenly. */
#define REPORT_PLOT_POINTS 200

/* Plot geometry, in SVG user units. */
#define PLOT_W      640.0
#define PLOT_H      320.0
#define PLOT_LEFT   60.0
#define PLOT_RIGHT  20.0
#define PLOT_TOP    20.0
#define PLOT_BOTTOM 50.0

/* The page writer: appends to out and keeps the first failure, so rendering code need not
 * check every append. */
typedef struct writer {
    core_buf *out;
    int rc;
} writer;

typedef struct bad_line {
    size_t line_no;
    const char *why; /* static text */
    core_str text;   /* borrowed from the input */
} bad_line;

/* What the input holds: cJSON trees owned here, and malformed lines. */
typedef struct report_input {
    cJSON **records; /* (n_records) problem objects, owned */
    size_t n_records;
    size_t cap_records;
    cJSON *summary_line; /* the last {"summary": ...} line, owned, or NULL */
    bad_line *bad;       /* (n_bad) */
    size_t n_bad;
    size_t cap_bad;
} report_input;

static const char page_css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;"
    "max-width:70em;padding:0 1em;color:#222;background:#fff}"
    "h1{font-size:1.6em}h2{font-size:1.3em;border-bottom:1px solid #ddd;padding-bottom:.2em}"
    "h3{font-size:1.1em;margin-bottom:.3em}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ddd;padding:.2em .6em;text-align:left;vertical-align:top}"
    "th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "pre{background:#f6f8fa;border:1px solid #e1e4e8;padding:.6em;overflow:auto;"
    "font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:.9em;white-space:pre}"
    "details{margin:.3em 0}summary{cursor:pointer}"
    ".badge{display:inline-block;border-radius:.8em;padding:0 .6em;font-size:.85em;"
    "margin-right:.3em;color:#fff;background:#777}"
    ".pass{background:#1a7f37}.fail{background:#c62828}.warn{background:#b26a00}"
    ".chosen{background:#0b5cad}"
    ".problem{border:1px solid #e1e4e8;border-radius:6px;padding:.2em 1em .8em;margin:1em 0}"
    ".note{color:#666;font-size:.9em}.bad{color:#c62828}"
    "svg text{font-family:inherit;font-size:12px;fill:#222}";

/* ------------------------------------------------------------------------------------------ */
/* Writing                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void put_n(writer *w, const char *s, size_t len)
{
    if (w->rc == 0 && len > 0) {
        w->rc = core_buf_append(w->out, s, len);
    }
}

static void put(writer *w, const char *s)
{
    put_n(w, s, strlen(s));
}

static void putf(writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Short formatted pieces only (numbers, tags): longer text goes through put or put_esc. */
static void putf(writer *w, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    put_n(w, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Appends s HTML-escaped (text and attribute values alike). */
static void put_esc_n(writer *w, const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        case '\0':
            rep = "\xef\xbf\xbd"; /* U+FFFD: a NUL has no place in an HTML page */
            break;
        default:
            break;
        }
        if (rep != NULL) {
            put_n(w, s + start, i - start);
            put(w, rep);
            start = i + 1;
        }
    }
    put_n(w, s + start, len - start);
}

static void put_esc(writer *w, const char *s)
{
    put_esc_n(w, s, strlen(s));
}

static void put_pct(writer *w, double share)
{
    putf(w, "%.1f%%", share * 100.0);
}

/* ------------------------------------------------------------------------------------------ */
/* Reading records                                                                            */
/* ------------------------------------------------------------------------------------------ */

static const cJSON *get(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

static const char *get_str(const cJSON *obj, const char *key)
{
    const cJSON *item = get(obj, key);
    return cJSON_IsString(item) && item->valuestring != NULL ? item->valuestring : NULL;
}

static bool get_num(const cJSON *obj, const char *key, double *out)
{
    const cJSON *item = get(obj, key);
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble)) {
        return false;
    }
    *out = item->valuedouble;
    return true;
}

/* A count in 0..max, or false. */
static bool get_count(const cJSON *obj, const char *key, size_t max, size_t *out)
{
    double v = 0.0;
    if (!get_num(obj, key, &v) || v < 0.0 || v > (double)max || v != floor(v)) {
        return false;
    }
    *out = (size_t)v;
    return true;
}

/* 1 true, 0 false, -1 absent or not a boolean. */
static int get_bool(const cJSON *obj, const char *key)
{
    const cJSON *item = get(obj, key);
    if (!cJSON_IsBool(item)) {
        return -1;
    }
    return cJSON_IsTrue(item) ? 1 : 0;
}

static bool is_blank(core_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] != ' ' && s.ptr[i] != '\t' && s.ptr[i] != '\r') {
            return false;
        }
    }
    return true;
}

static int add_bad(report_input *in, size_t line_no, const char *why, core_str text)
{
    if (in->n_bad == in->cap_bad) {
        size_t cap = in->cap_bad == 0 ? 8 : in->cap_bad * 2;
        bad_line *grown = core_realloc(in->bad, cap * sizeof *grown);
        if (grown == NULL) {
            return CORE_ENOMEM;
        }
        in->bad = grown;
        in->cap_bad = cap;
    }
    in->bad[in->n_bad++] = (bad_line){line_no, why, text};
    return 0;
}

static int add_record(report_input *in, cJSON *obj)
{
    if (in->n_records == in->cap_records) {
        size_t cap = in->cap_records == 0 ? 16 : in->cap_records * 2;
        cJSON **grown = core_realloc(in->records, cap * sizeof(cJSON *)); /* NOLINT */
        if (grown == NULL) {
            return CORE_ENOMEM;
        }
        in->records = grown;
        in->cap_records = cap;
    }
    in->records[in->n_records++] = obj;
    return 0;
}

static void input_dispose(report_input *in)
{
    for (size_t i = 0; i < in->n_records; i++) {
        cJSON_Delete(in->records[i]);
    }
    core_free(in->records);
    cJSON_Delete(in->summary_line);
    core_free(in->bad);
    memset(in, 0, sizeof *in);
}

/* Splits text into lines and sorts each into a record, the summary or a malformed line.
 * Returns 0 or CORE_ENOMEM. */
static int input_read(report_input *in, core_str text)
{
    size_t line_no = 0;
    size_t pos = 0;
    while (pos < text.len) {
        const char *start = text.ptr + pos;
        const char *nl = memchr(start, '\n', text.len - pos);
        size_t len = nl != NULL ? (size_t)(nl - start) : text.len - pos;
        pos += len + (nl != NULL ? 1 : 0);
        line_no++;
        core_str line = {start, len};
        if (is_blank(line)) {
            continue;
        }
        const char *end = NULL;
        cJSON *obj = memchr(start, '\0', len) != NULL
                         ? NULL
                         : cJSON_ParseWithLengthOpts(start, len, &end, false);
        const char *why = NULL;
        if (obj != NULL && end != NULL && !is_blank((core_str){end, len - (size_t)(end - start)})) {
            why = "text after the JSON value";
        } else if (obj == NULL) {
            why = "not valid JSON";
        } else if (!cJSON_IsObject(obj)) {
            why = "not a JSON object";
        } else if (cJSON_IsObject(get(obj, "summary"))) {
            cJSON_Delete(in->summary_line);
            in->summary_line = obj;
            continue;
        } else if (get_str(obj, "task_id") == NULL) {
            why = "no task_id and no summary";
        } else {
            if (add_record(in, obj) < 0) {
                cJSON_Delete(obj);
                return CORE_ENOMEM;
            }
            continue;
        }
        cJSON_Delete(obj);
        if (add_bad(in, line_no, why, line) < 0) {
            return CORE_ENOMEM;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* pass@k from the records                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef struct passk_curve {
    size_t *n;     /* (n_used) samples per usable problem, owned */
    size_t *c;     /* (n_used) passing samples, owned */
    size_t n_used; /* problems with 0 < n_samples and n_samples_passed <= n_samples */
    size_t n_skipped;
    size_t k_max;   /* smallest n over the usable problems: every point averages them all */
    double *ks;     /* (n_points) k of each point, owned */
    double *values; /* (n_points) mean pass@k, owned */
    size_t n_points;
} passk_curve;

static void curve_dispose(passk_curve *cv)
{
    core_free(cv->n);
    core_free(cv->c);
    core_free(cv->ks);
    core_free(cv->values);
    memset(cv, 0, sizeof *cv);
}

static int curve_compute(passk_curve *cv, const report_input *in)
{
    memset(cv, 0, sizeof *cv);
    if (in->n_records == 0) {
        return 0;
    }
    cv->n = core_malloc(in->n_records * sizeof *cv->n);
    cv->c = core_malloc(in->n_records * sizeof *cv->c);
    if (cv->n == NULL || cv->c == NULL) {
        return CORE_ENOMEM;
    }
    for (size_t i = 0; i < in->n_records; i++) {
        size_t n = 0;
        size_t c = 0;
        if (!get_count(in->records[i], "n_samples", REPORT_SAMPLES_MAX, &n) ||
            !get_count(in->records[i], "n_samples_passed", REPORT_SAMPLES_MAX, &c) || n == 0 ||
            c > n) {
            cv->n_skipped++;
            continue;
        }
        cv->n[cv->n_used] = n;
        cv->c[cv->n_used] = c;
        cv->n_used++;
        if (cv->k_max == 0 || n < cv->k_max) {
            cv->k_max = n;
        }
    }
    if (cv->n_used == 0) {
        return 0;
    }
    size_t n_points = cv->k_max < REPORT_PLOT_POINTS ? cv->k_max : REPORT_PLOT_POINTS;
    cv->ks = core_malloc(n_points * sizeof *cv->ks);
    cv->values = core_malloc(n_points * sizeof *cv->values);
    if (cv->ks == NULL || cv->values == NULL) {
        return CORE_ENOMEM;
    }
    for (size_t i = 0; i < n_points; i++) {
        size_t k =
            n_points == cv->k_max
                ? i + 1
                : 1 + (size_t)llround((double)i * (double)(cv->k_max - 1) / (double)(n_points - 1));
        double v = 0.0;
        /* Cannot fail: 0 < k <= k_max <= n and c <= n for every problem used. */
        if (CORE_NEVER(eval_passk_mean(&v, cv->n, cv->c, cv->n_used, k, NULL) < 0)) {
            v = 0.0;
        }
        cv->ks[i] = (double)k;
        cv->values[i] = v;
    }
    cv->n_points = n_points;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Page sections                                                                              */
/* ------------------------------------------------------------------------------------------ */

static void put_badge(writer *w, const char *cls, const char *label)
{
    putf(w, "<span class=\"badge %s\">", cls);
    put_esc(w, label);
    put(w, "</span>");
}

static const char *verdict_class(const char *verdict)
{
    if (verdict == NULL) {
        return "";
    }
    if (strcmp(verdict, "passed") == 0) {
        return "pass";
    }
    if (strcmp(verdict, "failed") == 0 || strcmp(verdict, "error") == 0) {
        return "fail";
    }
    if (strcmp(verdict, "limit") == 0) {
        return "warn";
    }
    return "";
}

/* A table row per member of obj: scalars as text, nested values as compact JSON. */
static void put_members(writer *w, const cJSON *obj)
{
    const cJSON *item = NULL;
    cJSON_ArrayForEach(item, obj)
    {
        put(w, "<tr><th>");
        put_esc(w, item->string != NULL ? item->string : "");
        put(w, "</th><td class=\"num\">");
        if (cJSON_IsNumber(item)) {
            putf(w, "%.6g", item->valuedouble);
        } else if (cJSON_IsBool(item)) {
            put(w, cJSON_IsTrue(item) ? "true" : "false");
        } else if (cJSON_IsString(item) && item->valuestring != NULL) {
            put_esc(w, item->valuestring);
        } else if (cJSON_IsNull(item)) {
            put(w, "null");
        } else {
            char *json = cJSON_PrintUnformatted(item);
            if (json != NULL) {
                put_esc(w, json);
                cJSON_free(json);
            }
        }
        put(w, "</td></tr>");
    }
}

static void put_summary(writer *w, const report_input *in, const passk_curve *cv)
{
    const cJSON *sum = get(in->summary_line, "summary");
    put(w, "<h2>Summary</h2>\n<table>\n<tr><th></th><th>summary line</th>"
           "<th>computed from the records</th></tr>\n");

    /* Problems, then the shares; the right column recomputes what the records allow. */
    double v = 0.0;
    put(w, "<tr><th>problems</th><td class=\"num\">");
    if (get_num(sum, "problems", &v)) {
        putf(w, "%.0f", v);
    }
    putf(w, "</td><td class=\"num\">%zu</td></tr>\n", in->n_records);

    put(w, "<tr><th>samples per problem (n)</th><td class=\"num\">");
    if (get_num(sum, "n", &v)) {
        putf(w, "%.0f", v);
    }
    put(w, "</td><td class=\"num\">");
    if (cv->n_used > 0) {
        putf(w, "min %zu", cv->k_max);
    }
    put(w, "</td></tr>\n");

    const cJSON *pk = get(sum, "pass_at_k");
    const cJSON *item = NULL;
    bool has_pass1 = false;
    cJSON_ArrayForEach(item, pk)
    {
        if (!cJSON_IsNumber(item) || item->string == NULL) {
            continue;
        }
        put(w, "<tr><th>pass@");
        put_esc(w, item->string);
        put(w, "</th><td class=\"num\">");
        put_pct(w, item->valuedouble);
        put(w, "</td><td class=\"num\">");
        char *end = NULL;
        unsigned long k = strtoul(item->string, &end, 10);
        if (end != NULL && *end == '\0' && k >= 1 && k <= cv->k_max) {
            double mine = 0.0;
            if (eval_passk_mean(&mine, cv->n, cv->c, cv->n_used, (size_t)k, NULL) == 0) {
                put_pct(w, mine);
            }
        }
        has_pass1 = has_pass1 || strcmp(item->string, "1") == 0;
        put(w, "</td></tr>\n");
    }
    if (!has_pass1 && cv->n_points > 0) {
        put(w, "<tr><th>pass@1</th><td></td><td class=\"num\">");
        put_pct(w, cv->values[0]);
        put(w, "</td></tr>\n");
    }

    static const char *const shares[][2] = {{"ranked_top1", "ranked_pass"},
                                            {"oracle", "oracle_pass"}};
    static const char *const share_names[] = {"ranked top-1", "oracle (any candidate)"};
    for (size_t s = 0; s < 2; s++) {
        putf(w, "<tr><th>%s</th><td class=\"num\">", share_names[s]);
        if (get_num(sum, shares[s][0], &v)) {
            put_pct(w, v);
        }
        put(w, "</td><td class=\"num\">");
        size_t n_known = 0;
        size_t n_true = 0;
        for (size_t i = 0; i < in->n_records; i++) {
            int b = get_bool(in->records[i], shares[s][1]);
            n_known += b >= 0 ? 1 : 0;
            n_true += b > 0 ? 1 : 0;
        }
        if (n_known > 0) {
            put_pct(w, (double)n_true / (double)n_known);
            putf(w, " (%zu/%zu)", n_true, n_known);
        }
        put(w, "</td></tr>\n");
    }

    put(w, "<tr><th>seconds</th><td class=\"num\">");
    if (get_num(sum, "seconds", &v)) {
        putf(w, "%.1f", v);
    }
    put(w, "</td><td class=\"num\">");
    double ms_total = 0.0;
    double tokens = 0.0;
    for (size_t i = 0; i < in->n_records; i++) {
        double t = 0.0;
        if (get_num(get(in->records[i], "timings_ms"), "total", &t)) {
            ms_total += t;
        }
        if (get_num(in->records[i], "tokens", &t)) {
            tokens += t;
        }
    }
    if (in->n_records > 0) {
        putf(w, "%.1f (%.1f per problem)", ms_total / 1000.0,
             ms_total / 1000.0 / (double)in->n_records);
    }
    put(w, "</td></tr>\n<tr><th>tokens/s</th><td class=\"num\">");
    if (get_num(sum, "tokens_per_s", &v)) {
        putf(w, "%.1f", v);
    }
    put(w, "</td><td class=\"num\">");
    if (ms_total > 0.0) {
        putf(w, "%.1f", tokens / (ms_total / 1000.0));
    }
    put(w, "</td></tr>\n");

    const cJSON *stages = get(sum, "stage_seconds");
    cJSON_ArrayForEach(item, stages)
    {
        if (!cJSON_IsNumber(item) || item->string == NULL) {
            continue;
        }
        put(w, "<tr><th>");
        put_esc(w, item->string);
        putf(w, " seconds</th><td class=\"num\">%.1f</td><td></td></tr>\n", item->valuedouble);
    }
    put(w, "</table>\n");

    const cJSON *config = in->n_records > 0 ? get(in->records[0], "config") : NULL;
    if (cJSON_IsObject(config)) {
        put(w, "<details><summary>configuration (first record)</summary><table>");
        put_members(w, config);
        put(w, "</table></details>\n");
    }
}

static double plot_x(double k, double k_max)
{
    double inner = PLOT_W - PLOT_LEFT - PLOT_RIGHT;
    return k_max <= 1.0 ? PLOT_LEFT + inner / 2.0 : PLOT_LEFT + (k - 1.0) / (k_max - 1.0) * inner;
}

static double plot_y(double share)
{
    return PLOT_TOP + (1.0 - share) * (PLOT_H - PLOT_TOP - PLOT_BOTTOM);
}

/* A dashed horizontal reference line with a label above it, at the right end (right) or just
 * right of the y axis, so that two lines at the same height keep readable labels. */
static void put_plot_ref(writer *w, double share, const char *label, const char *color, bool right)
{
    double y = plot_y(share);
    putf(w,
         "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
         "stroke-dasharray=\"6 4\"/>",
         PLOT_LEFT, y, PLOT_W - PLOT_RIGHT, y, color);
    putf(w, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"%s\">%s ",
         right ? PLOT_W - PLOT_RIGHT : PLOT_LEFT + 6.0, y - 4.0, right ? "end" : "start", color,
         label);
    put_pct(w, share);
    put(w, "</text>\n");
}

static void put_plot(writer *w, const report_input *in, const passk_curve *cv)
{
    put(w, "<h2>pass@k</h2>\n");
    if (cv->n_points == 0) {
        put(w, "<p class=\"note\">No record has usable sample counts (n_samples, "
               "n_samples_passed), so there is no pass@k curve.</p>\n");
        return;
    }
    double k_max = (double)cv->k_max;
    putf(w,
         "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
         "viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"pass@k against k\">\n",
         PLOT_W, PLOT_H, PLOT_W, PLOT_H);
    /* Grid and y ticks every 25%. */
    for (int i = 0; i <= 4; i++) {
        double share = i / 4.0;
        double y = plot_y(share);
        putf(w,
             "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
             "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%d%%</text>\n",
             PLOT_LEFT, y, PLOT_W - PLOT_RIGHT, y, PLOT_LEFT - 6.0, y + 4.0, i * 25);
    }
    /* x ticks: at most about 10 labels. */
    size_t step = cv->k_max <= 10 ? 1 : (cv->k_max + 9) / 10;
    for (size_t k = 1; k <= cv->k_max; k += step) {
        double x = plot_x((double)k, k_max);
        putf(w,
             "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>"
             "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%zu</text>\n",
             x, PLOT_H - PLOT_BOTTOM, x, PLOT_H - PLOT_BOTTOM + 5.0, x, PLOT_H - PLOT_BOTTOM + 18.0,
             k);
    }
    /* Axes and their labels. */
    putf(w,
         "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>"
         "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>\n",
         PLOT_LEFT, PLOT_TOP, PLOT_LEFT, PLOT_H - PLOT_BOTTOM, PLOT_LEFT, PLOT_H - PLOT_BOTTOM,
         PLOT_W - PLOT_RIGHT, PLOT_H - PLOT_BOTTOM);
    putf(w, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">k (samples drawn)</text>\n",
         (PLOT_LEFT + PLOT_W - PLOT_RIGHT) / 2.0, PLOT_H - 12.0);
    putf(w,
         "<text x=\"14\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\">"
         "pass@k</text>\n",
         (PLOT_TOP + PLOT_H - PLOT_BOTTOM) / 2.0, (PLOT_TOP + PLOT_H - PLOT_BOTTOM) / 2.0);

    /* Reference lines from the records: the ranked choice and the oracle. */
    size_t n_ranked = 0;
    size_t n_oracle = 0;
    size_t n_known = 0;
    for (size_t i = 0; i < in->n_records; i++) {
        int r = get_bool(in->records[i], "ranked_pass");
        int o = get_bool(in->records[i], "oracle_pass");
        if (r >= 0 && o >= 0) {
            n_known++;
            n_ranked += (size_t)r;
            n_oracle += (size_t)o;
        }
    }
    if (n_known > 0) {
        put_plot_ref(w, (double)n_oracle / (double)n_known, "oracle", "#b26a00", true);
        put_plot_ref(w, (double)n_ranked / (double)n_known, "ranked top-1", "#0b5cad", false);
    }

    put(w, "<polyline fill=\"none\" stroke=\"#1a7f37\" stroke-width=\"2\" points=\"");
    for (size_t i = 0; i < cv->n_points; i++) {
        putf(w, "%s%.1f,%.1f", i > 0 ? " " : "", plot_x(cv->ks[i], k_max), plot_y(cv->values[i]));
    }
    put(w, "\"/>\n");
    for (size_t i = 0; i < cv->n_points; i++) {
        putf(w, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1a7f37\"><title>pass@%.0f = ",
             plot_x(cv->ks[i], k_max), plot_y(cv->values[i]), cv->ks[i]);
        put_pct(w, cv->values[i]);
        put(w, "</title></circle>\n");
    }
    put(w, "</svg>\n");
    putf(w,
         "<p class=\"note\"><span style=\"color:#1a7f37\">&#9473; pass@k</span>: unbiased "
         "pass@k (Chen et al. 2021) of the raw first-round samples, "
         "averaged over %zu problems, for k = 1..%zu (the smallest n_samples of those "
         "problems).",
         cv->n_used, cv->k_max);
    if (cv->n_skipped > 0) {
        putf(w, " %zu records without usable sample counts are left out.", cv->n_skipped);
    }
    put(w, "</p>\n");
}

static void put_overview(writer *w, const report_input *in)
{
    put(w, "<h2>Problems</h2>\n<table>\n<tr><th>task</th><th>language</th><th>samples passed</th>"
           "<th>pass@1</th><th>ranked</th><th>oracle</th><th>seconds</th></tr>\n");
    for (size_t i = 0; i < in->n_records; i++) {
        const cJSON *r = in->records[i];
        putf(w, "<tr><td><a href=\"#p%zu\">", i);
        put_esc(w, get_str(r, "task_id"));
        put(w, "</a></td><td>");
        const char *lang = get_str(r, "language");
        put_esc(w, lang != NULL ? lang : "");
        put(w, "</td><td class=\"num\">");
        size_t n = 0;
        size_t c = 0;
        bool counts = get_count(r, "n_samples", REPORT_SAMPLES_MAX, &n) &&
                      get_count(r, "n_samples_passed", REPORT_SAMPLES_MAX, &c) && n > 0 && c <= n;
        if (counts) {
            putf(w, "%zu/%zu", c, n);
        }
        put(w, "</td><td class=\"num\">");
        if (counts) {
            put_pct(w, (double)c / (double)n);
        }
        static const char *const keys[] = {"ranked_pass", "oracle_pass"};
        for (size_t j = 0; j < 2; j++) {
            put(w, "</td><td>");
            int b = get_bool(r, keys[j]);
            if (b >= 0) {
                put_badge(w, b ? "pass" : "fail", b ? "pass" : "fail");
            }
        }
        put(w, "</td><td class=\"num\">");
        double ms = 0.0;
        if (get_num(get(r, "timings_ms"), "total", &ms)) {
            putf(w, "%.1f", ms / 1000.0);
        }
        put(w, "</td></tr>\n");
    }
    put(w, "</table>\n");
}

static void put_run(writer *w, const char *label, const cJSON *run)
{
    if (!cJSON_IsObject(run)) {
        return;
    }
    const char *verdict = get_str(run, "verdict");
    putf(w, "<tr><th>%s</th><td>", label);
    if (verdict != NULL) {
        put_badge(w, verdict_class(verdict), verdict);
    }
    double run_n = 0.0;
    double passed = 0.0;
    if (get_num(run, "run", &run_n) && get_num(run, "passed", &passed)) {
        putf(w, " %.0f/%.0f tests passed", passed, run_n);
    }
    const char *msg = get_str(run, "message");
    if (msg != NULL && msg[0] != '\0') {
        put(w, "<pre>");
        put_esc(w, msg);
        put(w, "</pre>");
    }
    put(w, "</td></tr>\n");
}

static void put_candidate(writer *w, const cJSON *cand, size_t index, bool chosen)
{
    const cJSON *visible = get(cand, "visible");
    const cJSON *hidden = get(cand, "hidden");
    const cJSON *score = get(cand, "score");
    putf(w, "<details%s><summary>candidate %zu", chosen ? " open" : "", index);
    double v = 0.0;
    if (get_num(cand, "round", &v)) {
        putf(w, " &middot; round %.0f", v);
    }
    if (get_num(score, "rank", &v)) {
        putf(w, " &middot; rank %.0f ", v);
    }
    put(w, " ");
    if (chosen) {
        put_badge(w, "chosen", "chosen");
    }
    const char *vv = get_str(visible, "verdict");
    if (vv != NULL) {
        put(w, "<span class=\"badge ");
        put(w, verdict_class(vv));
        put(w, "\">visible ");
        put_esc(w, vv);
        put(w, "</span>");
    }
    const char *hv = get_str(hidden, "verdict");
    if (hv != NULL) {
        put(w, "<span class=\"badge ");
        put(w, verdict_class(hv));
        put(w, "\">hidden ");
        put_esc(w, hv);
        put(w, "</span>");
    }
    put(w, "</summary>\n<pre><code>");
    const char *code = get_str(cand, "code");
    put_esc(w, code != NULL ? code : "");
    put(w, "</code></pre>\n<table>\n");
    put_run(w, "visible tests", visible);
    put_run(w, "hidden tests", hidden);
    static const char *const scalars[] = {"n_tokens", "logprob_mean", "parses"};
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
        const cJSON *item = get(cand, scalars[i]);
        if (item != NULL) {
            putf(w, "<tr><th>%s</th><td>", scalars[i]);
            if (cJSON_IsNumber(item)) {
                putf(w, "%.6g", item->valuedouble);
            } else if (cJSON_IsBool(item)) {
                put(w, cJSON_IsTrue(item) ? "true" : "false");
            }
            put(w, "</td></tr>\n");
        }
    }
    put(w, "</table>\n");
    const cJSON *card = get(cand, "card");
    if (cJSON_IsObject(card) || cJSON_IsObject(score)) {
        put(w, "<table><tr><th colspan=\"2\">score card</th></tr>");
        if (cJSON_IsObject(card)) {
            put_members(w, card);
        }
        if (cJSON_IsObject(score)) {
            put(w, "<tr><th colspan=\"2\">scores</th></tr>");
            put_members(w, score);
        }
        put(w, "</table>\n");
    }
    put(w, "</details>\n");
}

static void put_problem(writer *w, const cJSON *r, size_t index)
{
    putf(w, "<section class=\"problem\" id=\"p%zu\">\n<h3>", index);
    put_esc(w, get_str(r, "task_id"));
    put(w, "</h3>\n<p>");
    static const char *const keys[][2] = {{"ranked_pass", "ranked"}, {"oracle_pass", "oracle"}};
    for (size_t j = 0; j < 2; j++) {
        int b = get_bool(r, keys[j][0]);
        if (b >= 0) {
            putf(w, "<span class=\"badge %s\">%s %s</span>", b ? "pass" : "fail", keys[j][1],
                 b ? "pass" : "fail");
        }
    }
    size_t n = 0;
    size_t c = 0;
    if (get_count(r, "n_samples", REPORT_SAMPLES_MAX, &n) &&
        get_count(r, "n_samples_passed", REPORT_SAMPLES_MAX, &c)) {
        putf(w, " %zu of %zu samples pass the hidden tests.", c, n);
    }
    const cJSON *t = get(r, "timings_ms");
    double ms = 0.0;
    if (cJSON_IsObject(t)) {
        put(w, " Time:");
        const cJSON *item = NULL;
        cJSON_ArrayForEach(item, t)
        {
            if (cJSON_IsNumber(item) && item->string != NULL) {
                put(w, " ");
                put_esc(w, item->string);
                putf(w, " %.2f s", item->valuedouble / 1000.0);
            }
        }
        put(w, ".");
    }
    if (get_num(r, "tokens", &ms)) {
        putf(w, " %.0f tokens.", ms);
    }
    put(w, "</p>\n");

    const char *plan = get_str(r, "plan");
    if (plan != NULL && plan[0] != '\0') {
        put(w, "<details open><summary>plan</summary><pre>");
        put_esc(w, plan);
        put(w, "</pre></details>\n");
    } else {
        put(w, "<p class=\"note\">No plan.</p>\n");
    }
    const char *vt = get_str(r, "visible_tests");
    const char *vsrc = get_str(r, "visible_source");
    if (vt != NULL || vsrc != NULL) {
        put(w, "<details><summary>visible tests");
        if (vsrc != NULL) {
            put(w, " (");
            put_esc(w, vsrc);
            put(w, ")");
        }
        put(w, "</summary><pre>");
        put_esc(w, vt != NULL ? vt : "");
        put(w, "</pre></details>\n");
    }

    const cJSON *cands = get(r, "candidates");
    double chosen = -1.0;
    if (!get_num(r, "chosen", &chosen)) {
        chosen = -1.0;
    }
    size_t n_cands = cJSON_IsArray(cands) ? (size_t)cJSON_GetArraySize(cands) : 0;
    putf(w, "<p>%zu candidates%s</p>\n", n_cands, chosen < 0.0 ? "; none chosen" : "");
    const cJSON *cand = NULL;
    size_t i = 0;
    cJSON_ArrayForEach(cand, cands)
    {
        put_candidate(w, cand, i, chosen >= 0.0 && (double)i == chosen);
        i++;
    }
    put(w, "</section>\n");
}

static void put_bad_lines(writer *w, const report_input *in)
{
    if (in->n_bad == 0) {
        return;
    }
    putf(w, "<h2 class=\"bad\">Lines that were not read (%zu)</h2>\n<ul>\n", in->n_bad);
    for (size_t i = 0; i < in->n_bad; i++) {
        const bad_line *b = &in->bad[i];
        putf(w, "<li>line %zu: %s: <code>", b->line_no, b->why);
        size_t len = b->text.len < REPORT_QUOTE_MAX ? b->text.len : REPORT_QUOTE_MAX;
        put_esc_n(w, b->text.ptr, len);
        put(w, len < b->text.len ? "&hellip;</code></li>\n" : "</code></li>\n");
    }
    put(w, "</ul>\n");
}

/* ------------------------------------------------------------------------------------------ */
/* Entry point                                                                                */
/* ------------------------------------------------------------------------------------------ */

int eval_report_html(core_buf *out, core_str results_jsonl, core_err *err)
{
    size_t len0 = out->len;
    report_input in = {0};
    passk_curve cv = {0};
    writer w = {out, 0};
    int rc = input_read(&in, results_jsonl);
    if (rc == 0) {
        rc = curve_compute(&cv, &in);
    }
    if (rc < 0) {
        goto done;
    }
    put(&w, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>kiln eval report</title>\n<style>");
    put(&w, page_css);
    put(&w, "</style>\n</head>\n<body>\n<h1>kiln eval report</h1>\n");
    if (in.n_records == 0 && in.summary_line == NULL) {
        put(&w, "<p class=\"note\">No results: the input holds no problem records.</p>\n");
    }
    put_bad_lines(&w, &in);
    if (in.n_records > 0 || in.summary_line != NULL) {
        put_summary(&w, &in, &cv);
        put_plot(&w, &in, &cv);
    }
    if (in.n_records > 0) {
        put_overview(&w, &in);
        put(&w, "<h2>Details</h2>\n");
        for (size_t i = 0; i < in.n_records; i++) {
            put_problem(&w, in.records[i], i);
        }
    }
    put(&w, "</body>\n</html>\n");
    rc = w.rc;
done:
    curve_dispose(&cv);
    input_dispose(&in);
    if (rc < 0) {
        /* Leave out as it was; the NUL is there since len0 <= cap - 1 or ptr is NULL. */
        out->len = len0;
        if (out->ptr != NULL) {
            out->ptr[len0] = '\0';
        }
        return core_err_set(err, CORE_ENOMEM, "eval report: out of memory");
    }
    return 0;
}
