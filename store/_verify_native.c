/* store._verify_native: verify a SQLite log from its own bytes, without Python objects.
 *
 * store/_verify.py read the eight hashed columns of every entry into Python
 * rows and fed them to ChainVerifier.feed_rows (in C since
 * protocol/_chain_native.c): two thirds of a long log's verify went to making
 * those objects (docs/benchmarks.md, section 0). This reads the rows with
 * SQLite's own API, builds each entry's chain v1 text from the UTF-8 it holds
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

/* the column's text, or NULL when it holds another type */
static const unsigned char *
text_of(sqlite3_stmt *st, int col, size_t *n)
{
    if (sqlite3_column_type(st, col) != SQLITE_TEXT)
        return NULL;
    const unsigned char *s = sqlite3_column_text(st, col);
    *n = (size_t)sqlite3_column_bytes(st, col);
    return s;
}

/* 1: the row verifies and the chain moves on; 0: stop here (the Python path judges it) */
static int
check_row(struct run *r, sqlite3_stmt *st, struct text *t, EVP_MD_CTX *ctx, const char *qsid,
          size_t qsid_len)
{
    size_t n_sid = 0, n_ts = 0, n_event = 0, n_actor = 0, n_details = 0, n_previous = 0, n_hash = 0;
    const unsigned char *sid = text_of(st, C_SID, &n_sid), *ts = text_of(st, C_TS, &n_ts);
    const unsigned char *event = text_of(st, C_EVENT, &n_event);
    const unsigned char *details = text_of(st, C_DETAILS, &n_details);
    const unsigned char *previous = text_of(st, C_PREVIOUS, &n_previous);
    const unsigned char *hash = text_of(st, C_HASH, &n_hash), *actor = NULL;
    int actor_null = sqlite3_column_type(st, C_ACTOR) == SQLITE_NULL;
    if (!actor_null && (actor = text_of(st, C_ACTOR, &n_actor)) == NULL)
        return 0;
    if (sid == NULL || ts == NULL || event == NULL || details == NULL || previous == NULL
        || hash == NULL || sqlite3_column_type(st, C_SEQ) != SQLITE_INTEGER)
        return 0;
    long long seq = sqlite3_column_int64(st, C_SEQ);
    if (n_sid != (size_t)r->sid_len || memcmp(sid, r->sid, n_sid) != 0)
        return 0;
    if (!ascii(previous, n_previous) || !ascii(hash, n_hash))
        return 0;
    if (r->from_first && r->count == 0) {
        /* a range starts from its first row's own link (join_parts checks it) */
        if (n_previous > sizeof r->prev)
            return 0;
        r->expected = seq;
        memcpy(r->prev, previous, n_previous);
        r->prev_len = n_previous;
        r->first_seq = seq;
        memcpy(r->first_prev, previous, n_previous);
        r->first = 1;
    }
    if (seq != r->expected || n_previous != r->prev_len
        || memcmp(previous, r->prev, n_previous) != 0)
        return 0;
    char num[24];
    int k = snprintf(num, sizeof num, "%lld", seq);
    t->used = 0;
    if (TEXT_LITERAL(t, "{\"actor_id\": ")
        || (actor_null ? TEXT_LITERAL(t, "null") : text_quote_utf8(t, actor, n_actor))
        || TEXT_LITERAL(t, ", \"details\": ") || text_quote_utf8(t, details, n_details)
        || TEXT_LITERAL(t, ", \"event_type\": ") || text_quote_utf8(t, event, n_event)
        || TEXT_LITERAL(t, ", \"previous_hash\": ") || text_quote_utf8(t, previous, n_previous)
        || TEXT_LITERAL(t, ", \"sequence_number\": ") || text_put(t, num, (size_t)k)
        || TEXT_LITERAL(t, ", \"session_id\": ") || text_put(t, qsid, qsid_len)
        || TEXT_LITERAL(t, ", \"timestamp\": ") || text_quote_utf8(t, ts, n_ts)
        || TEXT_LITERAL(t, "}")) {
        /* not UTF-8 (-2), or out of memory (-1): either way the Python path takes over */
        return 0;
    }
    unsigned char d[HASH];
    if (text_digest(ctx, sha256, t, d) < 0 || !same_hex(hash, n_hash, d))
        return 0;
    r->count++;
    r->last = seq;
    r->expected = seq + 1;
    memcpy(r->prev, hash, n_hash);  /* 64 bytes: same_hex held it to that */
    r->prev_len = n_hash;
    return 1;
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
        if (rc != SQLITE_ROW || !check_row(r, st, &t, ctx, q.buf, q.used))
            break;
    }
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    EVP_MD_CTX_free(ctx);
    PyMem_RawFree(t.buf);
    PyMem_RawFree(q.buf);
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
    r.from_first = args[4] == Py_None;
    if (!r.from_first) {
        Py_ssize_t n;
        const char *p;
        if ((r.expected = PyLong_AsLongLong(args[4])) == -1 && PyErr_Occurred())
            return NULL;
        if ((p = PyUnicode_AsUTF8AndSize(args[5], &n)) == NULL)
            return NULL;
        /* a hash no row can link to: verify none, the Python path judges the first */
        if ((size_t)n <= sizeof r.prev && ascii((const unsigned char *)p, (size_t)n)) {
            memcpy(r.prev, p, (size_t)n);
            r.prev_len = (size_t)n;
            Py_BEGIN_ALLOW_THREADS
            run_verify(&r);
            Py_END_ALLOW_THREADS
        }
    }
    else {
        Py_BEGIN_ALLOW_THREADS
        run_verify(&r);
        Py_END_ALLOW_THREADS
    }
    if (r.nomem)
        return PyErr_NoMemory();
    PyObject *first = Py_None;
    Py_INCREF(first);
    if (r.first && r.count > 0) {
        Py_DECREF(first);
        first = Py_BuildValue("(Ls#)", r.first_seq, r.first_prev, (Py_ssize_t)HASH * 2);
        if (first == NULL)
            return NULL;
    }
    PyObject *last = r.count > 0 ? PyLong_FromLongLong(r.last) : Py_NewRef(args[2]);
    if (last == NULL) {
        Py_DECREF(first);
        return NULL;
    }
    PyObject *expected = r.count > 0 || !r.from_first ? PyLong_FromLongLong(r.expected)
                                                      : Py_NewRef(Py_None);
    PyObject *result = expected == NULL
        ? NULL
        : Py_BuildValue("(LOs#NNO)", r.count, expected, r.prev, (Py_ssize_t)r.prev_len, last,
                        first, r.done ? Py_True : Py_False);
    Py_XDECREF(expected);
    return result;
}

static PyMethodDef methods[] = {
    {"verify", (PyCFunction)(void (*)(void))verify, METH_FASTCALL,
     "verify(uri, session_id, after, through, expected, previous_hash)\n--\n\n"
     "The longest run of a SQLite log's entries that verifies, from SQLite's own"
     " bytes: (count, expected, previous_hash, last sequence, (first sequence,"
     " its previous_hash) or None, whether the query ended). expected None:"
     " start from the first row's own link."},
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
