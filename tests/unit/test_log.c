/* test_log.c - the shape of a log line: one line per event, and in JSON
 * mode the trailing key=value fields as members. */
#include <jansson.h>
#include <string.h>

#include "server/log.h"
#include "tests/unit/unit.h"

static char line[4096];

START_TEST(text_line_has_time_level_and_message)
{
    size_t n = log_format_line(line, sizeof line, false, "2026-01-01T00:00:00.000000Z", LOG_WARN,
                               "disk almost full path=/x");
    ck_assert_uint_eq(n, strlen(line));
    ck_assert_str_eq(line, "2026-01-01T00:00:00.000000Z warn  disk almost full path=/x\n");
}
END_TEST

START_TEST(text_line_escapes_newlines_so_one_event_is_one_line)
{
    log_format_line(line, sizeof line, false, "T", LOG_ERROR, "a\nb\rc\x1b[31m");
    ck_assert_str_eq(line, "T error a\\nb\\x0dc\\x1b[31m\n");
}
END_TEST

START_TEST(json_line_lifts_trailing_fields_into_members)
{
    size_t n = log_format_line(line, sizeof line, true, "T", LOG_DEBUG,
                               "request kind=promise.create corrId=c1 status=200 "
                               "duration_ms=0.412");
    ck_assert_uint_eq(n, strlen(line));
    ck_assert_int_eq(line[n - 1], '\n');
    ck_assert_ptr_null(memchr(line, '\n', n - 1));
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(json_string_value(json_object_get(o, "ts")), "T");
    ck_assert_str_eq(json_string_value(json_object_get(o, "level")), "debug");
    ck_assert_str_eq(json_string_value(json_object_get(o, "msg")), "request");
    ck_assert_str_eq(json_string_value(json_object_get(o, "kind")), "promise.create");
    ck_assert_str_eq(json_string_value(json_object_get(o, "corrId")), "c1");
    ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "200");
    ck_assert_str_eq(json_string_value(json_object_get(o, "duration_ms")), "0.412");
    json_decref(o);
}
END_TEST

START_TEST(json_line_keeps_free_text_in_msg)
{
    log_format_line(line, sizeof line, true, "T", LOG_INFO,
                    "key=value in the middle of text and \"quotes\"\nnewline");
    json_t *o = json_loads(line, 0, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(json_string_value(json_object_get(o, "msg")),
                     "key=value in the middle of text and \"quotes\"\nnewline");
    ck_assert_uint_eq(json_object_size(o), 3);
    json_decref(o);
    /* a field may not overwrite the fixed members */
    log_format_line(line, sizeof line, true, "T", LOG_INFO, "x level=evil");
    o = json_loads(line, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(o, "level")), "info");
    json_decref(o);
}
END_TEST

START_TEST(level_names_parse_in_any_case)
{
    ck_assert_int_eq(log_level_parse("DEBUG"), LOG_DEBUG);
    ck_assert_int_eq(log_level_parse("trace"), LOG_DEBUG);
    ck_assert_int_eq(log_level_parse("Info"), LOG_INFO);
    ck_assert_int_eq(log_level_parse("warning"), LOG_WARN);
    ck_assert_int_eq(log_level_parse("error"), LOG_ERROR);
    ck_assert_int_eq(log_level_parse("loud"), -1);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, text_line_has_time_level_and_message);
    tcase_add_test(tc, text_line_escapes_newlines_so_one_event_is_one_line);
    tcase_add_test(tc, json_line_lifts_trailing_fields_into_members);
    tcase_add_test(tc, json_line_keeps_free_text_in_msg);
    tcase_add_test(tc, level_names_parse_in_any_case);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(log_suite)
