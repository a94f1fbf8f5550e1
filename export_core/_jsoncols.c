/* A slice of a JSON record list decoded straight into Arrow string columns (export_core.jsoncolumns).

   decode(raw, begin, stop, keys) reads raw[begin:stop], the items of a JSON list ("{...},{...}"),
   and returns (schema capsule, array capsule) of the Arrow C Data Interface: a struct array with a
   string-view ("vu", polars' own layout for String, so the import copies nothing) child per key,
   in the order of `keys`, which polars imports without Python objects per value. It returns
   None (declines) whenever the slice is not exactly what the other decoders of jsoncolumns
   would turn into the same frame:
   * anything that is not strict RFC 8259 JSON (whitespace, strings with raw control characters,
     bad escapes, lone surrogates, invalid UTF-8 incl. overlong forms and surrogates, numbers off
     the grammar, trailing commas, an empty slice);
   * an item that is not an object, an empty object, a key not in `keys`, a key repeated within
     one record, a nested object or list value;
   * an integer beyond int64, a number that overflows a double, a number longer than NUM_MAX,
     a float exactly halfway between two shortest digit strings (see tied()).
   Values become the text polars gives the Python value: strings their text, true/false
   "true"/"false", integers their decimal digits ("-0" -> "0"), floats their shortest round-trip
   digits laid out positionally without an exponent or a trailing ".0"; null and an absent key a
   null. The parse runs without the GIL until the slice's first float (CPython's dtoa, used to
   read and print floats exactly as the Python path does, needs it). Buffers are malloc'ed
   (their release callbacks may run on any thread, without the GIL). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "arrow_c.h"

#define NUM_MAX 1024 /* longest number text read (longer ones decline) */

/* ---- one column being built ---- */
typedef struct {
    char *data;        /* UTF-8 text of the values, back to back */
    int64_t len, cap;  /* bytes used / allocated in data */
    int32_t *offsets;  /* rowcap + 1 entries */
    uint8_t *valid;    /* validity bitmap, (rowcap + 7) / 8 bytes, zeroed */
    int64_t rowcap;
    int64_t filled;    /* rows with an entry so far */
    int64_t nulls;
    int64_t seen_row;  /* last record that had this key (repeats decline) */
    char *key;         /* UTF-8, a copy (the parse runs without the GIL) */
    Py_ssize_t keylen;
    int verbatim;      /* the key is its own JSON text (no '"', '\\' or control character) */
} Col;

typedef struct {
    Col *cols;
    Py_ssize_t ncols;
    int32_t *table; /* open addressing: column index + 1, 0 empty */
    size_t mask;
    char *scratch; /* a decoded key with escapes */
    int64_t scratch_cap;
    int oom;
    PyThreadState *unlocked; /* the GIL released (NULL once taken back for a float) */
} State;

static uint64_t hash_bytes(const char *s, Py_ssize_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static Py_ssize_t find_key(const State *st, const char *s, Py_ssize_t n, Py_ssize_t guess) {
    if (guess < st->ncols && st->cols[guess].keylen == n && memcmp(st->cols[guess].key, s, (size_t)n) == 0)
        return guess;
    size_t at = (size_t)hash_bytes(s, n) & st->mask;
    for (;;) {
        int32_t slot = st->table[at];
        if (slot == 0) return -1;
        const Col *c = &st->cols[slot - 1];
        if (c->keylen == n && memcmp(c->key, s, (size_t)n) == 0) return slot - 1;
        at = (at + 1) & st->mask;
    }
}

static int grow_bytes(char **buf, int64_t *cap, int64_t need) {
    if (need <= *cap) return 0;
    int64_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    char *p = realloc(*buf, (size_t)n);
    if (!p) return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* Room for rows [0, rows) in the column's offsets and bitmap. */
static int grow_rows(Col *c, int64_t rows) {
    if (rows <= c->rowcap) return 0;
    int64_t n = c->rowcap ? c->rowcap : 256;
    while (n < rows) n *= 2;
    int32_t *o = realloc(c->offsets, (size_t)(n + 1) * sizeof(int32_t));
    if (!o) return -1;
    c->offsets = o;
    uint8_t *v = realloc(c->valid, (size_t)(n + 7) / 8);
    if (!v) return -1;
    int64_t old = (c->rowcap + 7) / 8;
    memset(v + old, 0, (size_t)((n + 7) / 8 - old));
    c->valid = v;
    c->rowcap = n;
    return 0;
}

/* Nulls for the rows before `row` that have no entry yet. */
static int pad(Col *c, int64_t row) {
    if (c->filled >= row) return 0;
    if (grow_rows(c, row) < 0) return -1;
    int32_t end = (int32_t)c->len;
    for (int64_t r = c->filled; r < row; r++) c->offsets[r + 1] = end;
    c->nulls += row - c->filled;
    c->filled = row;
    return 0;
}

/* The value just appended to c->data is row `row`'s. */
static int commit(Col *c, int64_t row) {
    if (c->len > INT32_MAX) return -1;
    c->offsets[row + 1] = (int32_t)c->len;
    c->valid[row >> 3] |= (uint8_t)(1u << (row & 7));
    c->filled = row + 1;
    return 0;
}

#define WS(ch) ((ch) == ' ' || (ch) == '\t' || (ch) == '\n' || (ch) == '\r')

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end) {
    while (p < end && WS(*p)) p++;
    return p;
}

static int hexval(unsigned char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out) {
    if (end - p < 4) return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0) return -1;
        v = (v << 4) | (unsigned)h;
    }
    *out = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 if invalid (Unicode 3-7:
   no overlong forms, no surrogates, nothing beyond U+10FFFF). */
