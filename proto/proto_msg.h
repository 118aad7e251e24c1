/* proto_msg.h: the msgpack messages between phone and gateway (one map per WebSocket binary frame).
 *
 * Every message is one msgpack map whose key "t" (a str) names its type:
 *
 *   phone -> gateway
 *     {t:"init", token}                    token: str, 1..PROTO_TOKEN_MAX bytes
 *     {t:"loc", lat, lng, ts}
 *     {t:"radius", km}
 *     {t:"refresh", token}                 a new token for the same user, before
 *                                          the session's one expires
 *     {t:"strangers", on}                  on: bool (true or false only). Opts this
 *                                          session in or out of strangers; off at
 *                                          every new session
 *   gateway -> phone
 *     {t:"nearby", radius_km, friends:[{id, lat, lng, ts, dist_km}, ...]}
 *     {t:"friend", id, lat, lng, ts, dist_km}
 *     {t:"gone", id}
 *     {t:"err", code, msg}                 code: str, see enum proto_code;
 *                                          msg: str, 0..PROTO_ERR_MSG_MAX bytes
 *     {t:"stranger", sid, lat, lng, dist_km}  an opted-in non-friend nearby appeared
 *                                          or moved
 *     {t:"stranger_gone", sid}             that stranger left the range, switched
 *                                          off, went quiet or was pushed out by
 *                                          nearer ones
 *
 * Strangers (README "Strangers"). `on` means both: the session is shown to
 * other opted-in sessions nearby and sees them. A stranger is never a friend
 * of the phone (friends are shown as friends only), never the phone's own
 * user, and never one who blocked it or whom it blocked. sid is a str of
 * PROTO_SID_LEN lowercase hex digits: 64 random bits drawn per session of the
 * shown phone (geo/stranger.h), never derived from the user id, so it names
 * a session and links to no account; hex because JavaScript numbers cannot
 * hold 64 bits. lat, lng are the centre of the stranger's ~150 m geohash cell
 * (precision 7), never its true position; dist_km is from the phone to that
 * centre, rounded to 0.1 km. No frame to a phone ever carries another user's
 * id except a friend's.
 *
 * Values: id and ts are unsigned integers (ts in milliseconds since the
 * epoch), any msgpack int width, negative values rejected. lat, lng, km,
 * radius_km and dist_km are degrees or kilometres as any msgpack int or
 * float, read as double; they must be finite, lat in [-90, 90], lng in
 * [-180, 180], km and radius_km > 0, dist_km >= 0. An upper bound on km is the
 * gateway's business.
 *
 * Decoding is strict: the frame must be exactly one map (no trailing bytes)
 * with str keys; every key the type defines must be present exactly once
 * with the right type; keys the type does not define are ignored if their
 * values are scalars (forward compatibility) and rejected if they are arrays
 * or maps. The only nesting anywhere is `friends`, an array of flat maps.
 * An unknown `t` gives PROTO_ERR_TYPE. Phone frames longer than
 * PROTO_FRAME_MAX give PROTO_ERR_TOO_LARGE before anything is read (the
 * gateway closes with 1009); gateway frames are capped at
 * PROTO_GATEWAY_FRAME_MAX because a nearby list can be long.
 *
 * Encoding writes the keys in the order listed above, integers in their
 * shortest form and every float as float64, and checks the same ranges the
 * decoder does (PROTO_ERR_INVALID otherwise). Encoders return the bytes
 * written into buf (at most cap) or PROTO_ERR_NOSPACE; nothing is allocated,
 * so one buffer can serve a whole event-loop iteration and one encoded
 * update can be sent to many sessions.
 *
 * Ownership: a decoded struct proto_msg borrows from the input buffer
 * (token, err strings, the nearby friend list); it is valid while that buffer
 * is. Strings are not NUL-terminated.
 */
#ifndef NEARBY_PROTO_MSG_H
#define NEARBY_PROTO_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define PROTO_FRAME_MAX 4096                /* bytes in a phone -> gateway frame */
#define PROTO_GATEWAY_FRAME_MAX (1u << 20)  /* bytes in a gateway -> phone frame */
#define PROTO_TOKEN_MAX 2048
#define PROTO_CODE_MAX 32      /* bytes in err.code */
#define PROTO_ERR_MSG_MAX 256  /* bytes in err.msg */
/* The most a `nearby` can take: its head ({t, radius_km, friends} with an
 * array32 header: 1 + 2+7 + 10+9 + 8+5 bytes) and, per friend, a map of five
 * (1 + "id" 3+9 + "lat" 4+9 + "lng" 4+9 + "ts" 3+9 + "dist_km" 8+9 bytes,
 * with id and ts as full uint64). */
