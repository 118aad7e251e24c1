/* mp-internal.h: the strict, allocation-free msgpack subset the proto library reads and writes.
 *
 * Reader: a cursor over [p, end). Every read checks that the bytes it needs
 * are present; a length header (str, bin, array, map) is compared with the
 * bytes left before anything trusts it, so no read goes past end and nothing
 * is sized from a header. A read that fails leaves the cursor where it was.
 * Read functions return MP_OK or:
 *
 *   MP_EOF    the value is cut short by end
 *   MP_WRONG  the next value is valid msgpack of another type
 *   MP_BAD    a byte that is not msgpack (0xc1), or nesting deeper than allowed
 *   MP_RANGE  an integer is negative where an unsigned one is wanted
 *
 * Supported: nil, bool, all int and uint widths, float32/64, str, bin, array,
 * map. ext is rejected as MP_BAD: nothing in nearby uses it.
 *
 * Writer: msgpack-c's msgpack_packer over a fixed buffer of the caller's (a
 * write callback that copies, never allocates). Writes past the capacity are
 * dropped and set `overflow`; callers check it once at the end. msgpack_pack_*
 * give integers the shortest encoding and strings the shortest str header;
 * floats are always float64 (msgpack_pack_double), so that a distance is
 * always the same 9 bytes and can be patched in place per phone.
 *
 * Only the writer is msgpack-c's: its unpacker allocates whatever a header
 * claims (4.0.0: "dd ff ff ff ff" asks for 128 GiB), so untrusted bytes are
 * read by the reader above, never by msgpack-c.
 */
#ifndef NEARBY_PROTO_MP_INTERNAL_H
#define NEARBY_PROTO_MP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

enum mp_status {
    MP_OK = 0,
    MP_EOF = -1,
    MP_WRONG = -2,
    MP_BAD = -3,
    MP_RANGE = -4,
};

struct mp_reader {
    const uint8_t *p;   /* ref: next byte, inside the caller's buffer */
    const uint8_t *end; /* ref: one past the last byte */
};

struct mp_writer {
    msgpack_packer pk; /* writes through mp_writer's callback into buf */
    uint8_t *buf;      /* ref: owned by the caller */
    size_t cap;
    size_t len;
    int overflow;
};

/* Reads a map header; *n is the entry count, at most half the bytes left. */
int mp_read_map(struct mp_reader *r, uint32_t *n);

/* Reads an array header; *n is the element count, at most the bytes left. */
int mp_read_array(struct mp_reader *r, uint32_t *n);

/* Reads a str (not bin); *s points into the buffer, *len bytes, no NUL. */
int mp_read_str(struct mp_reader *r, const char **s, uint32_t *len);

/* Reads any integer encoding with a value >= 0 (MP_RANGE when negative). */
int mp_read_uint(struct mp_reader *r, uint64_t *v);

/* Reads true or false (nothing else: 0, 1 and nil are MP_WRONG). */
int mp_read_bool(struct mp_reader *r, int *v);

/* Reads any integer or float encoding as a double; may be NaN or infinite. */
int mp_read_number(struct mp_reader *r, double *v);

/* Skips one value, allowing at most depth levels of array/map around
 * scalars (0: scalars only). */
int mp_skip(struct mp_reader *r, int depth);

void mp_writer_init(struct mp_writer *w, uint8_t *buf, size_t cap);
void mp_put_map(struct mp_writer *w, uint32_t n);
void mp_put_array(struct mp_writer *w, uint32_t n);
void mp_put_str(struct mp_writer *w, const char *s, size_t len);
void mp_put_uint(struct mp_writer *w, uint64_t v);
void mp_put_double(struct mp_writer *w, double v);
void mp_put_bool(struct mp_writer *w, int v);

/* Returns the bytes written, or -1 if anything did not fit or the length
 * does not fit an int. */
int mp_writer_finish(const struct mp_writer *w);

#endif