static int utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned char b0 = p[0];
    Py_ssize_t left = end - p;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        if (left < 2 || (p[1] & 0xC0) != 0x80) return 0;
        return 2;
    }
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (left < 3) return 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
        if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80) return 0;
        return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (left < 4) return 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
        if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
        return 4;
    }
    return 0;
}

/* Plain string bytes: printable ASCII other than '"' and '\\'. */
static unsigned char PLAIN[256];

static void init_plain(void) {
    for (int i = 0x20; i < 0x80; i++) PLAIN[i] = 1;
    PLAIN['"'] = 0;
    PLAIN['\\'] = 0;
}

/* Decodes the string whose opening quote is just before p, appending its text to *buf
   (len/cap); returns the position after the closing quote, or NULL (invalid: declines;
   st->oom set when memory ran out). */
static const unsigned char *parse_string(State *st, const unsigned char *p, const unsigned char *end,
                                         char **buf, int64_t *len, int64_t *cap) {
    for (;;) {
        const unsigned char *s = p;
#ifdef __SSE2__
        /* 16 bytes at a time while none is '"', '\\', a control character or non-ASCII
           (signed < 0x20 is both), copied straight into the buffer */
        while (end - p >= 16) {
            if (*cap - *len < 16 && grow_bytes(buf, cap, *len + 16) < 0) goto oom;
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            __m128i stop = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
            int mask = _mm_movemask_epi8(stop);
            _mm_storeu_si128((__m128i *)(*buf + *len), v);
            if (mask) {
                int n = __builtin_ctz((unsigned)mask);
                p += n;
                *len += n;
                break;
            }
            p += 16;
            *len += 16;
        }
        s = p;
#endif
        while (p < end && PLAIN[*p]) p++;
        if (p > s) {
            if (grow_bytes(buf, cap, *len + (p - s)) < 0) goto oom;
            memcpy(*buf + *len, s, (size_t)(p - s));
            *len += p - s;
        }
        if (p >= end) return NULL;
        unsigned char ch = *p;
        if (ch == '"') return p + 1;
        if (ch == '\\') {
            if (end - p < 2) return NULL;
            unsigned char e = p[1];
            char out;
            p += 2;
            switch (e) {
            case '"': out = '"'; break;
            case '\\': out = '\\'; break;
            case '/': out = '/'; break;
            case 'b': out = '\b'; break;
            case 'f': out = '\f'; break;
            case 'n': out = '\n'; break;
            case 'r': out = '\r'; break;
            case 't': out = '\t'; break;
            case 'u': {
                unsigned cp;
                if (hex4(p, end, &cp) < 0) return NULL;
                p += 4;
                if (cp >= 0xDC00 && cp <= 0xDFFF) return NULL; /* a lone low surrogate */
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo) < 0) return NULL;
                    if (lo < 0xDC00 || lo > 0xDFFF) return NULL;
                    p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (grow_bytes(buf, cap, *len + 4) < 0) goto oom;
                char *o = *buf + *len;
                if (cp < 0x80) {
                    o[0] = (char)cp;
                    *len += 1;
                } else if (cp < 0x800) {
                    o[0] = (char)(0xC0 | (cp >> 6));
                    o[1] = (char)(0x80 | (cp & 0x3F));
                    *len += 2;
                } else if (cp < 0x10000) {
                    o[0] = (char)(0xE0 | (cp >> 12));
                    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    o[2] = (char)(0x80 | (cp & 0x3F));
                    *len += 3;
                } else {
                    o[0] = (char)(0xF0 | (cp >> 18));
                    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    o[3] = (char)(0x80 | (cp & 0x3F));
                    *len += 4;
                }
                continue;
            }
            default:
                return NULL;
            }
            if (grow_bytes(buf, cap, *len + 1) < 0) goto oom;
            (*buf)[(*len)++] = out;
            continue;
        }
        if (ch < 0x20) return NULL;
        int n = utf8_len(p, end);
        if (n == 0) return NULL;
        if (grow_bytes(buf, cap, *len + n) < 0) goto oom;
        memcpy(*buf + *len, p, (size_t)n);
        *len += n;
        p += n;
    }
