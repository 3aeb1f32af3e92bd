/* Time, in one place so tests and later code agree on units. Thread-safe. */
#ifndef KLUIS_UTIL_CLOCK_H
#define KLUIS_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Wall-clock Unix seconds (IntDate on the wire). */
int64_t clock_now_s(void);
/* Wall-clock Unix milliseconds (log and audit time stamps). */
int64_t clock_now_ms(void);
/* Monotonic milliseconds, for durations. */
uint64_t clock_mono_ms(void);
/* Monotonic microseconds, for latency. */
uint64_t clock_mono_us(void);
/* The time ms milliseconds from now on clock (CLOCK_MONOTONIC or CLOCK_REALTIME), as
 * pthread_cond_timedwait takes it for a condition variable on that clock. */
struct timespec clock_after_ms(clockid_t clock, unsigned ms);

#endif
