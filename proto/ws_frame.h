/* ws_frame.h: RFC 6455 WebSocket frames: parse, assemble, encode. No I/O.
 *
 * Parsing. ws_frame_parse(buf, len, role, max_payload, &f) looks at the bytes
 * buf[0..len) that start a frame and returns
 *   > 0            the frame is complete: header and payload take that many
 *                  bytes; f is filled in and f.payload points into buf.
 *   WS_NEED_MORE   (-2) the bytes are a valid prefix of a frame; call again
 *                  with the same start and more bytes.
 *   < 0, != -2     a WS_ERR_*: the stream is broken. ws_err_close_code() gives
 *                  the close code to send, ws_strerror() a reason for it.
 * It reads nothing at or past buf + len, allocates nothing, keeps no state
 * between calls (the caller keeps its own read buffer) and writes f only when
 * it returns > 0. Errors are reported as soon as the bytes that prove them
 * have arrived, so an oversize frame (WS_ERR_TOO_BIG) is refused from its
 * header alone, before its payload is read. ws_frame_parse_header() stops
 * after the header, for a caller that reads a payload straight into place.
 *
 * What is checked: RSV1-3 are zero (no extension is ever negotiated); the
 * opcode is continuation, text, binary, close, ping or pong; control frames
 * have FIN set and at most 125 bytes; the length uses its shortest encoding
 * and a 64-bit length has its top bit clear; data frames are at most
 * max_payload bytes; frames are masked when role is WS_ROLE_SERVER (they come
 * from a client) and unmasked when role is WS_ROLE_CLIENT. Payload contents
 * are not looked at: unmask them with ws_mask() in your own buffer at offset
 * f.header_len, then hand data frames to a struct ws_message and close frames
 * to ws_close_parse().
 *
 * Assembly. struct ws_message joins the fragments of one message into a
 * caller-provided buffer whose size is also the message size limit, checks
 * the fragmentation rules, and validates text as UTF-8 as it arrives (a
 * broken sequence fails at the fragment that breaks it; an unfinished one at
 * the final fragment). A message of one frame is returned in place, not
 * copied. Control frames may arrive between fragments; the assembler ignores
 * them and the caller answers them.
 *
 * Encoding. ws_frame_header() writes the 2..14 header bytes for a payload of
 * a given length, so one payload can be written after many headers (writev).
 * A client masks its payload with ws_mask() or ws_mask_copy() using the same
 * key it gave ws_frame_header().
 *
 * Ownership: nothing here allocates or frees. Pointers in struct ws_frame,
 * struct ws_close and struct ws_data are borrowed from the caller's buffers.
 */
#ifndef NEARBY_WS_FRAME_H
#define NEARBY_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_FRAME_HEADER_MAX 14      /* 2 + 8 bytes of length + 4 of mask key */
#define WS_CONTROL_PAYLOAD_MAX 125
#define WS_CLOSE_REASON_MAX 123     /* 125 less the 2-byte code */
#define WS_CLOSE_FRAME_MAX (6 + WS_CONTROL_PAYLOAD_MAX) /* masked, full */
#define WS_PAYLOAD_LIMIT_MAX ((size_t)1 << 30) /* larger limits are clamped */