#define PROTO_NEARBY_HEAD_MAX 42
#define PROTO_NEARBY_ENTRY_MAX 68
#define PROTO_NEARBY_SIZE_MAX(friends) \
    (PROTO_NEARBY_HEAD_MAX + (size_t)(friends) * PROTO_NEARBY_ENTRY_MAX)
/* A stranger's sid on the wire: 16 lowercase hex digits (64 random bits). */
#define PROTO_SID_LEN 16

enum proto_msg_type {
    PROTO_MSG_INIT = 1,
    PROTO_MSG_LOC,
    PROTO_MSG_RADIUS,
    PROTO_MSG_NEARBY,
    PROTO_MSG_FRIEND,
    PROTO_MSG_GONE,
    PROTO_MSG_ERR,
    PROTO_MSG_REFRESH,
    PROTO_MSG_STRANGERS,
    PROTO_MSG_STRANGER,
    PROTO_MSG_STRANGER_GONE,
};

/* A stranger as shown to a phone: an anonymous sid, a coarse position and a
 * rounded distance (geo/stranger.h makes them; this only carries them). */
struct proto_stranger {
    const char *sid; /* ref: PROTO_SID_LEN bytes, not NUL-terminated */
    double lat;
    double lng;
    double dist_km;
};

/* One friend as shown to a phone: in `friend` and in `nearby.friends`. */
struct proto_friend {
    uint64_t id;
    double lat;
    double lng;
    uint64_t ts;
    double dist_km;
};

/* A decoded `nearby`: the friends stay encoded; walk them with
 * proto_nearby_iter (they were all validated by the decoder). */
struct proto_nearby {
    double radius_km;
    uint32_t count;
    const uint8_t *friends; /* ref: owned by the decoded buffer; count maps */
    size_t friends_len;
};

struct proto_msg {
    enum proto_msg_type type;
    union {
        struct {
            const char *token; /* ref: owned by the decoded buffer */
            size_t token_len;
        } init; /* init and refresh */
        struct {
            double lat;
            double lng;
            uint64_t ts;
        } loc;
        struct {
            double km;
        } radius;
        struct proto_nearby nearby;
        struct proto_friend friend;
        struct {
            uint64_t id;
        } gone;
        struct {
            int on; /* 0 or 1 */
        } strangers;
        struct proto_stranger stranger; /* sid: ref, owned by the decoded buffer */
        struct {
            const char *sid; /* ref: owned by the decoded buffer; PROTO_SID_LEN bytes */
        } stranger_gone;
        struct {
            enum proto_code code; /* PROTO_CODE_UNKNOWN if code_str is not one we know */
            const char *code_str; /* ref: owned by the decoded buffer */
            size_t code_len;
            const char *msg;      /* ref: owned by the decoded buffer */
            size_t msg_len;
        } err;
    };
};

struct proto_nearby_iter {
    const uint8_t *p;   /* ref: owned by the decoded buffer */
    const uint8_t *end;
    uint32_t left;
};

/* Incremental `nearby` encoder: begin, add each friend, finish. The first
 * error sticks: later calls return it and finish reports it. */
struct proto_nearby_writer {
    uint8_t *buf; /* ref: owned by the caller */
    size_t cap;
    size_t len;
    size_t count_at; /* offset of the friends array header */
    uint32_t count;
    int err;
};

/* Returns "init", "loc", ... or NULL for a value outside the enum. */
const char *proto_msg_type_name(enum proto_msg_type type);

/* Decodes one frame a phone sent (init, loc or radius). Returns 0 and fills
 * *out, or a negative PROTO_ERR_* and, if reason is not NULL, points *reason
 * at a static description. A gateway-to-phone type gives PROTO_ERR_TYPE. */
int proto_msg_decode_from_phone(const uint8_t *buf, size_t len, struct proto_msg *out,
                                const char **reason);

/* Decodes one frame a gateway sent (nearby, friend, gone or err), for phones,
 * the load generator and tests. Same contract as the phone decoder. */
