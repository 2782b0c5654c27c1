/* http/h1.c : see h1.h.
 *
 * Rejected, because two parsers could frame the message differently
 * (RFC 9112 §11.2, request smuggling) or because the bytes are not HTTP:
 *  - a line not ended by CRLF (bare LF or bare CR);
 *  - obs-fold (RFC 9112 §5.2): a line starting with SP or HTAB;
 *  - whitespace between a field name and its colon (RFC 9112 §5.1);
 *  - a field name that is not a token; control characters in a value;
 *  - Content-Length that is not 1*DIGIT, overflows, or differs between
 *    repeated fields (RFC 9110 §8.6);
 *  - Transfer-Encoding with Content-Length (RFC 9112 §6.1), on HTTP/1.0, or
 *    whose final coding is not chunked, or with chunked applied twice
 *    (requests; RFC 9112 §6.3 rule 4);
 *  - a missing or repeated Host on HTTP/1.1 (RFC 9112 §3.2), a Host that is
 *    not a valid uri-host[:port];
 *  - a target that is neither origin-form nor absolute-form, except OPTIONS *.
 */
#include "http/h1.h"

#include <string.h>

/* RFC 9110 §5.6.2 tchar */
static const unsigned char tchar_map[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1, ['-'] = 1,
    ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
    ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static inline bool is_tchar(unsigned char c) { return tchar_map[c] != 0; }
static inline bool is_ows(unsigned char c) { return c == ' ' || c == '\t'; }
/* field-vchar / obs-text / SP / HTAB (RFC 9110 §5.5) */
static inline bool is_value_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }
/* Printable ASCII except SP: a request target never carries raw spaces,
 * control bytes or non-ASCII. '#' starts a fragment, which is never sent. */
static inline bool is_target_char(unsigned char c) { return c > 0x20 && c < 0x7f && c != '#'; }

static const char *memchr_const(const char *p, int c, size_t n) { return memchr(p, c, n); }

/* At most this many empty lines before a request line are skipped (RFC 9112
 * §2.2 asks for at least one); more is not a client bug but a probe. */
#define H1_MAX_LEADING_EMPTY_LINES 8

size_t alb_h1_scan_head(const char *buf, size_t len, size_t *scanned)
{
    size_t start = 0;
    for (int k = 0; k < H1_MAX_LEADING_EMPTY_LINES && start + 1 < len && buf[start] == '\r' &&
                    buf[start + 1] == '\n';
         k++)
        start += 2;
    size_t i = *scanned > start ? *scanned : start;
    while (i < len) {
        const char *lf = memchr_const(buf + i, '\n', len - i);
        if (!lf)
            break;
        size_t at = (size_t)(lf - buf);
        /* An empty line ends the head: LF LF, or LF CR LF. The look-back
         * reads bytes of earlier feeds, which the caller keeps in place. */
        if ((at >= start + 1 && buf[at - 1] == '\n') ||
            (at >= start + 2 && buf[at - 1] == '\r' && buf[at - 2] == '\n')) {
            *scanned = at + 1;
            return at + 1;
        }
        i = at + 1;
    }
    *scanned = len;
    return 0;
}

static enum alb_h1_result fail(struct alb_h1_msg *m, int status, const char *why)
{
    m->error_status = status;
    m->error = why;
    return ALB_H1_ERROR;
}

