/* proto_payload.h: the message a gateway publishes on a pub/sub channel and other gateways receive.
 *
 * One payload is one msgpack array whose first element is the format
 * version and whose second is the kind, both unsigned integers:
 *
 *   [1, 0, user, seq, lat, lng, ts]   loc         user moved
 *   [1, 1, user, seq]                 off         user stopped sharing:
 *                                                 receivers send `gone`
 *   [1, 2, user, seq, other]          friend_add  user and other became friends
 *   [1, 3, user, seq, other]          friend_del  user and other are no longer friends
 *   [1, 4, gateway, counter, ts]      hb          heartbeat through the pub/sub path
 *
 * user, seq, other, counter and ts are unsigned integers (any msgpack int
 * width, never negative); ts is milliseconds since the epoch. seq increases
 * per user across all the user's kinds, so receivers can drop duplicates by
 * (user, seq) while a ring change publishes to two owners. lat and lng are
 * numbers (encoded as float64, any int or float accepted), finite, lat in
 * [-90, 90], lng in [-180, 180]. gateway is a str of
 * 1..PROTO_GATEWAY_ID_MAX bytes naming the publishing gateway; counter is its
 * heartbeat number.
 *
 * Compatibility: a version other than PROTO_PAYLOAD_VERSION gives
 * PROTO_ERR_VERSION and an unknown kind PROTO_ERR_TYPE, both before anything
 * else is checked, so a receiver can skip what a newer gateway sends. Within
 * a version, a known kind may grow extra trailing elements; decoders ignore
 * them if they are scalars. Otherwise decoding is as strict as proto_msg.h:
 * no nesting, no trailing bytes after the array, input of at most
 * PROTO_PAYLOAD_MAX bytes (PROTO_ERR_TOO_LARGE).
 *
 * Encoding writes the elements above and nothing else, integers in their
 * shortest form, lat/lng as float64; it returns the bytes written or
 * PROTO_ERR_INVALID / PROTO_ERR_NOSPACE. Nothing is allocated. A decoded
 * hb borrows gateway from the input buffer (not NUL-terminated).
 */
#ifndef NEARBY_PROTO_PAYLOAD_H
#define NEARBY_PROTO_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define PROTO_PAYLOAD_VERSION 1
#define PROTO_PAYLOAD_MAX 512     /* bytes a decoder accepts; enough to encode any kind */
#define PROTO_GATEWAY_ID_MAX 64   /* bytes in hb's gateway */

enum proto_payload_kind {
    PROTO_PAYLOAD_LOC = 0,
    PROTO_PAYLOAD_OFF = 1,
    PROTO_PAYLOAD_FRIEND_ADD = 2,
    PROTO_PAYLOAD_FRIEND_DEL = 3,
    PROTO_PAYLOAD_HB = 4,
};

struct proto_payload {
    enum proto_payload_kind kind;
    uint64_t user; /* every kind but hb */
    uint64_t seq;  /* every kind but hb */
    union {
        struct {
            double lat;
            double lng;
            uint64_t ts;
        } loc;
        struct {
            uint64_t other;
        } friend; /* friend_add, friend_del */
        struct {
            const char *gateway; /* ref: owned by the caller / the decoded buffer */
            size_t gateway_len;
            uint64_t counter;
            uint64_t ts;
        } hb;
    };
};

/* Returns "loc", "off", "friend_add", "friend_del", "hb", or NULL. */
const char *proto_payload_kind_name(enum proto_payload_kind kind);

/* Encodes p into buf. Returns the bytes written, PROTO_ERR_INVALID (unknown
 * kind, coordinates out of range or not finite, gateway length out of
 * range) or PROTO_ERR_NOSPACE. */
int proto_payload_encode(uint8_t *buf, size_t cap, const struct proto_payload *p);

/* Decodes one payload. Returns 0 and fills *out, or a negative PROTO_ERR_*
 * and, if reason is not NULL, points *reason at a static description. */
int proto_payload_decode(const uint8_t *buf, size_t len, struct proto_payload *out,
                         const char **reason);

#endif
