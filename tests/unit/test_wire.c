/* test_wire.c - response encoding: the size bound of a promise record. */
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

static Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("sizes");
    tcase_add_test(tc, promise_size_bounds_the_encoding_from_above_and_closely);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(wire_suite)