/* Parses 1*DIGIT into *out; false on empty, non-digit or overflow. */
static bool parse_u64(const char *p, size_t n, uint64_t *out)
{
    if (n == 0 || n > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return true;
}

/* Content-Length: a list of identical values is accepted (RFC 9110 §8.6). */
static bool parse_content_length(struct alb_str v, uint64_t *out)
{
    bool have = false;
    uint64_t first = 0;
    size_t i = 0;
    while (i <= v.len) {
        size_t j = i;
        while (j < v.len && v.p[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && is_ows((unsigned char)v.p[a]))
            a++;
        while (b > a && is_ows((unsigned char)v.p[b - 1]))
            b--;
        uint64_t n;
        if (!parse_u64(v.p + a, b - a, &n))
            return false;
        if (have && n != first)
            return false;
        first = n;
        have = true;
        i = j + 1;
    }
    *out = first;
    return have;
}

/* Calls fn for each non-empty comma-separated element of <v>, trimmed. */
typedef bool list_fn(struct alb_h1_msg *m, struct alb_str elem);

static bool for_each_list_elem(struct alb_h1_msg *m, struct alb_str v, list_fn *fn)
{
    size_t i = 0;
    while (i < v.len) {
        size_t j = i;
        while (j < v.len && v.p[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && is_ows((unsigned char)v.p[a]))
            a++;
        while (b > a && is_ows((unsigned char)v.p[b - 1]))
            b--;
        if (b > a && !fn(m, (struct alb_str){v.p + a, b - a}))
            return false;
        i = j + 1;
    }
    return true;
}

static bool is_token(struct alb_str s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!is_tchar((unsigned char)s.p[i]))
            return false;
    return true;
}

static bool on_connection_token(struct alb_h1_msg *m, struct alb_str t)
{
    if (!is_token(t))
        return false;
    if (alb_str_is_ci(t, "close"))
        m->flags |= ALB_H1_F_CONN_CLOSE;
    else if (alb_str_is_ci(t, "keep-alive"))
        m->flags |= ALB_H1_F_CONN_KEEPALIVE;
    else if (alb_str_is_ci(t, "upgrade"))
        m->flags |= ALB_H1_F_CONN_UPGRADE;
    else if (m->conn_token_cnt < ALB_H1_MAX_CONN_TOKENS)
        m->conn_tokens[m->conn_token_cnt++] = t;
    else
        return false;
    return true;
}

/* Transfer-Encoding: tracks whether the last coding is chunked and refuses
 * chunked followed by anything (it would be chunked-then-encoded, or
 * chunked twice). */
static bool on_te_coding(struct alb_h1_msg *m, struct alb_str t)
{
    /* A coding may carry parameters after ';'; only its name matters here. */
    size_t n = 0;
    while (n < t.len && t.p[n] != ';' && !is_ows((unsigned char)t.p[n]))
        n++;
    struct alb_str name = {t.p, n};
    if (!is_token(name))
        return false;
    if (m->flags & ALB_H1_F_CHUNKED)
        return false; /* something after chunked */
    if (alb_str_is_ci(name, "chunked"))
        m->flags |= ALB_H1_F_CHUNKED;
    return true;
}

/* RFC 3986 uri-host [ ":" port ]: reg-name, IPv4 or an IP-literal. */
static bool is_valid_authority(struct alb_str h)
{
    if (h.len == 0)
        return false;
    size_t i = 0;
    if (h.p[0] == '[') {
        while (i < h.len && h.p[i] != ']') {
            unsigned char c = (unsigned char)h.p[i];
            if (i > 0 && !(c == ':' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                           (c >= 'A' && c <= 'F')))
                return false;
            i++;
        }
        if (i == h.len)
            return false;
        i++;
    } else {
        static const char extra[] = "-._~!$&'()*+,;=%";
        while (i < h.len && h.p[i] != ':') {
            unsigned char c = (unsigned char)h.p[i];
            bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c != 0 && strchr(extra, c) != NULL);
            if (!ok)
                return false;
            i++;
        }
    }
    if (i == h.len)
        return true;
    if (h.p[i] != ':')
        return false;
    size_t digits = h.len - i - 1;
    if (digits > 5)
        return false;
    for (size_t k = i + 1; k < h.len; k++)
        if (h.p[k] < '0' || h.p[k] > '9')
            return false;
    return true;
}

static enum alb_h1_method method_id(struct alb_str m)
{
    static const struct {
        const char *name;
        size_t len;
        enum alb_h1_method id;
    } known[] = {{"GET", 3, ALB_H1_M_GET},         {"HEAD", 4, ALB_H1_M_HEAD},
                 {"POST", 4, ALB_H1_M_POST},       {"PUT", 3, ALB_H1_M_PUT},
                 {"OPTIONS", 7, ALB_H1_M_OPTIONS}, {"CONNECT", 7, ALB_H1_M_CONNECT}};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (m.len == known[i].len && memcmp(m.p, known[i].name, m.len) == 0)
            return known[i].id; /* methods are case-sensitive (RFC 9110 §9.1) */
    return ALB_H1_M_OTHER;
}

/* "HTTP/1.x": 1 ok (minor set), 0 malformed, -1 well-formed other version. */
static int parse_version(const char *p, size_t n, int *minor)
{
    if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' || p[5] > '9' || p[7] < '0' ||
        p[7] > '9')
        return 0;
    if (p[5] != '1')
        return -1;
    *minor = p[7] - '0';
    return *minor <= 1 ? 1 : -1;
}

