/* protocol._chain_native: ChainVerifier.feed_rows of protocol/_chain.py, in C.
 *
 * The same checks on the same rows, with the same result: the chain v1 text
 * of PROTOCOL.md section 1 is built here byte for byte as the Python loop
 * builds it (each field quoted as json's encode_basestring_ascii quotes it)
 * and hashed with OpenSSL's SHA-256 (the libcrypto that hashlib uses).
 * Why it exists: verifying a stored log or a bundle is this loop over
 * millions of rows, and in Python five quote calls, an f-string, a hashlib
 * object and two compare_digest calls an entry cost four times the hash
 * itself (docs/benchmarks.md, section 0). Optional, like _merkle_native:
 * without it protocol/_chain.py runs the Python loop.
 */
#define PY_SSIZE_T_CLEAN
#include "_chain_text.h"

#define FIELDS 8

static EVP_MD *sha256;
static EVP_MD_CTX *ctx;  /* reused: every call holds the GIL throughout */
static PyObject *one, *zero;
static struct text out;  /* the text being hashed, used under the GIL */

static int
put(const char *s, size_t n)
{
    if (text_put(&out, s, n) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

#define PUT_LITERAL(s) put(s, sizeof(s) - 1)

/* encode_basestring_ascii(text): quotes, the short escapes, \uXXXX (lower-case
 * hex) for every other control character and everything past '~', and a
 * surrogate pair for a code point above U+FFFF. A text that is not a str is a
 * TypeError, as there. */
static int
put_quoted(PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "first argument must be a string, not %.80s",
                     Py_TYPE(text)->tp_name);
        return -1;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0)
        return -1;
#endif
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (PyUnicode_IS_ASCII(text)) {
        if (text_reserve(&out, 6 * (size_t)n + 2) < 0) {
            PyErr_NoMemory();
            return -1;
        }
        char *o = out.buf + out.used;
        *o++ = '"';
        quote_ascii(&o, PyUnicode_1BYTE_DATA(text), 0, (size_t)n);
        *o++ = '"';
        out.used = (size_t)(o - out.buf);
        return 0;
    }
    if (text_reserve(&out, 12 * (size_t)n + 2) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    char *o = out.buf + out.used;
    *o++ = '"';
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 128 && safe[c])
            *o++ = (char)c;
        else
            o = put_escape(o, c);
    }
    *o++ = '"';
    out.used = (size_t)(o - out.buf);
    return 0;
}

/* hmac.compare_digest(a, b) for two str: both must be ASCII (else False, where
 * compare_digest raises the TypeError that feed_rows turns into False); the
 * time depends on the lengths only. */
