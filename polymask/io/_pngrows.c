/*
 * PNG scanlines of label maps, both ways.
 *
 * deflate_scanlines: the IDAT stream of an unfiltered label-map PNG, deflated as runs. A label
 * map's rows are long runs of one value. zlib's run-length strategy (Z_RLE) finds them by
 * comparing bytes one by one and spends most of its time there and in its checksum. Here the
 * scanlines (filter byte 0, then the row, 16-bit samples big-endian) are scanned eight bytes at a
 * time for repeats of the sample before (distance 1 for 8-bit maps, 2 for 16-bit ones, so
 * 16-bit runs compress too), coded as one dynamic-Huffman deflate block, and the Adler-32 of
 * each run is added in closed form instead of byte by byte. The result is an ordinary zlib
 * stream: any inflater reads it, and the tests compare what zlib inflates with the scanlines.
 *
 * unfilter_scanlines: undoes the five row filters of the PNG specification in place, for masks
 * written by other programs (Pillow's grayscale PNGs, OpenCV's), which Pillow otherwise decodes
 * row by row with the system zlib at several times the cost of an inflate.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIN_MATCH 3
#define MAX_MATCH 258
#define ADLER_MOD 65521u
#define N_LITLEN 286
#define N_DIST 30
#define N_CODELEN 19

/* ------------------------------------------------------------------------------------------ */
/* Symbols: a literal byte, or a run of `length` bytes repeating the sample `distance` back.   */

typedef struct {
    uint16_t code;  /* 0..255 literal, 257..285 length code */
    uint16_t extra; /* the length code's extra bits */
} Symbol;