/* Returns the end of the line starting at <p> (pointing at its CR), or NULL
 * when a bare LF or a CR not followed by LF comes first. The head is
 * complete, so an LF exists. */
static const char *line_end(const char *p, const char *end)
{
    const char *lf = memchr_const(p, '\n', (size_t)(end - p));
    if (!lf || lf == p || lf[-1] != '\r')
        return NULL;
    if (memchr_const(p, '\r', (size_t)(lf - 1 - p)))
        return NULL;
    return lf - 1;
}

/* Parses header fields from <p> up to and including the empty line. */
static enum alb_h1_result parse_fields(const char *p, const char *end, struct alb_h1_msg *m, bool is_request)
{
    int host_cnt = 0;
    for (;;) {
        const char *eol = line_end(p, end);
        if (!eol)
            return fail(m, 400, "line not terminated by CRLF");
        if (eol == p)
            return ALB_H1_DONE; /* the empty line */
        if (is_ows((unsigned char)*p))
            return fail(m, 400, "obs-fold or whitespace before a field name");
        const char *colon = memchr_const(p, ':', (size_t)(eol - p));
        if (!colon || colon == p)
            return fail(m, 400, "field line without a name");
        struct alb_str name = {p, (size_t)(colon - p)};
        for (size_t i = 0; i < name.len; i++) {
            if (is_ows((unsigned char)name.p[i]))
                return fail(m, 400, "whitespace between field name and colon");
            if (!is_tchar((unsigned char)name.p[i]))
                return fail(m, 400, "invalid character in field name");
        }
        const char *v = colon + 1, *ve = eol;
        while (v < ve && is_ows((unsigned char)*v))
            v++;
        while (ve > v && is_ows((unsigned char)ve[-1]))
            ve--;
        for (const char *c = v; c < ve; c++)
            if (!is_value_char((unsigned char)*c))
                return fail(m, 400, "invalid character in field value");
        struct alb_str value = {v, (size_t)(ve - v)};
        if (m->hdr_cnt == ALB_H1_MAX_HEADERS)
            return fail(m, 431, "too many header fields");
        m->hdrs[m->hdr_cnt++] = (struct alb_header){name, value};

        if (alb_str_is_ci(name, "content-length")) {
            uint64_t cl;
            if (!parse_content_length(value, &cl))
                return fail(m, 400, "invalid Content-Length");
            if ((m->flags & ALB_H1_F_HAS_CL) && cl != m->content_length)
                return fail(m, 400, "conflicting Content-Length values");
            m->content_length = cl;
            m->flags |= ALB_H1_F_HAS_CL;
        } else if (alb_str_is_ci(name, "transfer-encoding")) {
            m->flags |= ALB_H1_F_HAS_TE;
            if (!for_each_list_elem(m, value, on_te_coding))
                return fail(m, 400, "invalid Transfer-Encoding");
        } else if (alb_str_is_ci(name, "connection")) {
            if (!for_each_list_elem(m, value, on_connection_token))
                return fail(m, 400, "invalid Connection header");
        } else if (is_request && alb_str_is_ci(name, "host")) {
            if (++host_cnt > 1)
                return fail(m, 400, "repeated Host header");
            if (!is_valid_authority(value))
                return fail(m, 400, "invalid Host header");
            if (!(m->flags & ALB_H1_F_ABSOLUTE_FORM))
                m->authority = value;
            m->flags |= ALB_H1_F_HAS_HOST;
        } else if (alb_str_is_ci(name, "upgrade")) {
            m->flags |= ALB_H1_F_HAS_UPGRADE;
        } else if (is_request && alb_str_is_ci(name, "expect")) {
            if (!alb_str_is_ci(value, "100-continue"))
                return fail(m, 417, "unsupported expectation");
            m->flags |= ALB_H1_F_EXPECT_CONTINUE;
        }
        p = eol + 2;
    }
}

static void msg_reset(struct alb_h1_msg *m)
{
    m->method = m->target = m->path = m->authority = m->reason = (struct alb_str){NULL, 0};
    m->method_id = ALB_H1_M_OTHER;
    m->status = 0;
    m->minor = 1;
    m->flags = 0;
    m->content_length = 0;
    m->head_len = 0;
    m->hdr_cnt = 0;
    m->conn_token_cnt = 0;
    m->error_status = 0;
    m->error = NULL;
}

