/* test_client.c - the pure helpers of the client subcommands: base64,
 * payload encoding as the Rust CLI does it, duration formatting. */
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "tests/unit/unit.h"

START_TEST(base64_helpers_allocate_nul_terminated_results_and_refuse_invalid_input)
{
    /* The encoding itself is core/base64.c's (test_base64.c). */
    char *s = client_base64_encode((const unsigned char *)"hello", 5);
    ck_assert_str_eq(s, "aGVsbG8=");
    free(s);
    size_t n = 99;
    unsigned char *p = client_base64_decode("aGVsbG8=", &n);
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq((char *)p, "hello");
    free(p);
    ck_assert_ptr_null(client_base64_decode("aGVsbG8", &n));
}
END_TEST

START_TEST(payload_string_data_is_base64_of_the_string_itself)
{
    char err[256];
    char *s = client_payload_encode("--param", "{\"data\":\"hello\",\"headers\":{\"a\":\"1\"}}",
                                    err, sizeof err);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "{\"data\":\"aGVsbG8=\",\"headers\":{\"a\":\"1\"}}");
    free(s);
}
END_TEST

START_TEST(payload_json_data_is_serialised_compactly_with_sorted_keys_then_encoded)
{
    char err[256];
    /* base64 of {"a":2,"b":[1,true]} */
    char *s = client_payload_encode("--value", "{\"data\": {\"b\": [1, true], \"a\": 2}}", err,
                                    sizeof err);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "{\"data\":\"eyJhIjoyLCJiIjpbMSx0cnVlXX0=\"}");
    free(s);
    s = client_payload_encode("--value", "{\"data\": 42}", err, sizeof err);
    ck_assert_str_eq(s, "{\"data\":\"NDI=\"}");
    free(s);
}
END_TEST

START_TEST(payload_without_data_is_sent_unchanged)
{
    char err[256];
    char *s = client_payload_encode("--param", "{\"headers\":{}}", err, sizeof err);
    ck_assert_str_eq(s, "{\"headers\":{}}");
    free(s);
}
END_TEST

START_TEST(payload_errors_name_the_flag)
{
    char err[256];
    ck_assert_ptr_null(client_payload_encode("--param", "{\"data\":", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "invalid JSON in --param"));
    ck_assert_ptr_null(client_payload_encode("--value", "\"ok\"", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "--value must be a JSON object"));
    ck_assert_ptr_null(client_payload_encode("--value", "{\"a\":1,\"a\":2}", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "--value"));
}
END_TEST

START_TEST(durations_show_the_two_largest_units)
{
    static const struct {
        long long ms;
        const char *out;
    } cases[] = {{0, "0ms"},        {250, "250ms"},     {1000, "1s"},
                 {61000, "1m1s"},   {3600000, "1h"},    {5400000, "1h30m"},
                 {3723000, "1h2m"}, {90061000, "1d1h"}, {86400000 + 60000, "1d"},
                 {-45000, "45s"}};
    char buf[32];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        client_format_duration(cases[i].ms, buf, sizeof buf);
        ck_assert_msg(strcmp(buf, cases[i].out) == 0, "%lld ms -> '%s', want '%s'", cases[i].ms,
                      buf, cases[i].out);
    }
}
END_TEST

START_TEST(client_commands_and_aliases_are_recognised)
{
    static const char *const yes[] = {"promises",  "promise",  "tasks",  "task",
                                      "schedules", "schedule", "invoke", "tree"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        ck_assert_msg(client_is_command(yes[i]), "%s", yes[i]);
    ck_assert(!client_is_command("serve"));
    ck_assert(!client_is_command("promisez"));
    ck_assert(!client_is_command(""));
}
END_TEST

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("helpers");
    tcase_add_test(tc, base64_helpers_allocate_nul_terminated_results_and_refuse_invalid_input);
    tcase_add_test(tc, payload_string_data_is_base64_of_the_string_itself);
    tcase_add_test(tc, payload_json_data_is_serialised_compactly_with_sorted_keys_then_encoded);
    tcase_add_test(tc, payload_without_data_is_sent_unchanged);
    tcase_add_test(tc, payload_errors_name_the_flag);
    tcase_add_test(tc, durations_show_the_two_largest_units);
    tcase_add_test(tc, client_commands_and_aliases_are_recognised);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(client_suite)
