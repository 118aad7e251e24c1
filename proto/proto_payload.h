/* proto_payload.h: the message a gateway publishes on a pub/sub channel and other gateways receive.
 *
 * One payload is one msgpack array whose first element is the format
 * version and whose second is the kind, both unsigned integers:
 *
 *   [1, 0, user, seq, lat, lng, ts, consent]  loc      user moved
 *   [1, 1, user, seq, consent]       off         user stopped sharing:
 *                                                receivers send `gone`
 *   [1, 5, user, seq, consent]       on          user started sharing again
 *   [1, 2, user, seq, other]         friend_add  user and other became friends
 *   [1, 3, user, seq, other]         friend_del  user and other are no longer friends
 *   [1, 6, user, seq, other]         block       user blocked other or was blocked
 *                                                by other: no longer friends
 *   [1, 7, user, seq]                gone        user's account was deleted
 *   [1, 8, user, seq]                erased      user erased their history: drop
 *                                                the rows of user still queued
 *   [1, 4, gateway, counter, ts]     hb          heartbeat through the pub/sub path
 *   [1, 9, user, seq, sid, lat, lng, ts]  stranger  an opted-in session of user is at
 *                                                the coarse position lat, lng
 *   [1, 10, user, seq, sid, next]    stranger_gone  that session left this cell for
 *                                                the cell next, or (next "") switched
 *                                                strangers off or disconnected
 *   [1, 11, 0, 0]                    stranger_ask   a gateway (re)subscribed this cell:
 *                                                publish the last stranger sent here
 *                                                again, with its seq
 *
 * Kinds 0 to 8 but hb are published on user's own channel u:<user>, and a
 * receiver believes them only there (the caller checks the channel). The
 * stranger kinds are published on the cell channel g:<geohash> of the cell
 * the session is in (gateway/cell_channels.c), and a receiver believes them
 * only on a g: channel, a stranger only when its lat, lng lie in that cell.
 * They carry the user id for the receiving gateway alone (friends are not
 * shown as strangers, blocks hide them); it never reaches a phone, which
 * sees only sid (64 random bits per session, never 0) as hex, lat and lng
 * already coarsened by the publisher (geo/stranger.h) and coarsened again by
 * the receiver. seq increases per session; next is a str of 0..
 * PROTO_CELL_MAX bytes, whose geohash the receiver validates.
 *
 * user, seq, other, consent, counter and ts are unsigned integers (any
 * msgpack int width, never negative); ts is milliseconds since the epoch.
 * seq increases per user for loc, so receivers drop duplicate positions by
 * (user, seq) while a ring change publishes to two owners; control kinds
 * carry one too (for logs) but are never dropped by it. consent is the
 * user's consent version from PostgreSQL (schema/004_consent.sql): off and on
 * carry the version they made, loc the version under which its publisher
 * had sharing on, so positions and sharing changes are ordered by one
 * counter (channels.h, channel_apply), never by gateways' clocks. lat and lng are
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
#define PROTO_CELL_MAX 12         /* bytes in stranger_gone's next: a geohash */

enum proto_payload_kind {
    PROTO_PAYLOAD_LOC = 0,
    PROTO_PAYLOAD_OFF = 1,
    PROTO_PAYLOAD_FRIEND_ADD = 2,
    PROTO_PAYLOAD_FRIEND_DEL = 3,
    PROTO_PAYLOAD_HB = 4,
    PROTO_PAYLOAD_ON = 5,
    PROTO_PAYLOAD_BLOCK = 6,
    PROTO_PAYLOAD_GONE = 7,
    PROTO_PAYLOAD_ERASED = 8,
    PROTO_PAYLOAD_STRANGER = 9,
    PROTO_PAYLOAD_STRANGER_GONE = 10,
    PROTO_PAYLOAD_STRANGER_ASK = 11,
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
            uint64_t consent;
        } loc;
        struct {
            uint64_t consent;
        } sharing; /* off, on */
        struct {
            uint64_t other;
        } friend; /* friend_add, friend_del, block */
        struct {
            const char *gateway; /* ref: owned by the caller / the decoded buffer */
            size_t gateway_len;
            uint64_t counter;
            uint64_t ts;
        } hb;
        struct {
            uint64_t sid;
            double lat;
            double lng;
            uint64_t ts;
        } stranger;
        struct {
            uint64_t sid;
            const char *next; /* ref: owned by the caller / the decoded buffer */
            size_t next_len;  /* 0: off or disconnected */
        } stranger_gone;
    };
};

/* Returns "loc", "off", "friend_add", "friend_del", "hb", "on", "block", "gone",
 * "erased", "stranger", "stranger_gone", "stranger_ask", or NULL. */
const char *proto_payload_kind_name(enum proto_payload_kind kind);

/* Encodes p into buf. Returns the bytes written, PROTO_ERR_INVALID (unknown
 * kind, coordinates out of range or not finite, gateway length out of
 * range, a stranger's sid 0 or next longer than PROTO_CELL_MAX) or
 * PROTO_ERR_NOSPACE. */
int proto_payload_encode(uint8_t *buf, size_t cap, const struct proto_payload *p);

/* Decodes one payload. Returns 0 and fills *out, or a negative PROTO_ERR_*
 * and, if reason is not NULL, points *reason at a static description. */
int proto_payload_decode(const uint8_t *buf, size_t len, struct proto_payload *out,
                         const char **reason);

#endif