enum ws_opcode {
    WS_OP_CONTINUATION = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

/* Who is parsing: a server reads masked frames, a client unmasked ones. */
enum ws_role {
    WS_ROLE_SERVER,
    WS_ROLE_CLIENT,
};

enum ws_err {
    WS_OK = 0,
    WS_ERR_INVALID = -1,          /* bad argument to an encoder */
    WS_NEED_MORE = -2,            /* not an error: the frame is not all there */
    WS_ERR_RSV = -3,              /* an RSV bit is set */
    WS_ERR_OPCODE = -4,           /* reserved opcode */
    WS_ERR_CONTROL_FRAGMENTED = -5, /* control frame without FIN */
    WS_ERR_CONTROL_TOO_BIG = -6,  /* control frame over 125 bytes */
    WS_ERR_LENGTH = -7,           /* length not minimally encoded, or top bit set */
    WS_ERR_MASK_REQUIRED = -8,    /* unmasked frame from a client */
    WS_ERR_MASK_FORBIDDEN = -9,   /* masked frame from a server */
    WS_ERR_TOO_BIG = -10,         /* frame or message over the caller's limit */
    WS_ERR_CONTINUATION = -11,    /* continuation frame with no message open */
    WS_ERR_FRAGMENT_OPEN = -12,   /* text/binary frame while a message is open */
    WS_ERR_UTF8 = -13,            /* text or close reason is not valid UTF-8 */
    WS_ERR_CLOSE_PAYLOAD = -14,   /* close payload of exactly one byte */
    WS_ERR_CLOSE_CODE = -15,      /* close code that may not appear on the wire */
};

/* Close codes (RFC 6455 section 7.4.1 and the IANA registry). */
enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005,    /* never sent: a close frame without a body */
    WS_CLOSE_ABNORMAL = 1006,     /* never sent: connection dropped */
    WS_CLOSE_BAD_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_EXTENSION = 1010,
    WS_CLOSE_INTERNAL = 1011,
    WS_CLOSE_RESTART = 1012,
    WS_CLOSE_TRY_AGAIN = 1013,
};

struct ws_frame {
    bool fin;               /* last fragment of its message */
    bool masked;
    uint8_t opcode;         /* enum ws_opcode */
    uint8_t mask[4];        /* the mask key when masked, else zeros */
    size_t header_len;      /* 2..14: the payload starts this far into the frame */
    size_t payload_len;
    const uint8_t *payload; /* ref: caller's buffer, at buf + header_len, still masked */
};

/* Parses one whole frame; see the contract at the top. Returns bytes consumed,
 * WS_NEED_MORE or a WS_ERR_*; f is written only on success. max_payload bounds
 * data frames (control frames are bound by 125) and is clamped to
 * WS_PAYLOAD_LIMIT_MAX, so the result always fits an int. */
int ws_frame_parse(const uint8_t *buf, size_t len, enum ws_role role,
                   size_t max_payload, struct ws_frame *f);

/* Like ws_frame_parse() but needs only the header: returns the header length
 * (2..14) once it and nothing more is there, WS_NEED_MORE or a WS_ERR_*. f is
 * filled as for a whole frame; f->payload is valid only once f->payload_len
 * bytes past the header have arrived. */
int ws_frame_parse_header(const uint8_t *buf, size_t len, enum ws_role role,
                          size_t max_payload, struct ws_frame *f);

/* XORs len bytes at p with the mask key, in place, starting at key position
 * offset % 4 (pass the number of payload bytes already unmasked when working
 * through a payload in pieces; 0 otherwise). Masking and unmasking are the
 * same operation. p may have any alignment. */
void ws_mask(uint8_t *p, size_t len, const uint8_t mask[4], size_t offset);

/* Writes src XOR mask to dst (len bytes, key position from 0); dst and src
 * must not overlap unless they are equal. */
void ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t len,
                  const uint8_t mask[4]);

/* Returns the header size, 2..14, for a payload of len bytes. */
size_t ws_frame_header_len(uint64_t len, bool masked);

/* Writes a frame header to out (room for WS_FRAME_HEADER_MAX bytes) for a
 * payload of len bytes, with the mask key when mask is not NULL. Returns the
 * number of bytes written (2..14), or WS_ERR_INVALID for an unknown opcode, a
 * control frame without fin or over 125 bytes, or len >= 2^63; out is then
 * untouched. */
int ws_frame_header(uint8_t *out, int opcode, int fin, uint64_t len,
                    const uint8_t *mask);

/* The close code to send for a WS_ERR_* (1002, 1007 or 1009; 1011 for
 * anything that is not a peer's fault), and a short static reason that fits a
 * close frame. */
uint16_t ws_err_close_code(int err);
const char *ws_strerror(int err);

/* --- UTF-8 ---------------------------------------------------------------- */

