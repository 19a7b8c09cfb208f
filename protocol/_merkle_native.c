/* protocol._merkle_native: ``extend`` and ``levels`` of protocol/merkle.py, in C.
 *
 * The same fold (and the same levels of a whole tree, for the bundle
 * verifier), the same arguments and results; the hashing is OpenSSL's
 * SHA-256 (the libcrypto that Python's own hashlib uses), through one
 * reused digest context. Why it exists: a hashlib call costs ~1 us of
 * object and context set-up for 65 bytes of input, and the writer makes
 * two an entry; here a hash costs ~0.1 us (docs/benchmarks.md, section 9).
 * Optional: without a C compiler or OpenSSL's headers the package installs
 * without it and protocol/merkle.py runs the Python fold instead.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/evp.h>
#include <string.h>

#define HASH 32

static EVP_MD *sha256;  /* fetched once: fetching is most of a one-shot digest's cost */
/* One context for every call, reset by each digest: making one costs as much as
 * three hashes. Safe because a call holds the GIL throughout (the module does
 * not declare itself free-threading safe, so the GIL stays on there too). */
static EVP_MD_CTX *ctx;
static PyObject *hash_name;  /* "hash": the attribute of a log entry */

/* SHA-256(prefix || a || b), b may be NULL. */
static int
digest(unsigned char prefix, const unsigned char *a,
       const unsigned char *b, unsigned char *out)
{
    unsigned char buf[1 + 2 * HASH];
    size_t n = 1 + HASH;
    unsigned int len;
    buf[0] = prefix;
    memcpy(buf + 1, a, HASH);
    if (b != NULL) {
        memcpy(buf + 1 + HASH, b, HASH);
        n += HASH;
    }
    if (!EVP_DigestInit_ex2(ctx, sha256, NULL) || !EVP_DigestUpdate(ctx, buf, n)
        || !EVP_DigestFinal_ex(ctx, out, &len)) {
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL's SHA-256 failed");
        return -1;
    }
    return 0;
}

static signed char hexval[256];  /* a digit's value, -1 for any other byte */

static int
unhex(PyObject *text, unsigned char *out)
{
    Py_ssize_t n;
    const char *s;
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "an entry's hash is a str of 64 hex digits");
        return -1;
    }
    s = PyUnicode_AsUTF8AndSize(text, &n);
    if (s == NULL)
        return -1;
    if (n != 2 * HASH)
        goto bad;
    for (int i = 0; i < HASH; i++) {
        signed char hi = hexval[(unsigned char)s[2 * i]], lo = hexval[(unsigned char)s[2 * i + 1]];
        if ((hi | lo) < 0)
            goto bad;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
bad:
    PyErr_SetString(PyExc_ValueError, "an entry's hash is 64 hex digits");
    return -1;
}

/* (a, b), taking both references; NULL if either is (an error is set) */
static PyObject *
pair(PyObject *a, PyObject *b)
{
    PyObject *t = (a != NULL && b != NULL) ? PyTuple_Pack(2, a, b) : NULL;
    Py_XDECREF(a);
    Py_XDECREF(b);
    return t;
}

/* created.append((level, index, h)), or ((key, level, index, h)) when a key is given */
static int
record(PyObject *created, PyObject *key, int level, unsigned long long index,
       const unsigned char *h)
{
    int keyed = key != Py_None, rc = -1;
    PyObject *item = PyTuple_New(3 + keyed), *v;
    if (item == NULL)
        return -1;
    if (keyed) {
        Py_INCREF(key);
        PyTuple_SET_ITEM(item, 0, key);
    }
    if ((v = PyLong_FromLong(level)) == NULL)
        goto done;
    PyTuple_SET_ITEM(item, keyed, v);
    if ((v = PyLong_FromUnsignedLongLong(index)) == NULL)
        goto done;
    PyTuple_SET_ITEM(item, keyed + 1, v);
    if ((v = PyBytes_FromStringAndSize((const char *)h, HASH)) == NULL)
        goto done;
    PyTuple_SET_ITEM(item, keyed + 2, v);
    rc = PyList_Append(created, item);
done:
    Py_DECREF(item);  /* a tuple with NULL slots deallocates safely */
    return rc;
}

static int
leaf_of(PyObject *item, int entries, unsigned char *leaf)
{
    if (entries) {
        unsigned char raw[HASH];
        PyObject *text = PyObject_GetAttr(item, hash_name);
        if (text == NULL)
            return -1;
        int rc = unhex(text, raw);
        Py_DECREF(text);
        return rc < 0 ? -1 : digest(0x00, raw, NULL, leaf);
    }
    Py_buffer view;
    if (PyObject_GetBuffer(item, &view, PyBUF_SIMPLE) < 0)
        return -1;
    int ok = view.len == HASH;
    if (ok)
        memcpy(leaf, view.buf, HASH);
    PyBuffer_Release(&view);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "a leaf hash is 32 bytes");
        return -1;
    }
    return 0;
}

