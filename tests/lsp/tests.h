/* TCase constructors of the lsp suite, one per source file of lsp/. */
#ifndef KILN_TESTS_LSP_H
#define KILN_TESTS_LSP_H

#include <check.h>

TCase *tcase_rpc(void);
TCase *tcase_text(void);
TCase *tcase_server(void);
TCase *tcase_config(void);
TCase *tcase_server_model(void);

#endif
