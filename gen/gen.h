/*
 * gen: the model runtime (GGUF models, tokenizers, the forward pass, KV cache, batched
 * decoding, sampling) and, in later work, the generator that joins it to grammar, sandbox and
 * eval.
 */
#ifndef KILN_GEN_H
#define KILN_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "kernels/kern.h"

/* ------------------------------------------------------------------------------------------ */
/* Models                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/** A loaded model: weights (mmapped), hyperparameters and tokenizer. Immutable after load. */
typedef struct gen_model gen_model;

/** Where the forward pass runs. */
typedef enum gen_device {
    GEN_DEVICE_CPU = 0,  /* the CPU kernels */
    GEN_DEVICE_CUDA = 1, /* CUDA device 0; loading fails (CORE_EUNSUPPORTED) without one */
    GEN_DEVICE_AUTO = 2, /* CUDA when a device is present and takes the model, else the CPU */
} gen_device;

typedef struct gen_model_options {
    bool vocab_only;           /* load only the tokenizer (no tensors are checked or used) */
    kern_backend_kind kernels; /* which kernel variants to use (default: best) */
    int kernel_variant;        /* >= 0: kern_backend_variant() i instead (tests); default -1 */
    const core_log *log;       /* where loading logs; NULL: silent. Borrowed for the call */
    gen_device device;         /* default GEN_DEVICE_CPU */
    /* Pack the matrices once at load into the layout the CPU kernels read (kern_ops.pack), in
     * place of the mapped copy; only on the CPU, for the variants and types that have one.
     * Default true; false reads them as stored (for comparison: KILN_PACK=0). Same results. */
    bool pack;
    /* A folder where a packed copy is kept for the next load of the same file (named after the
     * file, its size, time and inode, and the kernel variant; checked against a fresh packing
     * of its first matrix when read), so that later loads map it instead of packing again.
     * NULL (the default) or "": pack every time. Created when missing; a failure to write the
     * copy is logged and changes nothing else. */
    const char *pack_cache;
} gen_model_options;

gen_model_options gen_model_options_default(void);

/**
 * Loads the GGUF model at path. Caller frees with gen_model_free. Codes: CORE_ENOTFOUND (no
 * file), CORE_EIO, CORE_EPARSE (malformed file; the message names key/tensor and offset),
 * CORE_EUNSUPPORTED (architecture, tokenizer or tensor type kiln does not run), CORE_ENOMEM.
 */
int gen_model_load(gen_model **out, const char *path, const gen_model_options *opts, core_err *err);
void gen_model_free(gen_model *model);

/** Architecture name as in the file ("llama", "qwen2", "gemma3"). Valid as long as model. */
const char *gen_model_arch(const gen_model *model);
/** A one-line description (name, arch, size, types). Valid as long as model. */
const char *gen_model_desc(const gen_model *model);
size_t gen_model_n_vocab(const gen_model *model);
size_t gen_model_n_ctx_train(const gen_model *model);
/** "cpu" or "cuda": where the model's contexts run. Static storage. */
const char *gen_model_device(const gen_model *model);
/** Bytes of tensor data in the file. */
size_t gen_model_n_bytes(const gen_model *model);
/** Special tokens, or -1 when the model has none. */
int32_t gen_model_token_bos(const gen_model *model);
int32_t gen_model_token_eos(const gen_model *model);
/** True for tokens that end generation (eos, eot, <|im_end|>, <end_of_turn>...). */
bool gen_model_token_is_eog(const gen_model *model, int32_t token);
/** The model's chat template (Jinja text from the file), or an empty slice. Borrowed. */
core_str gen_model_chat_template(const gen_model *model);

/**
 * Appends a one-turn chat prompt in the model's template (ChatML or Gemma turns) to out: an
 * optional system message (empty slice: the template's default, if any) and the user's text.
 * Tokenize the result with parse_special. Codes: CORE_EUNSUPPORTED (unknown template),
 * CORE_ENOMEM.
 */
int gen_model_chat_apply(const gen_model *model, core_str system, core_str user, core_buf *out,
                         core_err *err);

/** One chat message: role "system", "developer" (as system), "user", "assistant" or "tool". */
typedef struct gen_chat_message {
    core_str role;
    core_str content;
} gen_chat_message;