static PyObject *
extend(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    Py_buffer edge;
    unsigned long long size;
    PyObject *leaves, *created, *key = Py_None;
    int min_level, entries = 0;
    /* the edge: one hash a set bit of size, largest subtree first (64 at most) */
    unsigned char stack[64][HASH], h[HASH];
    int depth;
    PyObject *it = NULL, *item, *result = NULL;

    /* METH_FASTCALL, parsed by hand: PyArg_ParseTuple was a third of a call's cost */
    if (nargs < 5 || nargs > 7) {
        PyErr_Format(PyExc_TypeError, "extend() takes 5 to 7 arguments (%zd given)", nargs);
        return NULL;
    }
    leaves = args[2];
    created = args[4];
    if (!PyList_Check(created)) {
        PyErr_SetString(PyExc_TypeError, "extend(): created must be a list");
        return NULL;
    }
    long level_arg = PyLong_AsLong(args[3]);
    if (level_arg == -1 && PyErr_Occurred())
        return NULL;
    min_level = level_arg < -1 ? -1 : level_arg > 64 ? 65 : (int)level_arg;  /* same order */
    if (nargs > 5)
        key = args[5];
    if (nargs > 6 && (entries = PyObject_IsTrue(args[6])) < 0)
        return NULL;
    /* a negative or too large size is refused, never wrapped */
    size = PyLong_AsUnsignedLongLong(args[1]);
    if (size == (unsigned long long)-1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "a tree's size is 0 to 2**64 - 2");
        }
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &edge, PyBUF_SIMPLE) < 0)
        return NULL;
    depth = __builtin_popcountll(size);
    if (edge.len != (Py_ssize_t)depth * HASH) {
        PyErr_SetString(PyExc_ValueError, "an edge has one 32-byte hash per set bit of the size");
        goto done;
    }
    memcpy(stack, edge.buf, edge.len);
    if ((it = PyObject_GetIter(leaves)) == NULL)
        goto done;
    while ((item = PyIter_Next(it)) != NULL) {
        int rc = leaf_of(item, entries, h);
        Py_DECREF(item);
        if (rc < 0)
            goto done;
        if (size == ~0ULL) {
            PyErr_SetString(PyExc_OverflowError, "the tree is full");
            goto done;
        }
        if (min_level == 0 && record(created, key, 0, size, h) < 0)
            goto done;
        int level = 0;
        while ((size >> level) & 1) {
            if (digest(0x01, stack[--depth], h, h) < 0)
                goto done;
            level++;
            if (level >= min_level && record(created, key, level, size >> level, h) < 0)
                goto done;
        }
        memcpy(stack[depth++], h, HASH);
        size++;
    }
    if (PyErr_Occurred())
        goto done;
    result = pair(PyLong_FromUnsignedLongLong(size),
                  PyBytes_FromStringAndSize((const char *)stack, (Py_ssize_t)depth * HASH));
done:
    Py_XDECREF(it);
    PyBuffer_Release(&edge);
    return result;
}

/* levels(hashes, leaves, top): protocol.merkle.levels_py, in C */
static PyObject *
levels(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    Py_buffer in;
    PyObject *result = NULL, *level = NULL;
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "levels() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    int as_leaves = PyObject_IsTrue(args[1]);
    if (as_leaves < 0)
        return NULL;
    long top = -1;  /* None: up to the root */
    if (args[2] != Py_None) {
        top = PyLong_AsLong(args[2]);
        if (top == -1 && PyErr_Occurred())
            return NULL;
        if (top < 0)
            top = 0;
    }
    if (PyObject_GetBuffer(args[0], &in, PyBUF_SIMPLE) < 0)
        return NULL;
    if (in.len % HASH) {
        PyErr_SetString(PyExc_ValueError, "hashes are 32 bytes each");
        goto done;
    }
    Py_ssize_t count = in.len / HASH;
    if ((result = PyList_New(0)) == NULL)
        goto done;
    if ((level = PyBytes_FromStringAndSize(as_leaves ? NULL : in.buf, in.len)) == NULL)
        goto fail;
    if (as_leaves) {
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(level);
        for (Py_ssize_t i = 0; i < count; i++)
            if (digest(0x00, (const unsigned char *)in.buf + HASH * i, NULL, out + HASH * i) < 0)
                goto fail;
    }
    for (long made = 1;; made++) {
        if (PyList_Append(result, level) < 0)
            goto fail;
        if (count < 2 || (top >= 0 && made > top))
            break;
        const unsigned char *below = (const unsigned char *)PyBytes_AS_STRING(level);
        Py_ssize_t m = count / 2;  /* an odd last node has no complete parent yet */
        PyObject *up = PyBytes_FromStringAndSize(NULL, m * HASH);
        if (up == NULL)
            goto fail;
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(up);
        for (Py_ssize_t j = 0; j < m; j++)
            if (digest(0x01, below + 2 * HASH * j, below + 2 * HASH * j + HASH, out + HASH * j) < 0) {
                Py_DECREF(up);
                goto fail;
            }
        Py_SETREF(level, up);
        count = m;
    }
    Py_DECREF(level);
    goto done;
fail:
    Py_XDECREF(level);
    Py_CLEAR(result);
done:
    PyBuffer_Release(&in);
    return result;
}

static PyMethodDef methods[] = {
    {"extend", (PyCFunction)(void (*)(void))extend, METH_FASTCALL,
     "extend(edge, size, leaves, min_level, created, key=None, entries=False)\n--\n\n"
     "protocol.merkle.extend, in C."},
    {"levels", (PyCFunction)(void (*)(void))levels, METH_FASTCALL,
     "levels(hashes, leaves, top)\n--\n\nprotocol.merkle.levels_py, in C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_merkle_native",
    .m_doc = "protocol.merkle's fold and levels, in C.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__merkle_native(void)
{
    if (sha256 == NULL && (sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL has no SHA-256");
        return NULL;
    }
    memset(hexval, -1, sizeof hexval);
    for (int c = 0; c < 10; c++)
        hexval['0' + c] = (signed char)c;
    for (int c = 0; c < 6; c++)
        hexval['a' + c] = hexval['A' + c] = (signed char)(10 + c);
    if (ctx == NULL && (ctx = EVP_MD_CTX_new()) == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (hash_name == NULL && (hash_name = PyUnicode_InternFromString("hash")) == NULL)
        return NULL;
    return PyModule_Create(&module);
}