static const uint16_t LENGTH_BASE[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,
                                         15, 17, 19, 23, 27, 31, 35, 43, 51,  59,
                                         67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t LENGTH_EXTRA[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                         2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};

static uint8_t LENGTH_CODE[MAX_MATCH + 1]; /* length -> index into LENGTH_BASE */

static void
init_length_codes(void) {
    for (int length = MIN_MATCH, i = 0; length <= MAX_MATCH; length++) {
        while (i < 28 && LENGTH_BASE[i + 1] <= length) {
            i++;
        }
        LENGTH_CODE[length] = (uint8_t)i;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Adler-32, with runs added in closed form                                                    */

/* The sums are kept unreduced in 64 bits and reduced when they grow large: a modulo per byte
   (or six per run) would cost more than the whole scan. */
typedef struct {
    uint64_t a, b;
} Adler;

static inline void
adler_reduce(Adler *s) {
    if (s->b >= ((uint64_t)1 << 62) || s->a >= ((uint64_t)1 << 40)) {
        s->a %= ADLER_MOD;
        s->b %= ADLER_MOD;
    }
}

static inline void
adler_byte(Adler *s, unsigned byte) {
    s->a += byte;
    s->b += s->a;
    adler_reduce(s);
}

/* n (<= 258) more bytes repeating the pattern p0 p1 p0 p1 ... (p0 == p1 for distance 1):
   byte i leaves a + S_i in a, S_i the sum of the first i pattern bytes, so b gains
   n a + sum S_i, with sum floor(i/2) = floor(n^2/4) and sum ceil(i/2) = n(n+1)/2 - that. */
static inline void
adler_run(Adler *s, unsigned p0, unsigned p1, uint64_t n) {
    uint64_t sum_floor = n * n / 4, sum_ceil = n * (n + 1) / 2 - sum_floor;
    s->b += n * s->a + p0 * sum_ceil + p1 * sum_floor;
    s->a += p0 * ((n + 1) / 2) + p1 * (n / 2);
    adler_reduce(s);
}

/* ------------------------------------------------------------------------------------------ */
/* Scanning                                                                                    */

typedef struct {
    Symbol *sym;
    Py_ssize_t n, matches;
    uint32_t litlen_freq[N_LITLEN];
    Adler adler;
} Scan;

static inline void
emit_literal(Scan *s, unsigned byte) {
    s->sym[s->n].code = (uint16_t)byte;
    s->sym[s->n++].extra = 0;
    s->litlen_freq[byte]++;
    adler_byte(&s->adler, byte);
}

/* n bytes at p, each repeating the byte `distance` before it: matches of up to 258 bytes
   while three or more remain, then literals (as a greedy run-length deflater emits them). */
static void
emit_run(Scan *s, const unsigned char *p, int n, int distance) {
    while (n >= MIN_MATCH) {
        int run = n < MAX_MATCH ? n : MAX_MATCH, code = LENGTH_CODE[run];
        s->sym[s->n].code = (uint16_t)(257 + code);
        s->sym[s->n++].extra = (uint16_t)(run - LENGTH_BASE[code]);
        s->litlen_freq[257 + code]++;
        s->matches++;
        adler_run(&s->adler, p[-distance], p[1 - distance - (distance == 1)], (uint64_t)run);
        p += run;
        n -= run;
    }
    while (n-- > 0) {
        emit_literal(s, *p++);
    }
}

/* One piece of the stream, buf[seg:end]: a literal where it starts at a difference, then the
   run of bytes repeating the byte `distance` before them. */
static inline void
emit_piece(Scan *s, const unsigned char *buf, int seg, int end, int literal, int distance) {
    if (literal) {
        emit_literal(s, buf[seg]);
        seg++;
    }
    emit_run(s, buf + seg, end - seg, distance);
}

/* Symbols for buf[start:end] (the `distance` bytes before start are the stream's own). The
   stream splits where a byte differs from the one `distance` before; each piece is a literal
   (at such a difference) and a run. Differences are found eight bytes at a time. */
static void
scan_bytes(Scan *s, const unsigned char *buf, int start, int end, int distance) {
    int seg = start, literal = buf[start] != buf[start - distance];
    int i = start + 1;
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t low7 = 0x7F7F7F7F7F7F7F7FULL, high = 0x8080808080808080ULL;
    for (; i + 8 <= end; i += 8) {
        uint64_t x, y;
        memcpy(&x, buf + i, 8);
        memcpy(&y, buf + i - distance, 8);
        uint64_t diff = x ^ y;
        if (!diff) {
            continue;
        }
        uint64_t differs = (((diff & low7) + low7) | diff) & high; /* top bit of each byte */
        while (differs) {
            int at = i + (__builtin_ctzll(differs) >> 3);
            emit_piece(s, buf, seg, at, literal, distance);
            seg = at;
            literal = 1;
            differs &= differs - 1;
        }
    }
#endif
    for (; i < end; i++) {
        if (buf[i] != buf[i - distance]) {
            emit_piece(s, buf, seg, i, literal, distance);
            seg = i;
            literal = 1;
        }
    }
    emit_piece(s, buf, seg, end, literal, distance);
}

/* ------------------------------------------------------------------------------------------ */
/* Huffman codes                                                                               */

/* Code lengths (at most max_bits) for the symbols of nonzero frequency; at least two symbols
   get a code, so every code is complete. Frequencies are halved until the tree is shallow
   enough: slightly longer output in rare cases, always a valid code. */
static void
code_lengths(const uint32_t *freq, int n, int max_bits, uint8_t *len) {
    uint64_t weight[2 * N_LITLEN];
    int parent[2 * N_LITLEN], leaf[N_LITLEN], n_leaves = 0;
    memset(len, 0, (size_t)n);
    for (int i = 0; i < n; i++) {
        if (freq[i]) {
            leaf[n_leaves++] = i;
        }
    }
    for (int i = 0; n_leaves < 2 && i < n; i++) {
        if (!freq[i]) {
            leaf[n_leaves++] = i; /* a second symbol, never used */
        }
    }
    for (int i = 0; i < n_leaves; i++) {
        weight[i] = freq[leaf[i]] ? freq[leaf[i]] : 1;
    }
    for (;;) {
        /* leaves sorted by (weight, symbol); internal nodes come out in weight order */
        int order[N_LITLEN];
        for (int i = 0; i < n_leaves; i++) {
            int j = i - 1, k = i;
            for (; j >= 0 && (weight[order[j]] > weight[k]); j--) {
                order[j + 1] = order[j];
            }
            order[j + 1] = k;
        }
        int next_leaf = 0, next_node = n_leaves, n_nodes = n_leaves;
        for (int m = 0; m < n_leaves - 1; m++) {
            int pick[2];
            for (int q = 0; q < 2; q++) {
                if (next_leaf < n_leaves &&
                    (next_node >= n_nodes || weight[order[next_leaf]] <= weight[next_node])) {
                    pick[q] = order[next_leaf++];
                } else {
                    pick[q] = next_node++;
                }
            }
            weight[n_nodes] = weight[pick[0]] + weight[pick[1]];
            parent[pick[0]] = parent[pick[1]] = n_nodes;
            n_nodes++;
        }
        int root = n_nodes - 1, deepest = 0;
        for (int i = 0; i < n_leaves; i++) {
            int depth = 0;
            for (int node = i; node != root; node = parent[node]) {
                depth++;
            }
            len[leaf[i]] = (uint8_t)depth;
            if (depth > deepest) {
                deepest = depth;
            }
        }
        if (deepest <= max_bits) {
            return;
        }
        for (int i = 0; i < n_leaves; i++) {
            weight[i] = (weight[i] >> 1) | 1;
        }
    }
}

/* Canonical codes (RFC 1951, 3.2.2), bit-reversed for an LSB-first bit stream. */
static void
canonical_codes(const uint8_t *len, int n, uint16_t *code) {
    int count[16] = {0};
    uint16_t next[16];
    for (int i = 0; i < n; i++) {
        count[len[i]]++;
    }
    count[0] = 0;
    int c = 0;
    for (int bits = 1; bits < 16; bits++) {
        c = (c + count[bits - 1]) << 1;
        next[bits] = (uint16_t)c;
    }
    for (int i = 0; i < n; i++) {
        if (len[i]) {
            unsigned v = next[len[i]]++, r = 0;
            for (int b = 0; b < len[i]; b++) {
                r = (r << 1) | ((v >> b) & 1);
            }
            code[i] = (uint16_t)r;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Bit output                                                                                  */

typedef struct {
    unsigned char *out;
    Py_ssize_t pos;
    uint64_t acc;
    int bits;
} Bits;

/* Appends n (<= 32) bits; whole 32-bit words go out at once. */
static inline void
put(Bits *w, uint32_t value, int n) {
    w->acc |= (uint64_t)value << w->bits;
    w->bits += n;
    if (w->bits >= 32) {
        unsigned char *o = w->out + w->pos;
        o[0] = (unsigned char)w->acc;
        o[1] = (unsigned char)(w->acc >> 8);
        o[2] = (unsigned char)(w->acc >> 16);
        o[3] = (unsigned char)(w->acc >> 24);
        w->pos += 4;
        w->acc >>= 32;
        w->bits -= 32;
    }
}

static void
flush_bits(Bits *w) {
    while (w->bits > 0) {
        w->out[w->pos++] = (unsigned char)w->acc;
        w->acc >>= 8;
        w->bits -= 8;
    }
    w->acc = 0;
    w->bits = 0;
}

static const uint8_t CODELEN_ORDER[N_CODELEN] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                                 11, 4,  12, 3, 13, 2, 14, 1, 15};

/* The run-length coded code lengths (RFC 1951, 3.2.7): symbols 0-15, 16 (repeat the last
   3-6 times), 17 (3-10 zeros), 18 (11-138 zeros), each with its extra bits. */
static int
code_length_symbols(const uint8_t *lens, int n, uint8_t *sym, uint8_t *extra) {
    int m = 0;
    for (int i = 0; i < n;) {
        int cur = lens[i], run = 1;
        while (i + run < n && lens[i + run] == cur) {
            run++;
        }
        i += run;
        if (cur == 0) {
            while (run >= 11) {
                int k = run < 138 ? run : 138;
                sym[m] = 18, extra[m++] = (uint8_t)(k - 11);
                run -= k;
            }
            if (run >= 3) {
                sym[m] = 17, extra[m++] = (uint8_t)(run - 3);
                run = 0;
            }
        } else {
            sym[m] = (uint8_t)cur, extra[m++] = 0;
            run--;
            while (run >= 3) {
                int k = run < 6 ? run : 6;
                sym[m] = 16, extra[m++] = (uint8_t)(k - 3);
                run -= k;
            }
        }
        while (run-- > 0) {
            sym[m] = (uint8_t)cur, extra[m++] = 0;
        }
    }
    return m;
}

static void
write_block(Bits *w, const Scan *s, int dist_code) {
    uint32_t litlen_freq[N_LITLEN], dist_freq[N_DIST] = {0};
    memcpy(litlen_freq, s->litlen_freq, sizeof(litlen_freq));
    litlen_freq[256] = 1; /* end of block */
    dist_freq[dist_code] = (uint32_t)s->matches;
    uint8_t litlen_len[N_LITLEN], dist_len[N_DIST], lens[N_LITLEN + N_DIST];
    uint16_t litlen_code[N_LITLEN], dist_codes[N_DIST];
    code_lengths(litlen_freq, N_LITLEN, 15, litlen_len);
    code_lengths(dist_freq, N_DIST, 15, dist_len);
    canonical_codes(litlen_len, N_LITLEN, litlen_code);
    canonical_codes(dist_len, N_DIST, dist_codes);

    int hlit = N_LITLEN, hdist = N_DIST;
    while (hlit > 257 && litlen_len[hlit - 1] == 0) {
        hlit--;
    }
    while (hdist > 1 && dist_len[hdist - 1] == 0) {
        hdist--;
    }
    memcpy(lens, litlen_len, (size_t)hlit);
    memcpy(lens + hlit, dist_len, (size_t)hdist);
    uint8_t cl_sym[N_LITLEN + N_DIST], cl_extra[N_LITLEN + N_DIST];
    int n_cl = code_length_symbols(lens, hlit + hdist, cl_sym, cl_extra);
    uint32_t cl_freq[N_CODELEN] = {0};
    for (int i = 0; i < n_cl; i++) {
        cl_freq[cl_sym[i]]++;
    }
    uint8_t cl_len[N_CODELEN];
    uint16_t cl_code[N_CODELEN];
    code_lengths(cl_freq, N_CODELEN, 7, cl_len);
    canonical_codes(cl_len, N_CODELEN, cl_code);
    int hclen = N_CODELEN;
    while (hclen > 4 && cl_len[CODELEN_ORDER[hclen - 1]] == 0) {
        hclen--;
    }

    put(w, 1, 1); /* final block */
    put(w, 2, 2); /* dynamic Huffman codes */
    put(w, (uint32_t)(hlit - 257), 5);
    put(w, (uint32_t)(hdist - 1), 5);
    put(w, (uint32_t)(hclen - 4), 4);
    for (int i = 0; i < hclen; i++) {
        put(w, cl_len[CODELEN_ORDER[i]], 3);
    }
    static const uint8_t CL_EXTRA_BITS[3] = {2, 3, 7};
    for (int i = 0; i < n_cl; i++) {
        put(w, cl_code[cl_sym[i]], cl_len[cl_sym[i]]);
        if (cl_sym[i] >= 16) {
            put(w, cl_extra[i], CL_EXTRA_BITS[cl_sym[i] - 16]);
        }
    }
    const uint32_t dcode = dist_codes[dist_code];
    const int dlen = dist_len[dist_code];
    for (Py_ssize_t i = 0; i < s->n; i++) {
        int code = s->sym[i].code;
        if (code < 256) {
            put(w, litlen_code[code], litlen_len[code]);
        } else {
            int len = litlen_len[code], extra_bits = LENGTH_EXTRA[code - 257];
            put(w, litlen_code[code] | ((uint32_t)s->sym[i].extra << len), len + extra_bits);
            put(w, dcode, dlen);
        }
    }
    put(w, litlen_code[256], litlen_len[256]);
    flush_bits(w);
}

/* ------------------------------------------------------------------------------------------ */
/* Python binding                                                                              */

static PyObject *
py_deflate_scanlines(PyObject *self, PyObject *args) {
    PyObject *obj;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "O", &obj)) {
        return NULL;
    }
    if (PyObject_GetBuffer(obj, &view, PyBUF_RECORDS_RO) < 0) {
        return NULL;
    }
    const char *f = view.format ? view.format : "B";
    if (*f == '<' || *f == '=' || *f == '@') {
        f++;
    }
    if (view.ndim != 2 || !PyBuffer_IsContiguous(&view, 'C') || view.shape[0] < 1 ||
        view.shape[1] < 1 || view.shape[1] > INT_MAX / 4 ||
        !((view.itemsize == 1 && *f == 'B') || (view.itemsize == 2 && *f == 'H'))) {
        PyBuffer_Release(&view);
        PyErr_SetString(
            PyExc_TypeError, "expected a non-empty C-contiguous 2-D uint8 or uint16 array"
        );
        return NULL;
    }
    const Py_ssize_t height = view.shape[0], width = view.shape[1];
    const int size = (int)view.itemsize, row_bytes = (int)(width * size) + 1;
    const int distance = size; /* the sample before */
    const Py_ssize_t total = height * (Py_ssize_t)row_bytes;

    Scan scan;
    memset(&scan, 0, sizeof(scan));
    scan.adler.a = 1;
    /* row buffer: the last `distance` bytes of the stream so far, then this scanline */
    unsigned char *row = malloc((size_t)(row_bytes + distance));
    scan.sym = malloc(sizeof(Symbol) * (size_t)total);
    Bits w = {malloc((size_t)(2 * total + 4096)), 0, 0, 0}; /* > 15 bits a byte */
    PyObject *result = NULL;
    if (!row || !scan.sym || !w.out) {
        PyErr_NoMemory();
        goto done;
    }

    Py_BEGIN_ALLOW_THREADS;
    const uint8_t *src = view.buf;
    memset(row, 0, (size_t)distance);
    for (Py_ssize_t r = 0; r < height; r++) {
        unsigned char *line = row + distance;
        line[0] = 0; /* filter: None */
        if (size == 1) {
            memcpy(line + 1, src + r * width, (size_t)width);
        } else {
            const uint16_t *samples = (const uint16_t *)src + r * width;
            for (Py_ssize_t k = 0; k < width; k++) {
                line[1 + 2 * k] = (unsigned char)(samples[k] >> 8);
                line[2 + 2 * k] = (unsigned char)samples[k];
            }
        }
        if (r == 0) {
            /* nothing precedes the stream: its first bytes are literals */
            int first = distance < row_bytes ? distance : row_bytes;
            for (int k = 0; k < first; k++) {
                emit_literal(&scan, line[k]);
            }
            if (first < row_bytes) {
                scan_bytes(&scan, row, distance + first, distance + row_bytes, distance);
            }
        } else {
            scan_bytes(&scan, row, distance, distance + row_bytes, distance);
        }
        memcpy(row, row + row_bytes, (size_t)distance);
    }
    put(&w, 0x78, 8); /* zlib header: deflate, 32K window, no dictionary */
    put(&w, 0x01, 8);
    write_block(&w, &scan, distance - 1);
    uint32_t adler = (uint32_t)(((scan.adler.b % ADLER_MOD) << 16) | (scan.adler.a % ADLER_MOD));
    w.out[w.pos++] = (unsigned char)(adler >> 24);
    w.out[w.pos++] = (unsigned char)(adler >> 16);
    w.out[w.pos++] = (unsigned char)(adler >> 8);
    w.out[w.pos++] = (unsigned char)adler;
    Py_END_ALLOW_THREADS;
    result = PyBytes_FromStringAndSize((const char *)w.out, w.pos);
done:
    free(row);
    free(scan.sym);
    free(w.out);
    PyBuffer_Release(&view);
    return result;
}

/* ------------------------------------------------------------------------------------------ */
/* Undoing row filters (PNG specification, section 9)                                         */

static inline unsigned
paeth(int a, int b, int c) {
    int p = a + b - c;
    int pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    if (pa <= pb && pa <= pc) {
        return (unsigned)a;
    }
    return (unsigned)(pb <= pc ? b : c);
}

/* How many bytes from row[i] on (before n) are 0 and, when `prior` is given, sit below a prior
   row that repeats its byte before (prior[k] == prior[k - 1]). In such a stretch the Sub and
   Paeth predictors both give the byte before, so the stretch is a copy of it: label maps are
   mostly such stretches, and filling them at once breaks the byte-to-byte dependency that
   bounds the plain loop. */
static inline Py_ssize_t
repeat_stretch(const unsigned char *row, const unsigned char *prior, Py_ssize_t i, Py_ssize_t n) {
    Py_ssize_t k = i;
    while (k + 8 <= n) {
        uint64_t x, p0, p1;
        memcpy(&x, row + k, 8);
        if (x) {
            break;
        }
        if (prior) {
            memcpy(&p0, prior + k, 8);
            memcpy(&p1, prior + k - 1, 8);
            if (p0 != p1) {
                break;
            }
        }
        k += 8;
    }
    while (k < n && row[k] == 0 && (!prior || prior[k] == prior[k - 1])) {
        k++;
    }
    return k - i;
}

/* Rows of `stride` bytes (filter type, then the row) in place; `bpp` bytes a pixel. Returns
   -1 at an unknown filter type. */
static int
unfilter(unsigned char *buf, Py_ssize_t height, Py_ssize_t stride, int bpp) {
    const Py_ssize_t n = stride - 1;
    const unsigned char *prior = NULL;
    for (Py_ssize_t r = 0; r < height; r++) {
        unsigned char *row = buf + r * stride + 1;
        int type = row[-1];
        if (type == 0) {
            prior = row;
            continue;
        }
        if (type == 1) {
            for (Py_ssize_t i = bpp; i < n; i++) {
                if (bpp == 1 && row[i] == 0) {
                    Py_ssize_t len = repeat_stretch(row, NULL, i, n);
                    memset(row + i, row[i - 1], (size_t)len);
                    i += len - 1;
                    continue;
                }
                row[i] = (unsigned char)(row[i] + row[i - bpp]);
            }
        } else if (type == 2) {
            if (prior) {
                for (Py_ssize_t i = 0; i < n; i++) {
                    row[i] = (unsigned char)(row[i] + prior[i]);
                }
            }
        } else if (type == 3) {
            for (Py_ssize_t i = 0; i < n; i++) {
                unsigned a = i >= bpp ? row[i - bpp] : 0, b = prior ? prior[i] : 0;
                row[i] = (unsigned char)(row[i] + ((a + b) >> 1));
            }
        } else if (type == 4) {
            for (Py_ssize_t i = 0; i < n; i++) {
                if (bpp == 1 && i >= 1 && prior && row[i] == 0 && prior[i] == prior[i - 1]) {
                    Py_ssize_t len = repeat_stretch(row, prior, i, n);
                    memset(row + i, row[i - 1], (size_t)len);
                    i += len - 1;
                    continue;
                }
                int a = i >= bpp ? row[i - bpp] : 0, b = prior ? prior[i] : 0;
                int c = (i >= bpp && prior) ? prior[i - bpp] : 0;
                row[i] = (unsigned char)(row[i] + paeth(a, b, c));
            }
        } else {
            return -1;
        }
        prior = row;
    }
    return 0;
}

static PyObject *
py_unfilter_scanlines(PyObject *self, PyObject *args) {
    PyObject *obj;
    Py_ssize_t height, stride;
    int bpp;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "Onni", &obj, &height, &stride, &bpp)) {
        return NULL;
    }
    if (PyObject_GetBuffer(obj, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        return NULL;
    }
    if (height < 0 || stride < 1 || bpp < 1 || bpp > 8 || view.len < height * stride) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "buffer smaller than height x stride, or bad bpp");
        return NULL;
    }
    int status;
    Py_BEGIN_ALLOW_THREADS;
    status = unfilter(view.buf, height, stride, bpp);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&view);
    return PyBool_FromLong(status == 0);
}

static PyMethodDef methods[] = {
    {"deflate_scanlines", py_deflate_scanlines, METH_VARARGS,
     "deflate_scanlines(array) -> bytes: the zlib stream of the array's PNG scanlines, "
     "unfiltered (16-bit samples big-endian)."},
    {"unfilter_scanlines", py_unfilter_scanlines, METH_VARARGS,
     "unfilter_scanlines(buffer, height, stride, bpp) -> bool: undo the rows' PNG filters in "
     "place (each row: the filter type, then stride - 1 bytes); False at an unknown type."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "polymask._pngrows",
    "Label-map PNG scanlines: run-length deflate, and undoing row filters.", -1, methods,
};

PyMODINIT_FUNC
PyInit__pngrows(void) {
    init_length_codes();
    return PyModule_Create(&module);
}