/**
 * Appends a conversation of n messages in the model's template, every turn in its own role,
 * ending with the assistant's turn opened for generation. ChatML writes each message as a turn
 * (SmolLM2's default system message first when none leads); Gemma writes user and model turns,
 * with system messages folded into the next user turn and tool results as user turns. Tokenize
 * with parse_special. Codes: CORE_EINVAL (no messages), CORE_EUNSUPPORTED (unknown template),
 * CORE_ENOMEM.
 */
int gen_model_chat_apply_messages(const gen_model *model, const gen_chat_message *messages,
                                  size_t n, core_buf *out, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Tokens                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/**
 * Tokenizes text. add_special adds the BOS (and EOS) tokens the model asks for; parse_special
 * turns special-token text ("<|im_start|>") into their ids instead of treating it as text.
 * *out is allocated with core_malloc (caller frees with core_free); *n_out is its length.
 * Codes: CORE_ENOMEM.
 */
int gen_model_tokenize(const gen_model *model, core_str text, bool add_special, bool parse_special,
                       int32_t **out, size_t *n_out, core_err *err);
/**
 * The bytes that token stands for when detokenized (a byte token gives its byte; control tokens
 * give their text when render_special, else nothing). Borrowed; valid as long as model. An
 * out-of-range id gives an empty slice.
 */
core_str gen_model_token_piece(const gen_model *model, int32_t token, bool render_special);
/**
 * Appends the text of n tokens to out (decode(encode(s)) == s). Codes: CORE_EINVAL (token id
 * out of range, named in the message), CORE_ENOMEM.
 */
int gen_model_detokenize(const gen_model *model, const int32_t *tokens, size_t n,
                         bool render_special, core_buf *out, core_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Contexts: KV cache, sequences, batched decoding                                            */
/* ------------------------------------------------------------------------------------------ */

/**
 * A decoding context over a model: KV cache for n_seq_max sequences of up to n_ctx positions,
 * activation buffers for batches of up to n_batch_max tokens, logits, and a thread pool. All
 * of it is allocated in gen_ctx_new; decoding allocates nothing. One thread at a time.
 */
typedef struct gen_ctx gen_ctx;

typedef struct gen_ctx_options {
    size_t n_ctx;         /* positions per sequence (default 2048, at most the model's) */
    size_t n_seq_max;     /* sequences (default 1) */
    size_t n_batch_max;   /* tokens per gen_ctx_decode call (default 512) */
    size_t n_outputs_max; /* tokens per gen_ctx_decode call that may keep logits (default:
                             n_seq_max); each costs n_vocab floats */
    size_t n_threads;     /* compute threads including the caller (default 1) */
    bool no_fuse;         /* CUDA: one kernel per operation, to measure what fusion gains */
} gen_ctx_options;

gen_ctx_options gen_ctx_options_default(void);

/** Creates a context. Borrows model, which must outlive it. CORE_EINVAL, CORE_ENOMEM. */
int gen_ctx_new(gen_ctx **out, const gen_model *model, const gen_ctx_options *opts, core_err *err);
void gen_ctx_free(gen_ctx *ctx);

/**
 * A batch of tokens to append: token i goes to sequence seq[i] at that sequence's next
 * position. Tokens of one sequence appear in order. Logits are kept for token i when
 * logits[i] is true (NULL: only for the last token of each sequence in the batch).
 */
typedef struct gen_batch {
    const int32_t *tokens; /* (n_tokens) */
    const int32_t *seq;    /* (n_tokens) sequence ids < n_seq_max; NULL: all in sequence 0 */
    const bool *logits;    /* (n_tokens) or NULL */
    size_t n_tokens;
} gen_batch;

/**
 * Runs the model on a batch, appending its tokens to the sequences' caches. Tokens beyond
 * n_batch_max are processed in several passes; the cancel callback is polled between passes.
 * Allocates nothing. Codes: CORE_EINVAL (bad token or sequence id, named), CORE_ELIMIT (a
 * sequence would exceed n_ctx, or more than n_outputs_max tokens keep logits), CORE_ECANCELED
 * (tokens of earlier passes stay in the cache).
 */
int gen_ctx_decode(gen_ctx *ctx, const gen_batch *batch, core_err *err);
/**
 * Logits (n_vocab floats) of the i-th token of the last batch that kept logits, counting only
 * those. Borrowed; valid until the next gen_ctx_decode. NULL when i is out of range.
 */
float *gen_ctx_logits(gen_ctx *ctx, size_t i);
/**
 * The greedy choice (largest logit, the first on ties) of the i-th kept token of the last
 * batch; -1 when i is out of range. On CUDA it is computed on the device, so greedy decoding
 * never copies the vocabulary back; gen_ctx_logits copies one row when asked.
 */
int32_t gen_ctx_argmax(gen_ctx *ctx, size_t i);
/** Number of positions held by seq. */
size_t gen_ctx_seq_len(const gen_ctx *ctx, int32_t seq);
/** Forgets positions >= n_pos of seq (n_pos = 0 clears it). CORE_EINVAL. */
int gen_ctx_seq_truncate(gen_ctx *ctx, int32_t seq, size_t n_pos, core_err *err);
/**
 * Makes dst hold the first n_pos positions of src's cache (a shared prompt prefix) without
 * recomputing them. CORE_EINVAL.
 */
int gen_ctx_seq_copy(gen_ctx *ctx, int32_t dst, int32_t src, size_t n_pos, core_err *err);
/** Sets a cancel callback polled between passes of a decode (NULL: none). Borrowed. */
void gen_ctx_set_cancel(gen_ctx *ctx, const core_cancel *cancel);

/* ------------------------------------------------------------------------------------------ */
/* Sampling                                                                                   */
/* ------------------------------------------------------------------------------------------ */

typedef struct gen_sampler_options {
    float temp;           /* 0: greedy */
    int32_t top_k;        /* 0: off */
    float top_p;          /* 1: off */
    float min_p;          /* 0: off */
    float repeat_penalty; /* 1: off */
    size_t repeat_last_n; /* tokens of history the penalty looks at */
    uint64_t seed;
} gen_sampler_options;

gen_sampler_options gen_sampler_options_default(void);

/**
 * A constraint on the next token, called by the sampler (the grammar plugs in here). mask,
 * when set, may lower logits (to -INFINITY to forbid) before sampling. allows, when set, is
 * asked about a drawn token; a refused token is forbidden and the sampler draws again. Either
 * may be NULL. Both return false/negative to report an error through err.
 */
typedef struct gen_constraint {
    int (*mask)(void *payload, float *logits, size_t n_vocab, core_err *err);
    int (*allows)(void *payload, int32_t token, bool *ok, core_err *err);
    void *payload;
} gen_constraint;

/** A sampler: options, RNG state, history and scratch for n_vocab. One thread at a time. */
typedef struct gen_sampler gen_sampler;

int gen_sampler_new(gen_sampler **out, const gen_sampler_options *opts, size_t n_vocab,
                    core_err *err);
void gen_sampler_free(gen_sampler *sampler);
/**
 * Draws the next token from logits (n_vocab floats, modified in place) under constraint
 * (NULL: none). Allocates nothing. Codes: CORE_ENOTFOUND (the constraint forbids every
 * token), and whatever the constraint returns.
 */
int gen_sampler_sample(gen_sampler *sampler, float *logits, const gen_constraint *constraint,
                       int32_t *out, core_err *err);
/**
 * Draws the next token as gen_sampler_sample would with no constraint (the same token for the
 * same state), reading logits (n_vocab floats) without changing them, so a caller can pass the
 * model's own row instead of a copy. Allocates nothing. Codes: CORE_EINVAL (the sampler has a
 * repetition penalty, which changes logits: use gen_sampler_sample), CORE_ENOTFOUND (every
 * logit is -inf or NaN).
 */
int gen_sampler_sample_const(gen_sampler *sampler, const float *logits, int32_t *out,
                             core_err *err);
/** Records a token into the history the repetition penalty looks at. */
void gen_sampler_accept(gen_sampler *sampler, int32_t token);
/** Clears history and reseeds. */
void gen_sampler_reset(gen_sampler *sampler, uint64_t seed);

/* ------------------------------------------------------------------------------------------ */
/* The request queue: continuous batching for servers                                         */
/* ------------------------------------------------------------------------------------------ */

/**
 * A scheduler that runs many generation requests on one model and one context: every step
 * decodes one token of each running request in one batched gen_ctx_decode, together with a
 * chunk of the prompt of each request that has just joined, so running streams keep going while
 * newcomers read their prompts. A request joins at the next step after it is submitted and
 * leaves when it ends (stop string, end-of-generation token, token cap, constraint, cancel).
 * Each request has its own sampler, stops and constraint. Slots keep the tokens of their cache
 * after their request ends: a newcomer takes the idle slot whose cached tokens share the
 * longest prefix with its prompt, or copies the prefix from another slot (gen_ctx_seq_copy),
 * and decodes only the rest; idle caches are evicted, least recently used first, to keep the
 * tokens they hold under a budget.
 *
 * Internally synchronized: any thread may submit and cancel. The queue owns one worker thread,
 * which runs the model and calls every callback below.
 */
typedef struct gen_queue gen_queue;

typedef struct gen_queue_options {
    size_t n_parallel;         /* requests decoding at once = slots (default 4) */
    size_t n_ctx;              /* positions per slot (default 2048) */
    size_t n_threads;          /* compute threads (default 1) */
    size_t n_chunk;            /* prompt tokens a newcomer decodes per step (default 64) */
    size_t n_pending_max;      /* requests waiting for a slot at most (default 64) */
    size_t n_cache_tokens_max; /* tokens idle slots may keep for prefix reuse (default:
                                  n_parallel * n_ctx; 0 turns reuse off) */
    core_log log;              /* borrowed sink, called on the worker thread; fn may be NULL */
    /* When set, called on the worker after each step's events (a front end may gather what
     * the events ask for, such as waking connections, and do it once a step). */
    void (*on_step)(void *payload);
    void *step_payload;
} gen_queue_options;

gen_queue_options gen_queue_options_default(void);

/** Why a request ended. */
typedef enum gen_finish {
    GEN_FINISH_STOP = 0,     /* a stop string or an end-of-generation token */
    GEN_FINISH_LENGTH = 1,   /* the token cap or the context */
    GEN_FINISH_CANCELED = 2, /* gen_queue_cancel, or the queue stopped */
    GEN_FINISH_ERROR = 3,    /* an error (event.err says which) */
} gen_finish;

/** "stop", "length", "canceled", "error". Static storage. */
const char *gen_finish_name(gen_finish finish);

/**
 * A request's constraint (the grammar plugs in here): base is passed to the sampler; accept,
 * when set, is told each token the request keeps; free, when set, is called once when the
 * request ends (or when gen_queue_submit fails), so the payload can be released. All are called
 * on the worker thread, except free after a failed submit (the caller's thread).
 */
typedef struct gen_queue_constraint {
    gen_constraint base;
    int (*accept)(void *payload, int32_t token, core_err *err);
    void (*free)(void *payload);
} gen_queue_constraint;

/** What the worker reports about a request. Plain value, valid for the call only. */
typedef struct gen_queue_event {
    uint64_t id;
    bool done;           /* the last event of the request: finish, counts and err are set */
    core_str text;       /* new text since the last event (stops held back until decided) */
    int32_t token;       /* the token this event adds (-1 on a done event without one) */
    float logprob;       /* log-probability of token under the unconstrained model (0 unless
                           the request asked for logprobs) */
    gen_finish finish;   /* when done */
    size_t n_prompt;     /* prompt tokens */
    size_t n_cached;     /* of them, taken from cached state instead of decoded */
    size_t n_generated;  /* tokens generated so far */
    uint64_t ns_queued;  /* from submit to the first step of its prompt */
    uint64_t ns_compute; /* model time: the steps it took part in, and its sampling */
    const core_err *err; /* when finish is GEN_FINISH_ERROR */
} gen_queue_event;

/** A bias added to one token's logit before sampling (OpenAI's logit_bias). Plain value. */
typedef struct gen_logit_bias {
    int32_t token; /* in [0, n_vocab) */
    float bias;    /* added to the logit; -INFINITY bans the token */
} gen_logit_bias;

typedef struct gen_queue_request {
    const int32_t *prompt; /* (n_prompt) copied by gen_queue_submit; at least one token */
    size_t n_prompt;
    gen_sampler_options sampler;
    size_t n_tokens_max;   /* tokens to generate at most (cut to what the context holds) */
    const core_str *stops; /* (n_stops) stop strings, copied; output ends before one */
    size_t n_stops;
    bool ignore_eog;                 /* keep going past end-of-generation tokens */
    bool logprobs;                   /* fill event.logprob (a pass over the vocabulary a token) */
    gen_queue_constraint constraint; /* all NULL: none. Ownership passes to the queue */
    void (*on_event)(void *payload, const gen_queue_event *event); /* worker thread; must not
                                                                     block */
    void *payload;
    /* (n_logit_bias) copied; added to each row of logits before the sampler and the constraint
     * see it (the logprobs stay the model's own) */
    const gen_logit_bias *logit_bias;
    size_t n_logit_bias;
    /* Optional: the request picks its own tokens (kiln's solve pipeline, which has its own
     * sampler, grammar and end rules per candidate). When set, the queue hands it each row of
     * logits (n_vocab floats, read-only; n_past: positions the request holds in the cache)
     * instead of sampling, and it returns 1 with *token to go on, 0 to end the request
     * (GEN_FINISH_STOP) or a negative code with err set (GEN_FINISH_ERROR). Then sampler,
     * stops, constraint.base, ignore_eog, logprobs and logit_bias are not used, and events
     * carry tokens but no text. Worker thread, with payload. */
    int (*sample)(void *payload, const float *logits, size_t n_past, int32_t *token, core_err *err);
} gen_queue_request;

/** Statistics (for /metrics). Plain value. */
typedef struct gen_queue_stats {
    size_t n_pending;            /* requests waiting for a slot */
    size_t n_running;            /* requests in slots */
    uint64_t n_steps;            /* batched decode steps */
    uint64_t ns_steps;           /* their time */
    uint64_t n_tokens_prompt;    /* prompt tokens received */
    uint64_t n_tokens_decoded;   /* prompt tokens decoded (received minus cached) */
    uint64_t n_tokens_generated; /* tokens sampled */
    uint64_t n_cache_hits;       /* requests that reused a cached prefix */
    uint64_t step_hist[12];      /* steps by duration: <= 1, 2, 5, 10, 20, 50, 100, 200, 500,
                                    1000, 2000 ms, and more */
    uint64_t ns_sampling;        /* time after the steps' decodes: sampling, stop strings and
                                    the requests' event callbacks */
} gen_queue_stats;

/** Upper bounds of gen_queue_stats.step_hist's buckets in ms (the last is +Inf). */
extern const double gen_queue_step_buckets_ms[12];

/**
 * Creates a queue over model (borrowed; must outlive it) with its own context and worker
 * thread. Codes: CORE_EINVAL, CORE_ENOMEM, CORE_ERROR (thread), those of gen_ctx_new.
 */
int gen_queue_new(gen_queue **out, const gen_model *model, const gen_queue_options *opts,
                  core_err *err);
/** Cancels what runs and waits (done events are sent), stops the worker, frees. NULL is fine. */
void gen_queue_free(gen_queue *queue);

/**
 * Queues a request and sets *id. Events go to req->on_event on the worker thread, the last
 * with done set; after it the queue never uses payload again. Codes: CORE_EINVAL (empty
 * prompt, a token id of the prompt or of logit_bias out of range, a bias NaN or +inf: named),
 * CORE_ELIMIT (the prompt does not fit n_ctx; the queue is full: the message says which, and
 * *id is 0), CORE_ECANCELED (the queue is stopping), CORE_ENOMEM. On failure no event is sent
 * and the constraint's free has been called.
 */
int gen_queue_submit(gen_queue *queue, uint64_t *id, const gen_queue_request *req, core_err *err);
/**
 * Asks request id to stop: it ends within one step with GEN_FINISH_CANCELED and its slot is
 * free again. Unknown or finished ids are ignored.
 */
void gen_queue_cancel(gen_queue *queue, uint64_t id);
/** Stops admitting requests (submit then fails with CORE_ECANCELED); running ones go on. */
void gen_queue_close(gen_queue *queue);
/** Current statistics. */
gen_queue_stats gen_queue_stats_get(gen_queue *queue);
/** The queue's options (as filled in by gen_queue_new). */
gen_queue_options gen_queue_options_get(const gen_queue *queue);

#endif /* KILN_GEN_H */