oom:
    st->oom = 1;
    return NULL;
}

static int append(Col *c, const char *s, int64_t n) {
    if (grow_bytes(&c->data, &c->cap, c->len + n) < 0) return -1;
    memcpy(c->data + c->len, s, (size_t)n);
    c->len += n;
    return 0;
}

static int append_zeros(Col *c, int64_t n) {
    if (n <= 0) return 0;
    if (grow_bytes(&c->data, &c->cap, c->len + n) < 0) return -1;
    memset(c->data + c->len, '0', (size_t)n);
    c->len += n;
    return 0;
}

/* Whether |x| lies exactly halfway between two n-digit decimals, n being the length of its
   shortest round-trip digits: its exact decimal expansion has a 5 as digit n + 1 and nothing
   after it (read from 25 more digits than that; a rounding carry into a 5 only declines
   more). Then two shortest candidates are equally near, and CPython's repr (round half even)
   and polars (half up) may pick different ones: 570000000000000.25 is "...0.2" to one and
   "...0.3" to the other. Such a value declines, so the Python path gives it polars' own text.
   Needs the GIL (CPython's dtoa). */
static int tied(double x, int n) {
    /* Cheap exclusion first: |x| = m * 2^e with m odd and e < 0 has exactly -e decimals, the
       last a 5; below 1, fewer than 1 - log10|x| of them are leading zeros. More than 18
       significant digits left cannot be n + 1 (n <= 17): most floats with decimals (1234.56,
       0.1) stop here, without the dtoa call below (payments' 50k decode: 85 -> ~45 ms). */
    double ax = x < 0 ? -x : x;
    int e2;
    double f = frexp(ax, &e2);
    uint64_t m = (uint64_t)ldexp(f, 53);
    if (m) {
        int low = e2 - 53 + __builtin_ctzll(m);
        if (low < 0) {
            int zeros = ax < 1 ? (int)(-log10(ax)) + 1 : 0;
            if (-low - zeros > 18) return 0;
        }
    }
    char *r = PyOS_double_to_string(x < 0 ? -x : x, 'e', n + 25, 0, NULL);
    if (!r) {
        PyErr_Clear();
        return 1;
    }
    char digits[96];
    int k = 0;
    for (const char *q = r; *q && *q != 'e' && k < (int)sizeof digits; q++)
        if (*q >= '0' && *q <= '9') digits[k++] = *q;
    PyMem_Free(r);
    if (k != n + 26) return 1; /* not the layout asked for: decline */
    if (digits[n] != '5') return 0;
    for (int i = n + 1; i < k; i++)
        if (digits[i] != '0') return 0;
    return 1;
}

/* The float's text as polars gives it: shortest round-trip digits (CPython's repr digits),
   positional, no exponent, no ".0". 0 done, -1 decline, -2 out of memory. */
