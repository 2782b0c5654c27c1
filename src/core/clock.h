/* core/clock.h : monotonic milliseconds for timeouts and the cached HTTP
 * Date header value (RFC 9110 §5.6.7 IMF-fixdate), refreshed at most once per
 * second per worker. */
#ifndef ALB_CORE_CLOCK_H
#define ALB_CORE_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

uint64_t alb_clock_now_ms(void);

/* alb_clock_now_s() : CLOCK_MONOTONIC in seconds, to the nanosecond (durations, ages). */
double alb_clock_now_s(void);

/* alb_clock_deadline() : the CLOCK_MONOTONIC time <ms> from now, for
 * pthread_cond_timedwait() on a condition variable set to that clock (so a
 * change of the wall clock neither shortens nor stretches the wait). */
struct timespec alb_clock_deadline(uint64_t ms);

/* alb_clock_cond_init() : initialises <c> to wait by CLOCK_MONOTONIC. */
void alb_clock_cond_init(pthread_cond_t *c);

#define ALB_HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

struct alb_http_date {
    time_t sec;                       /* second the text was made for */
    char text[ALB_HTTP_DATE_LEN + 8]; /* NUL-terminated; slack for the compiler's bound */
};

/* alb_http_date_refresh() : updates <d> if the wall-clock second changed. */
void alb_http_date_refresh(struct alb_http_date *d);

#endif