/* Splits the target into path and authority by its form (RFC 9112 §3.2). */
static enum alb_h1_result parse_target(struct alb_h1_msg *m)
{
    struct alb_str t = m->target;
    if (t.p[0] == '/') {
        m->path = t;
        return ALB_H1_DONE;
    }
    if (t.len == 1 && t.p[0] == '*') {
        if (m->method_id != ALB_H1_M_OPTIONS)
            return fail(m, 400, "asterisk-form target outside OPTIONS");
        m->flags |= ALB_H1_F_ASTERISK_FORM;
        m->path = t;
        return ALB_H1_DONE;
    }
    size_t skip = 0;
    if (t.len > 7 && strncasecmp(t.p, "http://", 7) == 0)
        skip = 7;
    else if (t.len > 8 && strncasecmp(t.p, "https://", 8) == 0)
        skip = 8;
    else
        return fail(m, 400, "request target is neither origin-form nor absolute-form");
    const char *a = t.p + skip, *e = t.p + t.len;
    const char *slash = a;
    while (slash < e && *slash != '/' && *slash != '?')
        slash++;
    struct alb_str auth = {a, (size_t)(slash - a)};
    if (memchr_const(auth.p, '@', auth.len) || !is_valid_authority(auth))
        return fail(m, 400, "invalid authority in absolute-form target");
    m->authority = auth;
    m->flags |= ALB_H1_F_ABSOLUTE_FORM;
    /* The path of "http://h" or "http://h?q" is "/" (RFC 9112 §3.2.1). */
    m->path = slash < e && *slash == '/' ? (struct alb_str){slash, (size_t)(e - slash)} : ALB_STR_LIT("/");
    return ALB_H1_DONE;
}

enum alb_h1_result alb_h1_parse_request(const char *buf, size_t len, size_t *scanned, struct alb_h1_msg *m)
{
    msg_reset(m);
    size_t head_len = alb_h1_scan_head(buf, len, scanned);
    if (head_len == 0) {
        /* Incomplete: is it already over a limit? */
        const char *lf = memchr_const(buf, '\n', len < ALB_H1_MAX_TARGET_LEN + 64 ? len : ALB_H1_MAX_TARGET_LEN + 64);
        if (!lf && len >= ALB_H1_MAX_TARGET_LEN + 64)
            return fail(m, 414, "request line too long");
        if (len >= ALB_H1_MAX_HEAD_LEN)
            return fail(m, 431, "request head too large");
        return ALB_H1_MORE;
    }
    if (head_len > ALB_H1_MAX_HEAD_LEN)
        return fail(m, 431, "request head too large");
    m->head_len = head_len;
    const char *p = buf, *end = buf + head_len;
    while (p + 1 < end && p[0] == '\r' && p[1] == '\n')
        p += 2;
    const char *eol = line_end(p, end);
    if (!eol)
        return fail(m, 400, "request line not terminated by CRLF");
    const char *sp1 = memchr_const(p, ' ', (size_t)(eol - p));
    if (!sp1 || sp1 == p)
        return fail(m, 400, "malformed request line");
    m->method = (struct alb_str){p, (size_t)(sp1 - p)};
    if (!is_token(m->method))
        return fail(m, 400, "invalid method");
    m->method_id = method_id(m->method);
    const char *t = sp1 + 1;
    const char *sp2 = memchr_const(t, ' ', (size_t)(eol - t));
    if (!sp2 || sp2 == t)
        return fail(m, 400, "malformed request line");
    m->target = (struct alb_str){t, (size_t)(sp2 - t)};
    if (m->target.len > ALB_H1_MAX_TARGET_LEN)
        return fail(m, 414, "request target too long");
    for (size_t i = 0; i < m->target.len; i++)
        if (!is_target_char((unsigned char)t[i]))
            return fail(m, 400, "invalid character in request target");
    int v = parse_version(sp2 + 1, (size_t)(eol - sp2 - 1), &m->minor);
    if (v == 0)
        return fail(m, 400, "malformed HTTP version");
    if (v < 0)
        return fail(m, 505, "HTTP version not supported");
    if (m->method_id == ALB_H1_M_CONNECT)
        return fail(m, 400, "CONNECT is not served");
    if (parse_target(m) != ALB_H1_DONE)
        return ALB_H1_ERROR;
    if (parse_fields(eol + 2, end, m, true) != ALB_H1_DONE)
        return ALB_H1_ERROR;

