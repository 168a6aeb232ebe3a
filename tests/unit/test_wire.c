/* test_wire.c - response encoding: the size bound of a promise record, and
 * the envelope encoder against jansson's own sorted compact output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire.h"
#include "tests/unit/unit.h"

/* The compact encoding's size of wire_promise(p). */
static size_t encoded_size(const promise_t *p)
{
    json_t *rec = wire_promise(p);
    size_t n = json_dumpb(rec, NULL, 0, JSON_COMPACT);
    json_decref(rec);
    return n;
}

/* C0, DEL and C1 (two bytes in UTF-8) are controls; printable ASCII, other
 * two-byte characters and a lone 0xC2 at the end are not. */
START_TEST(control_len_finds_c0_del_and_c1_and_nothing_else)
{
    const char s[] = "\x1f \x7f~\xc2\x9b\xc2\xa0\xc2\x80\xc2";
    size_t n = sizeof s - 1;
    size_t want[] = {1, 0, 1, 0, 2, 0, 0, 0, 2, 0, 0};
    ck_assert_uint_eq(n, sizeof want / sizeof *want);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(wire_control_len(s, n, i) == want[i], "byte %zu: %zu, want %zu", i,
                      wire_control_len(s, n, i), want[i]);
}
END_TEST

START_TEST(promise_size_bounds_the_encoding_from_above_and_closely)
{
    kv_t tags[] = {{"resonate:branch", "root"}, {"quote\"d", "back\\slash\n"}};
    kv_t headers[] = {{"h", "\x01\x02"}};
    promise_t p = {.id = "root.1",
                   .state = PSTATE_REJECTED_TIMEDOUT,
                   .param = {.has_headers = true, .headers = {headers, 1}, .data = "eyJ4IjoxfQ=="},
                   .value = {.data = "\"\"\"\""},
                   .tags = {tags, 2},
                   .timeout_at = INT64_MIN,
                   .created_at = INT64_MAX,
                   .has_settled_at = true,
                   .settled_at = INT64_MIN};
    size_t bound = wire_promise_size(&p), real = encoded_size(&p);
    ck_assert_uint_ge(bound, real);
    /* Large plain data: within a few hundred bytes of the real size. */
    static char data[100001];
    memset(data, 'A', sizeof data - 1);
    promise_t big = {.id = "b", .param = {.data = data}};
    bound = wire_promise_size(&big);
    real = encoded_size(&big);
    ck_assert_uint_ge(bound, real);
    ck_assert_uint_le(bound - real, 400);
}
END_TEST

/* A small deterministic generator (xorshift), so a failure reproduces. */
static uint64_t rng_state = 88172645463325252ull;
static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* Random bytes that need every kind of escaping, valid UTF-8 included. */
static size_t random_text(char *out, bool allow_nul)
{
    static const char *const pieces[] = {
        "a",  "Z",  "\"",   "\\",   "/",    "\b",       "\f",           "\n",
        "\r", "\t", "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xe2\x80\xa8", "\xf0\x9f\x98\x80",
        " ",  "k",  "ka",   "\0"};
    size_t n = 0, parts = rnd(6);
    for (size_t i = 0; i < parts; i++) {
        unsigned k = rnd(allow_nul ? 20 : 19);
        size_t len = k == 19 ? 1 : strlen(pieces[k]);
        memcpy(out + n, pieces[k], len);
        n += len;
    }
    out[n] = '\0';
    return n;
}

