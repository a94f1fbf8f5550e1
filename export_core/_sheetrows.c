/* Worksheet `<row>` XML of a block of frame rows, rendered natively (export_core.sheetnative),
   and the CSV files of a block (`csv`, export_core.writers.csvnative: see "CSV rows" below,
   which shares the Arrow import, the cursors and the number printing with `render`).

   render(columns, files) reads the block's columns through the Arrow C stream interface
   (`series.__arrow_c_stream__()` capsules: any number of chunks, any offset, validity
   bitmaps honoured) and returns (data, ends): the UTF-8 XML of every file's rows back to back
   in one bytes object, and per file (end offset in data, 1-based sheet row of its last row
   with a cell, 0 when none). It writes exactly what export_core.writers.sheetxml.render_xml
   writes (the reference; see its docstring for the rules), and returns None (declines: the
   caller renders with polars) for anything it does not reproduce exactly:
   * an Arrow format other than int64 "l", int32 "i", float64 "g", date32 "tdD", timestamp[us]
     without time zone "tsu:", or string "vu" / "u" / "U" (or not the one the column's kind
     expects);
   * text needing escapes other than & < > (control characters but \t and \n, U+FFFE,
     U+FFFF, a literal _xHHHH_) or longer than 32,767 bytes (Excel's cut and the UTF-16 fix);
     & < > are written as &amp; &lt; &gt;, as the reference writes them;
   * NaN / inf, a date before 1900-01-01 (the reference writes them as text);
   * a float (or datetime serial) whose magnitude is below 2^-10 or not below 2^53 (zero
     excepted), or that lies exactly halfway between two shortest digit strings (polars 2.1's
     cast picks the even one there, as CPython's repr does, but polars' other paths have
     rounded half up: declined, so no polars version can make the two renderers differ);
   * a file of more rows than a sheet holds, or columns of unequal lengths.
   Floats are written as polars' Float64 -> String cast, ".0" stripped: shortest round-trip
   digits, the nearest of them to the value, positional in the range handled (|x| in
   [2^-10, 2^53) is always positional in polars' layout). They are found with exact 128-bit
   integer arithmetic: the fewest decimals whose scaled rounding interval (inclusive when the
   mantissa is even, the lower half-gap halved at a power of two) holds an integer. Datetimes
   are floored to whole seconds and their serial computed with the same IEEE operations as
   the reference (a true division by 86400, not a multiplication by its reciprocal).
   The rendering runs without the GIL (no Python API is called meanwhile); the output is one
   bytes object sized from an upper bound computed first, then shrunk. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "arrow_c.h"

typedef unsigned __int128 u128;

/* column kinds (sheetnative.py passes them) */
enum { K_INT = 0, K_FLOAT = 1, K_DATE = 2, K_DATETIME = 3, K_TEXT = 4 };
/* Arrow formats */
enum { F_NONE, F_I64, F_I32, F_F64, F_DATE32, F_TS_US, F_VIEW, F_UTF8, F_LARGE_UTF8 };

#define EXCEL_MAX_CHARS 32767
#define EXCEL_MAX_ROWS 1048576
#define EPOCH_DAYS 25568
#define EPOCH_SECONDS (25568LL * 86400LL)
#define LEAP_BUG_AFTER 59

/* One input array: its chunks and a cursor that walks its rows in order. */
typedef struct {
    struct ArrowArray *chunks;
    int64_t nchunks, cap;
    int64_t length; /* rows in all chunks */
    int format;
    int64_t ci, at; /* current chunk, row within it */
} Arr;

typedef struct {
    int kind;
    Arr main;
    Arr raw;     /* the raw-text companion of a typed column (format F_NONE when absent) */
    char head[16]; /* '<c r="' + column letters */
    int headlen;
    char vhead[32]; /* '"><v>' or '" s="N"><v>' */
    int vheadlen;
} Column;

static void release_arr(Arr *a) {
    for (int64_t i = 0; i < a->nchunks; i++)
        if (a->chunks[i].release) a->chunks[i].release(&a->chunks[i]);
    free(a->chunks);
    a->chunks = NULL;
    a->nchunks = a->cap = 0;
}

/* Every column's arrays released, then the columns themselves (cols may be NULL). */
static void free_columns(Column *cols, Py_ssize_t ncols) {
    if (cols)
        for (Py_ssize_t j = 0; j < ncols; j++) {
            release_arr(&cols[j].main);
            release_arr(&cols[j].raw);
        }
    free(cols);
}

static int format_of(const char *f) {
    if (!strcmp(f, "l")) return F_I64;
    if (!strcmp(f, "i")) return F_I32;
    if (!strcmp(f, "g")) return F_F64;
    if (!strcmp(f, "tdD")) return F_DATE32;
    if (!strcmp(f, "tsu:")) return F_TS_US;
    if (!strcmp(f, "vu")) return F_VIEW;
    if (!strcmp(f, "u")) return F_UTF8;
    if (!strcmp(f, "U")) return F_LARGE_UTF8;
    return F_NONE;
}

/* Take every chunk out of a stream capsule. 1 done, 0 decline (unknown format, nested),
   -1 Python error set. Needs the GIL. */
