/*
 * `kiln run`: load a model, tokenize a prompt (optionally in the model's chat template),
 * process it in one batch, then sample and stream tokens to stdout until an end-of-generation
 * token, a stop string or the token limit. Output is held back only while it could still be
 * the start of a stop string.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen.h"

#define RUN_MAX_STOPS 8

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: kiln run [-m MODEL] (-p PROMPT | -f FILE) [options]\n\n"
            "  -m, --model PATH      GGUF model (default: the embedded SmolLM2-135M-Instruct)\n"
            "  -p, --prompt TEXT     prompt text\n"
            "  -f, --file PATH       read the prompt from a file ('-': standard input)\n"
            "  -n, --n-predict N     tokens to generate (default 128)\n"
            "      --chat            wrap the prompt in the model's chat template\n"
            "      --system TEXT     system message for --chat\n"
            "      --temp T          temperature (default 0: greedy)\n"
            "      --top-k K         keep the K most likely tokens (default 40; 0: all)\n"
            "      --top-p P         nucleus sampling mass (default 0.95)\n"
            "      --min-p P         drop tokens below P x the best one (default 0.05)\n"
            "      --repeat-penalty R  penalty for recent tokens (default 1: off)\n"
            "      --seed S          random seed (default 0), makes sampling reproducible\n"
            "      --stop TEXT       stop when TEXT appears (up to %d times)\n"
            "  -t, --threads N       compute threads (default 1)\n"
            "  -c, --ctx N           context length (default: prompt + n-predict)\n"
            "      --device D        cpu, cuda or auto (default: cuda when a GPU is present)\n"
            "      --no-fuse         CUDA: one kernel per operation (to measure fusion)\n"
            "      --kernels K       CPU kernels: ref, generic, avx2, avx512, amx (default best)\n"
            "      --stats           print timing to stderr at the end\n"
            "  -v, --verbose         log loading details to stderr\n",
            RUN_MAX_STOPS);
}

typedef struct run_args {
    const char *model;
    const char *prompt;
    const char *file;
    const char *system;
    size_t n_predict;
    bool chat;
    gen_sampler_options sampling;
    const char *stops[RUN_MAX_STOPS];
    size_t n_stops;
    size_t n_threads;
    size_t n_ctx;
    bool stats;
    bool verbose;
    int device;
    bool no_fuse;
    int kernels; /* kern_backend_kind */
} run_args;

