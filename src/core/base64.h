/* core/base64.h : standard base64 (RFC 4648 §4), as Kubernetes Secrets
 * carry their data. */
#ifndef ALB_CORE_BASE64_H
#define ALB_CORE_BASE64_H

#include <stddef.h>
#include <sys/types.h>

/* alb_base64_decode() : decodes in[0..len) into out (room for len / 4 * 3
 * bytes is enough); padding is required, line breaks are skipped. Returns
 * the bytes written, or -1 when the text is not base64. */
ssize_t alb_base64_decode(const char *in, size_t len, unsigned char *out, size_t cap);

#endif
