/* protocol._canonical_native: which details texts are canonical, by a scan of the text.
 *
 * A details text is canonical when it is json.dumps(d, sort_keys=True) of
 * the object d it parses to (docs/protocol.md section 4). protocol/_canonical.py
 * decides that by parsing each text and encoding the objects again, ~3 us a
 * text: the largest cost of verifying a format 2 bundle once the chain loop
 * went to C (docs/benchmarks.md, section 9). This scans the text instead, as
 * server/static/rows.js does in the browser, with no object made.
 *
 * It only ever *accepts*: `prefix` returns how many texts from `start` it is
 * sure of, and stops at the first one it is not (anything outside the common
 * forms: NaN and Infinity, integers of more than 18 digits, nesting deeper
 * than MAX_DEPTH, a text that is not an ASCII str, and every text that is not
 * canonical). The Python check judges that text, so the result never depends
 * on whether this module was built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

#define MAX_DEPTH 64
#define MAX_INT_DIGITS 18    /* below any limit on int <-> str conversions */
#define MAX_FLOAT_TOKEN 40   /* repr of any double is shorter */

typedef const unsigned char *cursor;

static cursor value(cursor p, cursor end, int depth);

static int
hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* upper case is not how Python writes it */
}

static long
hex4(cursor p, cursor end)
{
    if (end - p < 4)
        return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int d = hex_digit(p[k]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* The end of the string at p ('"'), or NULL where Python's ensure_ascii
 * encoder would have written it otherwise. */
static cursor
string(cursor p, cursor end)
{
    for (p++; p < end;) {
        unsigned char c = *p;
        if (c == '"')
            return p + 1;
        if (c < 0x20 || c > 0x7e)
            return NULL; /* every other character is escaped */
        if (c != '\\') {
            p++;
            continue;
        }
        if (end - p < 2)
            return NULL;
        switch (p[1]) {
        case '"': case '\\': case 'b': case 'f': case 'n': case 'r': case 't':
            p += 2;
            continue;
        case 'u': {
            long v = hex4(p + 2, end);
            if (v < 0 || (v >= 0x20 && v <= 0x7e))
                return NULL; /* written as itself */
            if (v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t')
                return NULL; /* written short */
            p += 6;
            continue;
        }
        default:
            return NULL; /* never \/ */
        }
    }
    return NULL;
}

/* The next code point of a string that string() accepted, as json.loads reads
 * it (a \u pair of surrogates is one code point); -1 at its closing quote. */
static long
code_point(cursor *pp)
{
    cursor p = *pp;
    if (*p == '"')
        return -1;
    if (*p != '\\') {
        *pp = p + 1;
        return *p;
    }
    long v;
    switch (p[1]) {
    case 'b': v = '\b'; break;
    case 'f': v = '\f'; break;
    case 'n': v = '\n'; break;
    case 'r': v = '\r'; break;
    case 't': v = '\t'; break;
    case 'u':
        v = hex4(p + 2, p + 6);
        if (v >= 0xd800 && v < 0xdc00 && p[6] == '\\' && p[7] == 'u') {
            long low = hex4(p + 8, p + 12);
            if (low >= 0xdc00 && low < 0xe000) {
                *pp = p + 12;
                return 0x10000 + ((v - 0xd800) << 10) + (low - 0xdc00);
            }
        }
        *pp = p + 6;
        return v;
    default: v = p[1]; break; /* '"' or '\\' */
    }
    *pp = p + 2;
    return v;
}

/* Whether key b (at its opening quote) sorts after key a in Python's order:
 * by code point, as sorted() orders str. */
static int
key_after(cursor a, cursor b)
{
    a++, b++;
    for (;;) {
        long x = code_point(&a), y = code_point(&b);
        if (x != y)
            return x < y;
        if (x < 0)
            return 0; /* equal: a key twice is not what an object encodes to */
    }
}

static cursor
number(cursor p, cursor end)
{
    cursor start = p, q = p;
    if (q < end && *q == '-')
        q++;
    if (q >= end || *q < '0' || *q > '9')
        return NULL; /* -Infinity, or not a number */
    if (*q == '0')
        q++;
    else
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    int is_float = 0;
    if (q < end && *q == '.') {
        is_float = 1;
        for (q++; q < end && *q >= '0' && *q <= '9'; q++)
            ;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        is_float = 1;
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    }
    Py_ssize_t n = q - start;
    if (!is_float) {
        if (n - (*start == '-') > MAX_INT_DIGITS)
            return NULL;
        if (n == 2 && start[0] == '-' && start[1] == '0')
            return NULL; /* -0 reads as 0 */
        return q;
    }
    /* A float: exactly what repr() writes for the double float() reads. */
    if (n >= MAX_FLOAT_TOKEN)
        return NULL;
    char token[MAX_FLOAT_TOKEN];
    memcpy(token, start, (size_t)n);
    token[n] = '\0';
    char *stop;
    double x = PyOS_string_to_double(token, &stop, NULL);
    if (x == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return NULL;
    }
    if (stop != token + n || !isfinite(x))
        return NULL;
    char *repr = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (repr == NULL) {
        PyErr_Clear();
        return NULL;
    }
    int same = strlen(repr) == (size_t)n && memcmp(repr, token, (size_t)n) == 0;
    PyMem_Free(repr);
    return same ? q : NULL;
}

static cursor
word(cursor p, cursor end, const char *w, size_t n)
{
    return (size_t)(end - p) >= n && memcmp(p, w, n) == 0 ? p + n : NULL;
}

static cursor
container(cursor p, cursor end, int depth, int is_object)
{
    unsigned char close = is_object ? '}' : ']';
    if (depth > MAX_DEPTH)
        return NULL;
    p++;
    if (p < end && *p == close)
        return p + 1;
    cursor prev = NULL;
    for (;;) {
        if (is_object) {
            if (p >= end || *p != '"')
                return NULL;
            cursor key_end = string(p, end);
            if (key_end == NULL || (prev != NULL && !key_after(prev, p)))
                return NULL;
            if (end - key_end < 2 || key_end[0] != ':' || key_end[1] != ' ')
                return NULL;
            prev = p;
            p = key_end + 2;
        }
        p = value(p, end, depth + 1);
        if (p == NULL || p >= end)
            return NULL;
        if (*p == close)
            return p + 1;
        if (end - p < 2 || p[0] != ',' || p[1] != ' ')
            return NULL;
        p += 2;
    }
}

static cursor
value(cursor p, cursor end, int depth)
{
    if (p >= end)
        return NULL;
    switch (*p) {
    case '"': return string(p, end);
    case '{': return container(p, end, depth, 1);
    case '[': return container(p, end, depth, 0);
    case 't': return word(p, end, "true", 4);
    case 'f': return word(p, end, "false", 5);
    case 'n': return word(p, end, "null", 4);
    default: return number(p, end);
    }
}

static int
canonical(PyObject *text)
{
    if (!PyUnicode_CheckExact(text))
        return 0;
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) {
        PyErr_Clear();
        return 0;
    }
#endif
    if (!PyUnicode_IS_ASCII(text))
        return 0;
    cursor p = PyUnicode_1BYTE_DATA(text);
    cursor end = p + PyUnicode_GET_LENGTH(text);
    if (p >= end || *p != '{')
        return 0;
    return container(p, end, 1, 1) == end;
}

static PyObject *
prefix(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyList_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "prefix(texts: list, start: int)");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred())
        return NULL;
    PyObject *texts = args[0];
    Py_ssize_t i = start < 0 ? 0 : start;
    /* the list is not ours: re-read its length, as its items are read under the GIL */
    while (i < PyList_GET_SIZE(texts) && canonical(PyList_GET_ITEM(texts, i)))
        i++;
    return PyLong_FromSsize_t(i);
}

static PyMethodDef methods[] = {
    {"prefix", (PyCFunction)(void (*)(void))prefix, METH_FASTCALL,
     "prefix(texts, start)\n--\n\n"
     "The index of the first of texts[start:] that this scan does not accept as"
     " canonical details (len(texts) if none): every text before it is canonical."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_canonical_native",
    .m_doc = "Canonical details texts, recognised by a scan of the text.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__canonical_native(void)
{
    return PyModule_Create(&module);
}
