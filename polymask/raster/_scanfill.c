/*
 * Polygon scan conversion for polymask's three pixel conventions, in C.
 *
 * Each function fills one polygon into a 2-D uint8 or uint16 label map with one value and sets
 * exactly the pixels of the library that defines the convention:
 *
 *   pillow_polygon  ImageDraw.polygon(xy, fill=v, outline=v) of Pillow >= 11.3 (``labelme``)
 *   gdal_polygon    GDAL's filled-polygon rasterizer, pixel centres, even-odd (``center``)
 *   coco_polygon    pycocotools' rleFrPoly, decoded (``coco``)
 *
 * The arithmetic of each rule (float or double, rounding, tie handling) is reproduced step by
 * step, so the pixels agree bit for bit; the Python tests compare every function against the
 * library it follows on random polygons. What differs is the bookkeeping: Pillow and GDAL test
 * every edge on every scanline, which costs rows x edges per polygon; here edges are bucketed by
 * the first row they cross and only the edges crossing a row are visited (an active edge list,
 * kept in crossing order from row to row), which costs rows + crossings; pycocotools' walk of
 * the outline in fifth-of-a-pixel steps is replaced by computing the steps that cross a column
 * centre. Where the original's result depends on the order edges are visited in (Pillow's
 * corner rule), that order is kept.
 *
 * Build with -ffp-contract=off: a fused multiply-add would round differently from the
 * libraries' own x86-64 builds and from the numpy reference of the coco rule.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* The label map being painted                                                                 */

typedef struct {
    char *data;
    Py_ssize_t stride; /* bytes per row */
    int width, height, itemsize;
    unsigned int value;
} Canvas;

/* Set pixels x0..x1 (inclusive) of row y, clipped to the map. */
static inline void
span(const Canvas *c, int y, int x0, int x1) {
    if (y < 0 || y >= c->height) {
        return;
    }
    if (x0 < 0) {
        x0 = 0;
    }
    if (x1 >= c->width) {
        x1 = c->width - 1;
    }
    if (x0 > x1) {
        return;
    }
    char *row = c->data + (Py_ssize_t)y * c->stride;
    if (c->itemsize == 1) {
        memset(row + x0, (unsigned char)c->value, (size_t)(x1 - x0 + 1));
    } else {
        unsigned short *p = (unsigned short *)row;
        for (int x = x0; x <= x1; x++) {
            p[x] = (unsigned short)c->value;
        }
    }
}

/* An edge's index and the row it starts on. */
typedef struct {
    int row, index;
} Start;

/* Sorts edges by start row, ties in index order, with a counting sort over the rows lo..hi
   (rows are clamped into that range): a polygon's edges arrive in index order, and a
   comparison sort of a hundred edges cost as much as filling the polygon. Returns -1 when out
   of memory. */