static int load(PyObject *capsule, Arr *a) {
    struct ArrowArrayStream *stream = PyCapsule_GetPointer(capsule, "arrow_array_stream");
    if (!stream) return -1;
    if (!stream->release) {
        PyErr_SetString(PyExc_ValueError, "the Arrow stream was already consumed");
        return -1;
    }
    struct ArrowSchema schema;
    memset(&schema, 0, sizeof schema);
    if (stream->get_schema(stream, &schema) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "the Arrow stream has no schema");
        return -1;
    }
    a->format = schema.n_children == 0 && !schema.dictionary ? format_of(schema.format) : F_NONE;
    if (schema.release) schema.release(&schema);
    if (a->format == F_NONE) return 0;
    for (;;) {
        if (a->nchunks == a->cap) {
            int64_t cap = a->cap ? a->cap * 2 : 4;
            struct ArrowArray *grown = realloc(a->chunks, (size_t)cap * sizeof *grown);
            if (!grown) {
                PyErr_NoMemory();
                return -1;
            }
            a->chunks = grown;
            a->cap = cap;
        }
        struct ArrowArray *next = &a->chunks[a->nchunks];
        memset(next, 0, sizeof *next);
        if (stream->get_next(stream, next) != 0) {
            PyErr_SetString(PyExc_RuntimeError, "reading the Arrow stream failed");
            return -1;
        }
        if (!next->release) break; /* end of stream */
        a->nchunks++;
        int64_t want = a->format == F_VIEW ? 3 : (a->format >= F_UTF8 ? 3 : 2);
        if (next->n_buffers < want || next->n_children != 0 || next->length < 0 || next->offset < 0)
            return 0;
        a->length += next->length;
    }
    return 1;
}

/* The current row's chunk and absolute index in it; advances the cursor. */
static inline const struct ArrowArray *step(Arr *a, int64_t *index) {
    while (a->at >= a->chunks[a->ci].length) {
        a->ci++;
        a->at = 0;
    }
    const struct ArrowArray *c = &a->chunks[a->ci];
    *index = c->offset + a->at;
    a->at++;
    return c;
}

static inline int valid(const struct ArrowArray *c, int64_t i) {
    const uint8_t *bits = c->buffers[0];
    return c->null_count == 0 || !bits || (bits[i >> 3] >> (i & 7)) & 1;
}

/* The text of string row i (valid): pointer and byte length; NULL when malformed. */
static inline const char *text_at(const struct ArrowArray *c, int format, int64_t i, int64_t *len) {
    if (format == F_VIEW) {
        const char *view = (const char *)c->buffers[1] + 16 * i;
        int32_t n, buf, off;
        memcpy(&n, view, 4);
        *len = n;
        if (n <= 12) return view + 4;
        memcpy(&buf, view + 8, 4);
        memcpy(&off, view + 12, 4);
        if (buf < 0 || buf >= c->n_buffers - 3 || off < 0) return NULL;
        return (const char *)c->buffers[2 + buf] + off;
    }
    if (format == F_UTF8) {
        const int32_t *o = c->buffers[1];
        *len = o[i + 1] - o[i];
        return (const char *)c->buffers[2] + o[i];
    }
    const int64_t *o = c->buffers[1];
    *len = o[i + 1] - o[i];
    return (const char *)c->buffers[2] + o[i];
}

/* ---- text ---- */
static unsigned char SPECIAL[256]; /* bytes that may need an escape: & < > controls _ 0xEF */

static void init_special(void) {
    for (int b = 0; b < 0x20; b++)
        if (b != '\t' && b != '\n') SPECIAL[b] = 1;
    SPECIAL['&'] = SPECIAL['<'] = SPECIAL['>'] = SPECIAL['_'] = SPECIAL[0xEF] = 1;
}

static inline int is_hex(unsigned char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* How the text is written: 1 as it is, 2 with & < > as entities (put_escaped), 0 declined
   (another escape is needed). Skips 16 bytes at a time (SSE2) up to the next byte that may
   need a look. */
static int plain(const unsigned char *s, int64_t n) {
    int entities = 0;
#ifdef __SSE2__
    const __m128i controls = _mm_set1_epi8(0x1F), amp = _mm_set1_epi8('&'), lt = _mm_set1_epi8('<');
    const __m128i gt = _mm_set1_epi8('>'), under = _mm_set1_epi8('_'), ef = _mm_set1_epi8((char)0xEF);
#endif
    for (int64_t i = 0; i < n; i++) {
#ifdef __SSE2__
        if (i + 16 <= n) {
            __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
            __m128i hit = _mm_cmpeq_epi8(_mm_max_epu8(v, controls), controls); /* <= 0x1F */
            hit = _mm_or_si128(hit, _mm_or_si128(_mm_cmpeq_epi8(v, amp), _mm_cmpeq_epi8(v, lt)));
            hit = _mm_or_si128(hit, _mm_or_si128(_mm_cmpeq_epi8(v, gt), _mm_cmpeq_epi8(v, under)));
            hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, ef));
            int bits = _mm_movemask_epi8(hit);
            if (!bits) {
                i += 15;
                continue;
            }
            i += __builtin_ctz((unsigned)bits);
        }
#endif
        unsigned char ch = s[i];
        if (!SPECIAL[ch]) continue;
        if (ch == '_') {
            if (i + 6 < n && s[i + 1] == 'x' && is_hex(s[i + 2]) && is_hex(s[i + 3]) && is_hex(s[i + 4]) &&
                is_hex(s[i + 5]) && s[i + 6] == '_')
                return 0;
            continue;
        }
        if (ch == 0xEF) {
            if (i + 2 < n && s[i + 1] == 0xBF && (s[i + 2] == 0xBE || s[i + 2] == 0xBF)) return 0;
            continue;
        }
        if (ch == '&' || ch == '<' || ch == '>') {
            entities = 1;
            continue;
        }
        return 0;
    }
    return entities ? 2 : 1;
}

