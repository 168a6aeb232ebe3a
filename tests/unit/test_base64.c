/* test_base64.c - strict base64 (core/base64.c), both variants: the RFC 4648
 * §10 test vectors, the characters where the alphabets differ, round trips
 * of every byte value, and every refusal that keeps one accepted spelling
 * per byte string (wrong alphabet, whitespace, misplaced or missing or
 * extra padding, impossible lengths, non-zero unused bits). */
#include <stdbool.h>
#include <string.h>

#include "core/base64.h"
#include "tests/unit/unit.h"

/* RFC 4648 §10: "foobar" and its prefixes. */
static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};

static bool dec(b64_variant_t v, const char *in, char *out, size_t *n)
{
    return b64_decode(v, in, strlen(in), (unsigned char *)out, n) == 0;
}

static void expect_refused(b64_variant_t v, const char *const *bad, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char buf[32];
        size_t len;
        ck_assert_msg(!dec(v, bad[i], buf, &len), "%s accepted \"%s\"",
                      v == B64_STD ? "base64" : "base64url", bad[i]);
    }
}

START_TEST(std_encodes_rfc4648_vectors_padded_to_a_multiple_of_four)
{
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        size_t n = strlen(plain[i]);
        ck_assert_uint_eq(b64_encoded_len(B64_STD, n), strlen(std[i]));
        b64_encode(B64_STD, (const unsigned char *)plain[i], n, out);
        ck_assert_str_eq(out, std[i]);
    }
    char out[8];
    b64_encode(B64_STD, (const unsigned char *)"\xff\xfe", 2, out);
    ck_assert_str_eq(out, "//4=");
}
END_TEST

START_TEST(std_decodes_rfc4648_vectors)
{
    for (size_t i = 0; i < 7; i++) {
        char buf[16];
        size_t n = 99;
        ck_assert_msg(dec(B64_STD, std[i], buf, &n), "%s", std[i]);
        ck_assert_uint_eq(n, strlen(plain[i]));
        ck_assert(memcmp(buf, plain[i], n) == 0);
    }
    char buf[8];
    size_t n;
    ck_assert(dec(B64_STD, "+/8=", buf, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq((unsigned char)buf[0], 0xfb);
    ck_assert_uint_eq((unsigned char)buf[1], 0xff);
}
END_TEST

START_TEST(std_refuses_malformed_input)
{
    static const char *const bad[] = {
        "Zm9vYg",   /* padding missing: length not a multiple of 4 */
        "aGV=bG8=", /* padding in the middle */
        "a===",     /* three pad characters */
        "====",     /* nothing but padding */
        "Zm9v====", /* a whole quantum of padding */
        "aGVsbG9=", /* non-zero unused bits */
        "Zh==",     /* non-zero unused bits, two pads */
        "aGVs bG8", /* space */
        "Zm9v\n",   /* newline */
        "aGVs_G8=", /* base64url alphabet */
        "-_8=",     /* base64url alphabet */
        "Zm.v",     /* outside both alphabets */
    };
    expect_refused(B64_STD, bad, sizeof bad / sizeof *bad);
}
END_TEST

START_TEST(url_encodes_rfc4648_vectors_without_padding)
{
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        size_t n = strlen(plain[i]);
        ck_assert_uint_eq(b64_encoded_len(B64_URL, n), strlen(url[i]));
        b64_encode(B64_URL, (const unsigned char *)plain[i], n, out);
        ck_assert_str_eq(out, url[i]);
    }
    char out[8];
    b64_encode(B64_URL, (const unsigned char *)"\xfb\xff", 2, out);
    ck_assert_str_eq(out, "-_8");
}
END_TEST

START_TEST(url_decodes_rfc4648_vectors_without_padding)
{
    for (size_t i = 0; i < 7; i++) {
        char buf[16];
        size_t n = 99;
        ck_assert_msg(dec(B64_URL, url[i], buf, &n), "%s", url[i]);
        ck_assert_uint_eq(n, strlen(plain[i]));
        ck_assert(memcmp(buf, plain[i], n) == 0);
    }
    /* The two characters where base64url differs from base64. */
    char buf[4];
    size_t n;
    ck_assert(dec(B64_URL, "-_8", buf, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq((unsigned char)buf[0], 0xfb);
    ck_assert_uint_eq((unsigned char)buf[1], 0xff);
}
END_TEST

START_TEST(url_refuses_padding_and_characters_outside_the_alphabet)
{
    static const char *const bad[] = {"Zg==",  "Zm8=",   "Zm9v====", "+/8",
                                      "Zm 9v", "Zm9v\n", "Zm.v",     "Zm9v%"};
    expect_refused(B64_URL, bad, sizeof bad / sizeof *bad);
}
END_TEST

START_TEST(url_refuses_impossible_lengths_and_noncanonical_bits)
{
    /* One character left over is never a whole byte; "Zh" and "Zm9" carry
     * non-zero bits after the last whole byte. */
    static const char *const bad[] = {"Z", "Zm9vY", "Zh", "Zm9"};
    expect_refused(B64_URL, bad, sizeof bad / sizeof *bad);
    char buf[4];
    size_t n;
    ck_assert(dec(B64_URL, "Zg", buf, &n));
}
END_TEST

START_TEST(both_variants_round_trip_every_byte_value)
{
    static const char *const alphabet[] = {
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"};
    const b64_variant_t vs[] = {B64_STD, B64_URL};
    unsigned char in[256], out[256 + 3];
    char enc[400];
    for (int i = 0; i < 256; i++)
        in[i] = (unsigned char)i;
    for (size_t k = 0; k < 2; k++) {
        for (size_t len = 0; len <= 256; len++) {
            b64_encode(vs[k], in + (256 - len), len, enc);
            ck_assert_uint_eq(strlen(enc), b64_encoded_len(vs[k], len));
            ck_assert(strspn(enc, alphabet[k]) == strlen(enc));
            size_t n = 0;
            ck_assert_int_eq(b64_decode(vs[k], enc, strlen(enc), out, &n), 0);
            ck_assert_uint_eq(n, len);
            ck_assert(memcmp(out, in + (256 - len), len) == 0);
        }
    }
}
END_TEST

static Suite *base64_suite(void)
{
    Suite *s = suite_create("base64");
    TCase *tc = tcase_create("rfc4648");
    tcase_add_test(tc, std_encodes_rfc4648_vectors_padded_to_a_multiple_of_four);
    tcase_add_test(tc, std_decodes_rfc4648_vectors);
    tcase_add_test(tc, std_refuses_malformed_input);
    tcase_add_test(tc, url_encodes_rfc4648_vectors_without_padding);
    tcase_add_test(tc, url_decodes_rfc4648_vectors_without_padding);
    tcase_add_test(tc, url_refuses_padding_and_characters_outside_the_alphabet);
    tcase_add_test(tc, url_refuses_impossible_lengths_and_noncanonical_bits);
    tcase_add_test(tc, both_variants_round_trip_every_byte_value);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(base64_suite)
