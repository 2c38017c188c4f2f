/* Fixtures of the patch suite: repositories written with libgit2 (nothing binary is
 * committed), a generator with fixed answers, and helpers. */
#include "tests/patch/tests.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void fx_dir(char out[FX_PATH_MAX], const char *name)
{
    snprintf(out, FX_PATH_MAX, "%s/patch-%d-%s", KILN_TEST_TMP, (int)getpid(), name);
    fx_sh("rm -rf '%s'", out);
}

int fx_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd); // NOLINT(cert-env33-c): the tests drive git, patch and pytest
    return st == -1 ? -1 : WEXITSTATUS(st);
}

git_repository *fx_repo_new(const char *dir, bool bare)
{
    git_libgit2_init();
    git_repository *repo = NULL;
    ck_assert_int_eq(git_repository_init(&repo, dir, bare), 0);
    return repo;
}

void fx_commit(git_oid *out, git_repository *repo, const char *ref, const fx_file *files, size_t n,
               const char *msg)
{
    git_index *idx = NULL;
    ck_assert_int_eq(git_repository_index(&idx, repo), 0);
    ck_assert_int_eq(git_index_clear(idx), 0);
    for (size_t i = 0; i < n; i++) {
        git_index_entry e;
        memset(&e, 0, sizeof e);
        e.path = files[i].path;
        e.mode = files[i].mode ? files[i].mode : 0100644;
        size_t len = files[i].len ? files[i].len : strlen(files[i].data);
        if (e.mode == 0160000) {
            ck_assert_int_eq(git_oid_fromstr(&e.id, files[i].data), 0);
            ck_assert_int_eq(git_index_add(idx, &e), 0);
        } else {
            ck_assert_msg(git_index_add_from_buffer(idx, &e, files[i].data, len) == 0, "%s: %s",
                          files[i].path, git_error_last()->message);
        }
    }
    git_oid tree_id;
    ck_assert_int_eq(git_index_write_tree(&tree_id, idx), 0);
    git_tree *tree = NULL;
    ck_assert_int_eq(git_tree_lookup(&tree, repo, &tree_id), 0);
    git_signature *sig = NULL;
    ck_assert_int_eq(git_signature_new(&sig, "Fixture", "fx@example.com", 1700000000, 0), 0);
    git_object *parent = NULL;
    const git_commit *parents[1];
    size_t n_parents = 0;
    if (git_revparse_single(&parent, repo, ref) == 0) {
        parents[0] = (const git_commit *)parent;
        n_parents = 1;
    }
    ck_assert_int_eq(
        git_commit_create(out, repo, ref, sig, sig, NULL, msg, tree, n_parents, parents), 0);
    git_object_free(parent);
    git_signature_free(sig);
    git_tree_free(tree);
    git_index_free(idx);
}

void fx_tag(git_repository *repo, const char *name, const git_oid *commit)
{
    git_object *obj = NULL;
    git_oid tag;
    ck_assert_int_eq(git_object_lookup(&obj, repo, commit, GIT_OBJECT_COMMIT), 0);
    ck_assert_int_eq(git_tag_create_lightweight(&tag, repo, name, obj, 0), 0);
    git_object_free(obj);
}

void fx_checkout(git_repository *repo)
{
    git_checkout_options o;
    git_checkout_options_init(&o, GIT_CHECKOUT_OPTIONS_VERSION);
    o.checkout_strategy = GIT_CHECKOUT_FORCE;
    ck_assert_int_eq(git_checkout_head(repo, &o), 0);
}

/* ---- the projects ------------------------------------------------------------------------ */

#define OPS_HEAD                                                                                   \
    "import math\n\n\n"                                                                            \
    "def add(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n    return a + b\n\n\n"           \
    "def square(x):\n    \"\"\"Return x times x.\n\n    >>> square(3)\n    9\n    \"\"\"\n"        \
    "    pass\n"