static int append_float(Col *c, double x) {
    char *r = PyOS_double_to_string(x, 'r', 0, 0, NULL);
    if (!r) {
        PyErr_Clear();
        return -2;
    }
    const char *q = r;
    int neg = 0;
    if (*q == '-') {
        neg = 1;
        q++;
    }
    char digits[40];
    int nd = 0, before = 0, seen_dot = 0;
    long exp = 0;
    int ok = 1;
    for (; *q; q++) {
        if (*q >= '0' && *q <= '9') {
            if (nd >= (int)sizeof digits) {
                ok = 0;
                break;
            }
            digits[nd++] = *q;
            if (!seen_dot) before++;
        } else if (*q == '.' && !seen_dot) {
            seen_dot = 1;
        } else if (*q == 'e') {
            char *e_end;
            exp = strtol(q + 1, &e_end, 10);
            if (*e_end != '\0') ok = 0;
            break;
        } else {
            ok = 0; /* inf, nan: not from JSON */
            break;
        }
    }
    PyMem_Free(r);
    if (!ok || nd == 0) return -1;
    long point = before + exp; /* digits[0:point] before the decimal point */
    int lead = 0;
    while (lead < nd - 1 && digits[lead] == '0') {
        lead++;
        point--;
    }
    int last = nd;
    while (last > lead + 1 && digits[last - 1] == '0') last--;
    const char *d = digits + lead;
    int n = last - lead;
    if (n == 1 && d[0] == '0') {
        point = 1; /* zero */
    } else if (tied(x, n)) {
        return -1;
    }
    if (neg && append(c, "-", 1) < 0) return -2;
    if (point <= 0) {
        if (append(c, "0.", 2) < 0 || append_zeros(c, -point) < 0 || append(c, d, n) < 0) return -2;
    } else if (point >= n) {
        if (append(c, d, n) < 0 || append_zeros(c, point - n) < 0) return -2;
    } else {
        if (append(c, d, point) < 0 || append(c, ".", 1) < 0 || append(c, d + point, n - point) < 0)
            return -2;
    }
    return 0;
}

/* A number by the JSON grammar starting at p, appended to the column as polars' text for the
   value orjson/msgspec read. Returns the position after it, or NULL (declines; oom flagged). */
static const unsigned char *parse_number(State *st, Col *c, const unsigned char *p, const unsigned char *end) {
    const unsigned char *s = p;
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    const unsigned char *int_start = p;
    if (p >= end) return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') p++;
    } else {
        return NULL;
    }
    const unsigned char *int_end = p;
    int is_float = 0;
    if (p < end && *p == '.') {
        p++;
        const unsigned char *f = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p == f) return NULL;
        is_float = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        const unsigned char *f = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p == f) return NULL;
        is_float = 1;
    }
    if (!is_float) {
        Py_ssize_t nd = int_end - int_start;
        if (nd > 19) return NULL;
        if (nd == 19) {
            const char *limit = neg ? "9223372036854775808" : "9223372036854775807";
            if (memcmp(int_start, limit, 19) > 0) return NULL;
        }
        if (nd == 1 && *int_start == '0') {
            if (append(c, "0", 1) < 0) goto oom; /* "-0" is the int 0 */
        } else if (append(c, (const char *)s, p - s) < 0) {
            goto oom;
        }
        return p;
    }
    Py_ssize_t n = p - s;
    if (n >= NUM_MAX) return NULL;
    if (st->unlocked) {
        PyEval_RestoreThread(st->unlocked);
        st->unlocked = NULL;
    }
    char text[NUM_MAX];
    memcpy(text, s, (size_t)n);
    text[n] = '\0';
    char *stopped = NULL;
    double x = PyOS_string_to_double(text, &stopped, NULL);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return NULL;
    }
    if (stopped != text + n || x == Py_HUGE_VAL || x == -Py_HUGE_VAL) return NULL;
    int r = append_float(c, x);
    if (r == -1) return NULL;
    if (r == -2) goto oom;
    return p;
oom:
    st->oom = 1;
    return NULL;
}