static int
sort_starts(Start *v, int n, int lo, int hi) {
    if (n == 0) {
        return 0;
    }
    int span = hi < lo ? 1 : hi - lo + 1;
    int *count = calloc((size_t)span + 1, sizeof(int));
    Start *sorted = malloc(sizeof(Start) * (size_t)(n ? n : 1));
    if (!count || !sorted) {
        free(count);
        free(sorted);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        v[i].row = v[i].row < lo ? lo : v[i].row > hi ? hi : v[i].row;
        count[v[i].row - lo + 1]++;
    }
    for (int r = 0; r < span; r++) {
        count[r + 1] += count[r];
    }
    for (int i = 0; i < n; i++) {
        sorted[count[v[i].row - lo]++] = v[i];
    }
    memcpy(v, sorted, sizeof(Start) * (size_t)n);
    free(count);
    free(sorted);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Pillow: integer vertices, float crossings, outline pixels included                         */

typedef struct {
    int x0, y0;
    int xmin, ymin, xmax, ymax;
    float dx;
} PEdge;

#define ROUND_UP(f) ((int)((f) >= 0.0 ? floor((f) + 0.5F) : -floor(fabs(f) + 0.5F)))
#define ROUND_DOWN(f) ((int)((f) >= 0.0 ? ceil((f) - 0.5F) : -ceil(fabs(f) - 0.5F)))

static void
pedge_set(PEdge *e, int x0, int y0, int x1, int y1) {
    e->xmin = x0 <= x1 ? x0 : x1;
    e->xmax = x0 <= x1 ? x1 : x0;
    e->ymin = y0 <= y1 ? y0 : y1;
    e->ymax = y0 <= y1 ? y1 : y0;
    e->dx = y0 == y1 ? 0.0f : ((float)(x1 - x0)) / (y1 - y0);
    e->x0 = x0;
    e->y0 = y0;
}


/* Pillow's edge list: truncated vertices, consecutive horizontal edges merged, ring closed. */
static int
pillow_edges(const double *xy, int count, PEdge *e) {
    int *p = malloc(sizeof(int) * 2 * (size_t)count);
    if (!p) {
        return -1;
    }
    for (int i = 0; i < 2 * count; i++) {
        p[i] = (int)xy[i];
    }
    int i, n = 0;
    for (i = 0; i < count - 1; i++) {
        int x0 = p[i * 2], y0 = p[i * 2 + 1], x1 = p[i * 2 + 2], y1 = p[i * 2 + 3];
        if (y0 == y1 && i != 0 && y0 == p[i * 2 - 1]) {
            PEdge *last = &e[n - 1];
            if (x1 > x0 && x0 > p[i * 2 - 2]) {
                last->xmax = x1;
                continue;
            } else if (x1 < x0 && x0 < p[i * 2 - 2]) {
                last->xmin = x1;
                continue;
            }
        }
        pedge_set(&e[n++], x0, y0, x1, y1);
    }
    if (p[i * 2] != p[0] || p[i * 2 + 1] != p[1]) {
        pedge_set(&e[n++], p[i * 2], p[i * 2 + 1], p[0], p[1]);
    }
    free(p);
    return n;
}

static int
pillow_fill(const Canvas *c, const double *xy, int count) {
    PEdge *e = malloc(sizeof(PEdge) * (size_t)count);
    Start *table = malloc(sizeof(Start) * (size_t)count); /* sloped edges, by ymin */
    int *order = malloc(sizeof(int) * (size_t)count); /* edges crossing the row, by crossing */
    int *ends = malloc(sizeof(int) * (size_t)count);  /* those starting or ending on it */
    float *val = malloc(sizeof(float) * (size_t)count); /* each edge's crossing on the row */
    unsigned char *twice = malloc((size_t)count);     /* whether it counts twice */
    float *xx = malloc(sizeof(float) * 2 * (size_t)count);
    int status = -1;
    if (!e || !table || !order || !ends || !val || !twice || !xx) {
        goto done;
    }
    int n = pillow_edges(xy, count, e);
    if (n < 0) {
        goto done;
    }

    int ymin = c->height - 1, ymax = 0, sloped = 0;
    for (int i = 0; i < n; i++) {
        if (ymin > e[i].ymin) {
            ymin = e[i].ymin;
        }
        if (ymax < e[i].ymax) {
            ymax = e[i].ymax;
        }
        if (e[i].ymin == e[i].ymax) {
            span(c, e[i].ymin, e[i].xmin, e[i].xmax);
            continue;
        }
        table[sloped].row = e[i].ymin;
        table[sloped++].index = i;
    }
    if (ymin < 0) {
        ymin = 0;
    }
    if (ymax > c->height) {
        ymax = c->height;
    }
    /* Rows past the last one would paint nothing; ymax itself stays as Pillow computes it,
       since the "consistent polygons" rule below compares with it. */
    int last_row = ymax < c->height - 1 ? ymax : c->height - 1;
    /* edges starting below the last row land in the bucket after it, never reached */
    if (sort_starts(table, sloped, ymin, last_row + 1) < 0) {
        goto done;
    }
    /* The edges crossing a row are kept sorted by crossing in `order`, which holds the previous
       row's order: rows differ by a few swaps, so an insertion sort puts them right in about
       one pass, where sorting afresh would cost n log n a row on outlines with a hundred
       crossings. Pillow's corner rule visits the edges in index order; it only ever involves
       edges that start or end on the row, so only those (`ends`) are put in index order. */
    int next = 0, n_order = 0;
    for (int y = ymin; y <= last_row; y++) {
        while (next < sloped && table[next].row <= y) {
            order[n_order++] = table[next++].index;
        }
        int kept = 0, n_ends = 0;
        for (int a = 0; a < n_order; a++) {
            const int id = order[a];
            const PEdge *cur = &e[id];
            if (cur->ymax < y) {
                continue;
            }
            order[kept++] = id;
            val[id] = (y - cur->y0) * cur->dx + cur->x0;
            /* Needed to draw consistent polygons */
            twice[id] = y == cur->ymax && y < ymax;
            if (y == cur->ymin || y == cur->ymax) {
                int k = n_ends++;
                for (; k > 0 && ends[k - 1] > id; k--) {
                    ends[k] = ends[k - 1];
                }
                ends[k] = id;
            }
        }
        n_order = kept;
        for (int a = 0; a < n_ends; a++) {
            const PEdge *cur = &e[ends[a]];
            float *x = &val[ends[a]];
            if (twice[ends[a]] || cur->dx == 0) {
                continue;
            }
            /* Connect discontiguous corners: the edges before this one that end or start on
               this row, in edge order, the first that meets it deciding */
            for (int b = 0; b < a; b++) {
                const PEdge *other = &e[ends[b]];
                if (other->dx == 0) {
                    continue;
                }
                if (roundf(*x) == roundf((y - other->y0) * other->dx + other->x0)) {
                    int offset = y == cur->ymax ? -1 : 1;
                    float adjacent = (y + offset - cur->y0) * cur->dx + cur->x0;
                    if (y + offset >= other->ymin && y + offset <= other->ymax) {
                        float adjacent_other = (y + offset - other->y0) * other->dx + other->x0;
                        if (*x > adjacent + 1 && *x > adjacent_other + 1) {
                            *x = roundf(fmax(adjacent, adjacent_other)) + 1;
                        } else if (*x < adjacent - 1 && *x < adjacent_other - 1) {
                            *x = roundf(fmin(adjacent, adjacent_other)) - 1;
                        }
                        break;
                    }
                }
            }
        }
        for (int i = 1; i < n_order; i++) {
            int id = order[i], k = i - 1;
            for (; k >= 0 && val[order[k]] > val[id]; k--) {
                order[k + 1] = order[k];
            }
            order[k + 1] = id;
        }
        int j = 0;
        for (int a = 0; a < n_order; a++) {
            xx[j++] = val[order[a]];
            if (twice[order[a]]) {
                xx[j++] = val[order[a]];
            }
        }
        for (int i = 1; i < j; i += 2) {
            span(c, y, ROUND_UP(xx[i - 1]), ROUND_DOWN(xx[i]));
        }
    }
    status = 0;
done:
    free(e);
    free(table);
    free(order);
    free(ends);
    free(val);
    free(twice);
    free(xx);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* GDAL: double vertices, crossings of the row's centre line, rounded half up                 */

typedef struct {
    double x1, y1, x2, y2; /* y1 < y2 */
    int first, last;       /* rows whose centre line it crosses */
} GEdge;


/* OGR's winding test of a closed ring of n points (the last repeating the first): the turn at
   the lowest, then rightmost, vertex, or the shoelace sum where that vertex is degenerate. */
static int
ring_is_clockwise(const double *xy, int n) {
    if (n < 2) {
        return 1;
    }
#define X(i) xy[2 * (i)]
#define Y(i) xy[2 * (i) + 1]
    int fallback = 0, v = 0;
    for (int i = 1; i < n - 1; i++) {
        if (Y(i) < Y(v) || (Y(i) == Y(v) && X(i) > X(v))) {
            v = i;
            fallback = 0;
        } else if (Y(i) == Y(v) && X(i) == X(v)) {
            fallback = 1; /* two lowest rightmost vertices: no pivot */
        }
    }
    int next = v - 1;
    if (next < 0) {
        next = n - 1 - 1;
    }
    if (fabs(X(next) - X(v)) < 1e-5 && fabs(Y(next) - Y(v)) < 1e-5) {
        fallback = 1;
    }
    const double dx0 = X(next) - X(v), dy0 = Y(next) - Y(v);
    next = v + 1;
    if (next >= n - 1) {
        next = 0;
    }
    if (fabs(X(next) - X(v)) < 1e-5 && fabs(Y(next) - Y(v)) < 1e-5) {
        fallback = 1;
    }
    const double dx1 = X(next) - X(v), dy1 = Y(next) - Y(v);
    const double cross = dx1 * dy0 - dx0 * dy1;
    if (!fallback) {
        if (cross > 0) {
            return 0;
        } else if (cross < 0) {
            return 1;
        }
    }
    double sum = X(0) * (Y(1) - Y(n - 1));
    for (int i = 1; i < n - 1; i++) {
        sum += X(i) * (Y(i + 1) - Y(i - 1));
    }
    sum += X(n - 1) * (Y(0) - Y(n - 2));
    return sum < 0;
#undef X
#undef Y
}

static int
gdal_fill(const Canvas *c, const double *xy, int n, const int *part_size, int n_parts) {
    if (n_parts == 0 || n == 0) {
        return 0;
    }
    GEdge *e = malloc(sizeof(GEdge) * (size_t)n);
    Start *order = malloc(sizeof(Start) * (size_t)n);
    int *active = malloc(sizeof(int) * (size_t)n);
    int *ints = malloc(sizeof(int) * (size_t)n);
    double *ring = malloc(sizeof(double) * 2 * (size_t)n);
    int status = -1;
    if (!e || !order || !active || !ints || !ring) {
        goto done;
    }
    /* GDAL walks every ring clockwise (it reverses the others); which way a ring runs decides
       which of its horizontal edges lying on a row centre are burned. */
    for (int part = 0, offset = 0; part < n_parts; offset += part_size[part++]) {
        const double *src = xy + 2 * offset;
        double *dst = ring + 2 * offset;
        int m = part_size[part];
        if (ring_is_clockwise(src, m)) {
            memcpy(dst, src, sizeof(double) * 2 * (size_t)m);
        } else {
            for (int i = 0; i < m; i++) {
                dst[2 * i] = src[2 * (m - 1 - i)];
                dst[2 * i + 1] = src[2 * (m - 1 - i) + 1];
            }
        }
    }
    xy = ring;
    double dminy = xy[1], dmaxy = xy[1];
    for (int i = 1; i < n; i++) {
        if (xy[2 * i + 1] < dminy) {
            dminy = xy[2 * i + 1];
        }
        if (xy[2 * i + 1] > dmaxy) {
            dmaxy = xy[2 * i + 1];
        }
    }
    int miny = (int)dminy, maxy = (int)dmaxy;
    if (miny < 0) {
        miny = 0;
    }
    if (maxy >= c->height) {
        maxy = c->height - 1;
    }
    const int minx = 0, maxx = c->width - 1;

    int n_edges = 0, offset = 0;
    for (int part = 0; part < n_parts; offset += part_size[part++]) {
        for (int k = 0; k < part_size[part]; k++) {
            int i1 = k == 0 ? offset + part_size[part] - 1 : offset + k - 1;
            int i2 = offset + k;
            double dy1 = xy[2 * i1 + 1], dy2 = xy[2 * i2 + 1];
            double dx1, dx2;
            if (dy1 < dy2) {
                dx1 = xy[2 * i1];
                dx2 = xy[2 * i2];
            } else if (dy1 > dy2) {
                double t = dy1;
                dy1 = dy2;
                dy2 = t;
                dx2 = xy[2 * i1];
                dx1 = xy[2 * i2];
            } else {
                /* A horizontal edge lying exactly on a row's centre line is burned on that
                   row when it runs right to left (a bottom edge); top edges are skipped. */
                if (xy[2 * i1] > xy[2 * i2]) {
                    double row = dy1 - 0.5;
                    if (row != floor(row) || row < miny || row > maxy) {
                        continue;
                    }
                    int y = (int)row;
                    if (y + 0.5 != dy1) {
                        continue;
                    }
                    int h1 = (int)floor(xy[2 * i2] + 0.5), h2 = (int)floor(xy[2 * i1] + 0.5);
                    if (h1 > maxx || h2 <= minx) {
                        continue;
                    }
                    span(c, y, h1, h2 - 1);
                }
                continue;
            }
            /* the rows y of miny..maxy with dy1 <= y + 0.5 < dy2, found with that very test */
            if (dy2 <= miny + 0.5 || dy1 > maxy + 0.5) {
                continue;
            }
            int first = miny, last = maxy;
            if (dy1 > miny + 0.5) {
                first = (int)ceil(dy1 - 0.5);
                while (first + 0.5 < dy1) {
                    first++;
                }
                while (first - 1 + 0.5 >= dy1) {
                    first--;
                }
            }
            if (dy2 <= maxy + 0.5) {
                last = (int)ceil(dy2 - 0.5) - 1;
                while (last + 1 + 0.5 < dy2) {
                    last++;
                }
                while (last + 0.5 >= dy2) {
                    last--;
                }
            }
            if (first > last) {
                continue;
            }
            GEdge *g = &e[n_edges];
            g->x1 = dx1;
            g->y1 = dy1;
            g->x2 = dx2;
            g->y2 = dy2;
            g->first = first;
            g->last = last;
            order[n_edges].row = first;
            order[n_edges].index = n_edges;
            n_edges++;
        }
    }
    if (sort_starts(order, n_edges, miny, maxy) < 0) {
        goto done;
    }

    int next = 0, n_active = 0;
    for (int y = miny; y <= maxy; y++) {
        if (n_active == 0 && next < n_edges && order[next].row > y) {
            y = order[next].row; /* skip rows no edge crosses */
        }
        while (next < n_edges && order[next].row <= y) {
            active[n_active++] = order[next++].index;
        }
        /* `active` keeps the previous row's crossing order, so sorting the crossings is
           about one insertion-sort pass (see pillow_fill) */
        int m = 0;
        const double dy = y + 0.5;
        for (int a = 0; a < n_active; a++) {
            const GEdge *g = &e[active[a]];
            if (g->last < y) {
                continue;
            }
            const double intersect = (dy - g->y1) * (g->x2 - g->x1) / (g->y2 - g->y1) + g->x1;
            const int x = (int)floor(intersect + 0.5), id = active[a];
            int k = m - 1;
            for (; k >= 0 && ints[k] > x; k--) {
                ints[k + 1] = ints[k];
                active[k + 1] = active[k];
            }
            ints[k + 1] = x;
            active[k + 1] = id;
            m++;
        }
        n_active = m;
        if (n_active == 0 && next >= n_edges) {
            break;
        }
        for (int i = 0; i + 1 < m; i += 2) {
            if (ints[i] <= maxx && ints[i + 1] > minx) {
                span(c, y, ints[i], ints[i + 1] - 1);
            }
        }
    }
    status = 0;
done:
    free(e);
    free(order);
    free(active);
    free(ints);
    free(ring);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* pycocotools: vertices scaled by 5, the outline walked in steps, column centres toggled     */

#define COCO_SCALE 5

typedef struct {
    int *col, *row;
    Py_ssize_t n, cap;
} Toggles;

static int
toggles_add(Toggles *t, int col, int row) {
    if (t->n == t->cap) {
        Py_ssize_t cap = t->cap ? 2 * t->cap : 256;
        int *col_ = realloc(t->col, sizeof(int) * (size_t)cap);
        if (!col_) {
            return -1;
        }
        t->col = col_;
        int *row_ = realloc(t->row, sizeof(int) * (size_t)cap);
        if (!row_) {
            return -1;
        }
        t->row = row_;
        t->cap = cap;
    }
    t->col[t->n] = col;
    t->row[t->n] = row;
    t->n++;
    return 0;
}

static inline int
floor_div(int a, int b) {
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The mask toggles where a step of the walk between outline points with u = 5c + 2 and
   5c + 3 crosses the centre line of pixel column c: on the row below the step. pycocotools
   computes that row as ceil((v + .5) / 5 - .5) clamped to 0..height, with v the smaller v of
   the step's points; for integer v that is exactly ceil((v - 2) / 5), clamped. */
static inline int
toggle_at(Toggles *t, int c, int v, int height) {
    int row = -floor_div(-(v - 2), 5);
    return toggles_add(t, c, row < 0 ? 0 : row > height ? height : row);
}

/* The toggles of one upsampled edge. pycocotools visits every point of the walk (5 a pixel);
   only steps across a column centre toggle, and those are found directly: on a shallow edge u
   is the step count, on a steep one u = (int)(xs + s t + .5) is monotone in t, so the step
   from u = k to k + 1 is found from the estimate t = (k + .5 - xs) / s by testing that very
   expression. Each point is computed as the walk computes it, so the toggles are the same. */
static int
edge_toggles(Toggles *t, int xs, int ys, int xe, int ye, int width, int height) {
    int dx = abs(xe - xs), dy = abs(ys - ye);
    int flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
        int tmp = xs;
        xs = xe;
        xe = tmp;
        tmp = ys;
        ys = ye;
        ye = tmp;
    }
    if (dx >= dy) {
        if (dx == 0) {
            return 0;
        }
        const double s = (double)(ye - ys) / dx;
        /* steps from u = k to k + 1 with k = 5c + 2 in xs .. xe - 1 */
        int c0 = floor_div(xs - 2 + 4, 5), c1 = floor_div(xe - 1 - 2, 5);
        if (c0 < 0) {
            c0 = 0;
        }
        if (c1 > width - 1) {
            c1 = width - 1;
        }
        for (int c = c0; c <= c1; c++) {
            int k = 5 * c + 2, step = k - xs;
            int va = (int)(ys + s * step + .5), vb = (int)(ys + s * (step + 1) + .5);
            if (toggle_at(t, c, va < vb ? va : vb, height) < 0) {
                return -1;
            }
        }
        return 0;
    }
    if (xe == xs) {
        return 0;
    }
    const double s = (double)(xe - xs) / dy;
#define U(step) ((int)(xs + s * (step) + .5))
    int u0 = U(0), u1 = U(dy);
    int lo = u0 < u1 ? u0 : u1, hi = u0 < u1 ? u1 : u0;
    int c0 = floor_div(lo - 2 + 4, 5), c1 = floor_div(hi - 1 - 2, 5);
    if (c0 < 0) {
        c0 = 0;
    }
    if (c1 > width - 1) {
        c1 = width - 1;
    }
    for (int c = c0; c <= c1; c++) {
        int k = 5 * c + 2;
        /* the last step `step` on the start side of the boundary between k and k + 1 */
        double estimate = floor((k + .5 - xs) / s);
        int step = estimate < 0 ? 0 : estimate > dy - 1 ? dy - 1 : (int)estimate;
        if (s > 0) {
            while (step > 0 && U(step) > k) {
                step--;
            }
            while (step + 1 <= dy && U(step + 1) <= k) {
                step++;
            }
        } else {
            while (step > 0 && U(step) < k + 1) {
                step--;
            }
            while (step + 1 <= dy && U(step + 1) >= k + 1) {
                step++;
            }
        }
        if (toggle_at(t, c, ys + step, height) < 0) {
            return -1;
        }
    }
#undef U
    return 0;
}

/* Returns 1 when painted, 0 when the outline is longer than max_steps, -1 on no memory. */
static int
coco_fill(const Canvas *c, const double *xy, int k, long long max_steps) {
    int *x = malloc(sizeof(int) * (size_t)k), *y = malloc(sizeof(int) * (size_t)k);
    Toggles w = {NULL, NULL, 0, 0};
    int *start = NULL, *bucket = NULL;
    unsigned char *parity = NULL;
    int status = -1;
    if (!x || !y) {
        goto done;
    }
    long long steps = 0;
    for (int j = 0; j < k; j++) {
        x[j] = (int)(COCO_SCALE * xy[2 * j] + .5);
        y[j] = (int)(COCO_SCALE * xy[2 * j + 1] + .5);
    }
    for (int j = 0; j < k; j++) {
        int jn = j + 1 < k ? j + 1 : 0;
        long long dx = llabs((long long)x[jn] - x[j]), dy = llabs((long long)y[j] - y[jn]);
        steps += (dx >= dy ? dx : dy) + 1;
    }
    if (steps > max_steps) {
        status = 0;
        goto done;
    }
    for (int j = 0; j < k; j++) {
        int jn = j + 1 < k ? j + 1 : 0;
        if (edge_toggles(&w, x[j], y[j], x[jn], y[jn], c->width, c->height) < 0) {
            goto done;
        }
    }

    /* Toggles on row == height close a column below the image and are dropped; a column left
       inside then runs to the bottom row. Toggles are bucketed by row; walking down the rows,
       each column's parity flips at its toggles, and a row's inside pixels are its columns of
       odd parity. */
    int r0 = INT_MAX, c0 = INT_MAX, c1 = -1, rmax = -1;
    for (Py_ssize_t i = 0; i < w.n; i++) {
        int row = w.row[i], col = w.col[i];
        if (row > rmax) {
            rmax = row;
        }
        if (row >= c->height) {
            continue;
        }
        if (row < r0) {
            r0 = row;
        }
        if (col < c0) {
            c0 = col;
        }
        if (col > c1) {
            c1 = col;
        }
    }
    if (c1 < 0) {
        status = 1;
        goto done;
    }
    int r1 = rmax < c->height - 1 ? rmax : c->height - 1;
    int cols = c1 - c0 + 1, rows = r1 - r0 + 1;
    start = calloc((size_t)rows + 1, sizeof(int));
    bucket = malloc(sizeof(int) * (size_t)(w.n ? w.n : 1));
    parity = calloc((size_t)cols, 1);
    if (!start || !bucket || !parity) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < w.n; i++) {
        if (w.row[i] < c->height) {
            start[w.row[i] - r0 + 1]++;
        }
    }
    for (int r = 0; r < rows; r++) {
        start[r + 1] += start[r];
    }
    for (Py_ssize_t i = 0; i < w.n; i++) {
        if (w.row[i] < c->height) {
            bucket[start[w.row[i] - r0]++] = w.col[i] - c0;
        }
    }
    /* start[r] is now the end of row r's toggles, and the start of row r + 1's */
    for (int r = 0, i = 0; r < rows; r++) {
        for (; i < start[r]; i++) {
            parity[bucket[i]] ^= 1;
        }
        char *row = c->data + (Py_ssize_t)(r0 + r) * c->stride;
        if (c->itemsize == 1) {
            unsigned char *p = (unsigned char *)row + c0, v = (unsigned char)c->value;
            for (int k = 0; k < cols; k++) {
                p[k] ^= (p[k] ^ v) & (unsigned char)-parity[k];
            }
        } else {
            unsigned short *p = (unsigned short *)row + c0, v = (unsigned short)c->value;
            for (int k = 0; k < cols; k++) {
                p[k] ^= (p[k] ^ v) & (unsigned short)-parity[k];
            }
        }
    }
    status = 1;
done:
    free(x);
    free(y);
    free(w.col);
    free(w.row);
    free(start);
    free(bucket);
    free(parity);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* Python bindings                                                                             */

/* A buffer's item type code, past a native byte-order prefix. */
static char
item_code(const Py_buffer *view) {
    const char *f = view->format ? view->format : "B";
    return (*f == '<' || *f == '=' || *f == '@') ? f[1] : f[0];
}

/* The label map: a writable, C-contiguous 2-D buffer of uint8 or uint16. */
static int
get_canvas(PyObject *obj, Py_buffer *view, Canvas *c, unsigned long value) {
    if (PyObject_GetBuffer(obj, view, PyBUF_RECORDS) < 0) {
        return -1;
    }
    const char f = item_code(view);
    if (view->ndim != 2 || !PyBuffer_IsContiguous(view, 'C') ||
        !((view->itemsize == 1 && f == 'B') || (view->itemsize == 2 && f == 'H'))) {
        PyErr_SetString(PyExc_TypeError, "out must be a C-contiguous 2-D uint8 or uint16 array");
        PyBuffer_Release(view);
        return -1;
    }
    if (value > (view->itemsize == 1 ? 0xFFUL : 0xFFFFUL)) {
        PyErr_SetString(PyExc_OverflowError, "value does not fit the array's type");
        PyBuffer_Release(view);
        return -1;
    }
    if (view->shape[0] > INT_MAX || view->shape[1] > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "array too large");
        PyBuffer_Release(view);
        return -1;
    }
    c->data = view->buf;
    c->height = (int)view->shape[0];
    c->width = (int)view->shape[1];
    c->stride = view->strides[0];
    c->itemsize = (int)view->itemsize;
    c->value = (unsigned int)value;
    return 0;
}

/* The vertices: a C-contiguous (n, 2) float64 array, used in place, or any sequence of (x, y)
   pairs (the tuples the loaders make), copied; n >= min_points. */
typedef struct {
    const double *xy;
    int n;
    double *owned;
    Py_buffer view;
    int has_view;
} Points;

static void
points_release(Points *pts) {
    if (pts->has_view) {
        PyBuffer_Release(&pts->view);
    }
    PyMem_Free(pts->owned);
}

static int
points_from_buffer(PyObject *obj, Points *pts) {
    if (PyObject_GetBuffer(obj, &pts->view, PyBUF_RECORDS_RO) < 0) {
        return -1;
    }
    pts->has_view = 1;
    const Py_buffer *v = &pts->view;
    if (v->ndim != 2 || v->shape[1] != 2 || item_code(v) != 'd' || v->itemsize != 8 ||
        !PyBuffer_IsContiguous(v, 'C') || v->shape[0] > INT_MAX / 2) {
        PyErr_SetString(PyExc_TypeError, "xy must be a C-contiguous (n, 2) float64 array");
        return -1;
    }
    pts->xy = v->buf;
    pts->n = (int)v->shape[0];
    return 0;
}

static int
points_from_sequence(PyObject *obj, Points *pts) {
    PyObject *seq = PySequence_Fast(obj, "xy must be an array or a sequence of (x, y) pairs");
    if (!seq) {
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > INT_MAX / 2) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "too many points");
        return -1;
    }
    pts->owned = PyMem_Malloc(sizeof(double) * 2 * (size_t)(n ? n : 1));
    if (!pts->owned) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 2 &&
            PyFloat_CheckExact(PyTuple_GET_ITEM(item, 0)) &&
            PyFloat_CheckExact(PyTuple_GET_ITEM(item, 1))) {
            /* the loaders' (x, y) tuples of floats: read without any call */
            pts->owned[2 * i] = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(item, 0));
            pts->owned[2 * i + 1] = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(item, 1));
            continue;
        }
        PyObject *pair = PySequence_Fast(item, "xy must be a sequence of (x, y) pairs");
        if (!pair) {
            Py_DECREF(seq);
            return -1;
        }
        if (PySequence_Fast_GET_SIZE(pair) != 2) {
            Py_DECREF(pair);
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "every point must have two coordinates");
            return -1;
        }
        for (int k = 0; k < 2; k++) {
            double d = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(pair, k));
            if (d == -1.0 && PyErr_Occurred()) {
                Py_DECREF(pair);
                Py_DECREF(seq);
                return -1;
            }
            pts->owned[2 * i + k] = d;
        }
        Py_DECREF(pair);
    }
    Py_DECREF(seq);
    pts->xy = pts->owned;
    pts->n = (int)n;
    return 0;
}