int proto_msg_decode_from_gateway(const uint8_t *buf, size_t len, struct proto_msg *out,
                                  const char **reason);

/* Starts walking the friends of a decoded nearby. */
void proto_nearby_iter_init(struct proto_nearby_iter *it, const struct proto_nearby *nearby);

/* Returns 1 and fills *out with the next friend, 0 after the last one, or a
 * negative PROTO_ERR_* (only if the buffer changed since it was decoded). */
int proto_nearby_iter_next(struct proto_nearby_iter *it, struct proto_friend *out);

/* Phone -> gateway encoders. Each returns the bytes written or
 * PROTO_ERR_INVALID / PROTO_ERR_NOSPACE. */
int proto_msg_encode_init(uint8_t *buf, size_t cap, const char *token, size_t token_len);
int proto_msg_encode_refresh(uint8_t *buf, size_t cap, const char *token, size_t token_len);
int proto_msg_encode_loc(uint8_t *buf, size_t cap, double lat, double lng, uint64_t ts);
int proto_msg_encode_radius(uint8_t *buf, size_t cap, double km);
int proto_msg_encode_strangers(uint8_t *buf, size_t cap, int on);

/* Gateway -> phone encoders. Each returns the bytes written or
 * PROTO_ERR_INVALID / PROTO_ERR_NOSPACE. msg of encode_err need not be
 * NUL-terminated and may be NULL when msg_len is 0. */
int proto_msg_encode_friend(uint8_t *buf, size_t cap, const struct proto_friend *f);
int proto_msg_encode_gone(uint8_t *buf, size_t cap, uint64_t id);
int proto_msg_encode_err(uint8_t *buf, size_t cap, enum proto_code code, const char *msg,
                         size_t msg_len);
int proto_msg_encode_nearby(uint8_t *buf, size_t cap, double radius_km,
                            const struct proto_friend *friends, size_t count);
/* sid must be PROTO_SID_LEN lowercase hex digits (PROTO_ERR_INVALID otherwise). */
int proto_msg_encode_stranger(uint8_t *buf, size_t cap, const struct proto_stranger *st);
int proto_msg_encode_stranger_gone(uint8_t *buf, size_t cap, const char *sid);

/* Returns 1 if the len bytes at s are a sid: PROTO_SID_LEN lowercase hex digits. */
int proto_sid_valid(const char *s, size_t len);

/* A `friend` message for one position, encoded once for all the phones that
 * get it and finished per phone with its distance: dist_km is the last
 * field and always a 9-byte float64, so finishing rewrites those 9 bytes. */
#define PROTO_FRIEND_FRAME_MAX 96
struct proto_friend_frame {
    uint8_t buf[PROTO_FRIEND_FRAME_MAX];
    size_t prefix_len; /* bytes before dist_km's value */
};

/* Encodes everything but the distance. Returns 0 or PROTO_ERR_INVALID. */
int proto_friend_frame_init(struct proto_friend_frame *ff, uint64_t id, double lat, double lng,
                            uint64_t ts);

/* Writes dist_km (finite, >= 0) and returns the frame's length; the frame is
 * byte for byte what proto_msg_encode_friend (or _stranger) gives. */
size_t proto_friend_frame_finish(struct proto_friend_frame *ff, double dist_km);

/* The same for a `stranger` message (dist_km last too): everything but the
 * distance, finished per phone with proto_friend_frame_finish. Returns 0 or
 * PROTO_ERR_INVALID. */
int proto_stranger_frame_init(struct proto_friend_frame *ff, const char *sid, double lat,
                              double lng);

/* Starts a nearby in buf. Returns 0, or PROTO_ERR_INVALID / PROTO_ERR_NOSPACE
 * (which the writer also keeps). */
int proto_nearby_begin(struct proto_nearby_writer *w, uint8_t *buf, size_t cap,
                       double radius_km);

/* Appends one friend. Returns 0 or the writer's first error. */
int proto_nearby_add(struct proto_nearby_writer *w, const struct proto_friend *f);

/* Completes the message. Returns the bytes written or the writer's first
 * error. The bytes are the same as proto_msg_encode_nearby's and need no
 * more capacity than that: the friends header is kept in its shortest form
 * as friends are added. */
int proto_nearby_finish(struct proto_nearby_writer *w);

#endif
