/* Library-wide state: version and the thread-local last-error message. */
#include <stdarg.h>
#include <stdio.h>

#include "common.h"

#ifndef LLMJ_VERSION
#define LLMJ_VERSION "0.0.0-dev"
#endif

static _Thread_local char last_error[1024];

const char * llmj_version(void) { return LLMJ_VERSION; }

const char * llmj_last_error(void) { return last_error; }

int llmj_internal_fail(int status, const char * where, const char * fmt, ...) {
    int n = snprintf(last_error, sizeof last_error, "%s: ", where);
    if (n < 0 || (size_t) n >= sizeof last_error) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error + n, sizeof last_error - (size_t) n, fmt, ap);
    va_end(ap);
    return status;
}
