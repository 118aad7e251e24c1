/* eio.h: the Engine.IO v4 / Socket.IO v5 packets nearby-loadgen speaks to a Socket.IO server over WebSocket. No I/O.
 *
 * On the WebSocket transport every text frame is one Engine.IO packet: a
 * type digit, then its data. What a phone of bench/socketio meets:
 *
 *   server -> phone  0{"sid":"..","upgrades":[],"pingInterval":25000,"pingTimeout":20000,..}
 *                    2                    ping: answer with a pong carrying the same data
 *                    40{"sid":".."}       connected to the namespace
 *                    44{"message":".."}   connection refused (a middleware's error)
 *                    42["nearby",{"radius_km":8.047,"friends":[{..friend..},..]}]
 *                    42["friend",{"id":7,"lat":48.85,"lng":2.35,"ts":1733000000000,"dist_km":0}]
 *                    41 or 1              disconnected from the namespace, session closed
 *   phone -> server  40{"token":".."}     connect to namespace "/" with auth {token}
 *                    42["loc",{"lat":..,"lng":..,"ts":..}]
 *                    3                    pong
 *
 * A Socket.IO packet (the data of Engine.IO type 4) is
 * <type>[<attachments>-][<namespace>,][<ack id>][JSON], as socket.io-parser 4
 * writes it; the namespace is "/" when absent. eio_parse() splits a frame
 * into a struct eio_packet whose spans point into the frame (nothing is
 * copied or allocated); an event's first argument stays JSON text until
 * eio_decode_friend() or eio_decode_nearby() reads it.
 *
 * JSON is read strictly (RFC 8259): no trailing bytes, strings without raw
 * control characters and with valid escapes, nesting at most EIO_DEPTH_MAX.
 * In the objects above, members we do not know are skipped; a known member
 * that repeats, has the wrong type or is out of range, or a required one
 * that is missing, is EIO_ERR_VALUE. Ids and ts are integers up to 2^53
 * (what a JavaScript number holds exactly).
 */
#ifndef NEARBY_LOADGEN_EIO_H
#define NEARBY_LOADGEN_EIO_H

#include <stddef.h>
#include <stdint.h>

#include "proto_msg.h" /* struct proto_friend */

#define EIO_DEPTH_MAX 16
#define EIO_INT_MAX (UINT64_C(1) << 53)
#define EIO_PATH "/socket.io/?EIO=4&transport=websocket" /* the WebSocket URL's path */

enum eio_err {
    EIO_OK = 0,
    EIO_ERR_SYNTAX = -1,  /* not an Engine.IO / Socket.IO packet, or not JSON */
    EIO_ERR_VALUE = -2,   /* well-formed, but a member is missing, repeated, mistyped or out of range */
    EIO_ERR_NOSPACE = -3, /* the output buffer is too small */
    EIO_ERR_INVALID = -4, /* a bad argument to an encoder */
};

enum eio_kind {
    EIO_KIND_OPEN,          /* 0: the handshake; open.* */
    EIO_KIND_CLOSE,         /* 1 */
    EIO_KIND_PING,          /* 2: data in ping */
    EIO_KIND_PONG,          /* 3 */
    EIO_KIND_UPGRADE,       /* 5 */
    EIO_KIND_NOOP,          /* 6 */
    EIO_KIND_CONNECT,       /* 40: connected to ns */
    EIO_KIND_DISCONNECT,    /* 41 */
    EIO_KIND_EVENT,         /* 42: event.* */
    EIO_KIND_CONNECT_ERROR, /* 44: error.* */
    EIO_KIND_OTHER,         /* 43, 45, 46 (acks, binary): nothing a phone here expects */
};

/* A span of the parsed frame. */
struct eio_span {
    const char *ptr; /* ref: owned by the frame */
    size_t len;
};

struct eio_packet {
    enum eio_kind kind;
    struct eio_span ns;   /* the namespace of a Socket.IO packet, "/" when absent (and for
                           * Engine.IO packets) */
    int has_ack_id;
    uint64_t ack_id;
    union {
        struct {
            uint64_t ping_interval_ms;
            uint64_t ping_timeout_ms;
            struct eio_span sid; /* as written, escapes kept */
        } open;
        struct {
            struct eio_span data; /* what follows the 2, often empty */
        } ping;
        struct {
            struct eio_span name; /* as written, escapes kept */
            struct eio_span arg;  /* the first argument after the name as JSON text; len 0: none */
            uint32_t argc;        /* arguments after the name */
        } event;
        struct {
            struct eio_span message; /* as written, escapes kept */
        } error;
    };
};

/* The argument of a `nearby` event, validated whole; walk its friends with
 * struct eio_nearby_iter. */
struct eio_nearby {
    double radius_km;
    uint32_t count;
    struct eio_span friends; /* the JSON array */
};

struct eio_nearby_iter {
    const char *p;   /* ref: owned by the frame */
    const char *end;
    uint32_t left;
};

/* Parses one frame frame[0..len) (one Engine.IO packet). Returns 0 and fills
 * *out, or EIO_ERR_SYNTAX / EIO_ERR_VALUE with *out untouched. */
int eio_parse(const char *frame, size_t len, struct eio_packet *out);

/* Returns 1 when span equals the NUL-terminated s, else 0. */
int eio_span_is(struct eio_span span, const char *s);

/* Decodes a `friend` argument {"id","lat","lng","ts","dist_km"}. Returns 0
 * and fills *out, or EIO_ERR_SYNTAX / EIO_ERR_VALUE with *out untouched. */
int eio_decode_friend(const char *json, size_t len, struct proto_friend *out);

/* Decodes a `nearby` argument {"radius_km","friends":[friend...]}, checking
 * every friend as eio_decode_friend does. Returns 0 and fills *out (its span
 * points into json), or EIO_ERR_SYNTAX / EIO_ERR_VALUE with *out untouched. */
int eio_decode_nearby(const char *json, size_t len, struct eio_nearby *out);

void eio_nearby_iter_init(struct eio_nearby_iter *it, const struct eio_nearby *n);

/* Returns 1 and the next friend, or 0 after the last one. */
int eio_nearby_iter_next(struct eio_nearby_iter *it, struct proto_friend *out);

/* Encoders: each returns the bytes written (no NUL counted; one is written
 * when room is left) or EIO_ERR_NOSPACE / EIO_ERR_INVALID. */

/* 40{"token":"TOKEN"}: connect to "/" with auth {token}; token must be
 * printable ASCII without '"' or '\' (a JWT is). */
int eio_encode_connect(char *buf, size_t cap, const char *token, size_t token_len);

/* 42["loc",{"lat":LAT,"lng":LNG,"ts":TS}]; lat, lng finite and in range, ts <= 2^53. */
int eio_encode_loc(char *buf, size_t cap, double lat, double lng, uint64_t ts);

/* 3 followed by the ping's data. */
int eio_encode_pong(char *buf, size_t cap, struct eio_span data);

/* Returns a static description of an EIO_ERR_*. */
const char *eio_strerror(int err);

#endif
