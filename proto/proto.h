/* proto.h: errors, limits and wire error codes shared by the whole proto library.
 *
 * The proto library turns nearby's messages into bytes and back. It does no
 * I/O, no logging and no allocation: encoders write into a caller buffer,
 * decoders read a caller buffer and return views into it. Two formats live
 * here, each with its own header:
 *
 *   proto_msg.h      msgpack maps exchanged between phone and gateway inside
 *                    WebSocket binary frames, one map per frame
 *   proto_payload.h  the msgpack array carried on pub/sub channels between
 *                    gateways (through Redis)
 *
 * Both are a strict subset of msgpack read by the library's own reader, which
 * checks every length header against the bytes actually present before using
 * it and never reads past buf + len, so a hostile frame costs at most one pass
 * over its own bytes.
 *
 * Unless its comment says otherwise, a function that returns int gives a
 * byte count or 0 on success and a negative PROTO_ERR_* on failure. Out-parameters are written only on success;
 * the one exception is the optional `const char **reason` of the decoders,
 * which is written only on failure with a short static description (e.g.
 * "loc: missing ts") suitable for the `msg` of an `err` reply. On encoder
 * failure the contents of the output buffer are unspecified.
 */
#ifndef NEARBY_PROTO_H
#define NEARBY_PROTO_H

#include <stddef.h>

enum proto_err {
    PROTO_OK = 0,
    PROTO_ERR_MALFORMED = -1, /* not our msgpack subset: truncated, bad byte,
                                 nesting the schema does not allow, trailing bytes */
    PROTO_ERR_SCHEMA = -2,    /* a key is missing or repeated, or a value has the wrong type */
    PROTO_ERR_TYPE = -3,      /* unknown message type `t` or payload kind */
    PROTO_ERR_RANGE = -4,     /* a value is out of range or not finite */
    PROTO_ERR_TOO_LARGE = -5, /* input longer than the format's limit */
    PROTO_ERR_NOSPACE = -6,   /* encoder: the output buffer is too small */
    PROTO_ERR_INVALID = -7,   /* encoder: an argument is out of range */
    PROTO_ERR_VERSION = -8,   /* payload: unknown format version */
};

/* Stable error codes sent to phones in `err.code`. */
enum proto_code {
    PROTO_CODE_BAD_FRAME,       /* "bad_frame": not a well-formed message */
    PROTO_CODE_BAD_TYPE,        /* "bad_type": unknown `t` */
    PROTO_CODE_BAD_VALUE,       /* "bad_value": a value out of range */
    PROTO_CODE_BAD_TOKEN,       /* "bad_token": init token rejected */
    PROTO_CODE_NOT_INITIALIZED, /* "not_initialized": a message before init */
    PROTO_CODE_RATE_LIMITED,    /* "rate_limited" */
    PROTO_CODE_TOO_LARGE,       /* "too_large": frame above PROTO_FRAME_MAX */
    PROTO_CODE_INTERNAL,        /* "internal": the gateway failed, not the phone */
    PROTO_CODE_TOKEN_EXPIRED,   /* "token_expired": the session's token ran out (close 4001) */
    PROTO_CODE_BUSY,            /* "busy": the gateway sheds load; try again later */
    PROTO_CODE_UNKNOWN,         /* decoder only: a code this build does not know */
};

/* Returns a static, readable description of a PROTO_ERR_* value. */
const char *proto_strerror(int err);

/* Returns the wire code a gateway should answer a decode error with:
 * too_large for PROTO_ERR_TOO_LARGE, bad_type for PROTO_ERR_TYPE, bad_value
 * for PROTO_ERR_RANGE, bad_frame for every other negative value. */
enum proto_code proto_err_code(int err);

/* Returns the wire string of a code ("bad_frame", ...), or NULL for
 * PROTO_CODE_UNKNOWN and values outside the enum. */
const char *proto_code_name(enum proto_code code);

/* Returns the code whose wire string is the len bytes at s, or
 * PROTO_CODE_UNKNOWN if there is none. */
enum proto_code proto_code_parse(const char *s, size_t len);

#endif