/* The extra bytes & < > take as entities (&amp; +4, &lt; and &gt; +3), for the bound. */
static int64_t entity_growth(const unsigned char *s, int64_t n) {
    int64_t extra = 0, i = 0;
#ifdef __SSE2__
    const __m128i amp = _mm_set1_epi8('&'), lt = _mm_set1_epi8('<'), gt = _mm_set1_epi8('>');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        unsigned a = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, amp));
        unsigned b = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, lt), _mm_cmpeq_epi8(v, gt)));
        extra += 4 * __builtin_popcount(a) + 3 * __builtin_popcount(b);
    }
#endif
    for (; i < n; i++) extra += s[i] == '&' ? 4 : (s[i] == '<' || s[i] == '>') ? 3 : 0;
    return extra;
}

/* Unicode White_Space, which polars' str.strip_chars() trims (\v \f \r are escaped: declined). */
static inline int white(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* The code point UTF-8 text (valid: polars' strings are) starts with; 0 if cut short. */
static uint32_t first_char(const unsigned char *s, int64_t n) {
    unsigned char b = s[0];
    if (b < 0x80) return b;
    if (b < 0xE0) return n < 2 ? 0 : ((uint32_t)(b & 0x1F) << 6) | (s[1] & 0x3F);
    if (b < 0xF0) return n < 3 ? 0 : ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    if (n < 4) return 0;
    return ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
           (s[3] & 0x3F);
}

static uint32_t last_char(const unsigned char *s, int64_t n) {
    int64_t i = n - 1;
    while (i > 0 && n - i < 4 && (s[i] & 0xC0) == 0x80) i--;
    return first_char(s + i, n - i);
}

/* ---- numbers ---- */
static inline char *put(char *p, const char *s, size_t n) {
    memcpy(p, s, n);
    return p + n;
}

/* Copies `size` bytes (a constant: one or two moves, no call) and advances by n <= size; the
   bytes past n are overwritten by what follows, or lie in the output's SLACK. */
#define PUT_FIXED(p, src, size, n) (memcpy((p), (src), (size)), (p) + (n))
#define SLACK 64

static char *put_u64(char *p, uint64_t v) {
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

static char *put_i64(char *p, int64_t v) {
    if (v < 0) {
        *p++ = '-';
        return put_u64(p, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(p, (uint64_t)v);
}

static u128 POW10[21];

static void init_pow10(void) {
    POW10[0] = 1;
    for (int k = 1; k <= 20; k++) POW10[k] = POW10[k - 1] * 10;
}

/* x as polars' Float64 -> String cast with ".0" stripped, for x == 0 and 2^-10 <= |x| <
   2^53 (always positional there). Returns the end, or NULL to decline.
   x = X / 2^s exactly; it reads back from any decimal inside [L / 2^s, U / 2^s] (the ends
   included when the mantissa is even). With k decimals the candidates are the integers in
   that interval scaled by 10^k. The fewest decimals having one give the shortest spelling,
   the nearest of them to x when there are several (Ryu's and CPython's repr's choice; a tie
   between two declines). The search starts at k0, the most decimals for which the interval is
   narrower than one unit: with at most one candidate there, any shorter spelling is that one
   with zeros appended, so its trailing zeros are stripped. */
static char *put_double(char *p, double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    uint64_t fraction = bits & ((1ULL << 52) - 1);
    int biased = (int)((bits >> 52) & 0x7FF);
    if (bits >> 63) *p++ = '-';
    if (biased == 0 && fraction == 0) {
        *p++ = '0'; /* "0.0" / "-0.0" */
        return p;
    }
    if (biased < 1023 - 10 || biased >= 1023 + 53) return NULL;
    uint64_t m = fraction | (1ULL << 52);
    int s = 2 - (biased - 1075); /* x = 4m / 2^s, 2 <= s <= 64 */
    u128 X = (u128)m << 2;
    u128 U = X + 2;
    u128 L = X - (fraction == 0 ? 1 : 2); /* the gap below a power of two is half as wide */
    int inclusive = (m & 1) == 0;         /* round-half-even reading keeps the ends */
    u128 one = (u128)1 << s, mask = one - 1, half = one >> 1;
    int k0 = (int)((s - 2) * 0.30103); /* 4 * 10^k0 < 2^s: at most one candidate */
    while (k0 >= 0 && 4 * POW10[k0] >= one) k0--;
    for (int k = k0 < 0 ? 0 : k0; k <= 20; k++) {
        u128 scale = POW10[k];
        u128 lo_num = L * scale, hi_num = U * scale;
        u128 lo = lo_num >> s, hi = hi_num >> s;
        if (lo_num & mask)
            lo++;
        else if (!inclusive)
            lo++;
        if (!(hi_num & mask) && !inclusive) hi--;
        if (lo > hi) continue;
        u128 n;
        int digits_after = k;
        if (k == k0) {
            n = lo; /* the only candidate */
            while (digits_after > 0 && n % 10 == 0) {
                n /= 10;
                digits_after--;
            }
        } else {
            u128 x_num = X * scale;
            u128 rem = x_num & mask;
            n = x_num >> s;
            if (rem > half)
                n++;
            else if (rem == half)
                return NULL; /* halfway between two candidates: declined */
            if (n < lo) n = lo;
            if (n > hi) n = hi;
        }
        if (n >= (u128)10000000000000000000ULL) return NULL;
        char digits[24];
        char *end = put_u64(digits, (uint64_t)n);
        int nd = (int)(end - digits);
        k = digits_after;
        if (k == 0) return put(p, digits, (size_t)nd);
        if (nd <= k) {
            p = put(p, "0.", 2);
            for (int z = nd; z < k; z++) *p++ = '0';
            return put(p, digits, (size_t)nd);
        }
        p = put(p, digits, (size_t)(nd - k));
        *p++ = '.';
        return put(p, digits + nd - k, (size_t)k);
    }
    return NULL;
}

static inline int64_t floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* xlsxwriter's serial of a datetime (microseconds since the epoch) cut to whole seconds. */
static double datetime_serial(int64_t us) {
    int64_t seconds = floordiv(us, 1000000) + EPOCH_SECONDS;
    int64_t days = floordiv(seconds, 86400);
    double whole = (double)days;
    volatile double day = 86400.0; /* a true division, as the reference's */
    double serial = whole + (double)(seconds - days * 86400) / day;
    if (days == 1) serial = serial - whole;
    if (serial > LEAP_BUG_AFTER) serial = serial + 1;
    return serial;
}

/* ---- the upper bound of the output ---- */
#define ROW_MAX 32 /* '<row r="1048576">' + '</row>' */
#define TEXT_OPEN "\" t=\"inlineStr\"><is><t>"
#define TEXT_OPEN_PRESERVE "\" t=\"inlineStr\"><is><t xml:space=\"preserve\">"
#define TEXT_CLOSE "</t></is></c>"
#define NUMBER_MAX 40

static int64_t cell_bound(const Column *c) {
    int64_t text = c->headlen + 7 + (int64_t)strlen(TEXT_OPEN_PRESERVE) + (int64_t)strlen(TEXT_CLOSE);
    int64_t number = c->headlen + 7 + c->vheadlen + NUMBER_MAX + 8;
    return text > number ? text : number;
}

/* The bytes of the valid strings of a text array (every chunk), with `entities` & < > counted
   as the XML entities they are written as. -1 malformed. */
static int64_t text_bytes(const Arr *t, int entities) {
    int64_t total = 0;
    for (int64_t ci = 0; ci < t->nchunks; ci++) {
        const struct ArrowArray *a = &t->chunks[ci];
        for (int64_t i = a->offset; i < a->offset + a->length; i++) {
            if (!valid(a, i)) continue;
            int64_t len;
            const char *s = text_at(a, t->format, i, &len);
            if (!s || len < 0) return -1;
            total += len + (entities ? entity_growth((const unsigned char *)s, len) : 0);
        }
    }
    return total;
}

/* The text array of a column whose strings are written (a text column, or the raw text of a
   typed one), or NULL. */
static const Arr *text_of(const Column *c) {
    return c->kind == K_TEXT ? &c->main : (c->raw.format != F_NONE ? &c->raw : NULL);
}

/* Text bytes of the whole block (text columns, and raw text where the typed value is null)
   on top of the fixed bounds. -1 malformed. */
static int64_t bound(Column *cols, Py_ssize_t ncols, int64_t rows) {
    int64_t total = rows * ROW_MAX;
    for (Py_ssize_t j = 0; j < ncols; j++) {
        Column *c = &cols[j];
        total += rows * cell_bound(c);
        const Arr *t = text_of(c);
        int64_t text = t ? text_bytes(t, 1) : 0;
        if (text < 0) return -1;
        total += text;
    }
    return total;
}

/* s[0:n] with & < > as entities. */
static char *put_escaped(char *p, const unsigned char *s, int64_t n) {
    int64_t from = 0;
    for (int64_t i = 0; i < n; i++) {
        const char *entity;
        size_t size;
        switch (s[i]) {
        case '&': entity = "&amp;", size = 5; break;
        case '<': entity = "&lt;", size = 4; break;
        case '>': entity = "&gt;", size = 4; break;
        default: continue;
        }
        p = put(p, (const char *)s + from, (size_t)(i - from));
        p = put(p, entity, size);
        from = i + 1;
    }
    return put(p, (const char *)s + from, (size_t)(n - from));
}

/* A text cell of s[0:n] (non-empty, checked) after the row's cell head. NULL declines. */
static char *put_text(char *p, const Column *c, const char *row, int rowlen, const unsigned char *s, int64_t n) {
    int how = n > EXCEL_MAX_CHARS ? 0 : plain(s, n);
    if (!how) return NULL;
    p = PUT_FIXED(p, c->head, 16, c->headlen);
    p = PUT_FIXED(p, row, 8, rowlen);
    if (white(first_char(s, n)) || white(last_char(s, n)))
        p = put(p, TEXT_OPEN_PRESERVE, sizeof TEXT_OPEN_PRESERVE - 1);
    else
        p = put(p, TEXT_OPEN, sizeof TEXT_OPEN - 1);
    p = how == 1 ? put(p, (const char *)s, (size_t)n) : put_escaped(p, s, n);
    return put(p, TEXT_CLOSE, sizeof TEXT_CLOSE - 1);
}

static char *put_number_head(char *p, const Column *c, const char *row, int rowlen) {
    p = PUT_FIXED(p, c->head, 16, c->headlen);
    p = PUT_FIXED(p, row, 8, rowlen);
    return PUT_FIXED(p, c->vhead, 32, c->vheadlen);
}

/* One cell (or none) of the current row; advances the column's cursors. Returns the new end
   (== p: no cell), or NULL to decline. */
static char *put_cell(char *p, Column *c, const char *row, int rowlen) {
    int64_t i;
    const struct ArrowArray *a = step(&c->main, &i);
    int64_t ri = 0;
    const struct ArrowArray *ra = c->raw.format != F_NONE ? step(&c->raw, &ri) : NULL;
    if (!valid(a, i)) {
        if (!ra || !valid(ra, ri)) return p;
        int64_t len;
        const char *s = text_at(ra, c->raw.format, ri, &len);
        if (!s) return NULL;
        return len == 0 ? p : put_text(p, c, row, rowlen, (const unsigned char *)s, len);
    }
    switch (c->main.format) {
    case F_VIEW:
    case F_UTF8:
    case F_LARGE_UTF8: {
        int64_t len;
        const char *s = text_at(a, c->main.format, i, &len);
        if (!s) return NULL;
        return len == 0 ? p : put_text(p, c, row, rowlen, (const unsigned char *)s, len);
    }
    case F_I64: {
        int64_t v = ((const int64_t *)a->buffers[1])[i];
        p = put_i64(put_number_head(p, c, row, rowlen), v);
        break;
    }
    case F_I32: {
        int32_t v = ((const int32_t *)a->buffers[1])[i];
        p = put_i64(put_number_head(p, c, row, rowlen), v);
        break;
    }
    case F_F64: {
        double v = ((const double *)a->buffers[1])[i];
        p = put_double(put_number_head(p, c, row, rowlen), v);
        if (!p) return NULL;
        break;
    }
    case F_DATE32: {
        int64_t days = (int64_t)((const int32_t *)a->buffers[1])[i] + EPOCH_DAYS;
        if (days < 1) return NULL; /* before 1900: text in the reference */
        p = put_i64(put_number_head(p, c, row, rowlen), days > LEAP_BUG_AFTER ? days + 1 : days);
        break;
    }
    case F_TS_US: {
        double serial = datetime_serial(((const int64_t *)a->buffers[1])[i]);
        p = put_double(put_number_head(p, c, row, rowlen), serial);
        if (!p) return NULL;
        break;
    }
    default:
        return NULL;
    }
    return put(p, "</v></c>", 8);
}

static int expected_format(int kind, int format) {
    switch (kind) {
    case K_INT: return format == F_I64 || format == F_I32;
    case K_FLOAT: return format == F_F64;
    case K_DATE: return format == F_DATE32;
    case K_DATETIME: return format == F_TS_US;
    case K_TEXT: return format == F_VIEW || format == F_UTF8 || format == F_LARGE_UTF8;
    }
    return 0;
}

/* A column's arrays from its capsules (`raw`: None, or the raw text of a typed column), each
   of `rows` rows in the format its kind expects. 1 done, 0 decline, -1 Python error set. */
static int load_column(Column *c, int kind, PyObject *main, PyObject *raw, int64_t rows) {
    c->kind = kind;
    int got = load(main, &c->main);
    if (got <= 0) return got;
    if (!expected_format(kind, c->main.format) || c->main.length != rows) return 0;
    if (raw == Py_None || kind == K_TEXT) return 1;
    got = load(raw, &c->raw);
    if (got <= 0) return got;
    return expected_format(K_TEXT, c->raw.format) && c->raw.length == rows;
}

/* Renders every file; 0 done, 1 declined. No Python API (runs without the GIL). */
static int render_all(Column *cols, Py_ssize_t ncols, const int64_t *counts, const int64_t *firsts,
                      int64_t *ends, int64_t *lasts, Py_ssize_t nfiles, char *out) {
    char *p = out;
    for (Py_ssize_t f = 0; f < nfiles; f++) {
        int64_t last = 0;
        for (int64_t r = 0; r < counts[f]; r++) {
            int64_t number = firsts[f] + r;
            char row[24];
            int rowlen = (int)(put_u64(row, (uint64_t)number) - row);
            char *start = p;
            p = put(p, "<row r=\"", 8);
            p = PUT_FIXED(p, row, 8, rowlen);
            p = put(p, "\">", 2);
            char *cells = p;
            for (Py_ssize_t j = 0; j < ncols; j++) {
                p = put_cell(p, &cols[j], row, rowlen);
                if (!p) return 1;
            }
            if (p == cells) {
                p = start; /* no cell: the row is left out */
                continue;
            }
            p = put(p, "</row>", 6);
            last = number;
        }
        ends[f] = p - out;
        lasts[f] = last;
    }
    return 0;
}

static int letters(PyObject *name, Column *c) {
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(name, &n);
    if (!s) return -1;
    if (n < 1 || n > 3) {
        PyErr_SetString(PyExc_ValueError, "column letters must be 1 to 3 characters");
        return -1;
    }
    c->headlen = snprintf(c->head, sizeof c->head, "<c r=\"%s", s);
    return 0;
}

static PyObject *render(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *specs, *files;
    if (!PyArg_ParseTuple(args, "O!O!:render", &PyList_Type, &specs, &PyList_Type, &files)) return NULL;
    Py_ssize_t ncols = PyList_GET_SIZE(specs), nfiles = PyList_GET_SIZE(files);
    PyObject *result = NULL, *data = NULL;
    Column *cols = calloc((size_t)(ncols ? ncols : 1), sizeof *cols);
    int64_t *nums = calloc((size_t)(nfiles ? nfiles : 1) * 4, sizeof *nums);
    if (!cols || !nums) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t *counts = nums, *firsts = nums + nfiles, *ends = nums + 2 * nfiles, *lasts = nums + 3 * nfiles;
    int64_t rows = 0;
    for (Py_ssize_t f = 0; f < nfiles; f++) {
        long long count, first;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(files, f), "LL:file", &count, &first)) goto done;
        if (count < 0 || first < 1 || count > EXCEL_MAX_ROWS || first + count - 1 > EXCEL_MAX_ROWS) {
            result = Py_None; /* more rows than a sheet holds */
            goto done;
        }
        counts[f] = count;
        firsts[f] = first;
        rows += count;
    }
    int declined = ncols == 0;
    for (Py_ssize_t j = 0; j < ncols && !declined; j++) {
        Column *c = &cols[j];
        PyObject *main, *raw, *name;
        int kind, style;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(specs, j), "iOOUi:column", &kind, &main, &raw, &name, &style))
            goto done;
        if (letters(name, c) < 0) goto done;
        c->vheadlen = style ? snprintf(c->vhead, sizeof c->vhead, "\" s=\"%d\"><v>", style)
                            : snprintf(c->vhead, sizeof c->vhead, "\"><v>");
        int got = load_column(c, kind, main, raw, rows);
        if (got < 0) goto done;
        declined = !got;
    }
    if (declined) {
        result = Py_None;
        goto done;
    }
    int64_t size;
    Py_BEGIN_ALLOW_THREADS
    size = bound(cols, ncols, rows); /* reads every text byte (for & < >): without the GIL */
    Py_END_ALLOW_THREADS
    if (size < 0) {
        result = Py_None;
        goto done;
    }
    size += SLACK;
    data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (!data) goto done;
    char *out = PyBytes_AS_STRING(data);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = render_all(cols, ncols, counts, firsts, ends, lasts, nfiles, out);
    Py_END_ALLOW_THREADS
    if (status) {
        result = Py_None;
        goto done;
    }
    if (_PyBytes_Resize(&data, (Py_ssize_t)(nfiles ? ends[nfiles - 1] : 0)) < 0) goto done;
    PyObject *pieces = PyList_New(nfiles);
    if (!pieces) goto done;
    for (Py_ssize_t f = 0; f < nfiles; f++) {
        PyObject *piece = Py_BuildValue("(LL)", (long long)ends[f], (long long)lasts[f]);
        if (!piece) {
            Py_DECREF(pieces);
            goto done;
        }
        PyList_SET_ITEM(pieces, f, piece);
    }
    result = PyTuple_Pack(2, data, pieces);
    Py_DECREF(pieces);
done:
    Py_XDECREF(data);
    free_columns(cols, ncols);
    free(nums);
    if (result == Py_None) Py_INCREF(result);
    return result;
}

/* ---- CSV rows (export_core.writers.csvnative) ----
   csv(columns, counts, head) renders the rows of consecutive CSV files of a block, each file as
   a UTF-8 BOM, `head` (the header line, as polars writes it) and its rows, back to back in one
   bytes object; it returns (data, ends), the end offset of every file in data (the caller
   drops a file's first 3 bytes when no BOM is asked for). The bytes are exactly what
   export_core.writers.csv writes with polars (output_frame, then write_csv: the reference):
   * text (K_TEXT, and the raw text of a typed value that is null): an apostrophe first when
     it starts with = + - @ TAB or CR (the formula guard); quoted when it holds , " CR or LF,
     quotes inside doubled; the empty string as "", null as nothing;
   * K_INT int64 / int32 in decimal; K_DATE %Y-%m-%d; K_DATETIME (timestamp[us], no time zone)
     %Y-%m-%d %H:%M:%S, floored to whole seconds;
   * K_FLOAT is money: "%.2f" of the binary value, correctly rounded, exact ties to even (as
     polars' float_precision=2 and Python's format write it), "-0.00" for a negative that
     rounds to zero; NaN / inf as Python's str() ("nan", "inf", "-inf"), as csv._money_text
     turns them to text.
   It declines (None) the formats `render` declines, a date or datetime outside the years 1 to
   9999, and money of magnitude 2^64 or more. Rendered without the GIL, as `render`. */
#define CSV_CELL_MAX 33 /* a typed field ("-18446744073709551615.00") or "'" + "" + "", plus ',' */
#define MONEY_LIMIT 18446744073709551616.0 /* 2^64 */

static unsigned char CSV_QUOTED[256]; /* bytes that make polars quote a field: , " CR LF */
static unsigned char FORMULA[256];    /* first bytes that get the apostrophe: = + - @ TAB CR */

static void init_csv(void) {
    CSV_QUOTED[','] = CSV_QUOTED['"'] = CSV_QUOTED['\r'] = CSV_QUOTED['\n'] = 1;
    FORMULA['='] = FORMULA['+'] = FORMULA['-'] = FORMULA['@'] = FORMULA['\t'] = FORMULA['\r'] = 1;
}

/* Whether the field s[0:n] must be quoted (it holds , " CR or LF); 16 bytes at a time. */
static int csv_needs_quotes(const unsigned char *s, int64_t n) {
    int64_t i = 0;
#ifdef __SSE2__
    const __m128i comma = _mm_set1_epi8(','), quote = _mm_set1_epi8('"');
    const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
    if (n >= 16)
        for (;; i += 16) {
            if (i + 16 > n) i = n - 16; /* the last 16 bytes, overlapping those looked at */
            __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
            __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, quote));
            hit = _mm_or_si128(hit, _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
            if (_mm_movemask_epi8(hit)) return 1;
            if (i + 16 == n) return 0;
        }
#endif
    for (; i < n; i++)
        if (CSV_QUOTED[s[i]]) return 1;
    return 0;
}

