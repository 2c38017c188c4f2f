/* TCase constructors of the http suite, one per http/ file under test. */
#ifndef KILN_TESTS_HTTP_H
#define KILN_TESTS_HTTP_H

#include <check.h>
#include <stdint.h>

#include "core/core.h"

TCase *tcase_params(void);
TCase *tcase_sse(void);
TCase *tcase_metrics(void);
TCase *tcase_server(void);
TCase *tcase_patch(void);

/* client.c: a connected loopback socket; a request sent on it; a whole request and its answer
 * (status line, headers and body) in out, the status in *status. */
int connect_to(uint16_t port);
void send_request(int fd, const char *method, const char *path, const char *headers,
                  const char *body);
void request(core_buf *out, int *status, uint16_t port, const char *method, const char *path,
             const char *headers, const char *body);

#endif
