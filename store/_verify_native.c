/* store._verify_native: verify a stored log from its own bytes, without Python objects.
 *
 * store/_verify.py read the eight hashed columns of every entry into Python
 * rows and fed them to ChainVerifier.feed_rows (in C since
 * protocol/_chain_native.c): two thirds of a long log's verify went to making
 * those objects (docs/benchmarks.md, section 0). This reads the rows with
 * SQLite's own API (or takes PostgreSQL's COPY text output, a page at a
 * time), builds each entry's chain v1 text from the UTF-8 it holds
 * (protocol/_chain_text.h, the quoting the Python does) and checks it, all
 * with the GIL released.
 *
 * It accepts only what feed_rows would accept, and stops, without judging,
 * at the first row that it does not: a column of another type than the
 * store writes, text that is not UTF-8, a broken link or hash, an error from
 * SQLite. store/_verify.py then goes on from that row with the Python path,
 * which judges it (or raises) exactly as before, so the result is the one a
 * Python pass gives, whatever the database holds.
 */
#define PY_SSIZE_T_CLEAN
#include "_chain_text.h"
#include <sqlite3.h>
#include <limits.h>
#include <stdio.h>

static EVP_MD *sha256;

enum { C_SID, C_SEQ, C_TS, C_EVENT, C_ACTOR, C_DETAILS, C_PREVIOUS, C_HASH };

struct run {
    /* in */
    const char *uri, *sid;
    Py_ssize_t sid_len;
    int has_after, has_through, from_first;
    long long after, through;
    /* the chain: the next sequence number and the hash it must link to */
    long long expected;
    char prev[2 * HASH];
    size_t prev_len;
    /* out */
    long long count, last, first_seq;
    char first_prev[2 * HASH];
    int first, done, nomem;
};

static int
ascii(const unsigned char *s, size_t n)
{
    unsigned char any = 0;
    for (size_t i = 0; i < n; i++)
        any |= s[i];
    return any < 128;
}

/* One row's eight fields as bytes: NULL where the column is not text (for
 * actor_id, NULL with ``actor_null`` set is SQL NULL). */
struct row {
    const unsigned char *f[8];
    size_t n[8];
    int actor_null, seq_ok;
    long long seq;
};

/* 1: the row verifies and the chain moves on; 0: stop here (the Python path judges it) */
static int
check_row(struct run *r, const struct row *w, struct text *t, EVP_MD_CTX *ctx, const char *qsid,
          size_t qsid_len)
{
    const unsigned char *const *f = w->f;
    const size_t *n = w->n;
    for (int i = 0; i < 8; i++)
        if (i != C_SEQ && f[i] == NULL && !(i == C_ACTOR && w->actor_null))
            return 0;
    if (!w->seq_ok || n[C_SID] != (size_t)r->sid_len || memcmp(f[C_SID], r->sid, n[C_SID]) != 0)
        return 0;
    if (!ascii(f[C_PREVIOUS], n[C_PREVIOUS]) || !ascii(f[C_HASH], n[C_HASH]))
        return 0;
    if (r->from_first && r->count == 0) {
        /* a range starts from its first row's own link (join_parts checks it) */
        if (n[C_PREVIOUS] > sizeof r->prev)
            return 0;
        r->expected = w->seq;
        memcpy(r->prev, f[C_PREVIOUS], n[C_PREVIOUS]);
        r->prev_len = n[C_PREVIOUS];
        r->first_seq = w->seq;
        memcpy(r->first_prev, f[C_PREVIOUS], n[C_PREVIOUS]);
        r->first = 1;
    }
    if (w->seq != r->expected || n[C_PREVIOUS] != r->prev_len
        || memcmp(f[C_PREVIOUS], r->prev, n[C_PREVIOUS]) != 0)
        return 0;
    char num[24];
    int k = snprintf(num, sizeof num, "%lld", w->seq);
    t->used = 0;
    if (TEXT_LITERAL(t, "{\"actor_id\": ")
        || (w->actor_null ? TEXT_LITERAL(t, "null") : text_quote_utf8(t, f[C_ACTOR], n[C_ACTOR]))
        || TEXT_LITERAL(t, ", \"details\": ") || text_quote_utf8(t, f[C_DETAILS], n[C_DETAILS])
        || TEXT_LITERAL(t, ", \"event_type\": ") || text_quote_utf8(t, f[C_EVENT], n[C_EVENT])
        || TEXT_LITERAL(t, ", \"previous_hash\": ")
        || text_quote_utf8(t, f[C_PREVIOUS], n[C_PREVIOUS])
        || TEXT_LITERAL(t, ", \"sequence_number\": ") || text_put(t, num, (size_t)k)
        || TEXT_LITERAL(t, ", \"session_id\": ") || text_put(t, qsid, qsid_len)
        || TEXT_LITERAL(t, ", \"timestamp\": ") || text_quote_utf8(t, f[C_TS], n[C_TS])
        || TEXT_LITERAL(t, "}")) {
        /* not UTF-8 (-2), or out of memory (-1): either way the Python path takes over */
        return 0;
    }
    unsigned char d[HASH];
    if (text_digest(ctx, sha256, t, d) < 0 || !same_hex(f[C_HASH], n[C_HASH], d))
        return 0;
    r->count++;
    r->last = w->seq;
    r->expected = w->seq + 1;
    memcpy(r->prev, f[C_HASH], n[C_HASH]);  /* 64 bytes: same_hex held it to that */
    r->prev_len = n[C_HASH];
    return 1;
}

