/* Chain v1's text and hash (PROTOCOL.md section 1), shared by the C modules.
 *
 * protocol/_chain_native.c builds the text from Python objects, and
 * store/_verify_native.c from the UTF-8 a SQLite log holds; both quote each
 * field exactly as json's encode_basestring_ascii does, so the text is the
 * one protocol/_chain.py builds, byte for byte. Nothing here touches a Python
 * object, so it runs with the GIL released. Static functions in a header:
 * each module compiles its own copy of the one piece of code.
 */
#ifndef COURTROOM_CHAIN_TEXT_H
#define COURTROOM_CHAIN_TEXT_H

#include <Python.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#define HASH 32

/* A growing buffer: the text of one entry at a time. */
struct text {
    char *buf;
    size_t cap, used;
};

static const char digits[] = "0123456789abcdef";
static char safe[128];  /* 1: an ASCII byte that encode_basestring_ascii copies as it is */

static inline void
chain_text_init(void)
{
    for (int c = 0; c < 128; c++)
        safe[c] = c >= ' ' && c <= '~' && c != '\\' && c != '"';
}

/* room for ``more`` bytes; -1 when out of memory (no exception is set) */
static inline int
text_reserve(struct text *t, size_t more)
{
    if (t->used + more <= t->cap)
        return 0;
    size_t want = t->cap ? t->cap : 1024;
    while (want < t->used + more)
        want *= 2;
    char *p = PyMem_RawRealloc(t->buf, want);  /* safe without the GIL */
    if (p == NULL)
        return -1;
    t->buf = p;
    t->cap = want;
    return 0;
}

static inline int
text_put(struct text *t, const char *s, size_t n)
{
    if (text_reserve(t, n) < 0)
        return -1;
    memcpy(t->buf + t->used, s, n);
    t->used += n;
    return 0;
}

#define TEXT_LITERAL(t, s) text_put(t, s, sizeof(s) - 1)

static inline void
to_hex(const unsigned char *d, char *hex)
{
    for (int i = 0; i < HASH; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 0xf];
    }
}

/* ``s`` (n bytes) == the lower-case hex of ``d``, in a time that depends on n only */
static inline int
same_hex(const unsigned char *s, size_t n, const unsigned char *d)
{
    char hex[2 * HASH];
    to_hex(d, hex);
    const unsigned char *y = (const unsigned char *)hex;
    unsigned char diff = n != 2 * HASH;
    if (n != 2 * HASH)
        s = y;  /* as compare_digest: compare the expected value with itself */
    for (int i = 0; i < 2 * HASH; i++)
        diff |= s[i] ^ y[i];
    return diff == 0;
}

static inline char *
put_u(char *out, uint32_t c)
{
    *out++ = '\\';
    *out++ = 'u';
    *out++ = digits[(c >> 12) & 0xf];
    *out++ = digits[(c >> 8) & 0xf];
    *out++ = digits[(c >> 4) & 0xf];
    *out++ = digits[c & 0xf];
    return out;
}

/* The escape of one character that is not ``safe``: the short forms, a
 * surrogate pair above U+FFFF, else \uXXXX in lower-case hex (12 bytes at most). */
static inline char *
put_escape(char *out, uint32_t c)
{
    const char *brief = NULL;
    switch (c) {
    case '\\': brief = "\\\\"; break;
    case '"': brief = "\\\""; break;
    case '\b': brief = "\\b"; break;
    case '\f': brief = "\\f"; break;
    case '\n': brief = "\\n"; break;
    case '\r': brief = "\\r"; break;
    case '\t': brief = "\\t"; break;
    }
    if (brief != NULL) {
        memcpy(out, brief, 2);
        return out + 2;
    }
    if (c >= 0x10000) {
        uint32_t v = c - 0x10000;
        out = put_u(out, 0xd800 | ((v >> 10) & 0x3ff));
        c = 0xdc00 | (v & 0x3ff);
    }
    return put_u(out, c);
}

/* Copy the run of safe ASCII bytes at s[i..n), escape what ends it if it is
 * ASCII; returns the index of the first byte not handled (a non-ASCII one, or n). */
static inline size_t
quote_ascii(char **out, const unsigned char *s, size_t i, size_t n)
{
    while (i < n && s[i] < 128) {
        size_t j = i;
        while (j < n && s[j] < 128 && safe[s[j]])
            j++;
        memcpy(*out, s + i, j - i);
        *out += j - i;
        if (j == n || s[j] >= 128)
            return j;
        *out = put_escape(*out, s[j]);
        i = j + 1;
    }
    return i;
}

/* The quoted JSON string of the UTF-8 text s[0..n): -1 out of memory, -2 when
 * the bytes are not UTF-8 (as Python's strict decoder judges: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 done. */
static inline int
text_quote_utf8(struct text *t, const unsigned char *s, size_t n)
{
    if (text_reserve(t, 6 * n + 2) < 0)  /* 4 bytes make 12, 1 makes 6 at most */
        return -1;
    char *out = t->buf + t->used;
    *out++ = '"';
    size_t i = 0;
    while ((i = quote_ascii(&out, s, i, n)) < n) {
        unsigned char b = s[i];
        uint32_t c;
        size_t len;
        if (b >= 0xc2 && b <= 0xdf) {
            len = 2;
            c = b & 0x1f;
        }
        else if (b >= 0xe0 && b <= 0xef) {
            len = 3;
            c = b & 0x0f;
        }
        else if (b >= 0xf0 && b <= 0xf4) {
            len = 4;
            c = b & 0x07;
        }
        else
            return -2;
        if (i + len > n)
            return -2;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return -2;
            c = (c << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff)))
            || (len == 4 && (c < 0x10000 || c > 0x10ffff)))
            return -2;
        out = put_escape(out, c);
        i += len;
    }
    *out++ = '"';
    t->used = (size_t)(out - t->buf);
    return 0;
}

/* SHA-256 of the text so far; -1 if OpenSSL fails */
static inline int
text_digest(EVP_MD_CTX *ctx, const EVP_MD *md, const struct text *t, unsigned char *d)
{
    unsigned int len;
    if (!EVP_DigestInit_ex2(ctx, md, NULL) || !EVP_DigestUpdate(ctx, t->buf, t->used)
        || !EVP_DigestFinal_ex(ctx, d, &len))
        return -1;
    return 0;
}

#endif