static int
same_text(PyObject *a, PyObject *b)
{
    if (!PyUnicode_Check(a) || !PyUnicode_Check(b) || !PyUnicode_IS_ASCII(a)
        || !PyUnicode_IS_ASCII(b))
        return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(a), m = PyUnicode_GET_LENGTH(b);
    const unsigned char *x = PyUnicode_1BYTE_DATA(a), *y = PyUnicode_1BYTE_DATA(b);
    unsigned char diff = n != m;
    if (n != m)
        x = y;  /* compare_digest compares b with itself when the lengths differ */
    for (Py_ssize_t i = 0; i < m; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}

/* hash_ == digest's lower-case hex, in constant time (hash_ a str of ASCII) */
static int
same_hex_text(PyObject *hash_, const unsigned char *d)
{
    if (!PyUnicode_Check(hash_) || !PyUnicode_IS_ASCII(hash_))
        return 0;
    return same_hex(PyUnicode_1BYTE_DATA(hash_), (size_t)PyUnicode_GET_LENGTH(hash_), d);
}

/* The f-string's {seq} of anything but a plain int: format(seq, ""). Made
 * before the text is begun, because formatting an object of a Python class
 * runs its code, during which another thread may use the shared buffer. */
static PyObject *
number_text(PyObject *seq, long long *v)
{
    if (PyLong_CheckExact(seq)) {
        int overflow;
        *v = PyLong_AsLongLongAndOverflow(seq, &overflow);
        if (!overflow && !(*v == -1 && PyErr_Occurred()))
            return Py_NewRef(Py_None);  /* plain: written from *v */
        PyErr_Clear();
    }
    PyObject *empty = PyUnicode_New(0, 0);
    if (empty == NULL)
        return NULL;
    PyObject *text = PyObject_Format(seq, empty);
    Py_DECREF(empty);
    return text;
}

static int
put_number(PyObject *text, long long v)
{
    if (text == Py_None) {
        char num[24];
        int k = snprintf(num, sizeof num, "%lld", v);
        return put(num, (size_t)k);
    }
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(text, &n);
    return s == NULL ? -1 : put(s, (size_t)n);
}

/* SHA-256 of an entry's chain v1 text (PROTOCOL.md section 1: the keys sorted,
 * the standard separators), as entry_hash_canonical builds it. The session id
 * is ``sid`` quoted here, or when ``sid`` is NULL ``qsid``, already quoted.
 * -1 with TypeError where a field is not text. */
static int
digest_of(PyObject *actor_id, PyObject *details, PyObject *event_type, PyObject *previous,
          PyObject *seq, PyObject *sid, const char *qsid, size_t qsid_len, PyObject *ts,
          unsigned char *d)
{
    long long v = 0;
    PyObject *number = number_text(seq, &v);
    if (number == NULL)
        return -1;
    out.used = 0;
    int rc = 0;
    if (PUT_LITERAL("{\"actor_id\": ")
        || (actor_id == Py_None ? PUT_LITERAL("null") : put_quoted(actor_id))
        || PUT_LITERAL(", \"details\": ") || put_quoted(details)
        || PUT_LITERAL(", \"event_type\": ") || put_quoted(event_type)
        || PUT_LITERAL(", \"previous_hash\": ") || put_quoted(previous)
        || PUT_LITERAL(", \"sequence_number\": ") || put_number(number, v)
        || PUT_LITERAL(", \"session_id\": ")
        || (sid != NULL ? put_quoted(sid) : put(qsid, qsid_len))
        || PUT_LITERAL(", \"timestamp\": ") || put_quoted(ts) || PUT_LITERAL("}"))
        rc = -1;
    else if (text_digest(ctx, sha256, &out, d) < 0) {
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL's SHA-256 failed");
        rc = -1;
    }
    Py_DECREF(number);
    return rc;
}

/* entry_hash(session_id, seq, timestamp, event_type, actor_id, details_json,
 * previous_hash) -> the 64 hex digits: entry_hash_canonical, for the writer */
static PyObject *
entry_hash(PyObject *module, PyObject *const *a, Py_ssize_t nargs)
{
    (void)module;
    unsigned char d[HASH];
    char hex[2 * HASH];
    if (nargs != 7) {
        PyErr_Format(PyExc_TypeError, "entry_hash() takes 7 arguments (%zd given)", nargs);
        return NULL;
    }
    if (digest_of(a[4], a[5], a[3], a[6], a[1], a[0], NULL, 0, a[2], d) < 0)
        return NULL;
    to_hex(d, hex);
    return PyUnicode_FromStringAndSize(hex, 2 * HASH);
}

/* a == b as Python's == says it: the identity shortcut only where it agrees */
static int
eq(PyObject *a, PyObject *b)
{
    if ((PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b))
        || (PyLong_CheckExact(a) && PyLong_CheckExact(b)))
        return PyObject_RichCompareBool(a, b, Py_EQ);
    PyObject *r = PyObject_RichCompare(a, b, Py_EQ);
    if (r == NULL)
        return -1;
    int t = PyObject_IsTrue(r);
    Py_DECREF(r);
    return t;
}

/* The checks of one row; 1 good, 0 not, -1 an exception feed_rows does not catch. */
static int
check(PyObject *const *f, PyObject *sid, const char *qsid, size_t qsid_len,
      PyObject *expected, PyObject *prev, unsigned char *d)
{
    PyObject *session_id = f[0], *seq = f[1], *ts = f[2], *event_type = f[3];
    PyObject *actor_id = f[4], *details = f[5], *previous = f[6], *hash_ = f[7];
    int r = eq(seq, expected);
    if (r <= 0)
        goto out;
    if ((r = eq(session_id, sid)) <= 0)
        goto out;
    if (!same_text(previous, prev))
        return 0;
    if (digest_of(actor_id, details, event_type, previous, seq, NULL, qsid, qsid_len, ts, d) < 0)
        goto fail;
    return same_hex_text(hash_, d);
fail:
    r = -1;
out:
    /* feed_rows catches TypeError and ValueError (not text where text belongs) */
    if (r < 0 && (PyErr_ExceptionMatches(PyExc_TypeError)
                  || PyErr_ExceptionMatches(PyExc_ValueError))) {
        PyErr_Clear();
        return 0;
    }
    return r;
}