/* The SQLite row under the statement's cursor */
static void
sqlite_row(sqlite3_stmt *st, struct row *w)
{
    for (int i = 0; i < 8; i++) {
        w->f[i] = NULL;
        w->n[i] = 0;
        if (i != C_SEQ && sqlite3_column_type(st, i) == SQLITE_TEXT) {
            w->f[i] = sqlite3_column_text(st, i);
            w->n[i] = (size_t)sqlite3_column_bytes(st, i);
        }
    }
    w->actor_null = sqlite3_column_type(st, C_ACTOR) == SQLITE_NULL;
    w->seq_ok = sqlite3_column_type(st, C_SEQ) == SQLITE_INTEGER;
    w->seq = w->seq_ok ? sqlite3_column_int64(st, C_SEQ) : 0;
}

static void
run_verify(struct run *r)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    struct text t = {NULL, 0, 0}, q = {NULL, 0, 0};
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();  /* one a call: calls run in parallel threads */
    char sql[512];
    if (ctx == NULL || text_quote_utf8(&q, (const unsigned char *)r->sid, (size_t)r->sid_len)) {
        r->nomem = ctx == NULL;
        goto out;
    }
    snprintf(sql, sizeof sql,
             "SELECT session_id, sequence_number, \"timestamp\", event_type, actor_id, details,"
             " previous_hash, hash_chain FROM session_log_entries WHERE session_id = ?1%s%s"
             " ORDER BY sequence_number",
             r->has_after ? " AND sequence_number > ?2" : "",
             r->has_through ? " AND sequence_number <= ?3" : "");
    if (sqlite3_open_v2(r->uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK
        || sqlite3_busy_timeout(db, 30000) != SQLITE_OK
        || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK
        || sqlite3_bind_text(st, 1, r->sid, (int)r->sid_len, SQLITE_STATIC) != SQLITE_OK
        || (r->has_after && sqlite3_bind_int64(st, 2, r->after) != SQLITE_OK)
        || (r->has_through && sqlite3_bind_int64(st, 3, r->through) != SQLITE_OK))
        goto out;
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
            r->done = 1;
            break;
        }
        if (rc != SQLITE_ROW)
            break;
        struct row w;
        sqlite_row(st, &w);
        if (!check_row(r, &w, &t, ctx, q.buf, q.used))
            break;
    }
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    EVP_MD_CTX_free(ctx);
    PyMem_RawFree(t.buf);
    PyMem_RawFree(q.buf);
}

/* PostgreSQL's COPY text format: a row a line, fields split by tabs, \N for
 * NULL, and backslash escapes for a backslash and six control characters.
 * Anything else (another escape, a field too many) is left to the Python path. */
