/* TCase constructors of the gen suite, one per gen/ file. */
#ifndef KILN_TESTS_GEN_H
#define KILN_TESTS_GEN_H

#include <check.h>

TCase *tcase_gguf(void);
TCase *tcase_tokenizer(void);
TCase *tcase_sampler(void);
TCase *tcase_ctx(void);
TCase *tcase_pool(void);
TCase *tcase_model(void);
TCase *tcase_golden(void);

TCase *tcase_forward(void);
TCase *tcase_sched(void);
TCase *tcase_chat(void);

#endif