#define OPS_CUBE   "\n\ndef cube(x):\n    \"\"\"Return x to the third power.\"\"\"\n    ...\n"
#define OPS_NEGATE "\n\ndef negate(x):\n    \"\"\"Return -x.\"\"\"\n"
#define OPS_SHAPE                                                                                  \
    "\n\nclass Shape:\n    def area(self):\n        \"\"\"Area of the shape.\"\"\"\n"              \
    "        raise NotImplementedError(\"later\")\n"
#define TEST_HEAD                                                                                  \
    "from calc import ops\nfrom calc.ops import add, square\n\n\n"                                 \
    "def test_add():\n    assert add(1, 2) == 3\n\n\n"                                             \
    "def test_square():\n    assert square(3) == 9\n    assert ops.square(-2) == 4\n\n\n"          \
    "def test_zdata():\n    assert open('calc/data.txt').read() == 'ok'\n"
#define TEST_CUBE   "\n\ndef test_cube():\n    assert ops.cube(2) == 8\n"
#define TEST_NEGATE "\n\ndef test_negate():\n    assert ops.negate(2) == -2\n"

void fx_python_project(const char *dir)
{
    git_repository *repo = fx_repo_new(dir, false);
    git_oid c1, c2, c3;
    fx_file v1[] = {
        {.path = "calc/__init__.py", .data = "\n"},
        {.path = "calc/data.txt", .data = "ok"},
        {.path = "calc/ops.py", .data = OPS_HEAD OPS_SHAPE},
        {.path = "tests/test_ops.py", .data = TEST_HEAD},
        {.path = "README.md", .data = "# calc\n"},
    };
    fx_commit(&c1, repo, "HEAD", v1, 5, "calc: add, square\n");
    fx_tag(repo, "v1", &c1);
    fx_file v2[] = {
        {.path = "calc/__init__.py", .data = "\n"},
        {.path = "calc/data.txt", .data = "ok"},
        {.path = "calc/ops.py", .data = OPS_HEAD OPS_CUBE OPS_SHAPE},
        {.path = "tests/test_ops.py", .data = TEST_HEAD TEST_CUBE},
        {.path = "README.md", .data = "# calc\n"},
    };
    fx_commit(&c2, repo, "HEAD", v2, 5, "calc: cube\n");
    git_reference *br = NULL;
    git_commit *head = NULL;
    ck_assert_int_eq(git_commit_lookup(&head, repo, &c2), 0);
    ck_assert_int_eq(git_branch_create(&br, repo, "feature", head, 0), 0);
    fx_file v3[] = {
        {.path = "calc/__init__.py", .data = "\n"},
        {.path = "calc/data.txt", .data = "ok"},
        {.path = "calc/ops.py", .data = OPS_HEAD OPS_CUBE OPS_NEGATE OPS_SHAPE},
        {.path = "tests/test_ops.py", .data = TEST_HEAD TEST_CUBE TEST_NEGATE},
        {.path = "README.md", .data = "# calc\n"},
    };
    fx_commit(&c3, repo, "refs/heads/feature", v3, 5, "calc: negate\n");
    fx_checkout(repo);
    git_reference_free(br);
    git_commit_free(head);
    git_repository_free(repo);
}

void fx_c_project(const char *dir)
{
    git_repository *repo = fx_repo_new(dir, false);
    git_oid c1, c2;
    fx_file v1[] = {
        {.path = "Makefile",
         .data = "CFLAGS = -std=c11 -O1\n\n"
                 "test:\n\tgcc $(CFLAGS) -o t tests/test_mathx.c src/mathx.c && ./t\n"},
        {.path = "tests/run.sh",
         .data = "set -e\ngcc -std=c11 -O1 -o t tests/test_mathx.c src/mathx.c\n./t\n"},
        {.path = "src/mathx.h",
         .data = "int max2(int a, int b);\nint clamp(int x, int lo, int hi);\n"},
        {.path = "src/mathx.c",
         .data = "#include \"mathx.h\"\n\n"
                 "/* Returns the larger of a and b. */\nint max2(int a, int b)\n{\n"
                 "    /* TODO */\n    return 0;\n}\n"},
        {.path = "tests/test_mathx.c",
         .data = "#include <assert.h>\n#include \"../src/mathx.h\"\n\n"
                 "int main(void)\n{\n    assert(max2(1, 2) == 2);\n    assert(max2(5, 3) == 5);\n"
                 "    return 0;\n}\n"},
    };
    fx_commit(&c1, repo, "HEAD", v1, 5, "mathx: max2\n");
    fx_tag(repo, "v1", &c1);
    fx_commit(&c2, repo, "HEAD", v1, 5, "mathx: nothing changed\n");
    fx_checkout(repo);
    git_repository_free(repo);
}