/* Coordinates are cast to int by the rules; beyond this bound the cast is undefined. */
#define MAX_ABS_COORD 1e8

static int
get_points(PyObject *obj, Points *pts, int min_points) {
    memset(pts, 0, sizeof(*pts));
    int status = PyObject_CheckBuffer(obj) ? points_from_buffer(obj, pts)
                                           : points_from_sequence(obj, pts);
    if (status == 0 && pts->n < min_points) {
        PyErr_Format(PyExc_ValueError, "xy needs at least %d points", min_points);
        status = -1;
    }
    for (int i = 0; status == 0 && i < 2 * pts->n; i++) {
        if (!(fabs(pts->xy[i]) <= MAX_ABS_COORD)) {
            PyErr_SetString(PyExc_ValueError, "coordinates must be finite and within 1e8");
            status = -1;
        }
    }
    if (status < 0) {
        points_release(pts);
    }
    return status;
}

/* A call's label map and vertices; on failure nothing is left held and the error is set. */
static int
get_target(
    PyObject *out, PyObject *xy, unsigned long value, int min_points, Py_buffer *ov, Canvas *c,
    Points *pv
) {
    if (get_canvas(out, ov, c, value) < 0) {
        return -1;
    }
    if (get_points(xy, pv, min_points) < 0) {
        PyBuffer_Release(ov);
        return -1;
    }
    return 0;
}

