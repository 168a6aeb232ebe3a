/* base64.c - see base64.h. */
#include "core/base64.h"

#include <stdint.h>

static const char *alphabet(b64_variant_t v)
{
    return v == B64_URL ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                        : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

/* The value of c in variant v, or -1. */
static int sextet(b64_variant_t v, unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (v == B64_URL ? '-' : '+'))
        return 62;
    if (c == (v == B64_URL ? '_' : '/'))
        return 63;
    return -1;
}

size_t b64_encoded_len(b64_variant_t v, size_t n)
{
    if (v == B64_STD)
        return (n + 2) / 3 * 4;
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

void b64_encode(b64_variant_t v, const unsigned char *in, size_t n, char *out)
{
    const char *abc = alphabet(v);
    size_t i = 0, o = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = abc[w >> 18 & 63];
        out[o++] = abc[w >> 12 & 63];
        out[o++] = abc[w >> 6 & 63];
        out[o++] = abc[w & 63];
    }
    if (n - i > 0) {
        uint32_t w = (uint32_t)in[i] << 16 | (n - i == 2 ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = abc[w >> 18 & 63];
        out[o++] = abc[w >> 12 & 63];
        if (n - i == 2)
            out[o++] = abc[w >> 6 & 63];
        if (v == B64_STD) {
            if (n - i == 1)
                out[o++] = '=';
            out[o++] = '=';
        }
    }
    out[o] = '\0';
}

int b64_decode(b64_variant_t v, const char *in, size_t n, unsigned char *out, size_t *outlen)
{
    if (v == B64_STD) {
        /* Padding makes the length a multiple of 4; strip at most two '='. */
        if (n % 4 != 0)
            return -1;
        for (int k = 0; k < 2 && n > 0 && in[n - 1] == '='; k++)
            n--;
    }
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int s = sextet(v, (unsigned char)in[i]);
        if (s < 0)
            return -1;
        acc = (acc << 6 | (uint32_t)s) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* The 2 or 4 bits left over must be zero in a canonical encoding. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    *outlen = o;
    return 0;
}