static int parse_args(run_args *a, int argc, char **argv)
{
    enum {
        OPT_CHAT = 256,
        OPT_SYSTEM,
        OPT_TEMP,
        OPT_TOPK,
        OPT_TOPP,
        OPT_MINP,
        OPT_REP,
        OPT_SEED,
        OPT_STOP,
        OPT_STATS,
        OPT_DEVICE,
        OPT_NO_FUSE,
        OPT_KERNELS
    };
    static const struct option longs[] = {{"model", required_argument, NULL, 'm'},
                                          {"prompt", required_argument, NULL, 'p'},
                                          {"file", required_argument, NULL, 'f'},
                                          {"n-predict", required_argument, NULL, 'n'},
                                          {"chat", no_argument, NULL, OPT_CHAT},
                                          {"system", required_argument, NULL, OPT_SYSTEM},
                                          {"temp", required_argument, NULL, OPT_TEMP},
                                          {"top-k", required_argument, NULL, OPT_TOPK},
                                          {"top-p", required_argument, NULL, OPT_TOPP},
                                          {"min-p", required_argument, NULL, OPT_MINP},
                                          {"repeat-penalty", required_argument, NULL, OPT_REP},
                                          {"seed", required_argument, NULL, OPT_SEED},
                                          {"stop", required_argument, NULL, OPT_STOP},
                                          {"threads", required_argument, NULL, 't'},
                                          {"ctx", required_argument, NULL, 'c'},
                                          {"stats", no_argument, NULL, OPT_STATS},
                                          {"device", required_argument, NULL, OPT_DEVICE},
                                          {"no-fuse", no_argument, NULL, OPT_NO_FUSE},
                                          {"kernels", required_argument, NULL, OPT_KERNELS},
                                          {"verbose", no_argument, NULL, 'v'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof(*a));
    a->n_predict = 128;
    a->n_threads = 1;
    a->device = GEN_DEVICE_AUTO;
    a->kernels = KERN_BACKEND_KIND_BEST;
    a->sampling = gen_sampler_options_default();
    a->sampling.temp = 0.0f;
    int c;
    size_t v = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:p:f:n:t:c:vh", longs, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm':
            a->model = optarg;
            break;
        case 'p':
            a->prompt = optarg;
            break;
        case 'f':
            a->file = optarg;
            break;
        case 'n':
            ok = cli_parse_size("--n-predict", optarg, &a->n_predict);
            break;
        case 't':
            ok = cli_parse_size("--threads", optarg, &a->n_threads);
            break;
        case 'c':
            ok = cli_parse_size("--ctx", optarg, &a->n_ctx);
            break;
        case OPT_CHAT:
            a->chat = true;
            break;
        case OPT_SYSTEM:
            a->system = optarg;
            break;
        case OPT_TEMP:
            ok = cli_parse_float("--temp", optarg, &a->sampling.temp);
            break;
        case OPT_TOPK:
            ok = cli_parse_size("--top-k", optarg, &v);
            a->sampling.top_k = (int32_t)v;
            break;
        case OPT_TOPP:
            ok = cli_parse_float("--top-p", optarg, &a->sampling.top_p);
            break;
        case OPT_MINP:
            ok = cli_parse_float("--min-p", optarg, &a->sampling.min_p);
            break;
        case OPT_REP:
            ok = cli_parse_float("--repeat-penalty", optarg, &a->sampling.repeat_penalty);
            break;
        case OPT_SEED:
            ok = cli_parse_size("--seed", optarg, &v);
            a->sampling.seed = v;
            break;
        case OPT_STOP:
            if (a->n_stops == RUN_MAX_STOPS || optarg[0] == '\0') {
                fprintf(stderr, "kiln: --stop: at most %d non-empty stop strings\n", RUN_MAX_STOPS);
                ok = false;
            } else {
                a->stops[a->n_stops++] = optarg;
            }
            break;
        case OPT_STATS:
            a->stats = true;
            break;
        case OPT_DEVICE:
            ok = cli_parse_device(optarg, &a->device);
            break;
        case OPT_NO_FUSE:
            a->no_fuse = true;
            break;
        case OPT_KERNELS:
            ok = cli_parse_kernels(optarg, &a->kernels);
            break;
        case 'v':
            a->verbose = true;
            break;
        case 'h':
            run_usage(stdout);
            exit(CLI_EXIT_OK);
        default:
            ok = false;
            break;
        }
        if (!ok) {
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kiln run: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!a->prompt == !a->file) {
        fprintf(stderr, "kiln run: give exactly one of -p PROMPT or -f FILE\n");
        return -1;
    }
    if (a->n_threads == 0) {
        fprintf(stderr, "kiln run: --threads must be at least 1\n");
        return -1;
    }
    return 0;
}

/* Length of the longest suffix of s that is a proper prefix of a stop string. */
static size_t held_back(const core_buf *s, const run_args *a)
{
    size_t hold = 0;
    for (size_t i = 0; i < a->n_stops; i++) {
        size_t n = strlen(a->stops[i]);
        for (size_t k = n - 1; k > hold; k--) {
            if (k <= s->len && memcmp(s->ptr + s->len - k, a->stops[i], k) == 0) {
                hold = k;
                break;
            }
        }
    }
    return hold;
}

/* Position of the first stop string in s, or s->len. */
static size_t find_stop(const core_buf *s, const run_args *a)
{
    size_t best = s->len;
    for (size_t i = 0; i < a->n_stops; i++) {
        const char *hit = strstr(s->ptr, a->stops[i]);
        if (hit && (size_t)(hit - s->ptr) < best) {
            best = (size_t)(hit - s->ptr);
        }
    }
    return best;
}