/* ---- the generator ----------------------------------------------------------------------- */

int fx_gen_fn(void *payload, solve_result **out, const solve_task *task, core_err *err)
{
    fx_gen *g = payload;
    g->n_calls++;
    solve_result *r = core_calloc(1, sizeof *r);
    size_t n = 0;
    for (size_t i = 0; g->pairs[i] != NULL; i += 2) {
        n += core_str_eq_c(task->entry, g->pairs[i]);
    }
    r->candidates = core_calloc(n + 1, sizeof *r->candidates);
    r->plan = core_calloc(1, 1);
    r->visible_tests = core_calloc(1, 1);
    if (r->candidates == NULL || r->plan == NULL || r->visible_tests == NULL) {
        solve_result_free(r);
        return core_err_set(err, CORE_ENOMEM, "fx_gen: out of memory");
    }
    for (size_t i = 0; g->pairs[i] != NULL; i += 2) {
        if (!core_str_eq_c(task->entry, g->pairs[i])) {
            continue;
        }
        solve_candidate *c = &r->candidates[r->n_candidates];
        size_t len = strlen(g->pairs[i + 1]);
        c->code = core_malloc(len + 1);
        memcpy(c->code, g->pairs[i + 1], len + 1);
        c->score.rank = r->n_candidates;
        c->parses = true;
        c->card.parses = true;
        r->n_candidates++;
    }
    r->chosen = r->n_candidates > 0 ? 0 : -1;
    *out = r;
    return 0;
}

sbx_tree *fx_tree(void)
{
    sbx_tree_options o = sbx_tree_options_default();
    o.uid = 3190000u + (unsigned)(getpid() % 1000) * 64u;
    sbx_tree *t = NULL;
    core_err err = {0};
    ck_assert_msg(sbx_tree_new(&t, &o, &err) == 0, "%s", err.msg);
    return t;
}

int fx_patch(patch_result **out, const char *dir, const char *rev, patch_options *opts, fx_gen *gen,
             core_err *err)
{
    patch_repo *repo = NULL;
    int rc = patch_repo_open(&repo, dir, rev, err);
    if (rc < 0) {
        return rc;
    }
    sbx_tree *t = fx_tree();
    opts->generator = (patch_generator){fx_gen_fn, gen};
    rc = patch_run(out, repo, t, opts, err);
    sbx_tree_free(t);
    patch_repo_free(repo);
    return rc;
}

char *fx_state(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && { g=.git; [ -d .git ] || g=.; cat $g/HEAD; "
             "find $g/refs -type f | sort | xargs cat; cat $g/packed-refs 2>/dev/null; "
             "sha256sum $g/index 2>/dev/null; find . -path ./.git -prune -o -type f -print0 | "
             "sort -z | xargs -0 -r sha256sum; } | sha256sum",
             dir);
    FILE *p = popen(cmd, "r"); // NOLINT(cert-env33-c)
    ck_assert_ptr_nonnull(p);
    char *buf = calloc(1, 128);
    ck_assert_ptr_nonnull(fgets(buf, 128, p));
    pclose(p);
    return buf;
}

const patch_target *fx_target(const patch_result *r, const char *name)
{
    for (size_t i = 0; i < r->n_targets; i++) {
        if (strcmp(r->targets[i].name, name) == 0) {
            return &r->targets[i];
        }
    }
    ck_abort_msg("no target %s", name);
    return NULL;
}