static json_t *random_json(int depth)
{
    char text[64];
    switch (rnd(depth > 3 ? 5 : 7)) {
    case 0: {
        size_t n = random_text(text, true);
        return json_stringn(text, n);
    }
    case 1: {
        static const json_int_t ints[] = {0, -1, 42, INT64_MAX, INT64_MIN, 1700000000000};
        return json_integer(ints[rnd(6)]);
    }
    case 2:
        return rnd(2) ? json_true() : json_false();
    case 3:
        return json_null();
    case 4:
        return json_real(rnd(2) ? 0.5 : -1e300);
    case 5: {
        json_t *a = json_array();
        for (unsigned i = rnd(4); i > 0; i--)
            json_array_append_new(a, random_json(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (unsigned i = rnd(20); i > 0; i--) {
            size_t n = random_text(text, true);
            json_object_setn_new(o, text, n, random_json(depth + 1));
        }
        return o;
    }
    }
}

START_TEST(dump_matches_jansson_sorted_compact_output_on_random_trees)
{
    for (int i = 0; i < 2000; i++) {
        json_t *v = random_json(0);
        char *want = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        char *got = wire_dump(v);
        ck_assert_ptr_nonnull(want);
        ck_assert_ptr_nonnull(got);
        ck_assert_str_eq(got, want);
        free(want);
        free(got);
        json_decref(v);
    }
}
END_TEST

START_TEST(envelope_escapes_kind_and_corr_id_and_sorts_data)
{
    json_t *data = json_pack("{s:i,s:{s:s,s:s},s:[]}", "z", 1, "promise", "state", "pending", "id",
                             "a\"b", "a", "x");
    size_t len = 0;
    char *got = wire_encode_envelope("promise.get", "c\n\x01\xc3\xa9", 200, data, &len);
    ck_assert_str_eq(got, "{\"kind\":\"promise.get\",\"head\":{\"corrId\":\"c\\n\\u0001\xc3\xa9\","
                          "\"status\":200,\"version\":\"" PROTOCOL_VERSION "\"},\"data\":{\"a\":"
                          "[],\"promise\":{\"id\":\"a\\\"b\",\"state\":\"pending\"},\"z\":1}}");
    ck_assert_uint_eq(len, strlen(got));
    free(got);
    /* No data: an empty object; invalid UTF-8 in corrId: an empty string. */
    got = wire_encode_envelope("k", "\xff", 500, NULL, &len);
    ck_assert_str_eq(got, "{\"kind\":\"k\",\"head\":{\"corrId\":\"\",\"status\":500,"
                          "\"version\":\"" PROTOCOL_VERSION "\"},\"data\":{}}");
    free(got);
    json_decref(data);
}
END_TEST

/* A random string map: keys that sort differently by byte and by length. */
static kvmap_t random_kvmap(kv_t *items, char (*text)[2][32])
{
    size_t n = rnd(5);
    for (size_t i = 0; i < n; i++) {
        random_text(text[i][0], false);
        random_text(text[i][1], false);
        /* Distinct keys, as a decoded JSON object has. */
        text[i][0][strlen(text[i][0]) + 1] = '\0';
        size_t kl = strlen(text[i][0]);
        text[i][0][kl] = (char)('0' + i);
        text[i][0][kl + 1] = '\0';
        items[i] = (kv_t){text[i][0], text[i][1]};
    }
    return (kvmap_t){items, n};
}

START_TEST(typed_promise_answer_encodes_as_its_tree_would)
{
    static const pstate_t states[] = {PSTATE_PENDING, PSTATE_RESOLVED, PSTATE_REJECTED,
                                      PSTATE_REJECTED_CANCELED, PSTATE_REJECTED_TIMEDOUT};
    for (int i = 0; i < 2000; i++) {
        kv_t tags[5], ph[5], vh[5];
        char tt[5][2][32], pt[5][2][32], vt[5][2][32], id[32], pd[32], vd[32];
        random_text(id, false);
        random_text(pd, false);
        random_text(vd, false);
        promise_t p = {.id = id,
                       .state = states[rnd(5)],
                       .param = {.has_headers = rnd(2),
                                 .headers = random_kvmap(ph, pt),
                                 .data = rnd(2) ? pd : NULL},
                       .value = {.has_headers = rnd(2),
                                 .headers = random_kvmap(vh, vt),
                                 .data = rnd(2) ? vd : NULL},
                       .tags = random_kvmap(tags, tt),
                       .timeout_at = rnd(2) ? INT64_MAX : -5,
                       .created_at = 1700000000000,
                       .has_settled_at = rnd(2),
                       .settled_at = INT64_MIN};
        response_t typed = {0}, tree = {0};
        response_promise(&typed, 200, &p);
        response_set(&tree, 200, json_pack("{s:o}", "promise", wire_promise(&p)));
        char *want = wire_encode_response("promise.get", "1", &tree, NULL);
        char *got = wire_encode_response("promise.get", "1", &typed, NULL);
        ck_assert_str_eq(got, want);
        /* response_json builds the same tree. */
        char *again = wire_dump(response_json(&typed));
        char *want_data = wire_dump(tree.data);
        ck_assert_str_eq(again, want_data);
        free(want);
        free(got);
        free(again);
        free(want_data);
        response_clear(&typed);
        response_clear(&tree);
        ck_assert_ptr_null(typed.promise);
    }
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("sizes");
    tcase_add_test(tc, control_len_finds_c0_del_and_c1_and_nothing_else);
    tcase_add_test(tc, promise_size_bounds_the_encoding_from_above_and_closely);
    tcase_add_test(tc, dump_matches_jansson_sorted_compact_output_on_random_trees);
    tcase_add_test(tc, envelope_escapes_kind_and_corr_id_and_sorts_data);
    tcase_add_test(tc, typed_promise_answer_encodes_as_its_tree_would);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(wire_suite)