/* feed(rows, sid, expected, prev, digests) -> (count, expected, prev, sid, bad) */
static PyObject *
feed(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "feed() takes 5 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *sid = args[1], *expected = args[2], *prev = args[3], *keep = args[4];
    if (keep != Py_None && !PyList_Check(keep)) {
        PyErr_SetString(PyExc_TypeError, "feed(): digests must be a list or None");
        return NULL;
    }
    PyObject *it = PyObject_GetIter(args[0]);
    if (it == NULL)
        return NULL;
    Py_INCREF(sid);
    Py_INCREF(expected);
    Py_INCREF(prev);
    PyObject *qsid = NULL, *bad = Py_None, *row, *result = NULL;
    Py_INCREF(bad);
    const char *qs = NULL;
    Py_ssize_t qs_len = 0;
    long long count = 0;
    unsigned char d[HASH];
    while ((row = PyIter_Next(it)) != NULL) {
        PyObject *fast = PySequence_Fast(row, "cannot unpack a row that is not a sequence");
        Py_DECREF(row);
        if (fast == NULL)
            goto done;
        if (PySequence_Fast_GET_SIZE(fast) != FIELDS) {
            PyErr_Format(PyExc_ValueError, "a row has %d fields, not %zd", FIELDS,
                         PySequence_Fast_GET_SIZE(fast));
            Py_DECREF(fast);
            goto done;
        }
        PyObject *const *f = PySequence_Fast_ITEMS(fast);
        count++;
        if (qs == NULL) {
            /* every entry that gets as far as hashing has this session id: quoted once */
            if (sid == Py_None) {
                Py_INCREF(f[0]);
                Py_SETREF(sid, f[0]);
            }
            out.used = 0;
            if (PyUnicode_Check(sid) && put_quoted(sid) < 0) {
                Py_DECREF(fast);
                goto done;
            }
            qsid = PyBytes_FromStringAndSize(out.buf, (Py_ssize_t)out.used);
            if (qsid == NULL) {
                Py_DECREF(fast);
                goto done;
            }
            qs = PyBytes_AS_STRING(qsid);
            qs_len = PyBytes_GET_SIZE(qsid);
        }
        int good = check(f, sid, qs, (size_t)qs_len, expected, prev, d);
        if (good < 0) {
            Py_DECREF(fast);
            goto done;
        }
        if (!good) {
            /* the first bad sequence: the row's own when it is a positive int */
            PyObject *seq = f[1];
            int positive = 0;
            if (PyLong_Check(seq)) {
                positive = PyObject_RichCompareBool(seq, zero, Py_GT);
                if (positive < 0) {
                    Py_DECREF(fast);
                    goto done;
                }
            }
            Py_SETREF(bad, Py_NewRef(positive ? seq : expected));
            Py_DECREF(fast);
            break;
        }
        if (keep != Py_None) {
            PyObject *b = PyBytes_FromStringAndSize((const char *)d, HASH);
            if (b == NULL || PyList_Append(keep, b) < 0) {
                Py_XDECREF(b);
                Py_DECREF(fast);
                goto done;
            }
            Py_DECREF(b);
        }
        PyObject *next = PyNumber_Add(expected, one);
        if (next == NULL) {
            Py_DECREF(fast);
            goto done;
        }
        Py_SETREF(expected, next);
        Py_SETREF(prev, Py_NewRef(f[7]));
        Py_DECREF(fast);
    }
    if (PyErr_Occurred())
        goto done;
    result = Py_BuildValue("(LOOOO)", count, expected, prev, sid, bad);
done:
    Py_DECREF(it);
    Py_XDECREF(qsid);
    Py_DECREF(sid);
    Py_DECREF(expected);
    Py_DECREF(prev);
    Py_DECREF(bad);
    return result;
}

static PyMethodDef methods[] = {
    {"feed", (PyCFunction)(void (*)(void))feed, METH_FASTCALL,
     "feed(rows, session_id, expected, previous_hash, digests)\n--\n\n"
     "ChainVerifier.feed_rows's loop, in C: (count, expected, previous_hash,"
     " session_id, first bad sequence or None)."},
    {"entry_hash", (PyCFunction)(void (*)(void))entry_hash, METH_FASTCALL,
     "entry_hash(session_id, sequence_number, timestamp, event_type, actor_id,"
     " details_json, previous_hash)\n--\n\n"
     "protocol.entry_hash_canonical, in C: the entry's chain v1 hash in hex."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_chain_native",
    .m_doc = "protocol._chain's entry hash and verify loop, in C.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__chain_native(void)
{
    if (sha256 == NULL && (sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL has no SHA-256");
        return NULL;
    }
    if (ctx == NULL && (ctx = EVP_MD_CTX_new()) == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (one == NULL && ((one = PyLong_FromLong(1)) == NULL || (zero = PyLong_FromLong(0)) == NULL))
        return NULL;
    chain_text_init();
    return PyModule_Create(&module);
}
