/* fuzz-proto-payload.c: libFuzzer target for proto/proto_payload.c: the pub/sub payload decoder, taken round through the encoder.
 *
 * Input: one pub/sub message as a gateway receives it from Redis. A payload
 * that decodes is encoded again into a buffer of exactly the size it needs
 * (one byte less must give PROTO_ERR_NOSPACE); that must decode to the same
 * values bit for bit and encode to the same bytes. No prefix of a payload
 * decodes, a trailing byte is refused, and a failed decode leaves its
 * out-parameter alone.
 */
#include <math.h>

#include "fuzz.h"
#include "proto_payload.h"

/* Decodes an exact-size copy of buf; a hb's gateway and a stranger_gone's
 * next cell are rebased onto buf. */
static int decode(const uint8_t *buf, size_t len, struct proto_payload *out)
{
    uint8_t *copy = fuzz_copy(buf, len);
    const char *reason = NULL;
    FUZZ_POISON(*out);
    int r = proto_payload_decode(copy, len, out, &reason);

    if (r < 0) {
        FUZZ_CHECK(FUZZ_UNTOUCHED(*out));
        FUZZ_CHECK(reason != NULL && reason[0] != '\0');
        FUZZ_CHECK(r == PROTO_ERR_MALFORMED || r == PROTO_ERR_SCHEMA || r == PROTO_ERR_TYPE ||
                   r == PROTO_ERR_RANGE || r == PROTO_ERR_TOO_LARGE || r == PROTO_ERR_VERSION);
    } else {
        FUZZ_CHECK(r == 0 && reason == NULL);
        FUZZ_CHECK(proto_payload_kind_name(out->kind) != NULL);
        if (out->kind == PROTO_PAYLOAD_HB)
            out->hb.gateway = (const char *)buf + ((const uint8_t *)out->hb.gateway - copy);
        if (out->kind == PROTO_PAYLOAD_STRANGER_GONE && out->stranger_gone.next_len > 0)
            out->stranger_gone.next =
                (const char *)buf + ((const uint8_t *)out->stranger_gone.next - copy);
    }
    free(copy);
    return r;
}

static int same_double(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static void check_same(const struct proto_payload *a, const struct proto_payload *b)
{
    FUZZ_CHECK(a->kind == b->kind);
    switch (a->kind) {
    case PROTO_PAYLOAD_HB:
        FUZZ_CHECK(a->hb.gateway_len == b->hb.gateway_len &&
                   memcmp(a->hb.gateway, b->hb.gateway, a->hb.gateway_len) == 0);
        FUZZ_CHECK(a->hb.gateway_len >= 1 && a->hb.gateway_len <= PROTO_GATEWAY_ID_MAX);
        FUZZ_CHECK(a->hb.counter == b->hb.counter && a->hb.ts == b->hb.ts);
        return;
    case PROTO_PAYLOAD_LOC:
        FUZZ_CHECK(same_double(a->loc.lat, b->loc.lat) && same_double(a->loc.lng, b->loc.lng));
        FUZZ_CHECK(isfinite(a->loc.lat) && a->loc.lat >= -90.0 && a->loc.lat <= 90.0);
        FUZZ_CHECK(isfinite(a->loc.lng) && a->loc.lng >= -180.0 && a->loc.lng <= 180.0);
        FUZZ_CHECK(a->loc.ts == b->loc.ts && a->loc.consent == b->loc.consent);
        break;
    case PROTO_PAYLOAD_OFF:
    case PROTO_PAYLOAD_ON:
        FUZZ_CHECK(a->sharing.consent == b->sharing.consent);
        break;
    case PROTO_PAYLOAD_FRIEND_ADD:
    case PROTO_PAYLOAD_FRIEND_DEL:
    case PROTO_PAYLOAD_BLOCK:
        FUZZ_CHECK(a->friend.other == b->friend.other);
        break;
    case PROTO_PAYLOAD_GONE:
    case PROTO_PAYLOAD_ERASED:
    case PROTO_PAYLOAD_STRANGER_ASK:
        break;
    case PROTO_PAYLOAD_STRANGER:
        FUZZ_CHECK(a->stranger.sid != 0 && a->stranger.sid == b->stranger.sid);
        FUZZ_CHECK(same_double(a->stranger.lat, b->stranger.lat) &&
                   same_double(a->stranger.lng, b->stranger.lng));
        FUZZ_CHECK(isfinite(a->stranger.lat) && a->stranger.lat >= -90.0 &&
                   a->stranger.lat <= 90.0);
        FUZZ_CHECK(isfinite(a->stranger.lng) && a->stranger.lng >= -180.0 &&
                   a->stranger.lng <= 180.0);
        FUZZ_CHECK(a->stranger.ts == b->stranger.ts);
        break;
    case PROTO_PAYLOAD_STRANGER_GONE:
        FUZZ_CHECK(a->stranger_gone.sid != 0 && a->stranger_gone.sid == b->stranger_gone.sid);
        FUZZ_CHECK(a->stranger_gone.next_len <= PROTO_CELL_MAX);
        FUZZ_CHECK(a->stranger_gone.next_len == b->stranger_gone.next_len &&
                   (a->stranger_gone.next_len == 0 ||
                    memcmp(a->stranger_gone.next, b->stranger_gone.next,
                           a->stranger_gone.next_len) == 0));
        break;
    }
    FUZZ_CHECK(a->user == b->user && a->seq == b->seq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_payload p, again;

    if (decode(data, size, &p) < 0)
        return 0;
    FUZZ_CHECK(size > 0 && decode(data, size - 1, &again) < 0);
    uint8_t *longer = fuzz_alloc(size + 1);
    memcpy(longer, data, size);
    longer[size] = 0xc0; /* nil: a whole value, and still one too many */
    FUZZ_CHECK(decode(longer, size + 1, &again) < 0);
    free(longer);

    uint8_t big[PROTO_PAYLOAD_MAX];
    int n = proto_payload_encode(big, sizeof big, &p);
    FUZZ_CHECK(n > 0);
    size_t len = (size_t)n;
    uint8_t *exact = fuzz_alloc(len);
    FUZZ_CHECK(proto_payload_encode(exact, len - 1, &p) == PROTO_ERR_NOSPACE);
    FUZZ_CHECK(proto_payload_encode(exact, len, &p) == n && memcmp(exact, big, len) == 0);

    FUZZ_CHECK(decode(exact, len, &again) == 0);
    check_same(&p, &again);
    FUZZ_CHECK(proto_payload_encode(big, sizeof big, &again) == n && memcmp(exact, big, len) == 0);
    free(exact);
    return 0;
}