/* Incremental strict UTF-8 validation: rejects overlong forms, surrogates
 * (U+D800..U+DFFF), code points over U+10FFFF and stray or missing
 * continuation bytes. Zero-initialise the state before the first feed. */
struct ws_utf8 {
    uint8_t need;           /* continuation bytes still expected */
    uint8_t lo, hi;         /* allowed range of the next continuation byte */
};

/* Returns true when s[0..len) is complete, valid UTF-8. */
bool ws_utf8_valid(const uint8_t *s, size_t len);

/* Feeds the next len bytes of a text; returns 0 while the text so far is a
 * valid prefix, WS_ERR_UTF8 at the first byte that makes it invalid (the
 * state is then meaningless). */
int ws_utf8_feed(struct ws_utf8 *st, const uint8_t *s, size_t len);

/* Returns true when the text fed so far ends on a character boundary. */
bool ws_utf8_complete(const struct ws_utf8 *st);

/* --- message assembly ----------------------------------------------------- */

struct ws_message {
    uint8_t *buf;           /* ref: caller's assembly buffer */
    size_t cap;             /* its size: the largest message accepted */
    size_t len;             /* bytes of the open message assembled so far */
    uint8_t opcode;         /* WS_OP_TEXT or WS_OP_BINARY when open, else 0 */
    struct ws_utf8 utf8;
};

/* A finished message. */
struct ws_data {
    uint8_t opcode;         /* WS_OP_TEXT or WS_OP_BINARY */
    const uint8_t *ptr;     /* ref: the frame payload for a one-frame message,
                               else the assembly buffer; valid until the next
                               feed or until the caller reuses that buffer */
    size_t len;
};

enum ws_message_result {
    WS_MESSAGE_PARTIAL = 0, /* fragment taken, message still open */
    WS_MESSAGE_DONE = 1,    /* message complete, *out written */
    WS_MESSAGE_CONTROL = 2, /* control frame: not ours, nothing changed */
};

/* Sets up an empty assembler over buf[0..cap) (buf may be NULL if cap is 0:
 * then only one-frame messages are accepted). */
void ws_message_init(struct ws_message *m, uint8_t *buf, size_t cap);

/* Drops any open message. */
void ws_message_reset(struct ws_message *m);

/* Takes one parsed frame whose payload (f->payload_len bytes at payload) is
 * already unmasked. Returns a enum ws_message_result, or WS_ERR_CONTINUATION,
 * WS_ERR_FRAGMENT_OPEN, WS_ERR_TOO_BIG (message over cap; a one-frame message
 * is bound by the parser's limit instead) or WS_ERR_UTF8; after an error the
 * assembler is reset. */
int ws_message_feed(struct ws_message *m, const struct ws_frame *f,
                    const uint8_t *payload, struct ws_data *out);

/* --- close frames --------------------------------------------------------- */

struct ws_close {
    uint16_t code;          /* WS_CLOSE_NO_STATUS when the body was empty */
    const char *reason;     /* ref: into the payload; not NUL-terminated */
    size_t reason_len;
};

/* Returns true for a code that may appear in a close frame: 1000-1003,
 * 1007-1014 and 3000-4999. */
bool ws_close_code_valid(unsigned code);

/* Reads an unmasked close payload. Returns 0 and writes *out, or
 * WS_ERR_CLOSE_PAYLOAD (one byte), WS_ERR_CLOSE_CODE, WS_ERR_CONTROL_TOO_BIG
 * or WS_ERR_UTF8 (reason). */
int ws_close_parse(const uint8_t *payload, size_t len, struct ws_close *out);

/* Writes a whole close frame (header, code, reason; masked when mask is not
 * NULL) to out[0..cap). code 0 means an empty body and then reason_len must be
 * 0. A reason longer than WS_CLOSE_REASON_MAX is cut at the last whole
 * character that fits. Returns the frame length, or WS_ERR_INVALID (code not
 * valid, reason not UTF-8, cap too small; out untouched). */
int ws_close_frame(uint8_t *out, size_t cap, unsigned code,
                   const char *reason, size_t reason_len, const uint8_t *mask);

#endif
