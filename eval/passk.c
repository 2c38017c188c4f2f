/*
 * The unbiased pass@k estimator of Chen et al., "Evaluating Large Language Models Trained on
 * Code" (2021, section 2.1): with n samples of which c pass, the chance that at least one of k
 * samples drawn without replacement passes is 1 - C(n-c, k) / C(n, k). The ratio of binomials
 * is the product over i = n-c+1..n of (1 - k / i), which stays in [0, 1] at every step, so it
 * neither overflows nor loses precision the way the binomials themselves would for n in the
 * hundreds (the paper's numpy code uses the same product).
 */
#include "eval/eval.h"

int eval_passk(double *out, size_t n, size_t c, size_t k, core_err *err)
{
    *out = 0.0;
    if (k == 0 || k > n || c > n) {
        return core_err_set(err, CORE_EINVAL,
                            "pass@k: need 0 < k <= n and c <= n (n %zu, c %zu, k %zu)", n, c, k);
    }
    if (n - c < k) {
        *out = 1.0;
        return 0;
    }
    double fail = 1.0;
    for (size_t i = n - c + 1; i <= n; i++) {
        fail *= 1.0 - (double)k / (double)i;
    }
    *out = 1.0 - fail;
    return 0;
}

int eval_passk_mean(double *out, const size_t *n, const size_t *c, size_t n_problems, size_t k,
                    core_err *err)
{
    double sum = 0.0;
    *out = 0.0;
    for (size_t i = 0; i < n_problems; i++) {
        double p = 0.0;
        int rc = eval_passk(&p, n[i], c[i], k, err);
        if (rc < 0) {
            return core_err_wrap(err, rc, "problem %zu", i);
        }
        sum += p;
    }
    *out = n_problems ? sum / (double)n_problems : 0.0;
    return 0;
}