/* Parses the items; returns the number of records, -1 to decline, -2 out of memory. */
static int64_t parse_items(State *st, const unsigned char *p, const unsigned char *end) {
    int64_t row = 0;
    p = skip_ws(p, end);
    if (p >= end) return -1; /* no records */
    for (;;) {
        if (p >= end || *p != '{') return -1;
        p = skip_ws(p + 1, end);
        if (p >= end || *p == '}') return -1; /* an empty record */
        Py_ssize_t guess = 0;
        for (;;) {
            if (*p != '"') return -1;
            p++;
            /* the key: the next column's (the usual order) when the input holds its text
               verbatim, else a plain run straight from the input, else decoded into scratch */
            Py_ssize_t at = -1;
            if (guess < st->ncols && st->cols[guess].verbatim) {
                const Col *g = &st->cols[guess];
                if (end - p > g->keylen && p[g->keylen] == '"' && memcmp(p, g->key, (size_t)g->keylen) == 0) {
                    at = guess;
                    p += g->keylen + 1;
                }
            }
            if (at < 0) {
                const unsigned char *k = p;
                while (p < end && PLAIN[*p]) p++;
                const char *key;
                Py_ssize_t keylen;
                if (p < end && *p == '"') {
                    key = (const char *)k;
                    keylen = p - k;
                    p++;
                } else {
                    int64_t len = 0;
                    p = parse_string(st, k, end, &st->scratch, &len, &st->scratch_cap);
                    if (!p) return st->oom ? -2 : -1;
                    key = st->scratch;
                    keylen = (Py_ssize_t)len;
                }
                at = find_key(st, key, keylen, guess);
                if (at < 0) return -1;
            }
            Col *c = &st->cols[at];
            if (c->seen_row == row) return -1; /* a repeated key */
            c->seen_row = row;
            guess = at + 1;
            p = skip_ws(p, end);
            if (p >= end || *p != ':') return -1;
            p = skip_ws(p + 1, end);
            if (p >= end) return -1;
            unsigned char ch = *p;
            if (ch == 'n') {
                if (end - p < 4 || memcmp(p, "null", 4) != 0) return -1;
                p += 4; /* left to pad() */
            } else {
                if (pad(c, row) < 0 || grow_rows(c, row + 1) < 0) return -2;
                if (ch == '"') {
                    p = parse_string(st, p + 1, end, &c->data, &c->len, &c->cap);
                    if (!p) return st->oom ? -2 : -1;
                } else if (ch == 't') {
                    if (end - p < 4 || memcmp(p, "true", 4) != 0) return -1;
                    p += 4;
                    if (append(c, "true", 4) < 0) return -2;
                } else if (ch == 'f') {
                    if (end - p < 5 || memcmp(p, "false", 5) != 0) return -1;
                    p += 5;
                    if (append(c, "false", 5) < 0) return -2;
                } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
                    p = parse_number(st, c, p, end);
                    if (!p) return st->oom ? -2 : -1;
                } else {
                    return -1; /* a nested value, or not JSON */
                }
                if (commit(c, row) < 0) return -1;
            }
            p = skip_ws(p, end);
            if (p >= end) return -1;
            if (*p == ',') {
                p = skip_ws(p + 1, end);
                if (p >= end) return -1;
                continue;
            }
            if (*p == '}') {
                p++;
                break;
            }
            return -1;
        }
        row++;
        p = skip_ws(p, end);
        if (p >= end) return row;
        if (*p != ',') return -1;
        p = skip_ws(p + 1, end);
    }
}

/* ---- export ---- */
static void release_child_array(struct ArrowArray *a) {
    if (!a->release) return;
    for (int64_t i = 0; i < a->n_buffers; i++) free((void *)a->buffers[i]);
    free(a->buffers);
    a->release = NULL;
}

static void release_struct_array(struct ArrowArray *a) {
    if (!a->release) return;
    for (int64_t i = 0; i < a->n_children; i++) {
        struct ArrowArray *child = a->children[i];
        if (child) {
            if (child->release) child->release(child);
            free(child);
        }
    }
    free(a->children);
    free(a->buffers);
    a->release = NULL;
}

static void release_child_schema(struct ArrowSchema *s) {
    if (!s->release) return;
    free((void *)s->name);
    s->release = NULL;
}

static void release_struct_schema(struct ArrowSchema *s) {
    if (!s->release) return;
    for (int64_t i = 0; i < s->n_children; i++) {
        struct ArrowSchema *child = s->children[i];
        if (child) {
            if (child->release) child->release(child);
            free(child);
        }
    }
    free(s->children);
    s->release = NULL;
}

static void capsule_array_destructor(PyObject *capsule) {
    struct ArrowArray *a = PyCapsule_GetPointer(capsule, "arrow_array");
    if (!a) {
        PyErr_Clear();
        return;
    }
    if (a->release) a->release(a);
    free(a);
}

static void capsule_schema_destructor(PyObject *capsule) {
    struct ArrowSchema *s = PyCapsule_GetPointer(capsule, "arrow_schema");
    if (!s) {
        PyErr_Clear();
        return;
    }
    if (s->release) s->release(s);
    free(s);
}