static void
release_target(Py_buffer *ov, Points *pv) {
    points_release(pv);
    PyBuffer_Release(ov);
}

static PyObject *
py_pillow_polygon(PyObject *self, PyObject *args) {
    PyObject *out, *xy;
    unsigned long value;
    Py_buffer ov;
    Points pv;
    Canvas c;
    if (!PyArg_ParseTuple(args, "OOk", &out, &xy, &value)) {
        return NULL;
    }
    if (get_target(out, xy, value, 2, &ov, &c, &pv) < 0) {
        return NULL;
    }
    int status;
    Py_BEGIN_ALLOW_THREADS;
    status = pillow_fill(&c, pv.xy, pv.n);
    Py_END_ALLOW_THREADS;
    release_target(&ov, &pv);
    if (status < 0) {
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

static PyObject *
py_gdal_polygon(PyObject *self, PyObject *args) {
    PyObject *out, *xy, *sizes;
    unsigned long value;
    Py_buffer ov;
    Points pv;
    Canvas c;
    if (!PyArg_ParseTuple(args, "OOO!k", &out, &xy, &PyTuple_Type, &sizes, &value)) {
        return NULL;
    }
    Py_ssize_t n_parts = PyTuple_GET_SIZE(sizes);
    int *part_size = PyMem_Malloc(sizeof(int) * (size_t)(n_parts ? n_parts : 1));
    if (!part_size) {
        return PyErr_NoMemory();
    }
    long total = 0;
    for (Py_ssize_t i = 0; i < n_parts; i++) {
        long v = PyLong_AsLong(PyTuple_GET_ITEM(sizes, i));
        if (v == -1 && PyErr_Occurred()) {
            PyMem_Free(part_size);
            return NULL;
        }
        if (v < 1 || v > INT_MAX) {
            PyMem_Free(part_size);
            PyErr_SetString(PyExc_ValueError, "ring sizes must be positive");
            return NULL;
        }
        part_size[i] = (int)v;
        total += v;
    }
    if (get_target(out, xy, value, 0, &ov, &c, &pv) < 0) {
        PyMem_Free(part_size);
        return NULL;
    }
    if (total != pv.n) {
        release_target(&ov, &pv);
        PyMem_Free(part_size);
        PyErr_SetString(PyExc_ValueError, "ring sizes must add up to the number of points");
        return NULL;
    }
    int status;
    Py_BEGIN_ALLOW_THREADS;
    status = gdal_fill(&c, pv.xy, pv.n, part_size, (int)n_parts);
    Py_END_ALLOW_THREADS;
    release_target(&ov, &pv);
    PyMem_Free(part_size);
    if (status < 0) {
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

static PyObject *
py_coco_polygon(PyObject *self, PyObject *args) {
    PyObject *out, *xy;
    unsigned long value;
    long long max_steps;
    Py_buffer ov;
    Points pv;
    Canvas c;
    if (!PyArg_ParseTuple(args, "OOkL", &out, &xy, &value, &max_steps)) {
        return NULL;
    }
    if (get_target(out, xy, value, 1, &ov, &c, &pv) < 0) {
        return NULL;
    }
    int status;
    Py_BEGIN_ALLOW_THREADS;
    status = coco_fill(&c, pv.xy, pv.n, max_steps);
    Py_END_ALLOW_THREADS;
    release_target(&ov, &pv);
    if (status < 0) {
        return PyErr_NoMemory();
    }
    return PyBool_FromLong(status);
}

static PyMethodDef methods[] = {
    {"pillow_polygon", py_pillow_polygon, METH_VARARGS,
     "pillow_polygon(out, xy, value): fill as ImageDraw.polygon(xy, fill=value, "
     "outline=value)."},
    {"gdal_polygon", py_gdal_polygon, METH_VARARGS,
     "gdal_polygon(out, xy, ring_sizes, value): fill the rings (even-odd) as GDAL's "
     "rasterizer does, pixel centres inside."},
    {"coco_polygon", py_coco_polygon, METH_VARARGS,
     "coco_polygon(out, xy, value, max_steps) -> bool: fill as pycocotools' rleFrPoly; False "
     "(nothing painted) when the upsampled outline is longer than max_steps."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "polymask._scanfill",
    "Polygon scan conversion reproducing Pillow, GDAL and pycocotools pixel for pixel.", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__scanfill(void) {
    return PyModule_Create(&module);
}