    if ((m->flags & ALB_H1_F_HAS_TE) && (m->flags & ALB_H1_F_HAS_CL))
        return fail(m, 400, "both Content-Length and Transfer-Encoding");
    if ((m->flags & ALB_H1_F_HAS_TE) && m->minor == 0)
        return fail(m, 400, "Transfer-Encoding on HTTP/1.0");
    if ((m->flags & ALB_H1_F_HAS_TE) && !(m->flags & ALB_H1_F_CHUNKED))
        return fail(m, 400, "final transfer coding is not chunked");
    if (m->minor == 1 && !(m->flags & ALB_H1_F_HAS_HOST))
        return fail(m, 400, "missing Host header");
    return ALB_H1_DONE;
}

enum alb_h1_result alb_h1_parse_response(const char *buf, size_t len, size_t *scanned, struct alb_h1_msg *m)
{
    msg_reset(m);
    size_t head_len = alb_h1_scan_head(buf, len, scanned);
    if (head_len == 0)
        return len >= ALB_H1_MAX_HEAD_LEN ? fail(m, 502, "response head too large") : ALB_H1_MORE;
    if (head_len > ALB_H1_MAX_HEAD_LEN)
        return fail(m, 502, "response head too large");
    m->head_len = head_len;
    const char *p = buf, *end = buf + head_len;
    const char *eol = line_end(p, end);
    if (!eol || eol - p < 12)
        return fail(m, 502, "malformed status line");
    if (parse_version(p, 8, &m->minor) != 1 || p[8] != ' ')
        return fail(m, 502, "malformed or unsupported HTTP version in status line");
    const char *s = p + 9;
    if (s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9')
        return fail(m, 502, "invalid status code");
    m->status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    if (s + 3 < eol && s[3] != ' ')
        return fail(m, 502, "malformed status line");
    const char *r = s + 3 < eol ? s + 4 : eol;
    for (const char *c = r; c < eol; c++)
        if (!is_value_char((unsigned char)*c))
            return fail(m, 502, "invalid character in reason phrase");
    m->reason = (struct alb_str){r, (size_t)(eol - r)};
    if (parse_fields(eol + 2, end, m, false) != ALB_H1_DONE) {
        m->error_status = 502;
        return ALB_H1_ERROR;
    }
    if ((m->flags & ALB_H1_F_HAS_TE) && (m->flags & ALB_H1_F_HAS_CL))
        return fail(m, 502, "both Content-Length and Transfer-Encoding in response");
    return ALB_H1_DONE;
}

bool alb_h1_response_has_body(const struct alb_h1_msg *resp, enum alb_h1_method req_method)
{
    if (req_method == ALB_H1_M_HEAD)
        return false;
    if (resp->status < 200 || resp->status == 204 || resp->status == 304)
        return false;
    return true;
}

bool alb_h1_header_is_hop_by_hop(const struct alb_h1_msg *m, struct alb_str name)
{
    switch (name.len) {
    case 2:
        if (alb_str_is_ci(name, "te"))
            return true;
        break;
    case 10:
        if (alb_str_is_ci(name, "connection") || alb_str_is_ci(name, "keep-alive"))
            return true;
        break;
    case 16:
        if (alb_str_is_ci(name, "proxy-connection"))
            return true;
        break;
    default:
        break;
    }
    for (size_t i = 0; i < m->conn_token_cnt; i++)
        if (name.len == m->conn_tokens[i].len && strncasecmp(name.p, m->conn_tokens[i].p, name.len) == 0)
            return true;
    return false;
}

/* chunked decoder states (RFC 9112 §7.1) */
enum {
    CH_SIZE,     /* hex digits of chunk-size */
    CH_SIZE_WS,  /* BWS after the size, before ';' */
    CH_EXT,      /* chunk-ext up to CR */
    CH_SIZE_LF,  /* LF after the size line's CR */
    CH_DATA,     /* <remaining> data bytes */
    CH_DATA_CR,  /* CR after data */
    CH_DATA_LF,  /* LF after data */
    CH_TRL_START,/* start of a trailer line or of the final CRLF */
    CH_TRL_NAME, /* trailer field name, up to ':' */
    CH_TRL_LINE, /* trailer field value */
    CH_TRL_LF,   /* LF ending a trailer line */
    CH_END_LF,   /* LF of the final CRLF */
    CH_DONE,
};

void alb_h1_chunked_init(struct alb_h1_chunked *c)
{
    memset(c, 0, sizeof(*c));
    c->state = CH_SIZE;
}

bool alb_h1_chunked_is_done(const struct alb_h1_chunked *c) { return c->state == CH_DONE; }

enum alb_h1_result alb_h1_chunked_step(struct alb_h1_chunked *c, const char *p, size_t len, size_t *used,
                                       bool *is_data)
{
    if (c->state == CH_DATA) {
        size_t n = len < c->remaining ? len : (size_t)c->remaining;
        c->remaining -= n;
        if (c->remaining == 0)
            c->state = CH_DATA_CR;
        *used = n;
        *is_data = true;
        return ALB_H1_MORE;
    }
    *is_data = false;
    size_t i = 0;
    while (i < len) {
        unsigned char ch = (unsigned char)p[i];
        switch (c->state) {
        case CH_SIZE: {
            int h = alb_hex_digit(ch);
            if (h >= 0) {
                /* 16 hex digits would overflow what any length needs: refuse. */
                if (++c->size_digits > 15)
                    goto bad;
                c->remaining = c->remaining * 16 + (uint64_t)h;
            } else if (c->size_digits == 0) {
                goto bad;
            } else if (ch == '\r') {
                c->state = CH_SIZE_LF;
            } else if (ch == ';') {
                c->state = CH_EXT;
            } else if (is_ows(ch)) {
                c->state = CH_SIZE_WS;
            } else {
                goto bad;
            }
            break;
        }
        case CH_SIZE_WS:
            if (ch == ';')
                c->state = CH_EXT;
            else if (!is_ows(ch))
                goto bad;
            break;
        case CH_EXT:
            if (ch == '\r')
                c->state = CH_SIZE_LF;
            else if (!is_value_char(ch))
                goto bad;
            else if (++c->trailer_len > ALB_H1_MAX_TRAILER_LEN)
                goto bad; /* unbounded extensions are a slow-drip resource attack */
            break;
        case CH_SIZE_LF:
            if (ch != '\n')
                goto bad;
            c->size_digits = 0;
            if (c->remaining == 0) {
                c->state = CH_TRL_START;
                c->trailer_len = 0;
            } else {
                c->state = CH_DATA;
                *used = i + 1;
                return ALB_H1_MORE;
            }
            break;
        case CH_DATA_CR:
            if (ch != '\r')
                goto bad;
            c->state = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (ch != '\n')
                goto bad;
            c->state = CH_SIZE;
            c->trailer_len = 0;
            break;
        case CH_TRL_START:
            if (ch == '\r') {
                c->state = CH_END_LF;
                break;
            }
            if (!is_tchar(ch))
                goto bad; /* obs-fold or junk where a field name belongs */
            c->state = CH_TRL_NAME;
            if (++c->trailer_len > ALB_H1_MAX_TRAILER_LEN)
                goto bad;
            break;
        case CH_TRL_NAME:
            if (ch == ':')
                c->state = CH_TRL_LINE;
            else if (!is_tchar(ch))
                goto bad; /* includes whitespace before the colon */
            if (++c->trailer_len > ALB_H1_MAX_TRAILER_LEN)
                goto bad;
            break;
        case CH_TRL_LINE:
            if (ch == '\r')
                c->state = CH_TRL_LF;
            else if (!is_value_char(ch))
                goto bad;
            else if (++c->trailer_len > ALB_H1_MAX_TRAILER_LEN)
                goto bad;
            break;
        case CH_TRL_LF:
            if (ch != '\n')
                goto bad;
            c->state = CH_TRL_START;
            break;
        case CH_END_LF:
            if (ch != '\n')
                goto bad;
            c->state = CH_DONE;
            *used = i + 1;
            return ALB_H1_DONE;
        default:
            goto bad;
        }
        i++;
    }
    *used = i;
    return ALB_H1_MORE;
bad:
    *used = i;
    return ALB_H1_ERROR;
}