static void free_state(State *st) {
    if (st->cols) {
        for (Py_ssize_t i = 0; i < st->ncols; i++) {
            free(st->cols[i].data);
            free(st->cols[i].offsets);
            free(st->cols[i].valid);
            free(st->cols[i].key);
        }
        free(st->cols);
    }
    free(st->table);
    free(st->scratch);
}

/* Moves the columns' buffers into a struct array and its schema (NULL pointers when out of
   memory; whatever was moved is released by the caller through the structs). */
static int export_columns(State *st, int64_t rows, struct ArrowSchema *schema, struct ArrowArray *array) {
    Py_ssize_t n = st->ncols;
    memset(schema, 0, sizeof *schema);
    memset(array, 0, sizeof *array);
    schema->format = "+s";
    schema->name = "";
    schema->n_children = n;
    schema->children = calloc((size_t)n, sizeof(struct ArrowSchema *));
    schema->release = release_struct_schema;
    array->length = rows;
    array->n_buffers = 1;
    array->n_children = n;
    array->buffers = calloc(1, sizeof(void *));
    array->children = calloc((size_t)n, sizeof(struct ArrowArray *));
    array->release = release_struct_array;
    if (!schema->children || !array->buffers || !array->children) {
        if (!schema->children) schema->n_children = 0;
        if (!array->children) array->n_children = 0;
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Col *c = &st->cols[i];
        if (pad(c, rows) < 0 || grow_rows(c, rows) < 0) return -1;
        if (!c->data && grow_bytes(&c->data, &c->cap, 1) < 0) return -1;
        c->offsets[0] = 0;
        struct ArrowSchema *cs = calloc(1, sizeof *cs);
        if (!cs) return -1;
        schema->children[i] = cs;
        char *name = malloc((size_t)c->keylen + 1);
        if (!name) return -1;
        memcpy(name, c->key, (size_t)c->keylen);
        name[c->keylen] = '\0';
        cs->format = "vu";
        cs->name = name;
        cs->flags = ARROW_FLAG_NULLABLE;
        cs->release = release_child_schema;
        struct ArrowArray *ca = calloc(1, sizeof *ca);
        if (!ca) return -1;
        array->children[i] = ca;
        const void **buffers = calloc(4, sizeof(void *));
        if (!buffers) return -1;
        ca->length = rows;
        ca->null_count = c->nulls;
        ca->n_buffers = 4;
        ca->buffers = buffers;
        ca->release = release_child_array;
        if (c->nulls) {
            buffers[0] = c->valid;
        } else {
            free(c->valid);
        }
        /* views: length, then up to 12 bytes inline, else a 4-byte prefix, buffer 0, offset */
        uint8_t *views = malloc((size_t)(rows ? rows : 1) * 16);
        int64_t *sizes = malloc(sizeof(int64_t));
        if (!views || !sizes) {
            free(views);
            free(sizes);
            return -1;
        }
        /* The data buffer keeps only the values a view does not hold inline (over 12 bytes),
           moved down in place (a value never moves past one not yet read), and is shrunk to
           them: the inline values' bytes and the buffer's spare room (it grew by doubling)
           go back to the allocator, ~a fifth of a participant column's memory. */
        int32_t kept = 0;
        for (int64_t r = 0; r < rows; r++) {
            int32_t off = c->offsets[r], len = c->offsets[r + 1] - off;
            uint8_t *v = views + r * 16;
            memset(v, 0, 16);
            memcpy(v, &len, 4);
            if (len <= 12) {
                memcpy(v + 4, c->data + off, (size_t)len);
            } else {
                int32_t zero = 0;
                if (kept != off) memmove(c->data + kept, c->data + off, (size_t)len);
                memcpy(v + 4, c->data + kept, 4);
                memcpy(v + 8, &zero, 4);
                memcpy(v + 12, &kept, 4);
                kept += len;
            }
        }
        char *shrunk = realloc(c->data, (size_t)(kept ? kept : 1));
        if (shrunk) c->data = shrunk; /* else the bigger buffer serves as well */
        c->len = c->cap = kept;
        sizes[0] = kept;
        free(c->offsets);
        buffers[1] = views;
        buffers[2] = c->data;
        buffers[3] = sizes;
        c->valid = NULL;
        c->offsets = NULL;
        c->data = NULL;
    }
    return 0;
}

