/*
 * `kiln eval merge SHARD.jsonl...`: joins the results files that `kiln eval FILE --shard I/N`
 * wrote for every I into the results, summary and report that one unsharded run would have
 * given (eval_results_merge does the work: it checks that every shard is there once with one
 * configuration, puts the records back in task order and sums them as the run does). Also the
 * helpers `kiln eval` shares with it: --shard and -k parsing and printing a summary.
 */
#include "cli/eval_int.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"

/* Largest pass@k list of -k. */
#define MERGE_K_MAX 16

bool cli_eval_parse_shard(const char *arg, eval_shard *out)
{
    core_err err = {0};
    if (eval_shard_parse(out, core_str_c(arg), &err) < 0) {
        fprintf(stderr, "kiln eval: --shard: %s\n", err.msg);
        return false;
    }
    return true;
}

bool cli_eval_parse_ks(const char *arg, size_t *ks, size_t *n_ks, size_t n_max)
{
    *n_ks = 0;
    const char *p = arg;
    while (*p) {
        char *end = NULL;
        errno = 0;
        unsigned long v = strtoul(p, &end, 10);
        if (errno || end == p || v == 0 || *n_ks == n_max || (*end && *end != ',')) {
            fprintf(stderr, "kiln eval: -k: expected a list like 1,10, got '%s'\n", arg);
            return false;
        }
        ks[(*n_ks)++] = v;
        p = *end ? end + 1 : end;
    }
    return *n_ks > 0;
}

void cli_eval_summary_print(const char *summary, bool json)
{
    if (json) {
        printf("%s\n", summary);
        return;
    }
    cJSON *s = cJSON_Parse(summary);
    printf("problems %zu, n %zu, refused %zu\n",
           (size_t)cJSON_GetNumberValue(cJSON_GetObjectItem(s, "problems")),
           (size_t)cJSON_GetNumberValue(cJSON_GetObjectItem(s, "n")),
           (size_t)cJSON_GetNumberValue(cJSON_GetObjectItem(s, "refused")));
    const cJSON *kv = NULL;
    cJSON_ArrayForEach(kv, cJSON_GetObjectItem(s, "pass_at_k"))
    {
        printf("pass@%s      %.3f\n", kv->string, kv->valuedouble);
    }
    printf("ranked top-1 %.3f\noracle       %.3f\nseconds      %.1f\n",
           cJSON_GetNumberValue(cJSON_GetObjectItem(s, "ranked_top1")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(s, "oracle")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(s, "seconds")));
    cJSON_Delete(s);
}

static void merge_usage(FILE *f)
{
    fprintf(f, "usage: kiln eval merge SHARD.jsonl... [-k 1,10] [--out FILE] [--json]\n"
               "                       [--report FILE.html]\n\n"
               "Joins the results files of `kiln eval TASKS --shard I/N` for I = 0..N-1 into the\n"
               "summary (and, with --out, the results file; with --report, the HTML report) that\n"
               "one run over all of TASKS gives. Every shard must be there once, finished, with\n"
               "one configuration.\n"
               "  -k LIST            pass@k values (default 1,10), as given to the shards\n"
               "  --out FILE         write the merged results (records in task order, summary)\n"
               "  --json             print the summary as one JSON object (last line)\n"
               "  --report FILE      write an HTML report of the merged results\n");
}

static int write_file(const char *path, const core_buf *b, core_err *err)
{
    FILE *o = fopen(path, "wb");
    if (!o) {
        return core_err_set(err, CORE_EIO, "%s: %s", path, strerror(errno));
    }
    bool ok = b->len == 0 || fwrite(b->ptr, 1, b->len, o) == b->len;
    if (fclose(o) != 0 || !ok) {
        return core_err_set(err, CORE_EIO, "%s: cannot write", path);
    }
    return 0;
}

int cli_cmd_eval_merge(int argc, char **argv)
{
    enum { O_OUT = 256, O_JSON, O_REPORT };
    static const struct option longopts[] = {{"out", required_argument, NULL, O_OUT},
                                             {"json", no_argument, NULL, O_JSON},
                                             {"report", required_argument, NULL, O_REPORT},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    size_t ks[MERGE_K_MAX] = {1, 10};
    size_t n_ks = 2;
    const char *out_path = NULL;
    const char *report_path = NULL;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (!cli_eval_parse_ks(optarg, ks, &n_ks, MERGE_K_MAX)) {
                return CLI_EXIT_BAD;
            }
            break;
        case O_OUT:
            out_path = optarg;
            break;
        case O_JSON:
            json = true;
            break;
        case O_REPORT:
            report_path = optarg;
            break;
        case 'h':
            merge_usage(stdout);
            return CLI_EXIT_OK;
        default:
            merge_usage(stderr);
            return CLI_EXIT_BAD;
        }
    }
    size_t n_files = (size_t)(argc - optind);
    if (n_files == 0) {
        merge_usage(stderr);
        return CLI_EXIT_BAD;
    }
    core_err err = {0};
    core_buf *bufs = core_calloc(n_files, sizeof(*bufs));
    core_str *texts = core_calloc(n_files, sizeof(*texts));
    core_buf records = {0};
    core_buf summary = {0};
    core_buf html = {0};
    int status = CLI_EXIT_BAD;
    if (!bufs || !texts) {
        fprintf(stderr, "kiln eval merge: out of memory\n");
        goto done;
    }
    for (size_t f = 0; f < n_files; f++) {
        const char *path = argv[optind + (int)f];
        FILE *in = fopen(path, "rb");
        if (!in) {
            fprintf(stderr, "kiln eval merge: %s: %s\n", path, strerror(errno));
            goto done;
        }
        int rc = cli_read_all(in, &bufs[f], &err);
        fclose(in);
        if (rc < 0) {
            status = cli_fail(&err);
            goto done;
        }
        texts[f] = (core_str){bufs[f].ptr ? bufs[f].ptr : "", bufs[f].len};
    }
    if (eval_results_merge(&records, &summary, texts, (const char *const *)(argv + optind), n_files,
                           ks, n_ks, &err) < 0 ||
        (out_path && write_file(out_path, &records, &err) < 0) ||
        (report_path && (eval_report_html(&html, (core_str){records.ptr, records.len}, &err) < 0 ||
                         write_file(report_path, &html, &err) < 0))) {
        status = cli_fail(&err);
        goto done;
    }
    cli_eval_summary_print(summary.ptr, json);
    status = CLI_EXIT_OK;

done:
    if (bufs) {
        for (size_t f = 0; f < n_files; f++) {
            core_buf_dispose(&bufs[f]);
        }
    }
    core_free(bufs);
    core_free(texts);
    core_buf_dispose(&records);
    core_buf_dispose(&summary);
    core_buf_dispose(&html);
    return status;
}
