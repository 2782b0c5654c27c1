/* core/log.h : leveled log lines to stderr, one write(2) per line so lines
 * from several threads never interleave. Every line carries its context:
 * the caller passes it in the format, e.g. conn=42 action="reading head".
 * The level is set once at start-up, before threads start, and only read
 * afterwards. */
#ifndef ALB_CORE_LOG_H
#define ALB_CORE_LOG_H

enum alb_log_level { ALB_LOG_ERROR, ALB_LOG_WARN, ALB_LOG_INFO, ALB_LOG_DEBUG };

void alb_log_set_level(enum alb_log_level lvl);
enum alb_log_level alb_log_get_level(void);

__attribute__((format(printf, 2, 3)))
void alb_log(enum alb_log_level lvl, const char *fmt, ...);

#define alb_log_error(...) alb_log(ALB_LOG_ERROR, __VA_ARGS__)
#define alb_log_warn(...) alb_log(ALB_LOG_WARN, __VA_ARGS__)
#define alb_log_info(...) alb_log(ALB_LOG_INFO, __VA_ARGS__)
#define alb_log_debug(...)                                   \
    do {                                                     \
        if (alb_log_get_level() >= ALB_LOG_DEBUG)            \
            alb_log(ALB_LOG_DEBUG, __VA_ARGS__);             \
    } while (0)

#endif