static int
copy_row(const unsigned char *line, size_t len, struct row *w, struct text *u)
{
    size_t start[8], at = 0;
    int escaped[8], fields = 0;
    const unsigned char *end = NULL;
    u->used = 0;
    while (fields < 8) {
        end = memchr(line + at, '\t', len - at);
        size_t n = end ? (size_t)(end - line) - at : len - at;
        const unsigned char *v = line + at;
        escaped[fields] = 0;
        w->f[fields] = v;
        w->n[fields] = n;
        if (memchr(v, '\\', n) != NULL) {
            if (n == 2 && v[1] == 'N') {
                w->f[fields] = NULL;
                w->n[fields] = 0;
            }
            else {
                if (text_reserve(u, n) < 0)
                    return 0;
                start[fields] = u->used;
                escaped[fields] = 1;
                for (size_t i = 0; i < n; i++) {
                    unsigned char c = v[i];
                    if (c == '\\') {
                        if (++i == n)
                            return 0;
                        switch (v[i]) {
                        case '\\': c = '\\'; break;
                        case 'b': c = '\b'; break;
                        case 'f': c = '\f'; break;
                        case 'n': c = '\n'; break;
                        case 'r': c = '\r'; break;
                        case 't': c = '\t'; break;
                        case 'v': c = '\v'; break;
                        default: return 0;
                        }
                    }
                    u->buf[u->used++] = (char)c;
                }
                w->n[fields] = u->used - start[fields];
            }
        }
        fields++;
        if (end == NULL)
            break;
        at = (size_t)(end - line) + 1;
    }
    if (fields != 8 || end != NULL)  /* too few fields, or too many */
        return 0;
    for (int i = 0; i < 8; i++)
        if (escaped[i])
            w->f[i] = (const unsigned char *)u->buf + start[i];
    w->actor_null = w->f[C_ACTOR] == NULL;
    /* the sequence number: PostgreSQL's decimal text of a bigint */
    const unsigned char *q = w->f[C_SEQ];
    size_t n = w->n[C_SEQ], i = 0;
    int neg = n > 0 && q[0] == '-';
    unsigned long long v = 0;
    w->seq_ok = q != NULL && n > (size_t)neg && n <= 19 + (size_t)neg && !escaped[C_SEQ];
    for (i = (size_t)neg; w->seq_ok && i < n; i++) {
        if (q[i] < '0' || q[i] > '9' || (q[i] == '0' && i == (size_t)neg && n > i + 1))
            w->seq_ok = 0;
        v = v * 10 + (unsigned long long)(q[i] - '0');
    }
    if (w->seq_ok && v > (unsigned long long)LLONG_MAX)
        w->seq_ok = 0;
    w->seq = neg ? -(long long)v : (long long)v;
    w->f[C_SEQ] = NULL;  /* not text to check_row: its number is w->seq */
    return 1;
}

static void
run_copy(struct run *r, const unsigned char *data, size_t len)
{
    struct text t = {NULL, 0, 0}, q = {NULL, 0, 0}, u = {NULL, 0, 0};
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t pos = 0;
    if (ctx == NULL || text_quote_utf8(&q, (const unsigned char *)r->sid, (size_t)r->sid_len)) {
        r->nomem = ctx == NULL;
        goto out;
    }
    while (pos < len) {
        const unsigned char *line = data + pos, *end = memchr(line, '\n', len - pos);
        struct row w;
        if (end == NULL || !copy_row(line, (size_t)(end - line), &w, &u)
            || !check_row(r, &w, &t, ctx, q.buf, q.used))
            break;
        pos = (size_t)(end - data) + 1;
    }
    r->done = pos == len;
out:
    EVP_MD_CTX_free(ctx);
    PyMem_RawFree(t.buf);
    PyMem_RawFree(q.buf);
    PyMem_RawFree(u.buf);
}

/* (count, expected, previous_hash, last, first, done) of a run; ``after``: the
 * last sequence when none verified */
static PyObject *
result_of(const struct run *r, PyObject *after)
{
    if (r->nomem)
        return PyErr_NoMemory();
    PyObject *first = Py_None;
    Py_INCREF(first);
    if (r->first && r->count > 0) {
        Py_DECREF(first);
        first = Py_BuildValue("(Ls#)", r->first_seq, r->first_prev, (Py_ssize_t)HASH * 2);
        if (first == NULL)
            return NULL;
    }
    PyObject *last = r->count > 0 ? PyLong_FromLongLong(r->last) : Py_NewRef(after);
    if (last == NULL) {
        Py_DECREF(first);
        return NULL;
    }
    PyObject *expected = r->count > 0 || !r->from_first ? PyLong_FromLongLong(r->expected)
                                                        : Py_NewRef(Py_None);
    if (expected == NULL) {
        Py_DECREF(first);
        Py_DECREF(last);
        return NULL;
    }
    PyObject *result = Py_BuildValue("(LOs#NNO)", r->count, expected, r->prev,
                                     (Py_ssize_t)r->prev_len, last, first,
                                     r->done ? Py_True : Py_False);
    Py_DECREF(expected);
    return result;
}