static PyObject *decode(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *raw, *keys;
    Py_ssize_t begin, stop;
    if (!PyArg_ParseTuple(args, "OnnO!:decode", &raw, &begin, &stop, &PyList_Type, &keys)) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(raw, &view, PyBUF_SIMPLE) < 0) return NULL;
    if (begin < 0 || stop > view.len || begin > stop) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "begin/stop out of range");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(keys);
    State st;
    memset(&st, 0, sizeof st);
    PyObject *result = NULL;
    if (n == 0 || n > INT32_MAX / 4) {
        result = Py_None;
        goto done;
    }
    st.cols = calloc((size_t)n, sizeof(Col));
    size_t tsize = 16;
    while (tsize < (size_t)n * 2) tsize *= 2;
    st.table = calloc(tsize, sizeof(int32_t));
    st.mask = tsize - 1;
    if (!st.cols || !st.table) goto oom;
    st.ncols = n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = PyList_GET_ITEM(keys, i);
        Col *c = &st.cols[i];
        c->seen_row = -1;
        if (!PyUnicode_Check(k)) {
            PyErr_SetString(PyExc_TypeError, "keys must be str");
            goto done;
        }
        const char *text = PyUnicode_AsUTF8AndSize(k, &c->keylen);
        if (!text) { /* lone surrogates: not a key JSON text decodes to */
            PyErr_Clear();
            result = Py_None;
            goto done;
        }
        c->key = malloc((size_t)c->keylen + 1);
        if (!c->key) goto oom;
        memcpy(c->key, text, (size_t)c->keylen + 1);
        if (memchr(c->key, '\0', (size_t)c->keylen) || find_key(&st, c->key, c->keylen, n) >= 0) {
            result = Py_None; /* a NUL (no C name) or a repeated key */
            goto done;
        }
        c->verbatim = 1;
        for (Py_ssize_t j = 0; j < c->keylen; j++) {
            unsigned char ch = (unsigned char)c->key[j];
            if (ch < 0x20 || ch == '"' || ch == '\\') c->verbatim = 0;
        }
        size_t at = (size_t)hash_bytes(c->key, c->keylen) & st.mask;
        while (st.table[at]) at = (at + 1) & st.mask;
        st.table[at] = (int32_t)(i + 1);
    }
    const unsigned char *base = (const unsigned char *)view.buf;
    /* Strings, integers and literals need no interpreter: other threads run meanwhile. The
       first float takes the GIL back for the rest (CPython's dtoa is not thread-safe). */
    st.unlocked = PyEval_SaveThread();
    int64_t rows = parse_items(&st, base + begin, base + stop);
    if (st.unlocked) PyEval_RestoreThread(st.unlocked);
    if (rows == -2) goto oom;
    for (Py_ssize_t i = 0; rows > 0 && i < st.ncols; i++)
        if (st.cols[i].len > INT32_MAX) rows = -1; /* beyond the views' 32-bit offsets */
    if (rows < 0) {
        result = Py_None;
        goto done;
    }
    struct ArrowSchema *schema = calloc(1, sizeof *schema);
    struct ArrowArray *array = calloc(1, sizeof *array);
    if (!schema || !array) {
        free(schema);
        free(array);
        goto oom;
    }
    if (export_columns(&st, rows, schema, array) < 0) {
        release_struct_schema(schema);
        release_struct_array(array);
        free(schema);
        free(array);
        goto oom;
    }
    PyObject *sc = PyCapsule_New(schema, "arrow_schema", capsule_schema_destructor);
    if (!sc) {
        release_struct_schema(schema);
        release_struct_array(array);
        free(schema);
        free(array);
        goto done;
    }
    PyObject *ac = PyCapsule_New(array, "arrow_array", capsule_array_destructor);
    if (!ac) {
        Py_DECREF(sc);
        release_struct_array(array);
        free(array);
        goto done;
    }
    result = PyTuple_Pack(2, sc, ac);
    Py_DECREF(sc);
    Py_DECREF(ac);
    goto done;
oom:
    PyErr_NoMemory();
done:
    free_state(&st);
    PyBuffer_Release(&view);
    if (result == Py_None) Py_INCREF(result);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS,
     "decode(raw, begin, stop, keys) -> (arrow_schema capsule, arrow_array capsule) | None\n\n"
     "raw[begin:stop], the items of a JSON record list, as a struct array of string-view columns\n"
     "named `keys`; None when the slice is not for this decoder (see the module's source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_jsoncols", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__jsoncols(void) {
    init_plain();
    return PyModule_Create(&module);
}
