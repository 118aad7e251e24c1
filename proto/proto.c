/* proto.c: error strings and the table of wire error codes. */
#include <string.h>

#include "proto.h"

static const char *const code_names[] = {
    [PROTO_CODE_BAD_FRAME] = "bad_frame",
    [PROTO_CODE_BAD_TYPE] = "bad_type",
    [PROTO_CODE_BAD_VALUE] = "bad_value",
    [PROTO_CODE_BAD_TOKEN] = "bad_token",
    [PROTO_CODE_NOT_INITIALIZED] = "not_initialized",
    [PROTO_CODE_RATE_LIMITED] = "rate_limited",
    [PROTO_CODE_TOO_LARGE] = "too_large",
    [PROTO_CODE_INTERNAL] = "internal",
    [PROTO_CODE_TOKEN_EXPIRED] = "token_expired",
    [PROTO_CODE_BUSY] = "busy",
};

const char *proto_strerror(int err)
{
    switch (err) {
    case PROTO_OK: return "success";
    case PROTO_ERR_MALFORMED: return "malformed message";
    case PROTO_ERR_SCHEMA: return "missing, repeated or mistyped field";
    case PROTO_ERR_TYPE: return "unknown message type";
    case PROTO_ERR_RANGE: return "value out of range";
    case PROTO_ERR_TOO_LARGE: return "message too large";
    case PROTO_ERR_NOSPACE: return "output buffer too small";
    case PROTO_ERR_INVALID: return "invalid argument";
    case PROTO_ERR_VERSION: return "unknown payload version";
    default: return "unknown error";
    }
}

enum proto_code proto_err_code(int err)
{
    switch (err) {
    case PROTO_ERR_TOO_LARGE: return PROTO_CODE_TOO_LARGE;
    case PROTO_ERR_TYPE: return PROTO_CODE_BAD_TYPE;
    case PROTO_ERR_RANGE: return PROTO_CODE_BAD_VALUE;
    default: return PROTO_CODE_BAD_FRAME;
    }
}

const char *proto_code_name(enum proto_code code)
{
    if ((unsigned)code >= sizeof(code_names) / sizeof(code_names[0]))
        return NULL;
    return code_names[code];
}

enum proto_code proto_code_parse(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof(code_names) / sizeof(code_names[0]); i++) {
        if (strlen(code_names[i]) == len && memcmp(code_names[i], s, len) == 0)
            return (enum proto_code)i;
    }
    return PROTO_CODE_UNKNOWN;
}
