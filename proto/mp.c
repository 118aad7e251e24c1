/* mp.c: a bounds-checked msgpack reader for the subset nearby uses, and a writer on msgpack-c's packer. */
#include <limits.h>
#include <string.h>

#include "mp-internal.h"

/* An integer as read: either a non-negative value in u, or a negative one in i. */
struct mp_int {
    int negative;
    uint64_t u;
    int64_t i;
};

static size_t left(const struct mp_reader *r)
{
    return (size_t)(r->end - r->p);
}

static uint64_t be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++)
        v = (v << 8) | p[k];
    return v;
}

/* Reads a header byte followed by an n-byte big-endian field; the cursor
 * moves past both. Returns MP_OK or MP_EOF. */
static int take_field(struct mp_reader *r, size_t n, uint64_t *v)
{
    if (left(r) < 1 + n)
        return MP_EOF;
    *v = be(r->p + 1, n);
    r->p += 1 + n;
    return MP_OK;
}

static int64_t sign_extend(uint64_t v, size_t bytes)
{
    int64_t s;
    switch (bytes) {
    case 1: s = (int8_t)(uint8_t)v; break;
    case 2: s = (int16_t)(uint16_t)v; break;
    case 4: s = (int32_t)(uint32_t)v; break;
    default: memcpy(&s, &v, sizeof(s)); break;
    }
    return s;
}

/* Reads any int/uint encoding. Returns MP_OK, MP_EOF or MP_WRONG. */
static int read_int(struct mp_reader *r, struct mp_int *out)
{
    if (left(r) < 1)
        return MP_EOF;
    uint8_t tag = r->p[0];
    struct mp_int v = {0};
    uint64_t raw;
    size_t width;

    if (tag <= 0x7f) {
        v.u = tag;
        r->p++;
        *out = v;
        return MP_OK;
    }
    if (tag >= 0xe0) {
        v.negative = 1;
        v.i = (int8_t)tag;
        r->p++;
        *out = v;
        return MP_OK;
    }
    if (tag >= 0xcc && tag <= 0xcf) {
        width = (size_t)1 << (tag - 0xcc);
        if (take_field(r, width, &raw) != MP_OK)
            return MP_EOF;
        v.u = raw;
        *out = v;
        return MP_OK;
    }
    if (tag >= 0xd0 && tag <= 0xd3) {
        width = (size_t)1 << (tag - 0xd0);
        if (take_field(r, width, &raw) != MP_OK)
            return MP_EOF;
        int64_t s = sign_extend(raw, width);
        if (s < 0) {
            v.negative = 1;
            v.i = s;
        } else {
            v.u = (uint64_t)s;
        }
        *out = v;
        return MP_OK;
    }
    return MP_WRONG;
}

int mp_read_uint(struct mp_reader *r, uint64_t *v)
{
    const uint8_t *start = r->p;
    struct mp_int n;
    int rc = read_int(r, &n);
    if (rc != MP_OK)
        return rc;
    if (n.negative) {
        r->p = start;
        return MP_RANGE;
    }
    *v = n.u;
    return MP_OK;
}

int mp_read_number(struct mp_reader *r, double *v)
{
    if (left(r) < 1)
        return MP_EOF;
    uint8_t tag = r->p[0];
    uint64_t raw;

    if (tag == 0xca) {
        if (take_field(r, 4, &raw) != MP_OK)
            return MP_EOF;
        uint32_t bits = (uint32_t)raw;
        float f;
        memcpy(&f, &bits, sizeof(f));
        *v = (double)f;
        return MP_OK;
    }
    if (tag == 0xcb) {
        if (take_field(r, 8, &raw) != MP_OK)
            return MP_EOF;
        double d;
        memcpy(&d, &raw, sizeof(d));
        *v = d;
        return MP_OK;
    }
    struct mp_int n;
    int rc = read_int(r, &n);
    if (rc != MP_OK)
        return rc;
    *v = n.negative ? (double)n.i : (double)n.u;
    return MP_OK;
}

/* Reads a str, bin, array or map header: the tag ranges are passed in.
 * fix_lo..fix_hi is the fix form with its count in the low bits (fix_mask);
 * t8/t16/t32 the sized forms (0 when the form does not exist). The count is
 * checked against the bytes left times unit_den (bytes per element at least). */
static int read_len(struct mp_reader *r, uint8_t fix_lo, uint8_t fix_hi, uint8_t fix_mask,
                    uint8_t t8, uint8_t t16, uint8_t t32, size_t min_unit, uint32_t *n)
{
    if (left(r) < 1)
        return MP_EOF;
    uint8_t tag = r->p[0];
    const uint8_t *start = r->p;
    uint64_t count;

    if (tag >= fix_lo && tag <= fix_hi) {
        count = tag & fix_mask;
        r->p++;
    } else if (t8 && tag == t8) {
        if (take_field(r, 1, &count) != MP_OK)
            return MP_EOF;
    } else if (tag == t16) {
        if (take_field(r, 2, &count) != MP_OK)
            return MP_EOF;
    } else if (tag == t32) {
        if (take_field(r, 4, &count) != MP_OK)
            return MP_EOF;
    } else {
        return MP_WRONG;
    }
    if (count > left(r) / min_unit) {
        r->p = start;
        return MP_EOF;
    }
    *n = (uint32_t)count;
    return MP_OK;
}