/* A text field: neutralised, then quoted where needed. `inlined`: s is the text kept inside
   a string view (n <= 12, the 16-byte view readable around it), copied by fixed moves. */
static char *csv_text(char *p, const unsigned char *s, int64_t n, int inlined) {
    if (n == 0) return put(p, "\"\"", 2); /* the empty string, told apart from null */
    int formula = FORMULA[s[0]];
#ifdef __SSE2__
    if (inlined) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s - 4)); /* the whole view */
        __m128i hit = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(',')), _mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
        hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, _mm_set1_epi8('\r')));
        hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
        unsigned bits = ((unsigned)_mm_movemask_epi8(hit) >> 4) & ((1u << n) - 1);
        if (!bits) {
            *p = '\'';
            p += formula;
            return PUT_FIXED(p, s, 12, n);
        }
    }
#else
    (void)inlined;
#endif
    if (!csv_needs_quotes(s, n)) {
        if (formula) *p++ = '\'';
        return put(p, (const char *)s, (size_t)n);
    }
    *p++ = '"';
    if (formula) *p++ = '\'';
    const unsigned char *end = s + n;
    while (s < end) {
        const unsigned char *q = memchr(s, '"', (size_t)(end - s));
        if (!q) {
            p = put(p, (const char *)s, (size_t)(end - s));
            break;
        }
        p = put(p, (const char *)s, (size_t)(q + 1 - s));
        *p++ = '"'; /* doubled */
        s = q + 1;
    }
    *p++ = '"';
    return p;
}

