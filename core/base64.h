/* base64.h - strict base64 (RFC 4648): the standard alphabet with padding,
 * as the protocol carries param and value data, and base64url without
 * padding, as JWS uses it. One implementation serves both: auth/ for tokens,
 * cli/ for payloads.
 *
 * Decoding is strict: characters outside the alphabet, whitespace, padding
 * where the variant has none (or missing where it needs it), an impossible
 * length and non-zero unused trailing bits are all refused, so one byte
 * string has exactly one accepted spelling (the token cache relies on it). */
#ifndef RESONATE_BASE64_H
#define RESONATE_BASE64_H

#include <stddef.h>

typedef enum {
    B64_STD, /* A-Z a-z 0-9 + /, padded with '=' to a multiple of 4 */
    B64_URL  /* A-Z a-z 0-9 - _, no padding */
} b64_variant_t;

/* Characters needed to encode n bytes (without the terminating NUL). */
size_t b64_encoded_len(b64_variant_t v, size_t n);

/* Encodes n bytes into out (room for b64_encoded_len(v, n) + 1), NUL
 * terminated. */
void b64_encode(b64_variant_t v, const unsigned char *in, size_t n, char *out);

/* Decodes n characters into out (room for n / 4 * 3 + 3 bytes) and stores
 * the byte count in *outlen. Returns 0, or -1 for input that is not the
 * canonical encoding of some byte string in variant v. */
int b64_decode(b64_variant_t v, const char *in, size_t n, unsigned char *out, size_t *outlen);

#endif