int cli_cmd_run(int argc, char **argv)
{
    run_args a;
    if (parse_args(&a, argc, argv) < 0) {
        run_usage(stderr);
        return CLI_EXIT_BAD;
    }
    core_err err = {0};
    core_log log = cli_log_stderr(a.verbose);
    gen_model *model = NULL;
    gen_ctx *ctx = NULL;
    gen_sampler *sampler = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    core_buf prompt = {0};
    core_buf text = {0};
    core_buf out = {0};
    int exit_code = CLI_EXIT_BAD;
    uint64_t t0 = core_time_ns();

    gen_model_options mo = gen_model_options_default();
    mo.log = &log;
    mo.kernels = (kern_backend_kind)a.kernels;
    if (cli_model_load(&model, cli_model_path(a.model), &mo, a.device, &err) < 0) {
        goto done;
    }
    if (a.file) {
        FILE *f = strcmp(a.file, "-") == 0 ? stdin : fopen(a.file, "rb");
        if (!f) {
            core_err_set(&err, CORE_ENOTFOUND, "open %s: no such file", a.file);
            goto done;
        }
        int rc = cli_read_all(f, &text, &err);
        if (f != stdin) {
            fclose(f);
        }
        if (rc < 0) {
            goto done;
        }
    } else if (core_buf_append(&text, a.prompt, strlen(a.prompt)) < 0) {
        goto done;
    }
    if (a.chat) {
        if (gen_model_chat_apply(model, core_str_c(a.system), (core_str){text.ptr, text.len},
                                 &prompt, &err) < 0) {
            goto done;
        }
    } else if (core_buf_append(&prompt, text.ptr, text.len) < 0) {
        goto done;
    }
    if (gen_model_tokenize(model, (core_str){prompt.ptr, prompt.len}, true, a.chat, &ids, &n_ids,
                           &err) < 0) {
        goto done;
    }
    if (n_ids == 0) {
        core_err_set(&err, CORE_EINVAL, "run: the prompt is empty");
        goto done;
    }
    gen_ctx_options co = gen_ctx_options_default();
    co.n_threads = a.n_threads;
    co.no_fuse = a.no_fuse;
    co.n_ctx = a.n_ctx ? a.n_ctx : n_ids + a.n_predict + 1;
    co.n_batch_max = n_ids < 512 ? n_ids : 512;
    if (gen_ctx_new(&ctx, model, &co, &err) < 0 ||
        gen_sampler_new(&sampler, &a.sampling, gen_model_n_vocab(model), &err) < 0) {
        goto done;
    }
    uint64_t t_prompt = core_time_ns();
    gen_batch b = {ids, NULL, NULL, n_ids};
    if (gen_ctx_decode(ctx, &b, &err) < 0) {
        goto done;
    }
    uint64_t t_gen = core_time_ns();
    uint64_t t_first = 0;
    size_t n_gen = 0;
    size_t printed = 0;
    bool stopped = false;
    for (size_t i = 0; i < n_ids; i++) {
        gen_sampler_accept(sampler, ids[i]);
    }
    while (n_gen < a.n_predict && !stopped) {
        int32_t tok = 0;
        if (gen_sampler_sample(sampler, gen_ctx_logits(ctx, 0), NULL, &tok, &err) < 0) {
            goto done;
        }
        if (n_gen == 0) {
            t_first = core_time_ns();
        }
        n_gen++;
        if (gen_model_token_is_eog(model, tok)) {
            break;
        }
        gen_sampler_accept(sampler, tok);
        core_str piece = gen_model_token_piece(model, tok, false);
        if (core_buf_append(&out, piece.ptr, piece.len) < 0) {
            core_err_set(&err, CORE_ENOMEM, "run: out of memory");
            goto done;
        }
        size_t stop_at = find_stop(&out, &a);
        size_t upto = stop_at < out.len ? stop_at : out.len - held_back(&out, &a);
        stopped = stop_at < out.len;
        if (upto > printed) {
            fwrite(out.ptr + printed, 1, upto - printed, stdout);
            fflush(stdout);
            printed = upto;
        }
        if (stopped || n_gen == a.n_predict) {
            break;
        }
        gen_batch next = {&tok, NULL, NULL, 1};
        if (gen_ctx_decode(ctx, &next, &err) < 0) {
            goto done;
        }
    }
    if (!stopped && out.len > printed) {
        fwrite(out.ptr + printed, 1, out.len - printed, stdout);
    }
    if (isatty(STDOUT_FILENO) || out.len == 0 || out.ptr[out.len - 1] != '\n') {
        fputc('\n', stdout);
    }
    if (a.stats) {
        uint64_t t_end = core_time_ns();
        double pp_s = (double)(t_gen - t_prompt) / 1e9;
        double tg_s = (double)(t_end - t_gen) / 1e9;
        fprintf(stderr,
                "kiln: %s\nkiln: prompt %zu tokens in %.1f ms (%.1f tok/s); generated %zu tokens "
                "in %.1f ms (%.1f tok/s); first token after %.1f ms from start\n",
                gen_model_desc(model), n_ids, pp_s * 1e3, (double)n_ids / pp_s, n_gen, tg_s * 1e3,
                tg_s > 0 ? (double)n_gen / tg_s : 0.0,
                (double)((t_first ? t_first : t_end) - t0) / 1e6);
    }
    exit_code = CLI_EXIT_OK;
done:
    if (exit_code != CLI_EXIT_OK) {
        cli_fail(&err);
    }
    core_free(ids);
    core_buf_dispose(&prompt);
    core_buf_dispose(&text);
    core_buf_dispose(&out);
    gen_sampler_free(sampler);
    gen_ctx_free(ctx);
    gen_model_free(model);
    return exit_code;
}
