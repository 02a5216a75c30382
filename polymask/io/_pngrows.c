/*
 * Undoing the row filters of PNG scanlines (PNG specification, section 9), in place, for label
 * maps whose rows are filtered: other writers' (Pillow's grayscale PNGs, OpenCV's), and
 * polymask's own 16-bit ones. Pillow would otherwise decode them row by row with the system
 * zlib at several times the cost of an inflate. Writing needs no C: zlib (or zlib-ng) deflates.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    /* height <= len / stride rather than height * stride <= len: the product of two crafted
       sizes can overflow and pass, and the unfilter would then write past the buffer. */
    if (height < 0 || stride < 1 || bpp < 1 || bpp > 8 || height > view.len / stride) {
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
    {"unfilter_scanlines", py_unfilter_scanlines, METH_VARARGS,
     "unfilter_scanlines(buffer, height, stride, bpp) -> bool: undo the rows' PNG filters in "
     "place (each row: the filter type, then stride - 1 bytes); False at an unknown type."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "polymask._pngrows", "Label-map PNG scanlines: undoing row filters.",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__pngrows(void) {
    return PyModule_Create(&module);
}
