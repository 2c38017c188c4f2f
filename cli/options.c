/*
 * The options every model command shares, parsed in one place: the model (-m), threads (-t),
 * device (--device), kernel variant (--kernels), the remote backend (--backend and its key,
 * model and CA) and sampling (--seed, --temp, --top-k, --top-p, --min-p, --repeat-penalty).
 * Commands append the long-option macros of cli/cli.h to their own table and pass each getopt
 * code here first.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/kern.h"

void cli_model_opts_init(cli_model_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->n_threads = 1;
    o->device = GEN_DEVICE_AUTO;
    o->load = gen_model_options_default();
    /* KILN_PACK=0: read the weights as stored instead of packing them at load (to compare). */
    const char *pack = getenv("KILN_PACK");
    o->load.pack = !(pack != NULL && strcmp(pack, "0") == 0);
}

/* --kernels NAME: kern_backend_kind_parse refuses, by name, a variant this CPU lacks. */
static bool parse_kernels(cli_model_opts *o, const char *arg)
{
    core_err err = {0};
    kern_backend_kind kind = KERN_BACKEND_KIND_BEST;
    if (kern_backend_kind_parse(&kind, arg, &err) < 0) {
        fprintf(stderr, "kiln: --kernels: %s\n", err.msg);
        return false;
    }
    o->load.kernels = kind;
    o->load.kernel_variant = -1;
    return true;
}

int cli_model_option(cli_model_opts *o, int c, const char *arg)
{
    bool ok = true;
    switch (c) {
    case 'm':
        o->path = arg;
        break;
    case 't':
        ok = cli_parse_size("--threads", arg, &o->n_threads);
        if (ok && o->n_threads == 0) {
            fprintf(stderr, "kiln: --threads must be at least 1\n");
            ok = false;
        }
        break;
    case CLI_OPT_DEVICE:
        ok = cli_parse_device(arg, &o->device);
        break;
    case CLI_OPT_KERNELS:
        ok = parse_kernels(o, arg);
        break;
    case CLI_OPT_BACKEND:
        o->backend = arg;
        break;
    case CLI_OPT_BACKEND_KEY:
        fprintf(stderr, "kiln: --backend-key: a key is never taken on the command line; use "
                        "--backend-key-file FILE or the environment's KILN_BACKEND_KEY\n");
        ok = false;
        break;
    case CLI_OPT_BACKEND_KEY_FILE:
        o->backend_key_file = arg;
        break;
    case CLI_OPT_BACKEND_MODEL:
        o->backend_model = arg;
        break;
    case CLI_OPT_BACKEND_CA:
        o->backend_ca = arg;
        break;
    default:
        return 0;
    }
    return ok ? 1 : -1;
}

int cli_sampling_option(gen_sampler_options *s, int c, const char *arg)
{
    bool ok = true;
    size_t v = 0;
    switch (c) {
    case CLI_OPT_SEED:
        ok = cli_parse_size("--seed", arg, &v);
        s->seed = v;
        break;
    case CLI_OPT_TEMP:
        ok = cli_parse_float("--temp", arg, &s->temp);
        break;
    case CLI_OPT_TOP_K:
        ok = cli_parse_size("--top-k", arg, &v);
        s->top_k = (int32_t)v;
        break;
    case CLI_OPT_TOP_P:
        ok = cli_parse_float("--top-p", arg, &s->top_p);
        break;
    case CLI_OPT_MIN_P:
        ok = cli_parse_float("--min-p", arg, &s->min_p);
        break;
    case CLI_OPT_REPEAT_PENALTY:
        ok = cli_parse_float("--repeat-penalty", arg, &s->repeat_penalty);
        break;
    default:
        return 0;
    }
    return ok ? 1 : -1;
}

void cli_model_usage(FILE *f, size_t n_threads_default)
{
    fprintf(f,
            "  -m, --model PATH      GGUF model (default: the embedded SmolLM2-135M-Instruct)\n"
            "  -t, --threads N       compute threads (default %zu)\n"
            "      --device D        cpu, cuda or auto (default: cuda when a GPU is present)\n"
            "      --kernels K       ref, generic, avx2, avx512 or amx (default: the best\n"
            "                        this CPU runs; one it lacks is refused)\n",
            n_threads_default);
}

void cli_sampling_usage(FILE *f, bool seed_temp_only)
{
    fprintf(f, "      --seed S          random seed, makes sampling reproducible\n"
               "      --temp T          temperature (0: greedy)\n");
    if (!seed_temp_only) {
        fprintf(f, "      --top-k K         keep the K most likely tokens (default 40; 0: all)\n"
                   "      --top-p P         nucleus sampling mass (default 0.95)\n"
                   "      --min-p P         drop tokens below P x the best one (default 0.05)\n"
                   "      --repeat-penalty R  penalty for recent tokens (default 1: off)\n");
    }
}

void cli_backend_usage(FILE *f)
{
    fprintf(f, "      --backend URL     write candidates with this OpenAI-compatible server\n"
               "                        (URL/v1/completions, streamed; plan, tests, repair\n"
               "                        and ranking stay here; -m names its tokenizer)\n"
               "      --backend-key-file FILE  its bearer key (else $KILN_BACKEND_KEY)\n"
               "      --backend-model NAME     the \"model\" field sent\n"
               "      --backend-ca FILE CA bundle for https (certificates are verified)\n");
}

int cli_model_open(gen_model **out, const cli_model_opts *o, bool vocab_only, core_err *err)
{
    gen_model_options lo = o->load;
    lo.vocab_only = vocab_only;
    return cli_model_load(out, cli_model_path(o->path), &lo, o->device, err);
}