/* Money: x with two decimals, correctly rounded (ties to even); NULL declines. */
static char *csv_money(char *p, double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    uint64_t fraction = bits & ((1ULL << 52) - 1);
    int biased = (int)((bits >> 52) & 0x7FF);
    if (biased == 0x7FF) {
        if (fraction) return put(p, "nan", 3);
        return bits >> 63 ? put(p, "-inf", 4) : put(p, "inf", 3);
    }
    if (x >= MONEY_LIMIT || x <= -MONEY_LIMIT) return NULL;
    if (bits >> 63) *p++ = '-';
    uint64_t m = biased ? fraction | (1ULL << 52) : fraction;
    int e = (biased ? biased : 1) - 1075; /* |x| = m * 2^e, e <= 11 */
    u128 cents;
    if (e >= 0) {
        cents = ((u128)m << e) * 100;
    } else {
        int s = -e;
        u128 n = (u128)m * 100; /* < 2^60 */
        if (s >= 64) {
            cents = 0; /* below a quarter of a cent */
        } else {
            u128 half = (u128)1 << (s - 1), rem = n & (((u128)1 << s) - 1);
            cents = n >> s;
            if (rem > half || (rem == half && (cents & 1))) cents++;
        }
    }
    p = put_u64(p, (uint64_t)(cents / 100));
    unsigned c = (unsigned)(cents % 100);
    *p++ = '.';
    *p++ = (char)('0' + c / 10);
    *p++ = (char)('0' + c % 10);
    return p;
}

