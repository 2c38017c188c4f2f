/*
 * Logging through a caller-held sink, the clock, and cancellation polling. Library code never
 * prints: it formats into a stack buffer and hands the line to the sink of its context.
 */
#include "core/core.h"

#include <stdio.h>
#include <time.h>

void core_log_write(const core_log *log, core_log_level level, const char *fmt, ...)
{
    if (!log || !log->fn || level < log->level_min) {
        return;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log->fn(log->payload, level, msg);
}

uint64_t core_time_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool core_cancel_is_requested(const core_cancel *cancel)
{
    return cancel && cancel->fn && cancel->fn(cancel->payload);
}