int mp_read_map(struct mp_reader *r, uint32_t *n)
{
    return read_len(r, 0x80, 0x8f, 0x0f, 0, 0xde, 0xdf, 2, n);
}

int mp_read_array(struct mp_reader *r, uint32_t *n)
{
    return read_len(r, 0x90, 0x9f, 0x0f, 0, 0xdc, 0xdd, 1, n);
}

int mp_read_str(struct mp_reader *r, const char **s, uint32_t *len)
{
    uint32_t n;
    int rc = read_len(r, 0xa0, 0xbf, 0x1f, 0xd9, 0xda, 0xdb, 1, &n);
    if (rc != MP_OK)
        return rc;
    *s = (const char *)r->p;
    *len = n;
    r->p += n;
    return MP_OK;
}

int mp_read_bool(struct mp_reader *r, int *v)
{
    if (left(r) < 1)
        return MP_EOF;
    if (r->p[0] != 0xc2 && r->p[0] != 0xc3)
        return r->p[0] == 0xc1 ? MP_BAD : MP_WRONG;
    *v = r->p[0] == 0xc3;
    r->p++;
    return MP_OK;
}

static int skip_bin(struct mp_reader *r)
{
    uint32_t n;
    int rc = read_len(r, 1, 0, 0, 0xc4, 0xc5, 0xc6, 1, &n);
    if (rc != MP_OK)
        return rc;
    r->p += n;
    return MP_OK;
}

int mp_skip(struct mp_reader *r, int depth)
{
    if (left(r) < 1)
        return MP_EOF;
    const uint8_t *start = r->p;
    uint8_t tag = r->p[0];
    struct mp_int i;
    const char *s;
    uint32_t n;
    double d;
    int rc;

    if (tag == 0xc0 || tag == 0xc2 || tag == 0xc3) {
        r->p++;
        return MP_OK;
    }
    if (tag == 0xca || tag == 0xcb)
        return mp_read_number(r, &d);
    if (tag <= 0x7f || tag >= 0xe0 || (tag >= 0xcc && tag <= 0xd3))
        return read_int(r, &i);
    if ((tag >= 0xa0 && tag <= 0xbf) || (tag >= 0xd9 && tag <= 0xdb))
        return mp_read_str(r, &s, &n);
    if (tag >= 0xc4 && tag <= 0xc6)
        return skip_bin(r);

    int is_map = (tag >= 0x80 && tag <= 0x8f) || tag == 0xde || tag == 0xdf;
    int is_array = (tag >= 0x90 && tag <= 0x9f) || tag == 0xdc || tag == 0xdd;
    if (!is_map && !is_array)
        return MP_BAD; /* 0xc1 and ext */
    if (depth <= 0)
        return MP_BAD;
    rc = is_map ? mp_read_map(r, &n) : mp_read_array(r, &n);
    if (rc != MP_OK)
        return rc;
    uint64_t values = is_map ? 2 * (uint64_t)n : n;
    for (uint64_t k = 0; k < values; k++) {
        rc = mp_skip(r, depth - 1);
        if (rc != MP_OK) {
            r->p = start;
            return rc;
        }
    }
    return MP_OK;
}

/* msgpack_packer's write callback: append to the fixed buffer, or drop and
 * mark the writer overflowed. */
static int writer_append(void *data, const char *bytes, size_t n)
{
    struct mp_writer *w = data;

    if (w->overflow || w->cap - w->len < n) {
        w->overflow = 1;
        return -1;
    }
    if (n == 0)
        return 0; /* an empty str's body: bytes may be NULL, which memcpy may not take */
    memcpy(w->buf + w->len, bytes, n);
    w->len += n;
    return 0;
}

void mp_writer_init(struct mp_writer *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = 0;
    msgpack_packer_init(&w->pk, w, writer_append);
}

void mp_put_map(struct mp_writer *w, uint32_t n)
{
    msgpack_pack_map(&w->pk, n);
}

void mp_put_array(struct mp_writer *w, uint32_t n)
{
    msgpack_pack_array(&w->pk, n);
}

void mp_put_str(struct mp_writer *w, const char *s, size_t len)
{
    if (len > UINT32_MAX) {
        w->overflow = 1;
        return;
    }
    msgpack_pack_str_with_body(&w->pk, s, len);
}

void mp_put_uint(struct mp_writer *w, uint64_t v)
{
    msgpack_pack_uint64(&w->pk, v);
}

void mp_put_double(struct mp_writer *w, double v)
{
    msgpack_pack_double(&w->pk, v);
}

void mp_put_bool(struct mp_writer *w, int v)
{
    if (v)
        msgpack_pack_true(&w->pk);
    else
        msgpack_pack_false(&w->pk);
}

int mp_writer_finish(const struct mp_writer *w)
{
    if (w->overflow || w->len > INT_MAX)
        return -1;
    return (int)w->len;
}