/* The proleptic Gregorian date of a day number (days since 1970-01-01). */
static void civil(int64_t z, int64_t *year, unsigned *month, unsigned *day) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = (int64_t)yoe + era * 400 + (*month <= 2);
}

static inline char *put2(char *p, unsigned v) {
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* yyyy-mm-dd of a day number; NULL outside the years 1 to 9999. */
static char *csv_date(char *p, int64_t days) {
    int64_t year;
    unsigned month, day;
    civil(days, &year, &month, &day);
    if (year < 1 || year > 9999) return NULL;
    p = put2(p, (unsigned)(year / 100));
    p = put2(p, (unsigned)(year % 100));
    *p++ = '-';
    p = put2(p, month);
    *p++ = '-';
    return put2(p, day);
}

static char *csv_datetime(char *p, int64_t us) {
    int64_t seconds = floordiv(us, 1000000);
    int64_t days = floordiv(seconds, 86400);
    int64_t in_day = seconds - days * 86400;
    p = csv_date(p, days);
    if (!p) return NULL;
    *p++ = ' ';
    p = put2(p, (unsigned)(in_day / 3600));
    *p++ = ':';
    p = put2(p, (unsigned)(in_day / 60 % 60));
    *p++ = ':';
    return put2(p, (unsigned)(in_day % 60));
}

/* One field of the current row (nothing for null); advances the column's cursors. NULL
   declines. */
static char *csv_cell(char *p, Column *c) {
    int64_t i, len;
    const struct ArrowArray *a = step(&c->main, &i);
    int64_t ri = 0;
    const struct ArrowArray *ra = c->raw.format != F_NONE ? step(&c->raw, &ri) : NULL;
    if (!valid(a, i)) {
        if (!ra || !valid(ra, ri)) return p;
        const char *s = text_at(ra, c->raw.format, ri, &len);
        return s ? csv_text(p, (const unsigned char *)s, len, c->raw.format == F_VIEW && len <= 12) : NULL;
    }
    switch (c->main.format) {
    case F_VIEW:
    case F_UTF8:
    case F_LARGE_UTF8: {
        const char *s = text_at(a, c->main.format, i, &len);
        return s ? csv_text(p, (const unsigned char *)s, len, c->main.format == F_VIEW && len <= 12) : NULL;
    }
    case F_I64: return put_i64(p, ((const int64_t *)a->buffers[1])[i]);
    case F_I32: return put_i64(p, ((const int32_t *)a->buffers[1])[i]);
    case F_F64: return csv_money(p, ((const double *)a->buffers[1])[i]);
    case F_DATE32: return csv_date(p, ((const int32_t *)a->buffers[1])[i]);
    case F_TS_US: return csv_datetime(p, ((const int64_t *)a->buffers[1])[i]);
    }
    return NULL;
}

/* Renders every file; 0 done, 1 declined. No Python API (runs without the GIL). */
static int csv_all(Column *cols, Py_ssize_t ncols, const int64_t *counts, int64_t *ends, Py_ssize_t nfiles,
                   const char *head, Py_ssize_t headlen, char *out) {
    char *p = out;
    for (Py_ssize_t f = 0; f < nfiles; f++) {
        p = put(p, "\xEF\xBB\xBF", 3);
        p = put(p, head, (size_t)headlen);
        for (int64_t r = 0; r < counts[f]; r++) {
            for (Py_ssize_t j = 0; j < ncols; j++) {
                if (j) *p++ = ',';
                p = csv_cell(p, &cols[j]);
                if (!p) return 1;
            }
            p = put(p, "\r\n", 2);
        }
        ends[f] = p - out;
    }
    return 0;
}

static PyObject *csv(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *specs, *files;
    const char *head;
    Py_ssize_t headlen;
    if (!PyArg_ParseTuple(args, "O!O!y#:csv", &PyList_Type, &specs, &PyList_Type, &files, &head, &headlen))
        return NULL;
    Py_ssize_t ncols = PyList_GET_SIZE(specs), nfiles = PyList_GET_SIZE(files);
    PyObject *result = NULL, *data = NULL;
    Column *cols = calloc((size_t)(ncols ? ncols : 1), sizeof *cols);
    int64_t *nums = calloc((size_t)(nfiles ? nfiles : 1) * 2, sizeof *nums);
    if (!cols || !nums) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t *counts = nums, *ends = nums + nfiles;
    int64_t rows = 0;
    for (Py_ssize_t f = 0; f < nfiles; f++) {
        long long count = PyLong_AsLongLong(PyList_GET_ITEM(files, f));
        if (count == -1 && PyErr_Occurred()) goto done;
        if (count < 0) {
            PyErr_SetString(PyExc_ValueError, "a file cannot have fewer than 0 rows");
            goto done;
        }
        counts[f] = count;
        rows += count;
    }
    int declined = ncols == 0;
    for (Py_ssize_t j = 0; j < ncols && !declined; j++) {
        PyObject *main, *raw;
        int kind;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(specs, j), "iOO:column", &kind, &main, &raw)) goto done;
        int got = load_column(&cols[j], kind, main, raw, rows);
        if (got < 0) goto done;
        declined = !got;
    }
    int64_t size = nfiles * (3 + (int64_t)headlen) + rows * (2 + ncols * CSV_CELL_MAX) + SLACK;
    for (Py_ssize_t j = 0; j < ncols && !declined; j++) {
        const Arr *t = text_of(&cols[j]);
        int64_t text = t ? text_bytes(t, 0) : 0;
        declined = text < 0;
        size += 2 * text; /* every byte a quote, doubled */
    }
    if (declined) {
        result = Py_None;
        goto done;
    }
    data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (!data) goto done;
    char *out = PyBytes_AS_STRING(data);
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = csv_all(cols, ncols, counts, ends, nfiles, head, headlen, out);
    Py_END_ALLOW_THREADS
    if (status) {
        result = Py_None;
        goto done;
    }
    if (_PyBytes_Resize(&data, (Py_ssize_t)(nfiles ? ends[nfiles - 1] : 0)) < 0) goto done;
    PyObject *offsets = PyList_New(nfiles);
    if (!offsets) goto done;
    for (Py_ssize_t f = 0; f < nfiles; f++) {
        PyObject *end = PyLong_FromLongLong((long long)ends[f]);
        if (!end) {
            Py_DECREF(offsets);
            goto done;
        }
        PyList_SET_ITEM(offsets, f, end);
    }
    result = PyTuple_Pack(2, data, offsets);
    Py_DECREF(offsets);
done:
    Py_XDECREF(data);
    free_columns(cols, ncols);
    free(nums);
    if (result == Py_None) Py_INCREF(result);
    return result;
}

static PyMethodDef methods[] = {
    {"render", render, METH_VARARGS,
     "render(columns, files) -> (bytes, [(end, last_row_number), ...]) | None\n\n"
     "columns: [(kind, arrow stream capsule, raw-text capsule | None, letters, style)];\n"
     "files: [(rows, first 1-based sheet row)], consecutive from the block's first row.\n"
     "None when the block needs what only the polars path renders (see the source)."},
    {"csv", csv, METH_VARARGS,
     "csv(columns, files, head) -> (bytes, [end, ...]) | None\n\n"
     "columns: [(kind, arrow stream capsule, raw-text capsule | None)];\n"
     "files: [rows], consecutive from the block's first row; head: the header line.\n"
     "Each file is a UTF-8 BOM, head and its rows. None when the block needs what only the\n"
     "polars path writes (see the source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sheetrows", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__sheetrows(void) {
    init_special();
    init_pow10();
    init_csv();
    return PyModule_Create(&module);
}