static int
optional_int(PyObject *v, int *has, long long *out)
{
    *has = v != Py_None;
    if (!*has)
        return 0;
    *out = PyLong_AsLongLong(v);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* Where the chain starts: None, from the first row's own link; else the next
 * sequence and the hash it links to. 1: a row can link to it; 0: none can (a
 * hash that is not ASCII, or too long), so verify none and let the Python path
 * judge the first; -1: an error is set. */
static int
start_chain(struct run *r, PyObject *expected, PyObject *prev)
{
    r->from_first = expected == Py_None;
    if (r->from_first)
        return 1;
    Py_ssize_t n;
    const char *p;
    if ((r->expected = PyLong_AsLongLong(expected)) == -1 && PyErr_Occurred())
        return -1;
    if ((p = PyUnicode_AsUTF8AndSize(prev, &n)) == NULL)
        return -1;
    if ((size_t)n > sizeof r->prev || !ascii((const unsigned char *)p, (size_t)n))
        return 0;
    memcpy(r->prev, p, (size_t)n);
    r->prev_len = (size_t)n;
    return 1;
}

/* verify(uri, session_id, after, through, expected, previous_hash)
 *   -> (count, expected, previous_hash, last, first, done) */
static PyObject *
verify(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    struct run r;
    memset(&r, 0, sizeof r);
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "verify() takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    if ((r.uri = PyUnicode_AsUTF8(args[0])) == NULL
        || (r.sid = PyUnicode_AsUTF8AndSize(args[1], &r.sid_len)) == NULL
        || optional_int(args[2], &r.has_after, &r.after) < 0
        || optional_int(args[3], &r.has_through, &r.through) < 0)
        return NULL;
    int linkable = start_chain(&r, args[4], args[5]);
    if (linkable < 0)
        return NULL;
    if (linkable) {
        Py_BEGIN_ALLOW_THREADS
        run_verify(&r);
        Py_END_ALLOW_THREADS
    }
    return result_of(&r, args[2]);
}

/* verify_copy(data, session_id, expected, previous_hash)
 *   -> (count, expected, previous_hash, last, first, all): whole rows of COPY text */
static PyObject *
verify_copy(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    struct run r;
    Py_buffer data;
    memset(&r, 0, sizeof r);
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "verify_copy() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    if ((r.sid = PyUnicode_AsUTF8AndSize(args[1], &r.sid_len)) == NULL)
        return NULL;
    int linkable = start_chain(&r, args[2], args[3]);
    if (linkable < 0)
        return NULL;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    if (linkable) {
        Py_BEGIN_ALLOW_THREADS
        run_copy(&r, data.buf, (size_t)data.len);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&data);
    return result_of(&r, Py_None);
}

static PyMethodDef methods[] = {
    {"verify", (PyCFunction)(void (*)(void))verify, METH_FASTCALL,
     "verify(uri, session_id, after, through, expected, previous_hash)\n--\n\n"
     "The longest run of a SQLite log's entries that verifies, from SQLite's own"
     " bytes: (count, expected, previous_hash, last sequence, (first sequence,"
     " its previous_hash) or None, whether the query ended). expected None:"
     " start from the first row's own link."},
    {"verify_copy", (PyCFunction)(void (*)(void))verify_copy, METH_FASTCALL,
     "verify_copy(data, session_id, expected, previous_hash)\n--\n\n"
     "The same over whole rows of PostgreSQL's COPY text output of the eight"
     " hashed columns; the last item says whether every row verified."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_verify_native",
    .m_doc = "store._verify's SQLite reader, in C.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__verify_native(void)
{
    if (sha256 == NULL && (sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL has no SHA-256");
        return NULL;
    }
    chain_text_init();
    return PyModule_Create(&module);
}
