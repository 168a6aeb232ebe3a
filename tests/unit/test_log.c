/* test_log.c - the shape of a log line: one line per event, in JSON mode
 * the trailing key=value fields of the format as members, and no argument
 * able to forge a field in either mode. */
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

START_TEST(c1_controls_are_escaped_in_text_and_json_lines)
{
    /* U+009B is CSI, U+009D OSC: as active as ESC [ and ESC ] in a
     * terminal that honours C1 controls. */
    log_format_line(line, sizeof line, false, "T", LOG_INFO, "got %s id=%s",
                    "a\xc2\x9b"
                    "2J",
                    "b\xc2\x9d"
                    "0;t\x7f");
    ck_assert_str_eq(line, "T info  got a\\u009b2J id=\"b\\u009d0;t\\x7f\"\n");
    log_format_line(line, sizeof line, true, "T", LOG_INFO, "got %s id=%s",
                    "a\xc2\x9b"
                    "2J",
                    "b\xc2\x9d"
                    "0;t\x7f");
    ck_assert_ptr_null(strstr(line, "\xc2"));
    ck_assert_ptr_null(strchr(line, 0x7f));
    json_t *o = json_loads(line, 0, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(json_string_value(json_object_get(o, "msg")), "got a\xc2\x9b"
                                                                   "2J");
    ck_assert_str_eq(json_string_value(json_object_get(o, "id")), "b\xc2\x9d"
                                                                  "0;t\x7f");
    json_decref(o);
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

/* The format of server/http.c's request line. */
#define REQUEST_FMT "request kind=%s corrId=%s status=%d duration_ms=%.3f"

START_TEST(json_line_keeps_the_real_status_whatever_the_arguments_say)
{
    log_format_line(line, sizeof line, true, "T", LOG_DEBUG, REQUEST_FMT, "promise.get",
                    "c1 status=200 reason=all-good", 403, 0.5);
    json_t *o = json_loads(line, 0, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "403");
    ck_assert_str_eq(json_string_value(json_object_get(o, "corrId")),
                     "c1 status=200 reason=all-good");
    ck_assert_ptr_null(json_object_get(o, "reason"));
    ck_assert_uint_eq(json_object_size(o), 7);
    json_decref(o);
}
END_TEST

START_TEST(json_line_takes_no_field_from_an_argument_in_the_message_text)
{
    log_format_line(line, sizeof line, true, "T", LOG_WARN, "no transport for %s",
                    "x status=200 level=error");
    json_t *o = json_loads(line, 0, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(json_string_value(json_object_get(o, "msg")),
                     "no transport for x status=200 level=error");
    ck_assert_str_eq(json_string_value(json_object_get(o, "level")), "warn");
    ck_assert_uint_eq(json_object_size(o), 3);
    json_decref(o);
}
END_TEST

START_TEST(json_line_replaces_invalid_utf8_instead_of_dropping_the_member)
{
    log_format_line(line, sizeof line, true, "T", LOG_INFO, "got %s id=%s", "a\xff", "b\xfe");
    json_t *o = json_loads(line, 0, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(json_string_value(json_object_get(o, "msg")), "got a?");
    ck_assert_str_eq(json_string_value(json_object_get(o, "id")), "b?");
    json_decref(o);
}
END_TEST

START_TEST(text_line_quotes_a_field_value_with_spaces_quotes_or_equals)
{
    log_format_line(line, sizeof line, false, "T", LOG_DEBUG, REQUEST_FMT, "promise.get",
                    "c1 status=200 reason=all-good", 403, 0.5);
    ck_assert_str_eq(line, "T debug request kind=promise.get corrId=\"c1 status=200 "
                           "reason=all-good\" status=403 duration_ms=0.500\n");
    log_format_line(line, sizeof line, false, "T", LOG_DEBUG, "x a=%s b=%s c=%s d=%s", "q\"",
                    "back\\slash", "new\nline\x01", "");
    ck_assert_str_eq(line, "T debug x a=\"q\\\"\" b=\"back\\\\slash\" c=\"new\\nline\\x01\" d=\n");
}
END_TEST

START_TEST(text_line_quotes_an_argument_that_looks_like_a_field_in_the_message_text)
{
    log_format_line(line, sizeof line, false, "T", LOG_WARN, "no transport for %s, dropped %d",
                    "x status=200", 7);
    ck_assert_str_eq(line, "T warn  no transport for \"x status=200\", dropped 7\n");
    log_format_line(line, sizeof line, false, "T", LOG_WARN, "push to %s failed", "http://a b");
    ck_assert_str_eq(line, "T warn  push to http://a b failed\n");
}
END_TEST

START_TEST(conversions_format_as_printf_does)
{
    char want[256];
    snprintf(want, sizeof want, "T info  v %lld %zu %5.2f|%-4s|%.*s|%% %c %x %u %ld\n",
             (long long)-5, (size_t)7, 3.14159, "ab", 2, "xyz", 'q', 255u, 4000000000u, -9L);
    log_format_line(line, sizeof line, false, "T", LOG_INFO,
                    "v %lld %zu %5.2f|%-4s|%.*s|%% %c %x %u %ld", (long long)-5, (size_t)7, 3.14159,
                    "ab", 2, "xyz", 'q', 255u, 4000000000u, -9L);
    ck_assert_str_eq(line, want);
    /* arguments after a field are still taken in order */
    log_format_line(line, sizeof line, false, "T", LOG_INFO, "m %s a=%d b=%s:%u", "one", 2, "three",
                    4u);
    ck_assert_str_eq(line, "T info  m one a=2 b=three:4\n");
}
END_TEST

/* A string of 2,999 'x': longer than a line's message and values. */
static const char *long_text(void)
{
    static char big[3000];
    memset(big, 'x', sizeof big - 1);
    return big;
}

START_TEST(a_long_line_is_cut_not_overflowed)
{
    const char *big = long_text();
    char small[64];
    size_t n = log_format_line(small, sizeof small, false, "T", LOG_INFO, "m %s k=%s", big, big);
    ck_assert_uint_eq(n, strlen(small));
    ck_assert_uint_lt(n, sizeof small);
    ck_assert_int_eq(small[n - 1], '\n');
    n = log_format_line(small, sizeof small, true, "T", LOG_INFO, "m %s k=%s", big, big);
    ck_assert_str_eq(small, "{\"ts\":\"T\",\"level\":\"info\",\"msg\":\"(message too long)\"}\n");
}
END_TEST

START_TEST(a_long_client_value_is_cut_and_the_fields_after_it_stay)
{
    /* 3,000 ESC bytes escape to 12,000 (text) or 18,000 (JSON): before the
     * cap the line was cut (text) or lost every field (JSON). */
    static char esc[3001], big[8192];
    memset(esc, 0x1b, sizeof esc - 1);
    const char *fmt = "request kind=%s corrId=%s status=%d";
    log_format_line(big, sizeof big, false, "T", LOG_DEBUG, fmt, "promise.get", esc, 200);
    ck_assert_ptr_nonnull(strstr(big, "\\x1b...\" status=200\n"));
    ck_assert_uint_lt(strlen(big), 256 * 4 + 64);
    log_format_line(big, sizeof big, true, "T", LOG_DEBUG, fmt, "promise.get", esc, 200);
    json_t *o = json_loads(big, 0, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(json_string_value(json_object_get(o, "status")), "200");
    ck_assert_str_eq(json_string_value(json_object_get(o, "kind")), "promise.get");
    ck_assert_uint_eq(json_string_length(json_object_get(o, "corrId")), 256);
    json_decref(o);
    /* a value cut inside a UTF-8 character loses the whole character */
    static char wide[600];
    for (size_t i = 0; i + 2 < sizeof wide; i += 2)
        memcpy(wide + i, "\xc3\xa9", 2);
    log_format_line(big, sizeof big, true, "T", LOG_DEBUG, "m id=%s", wide);
    o = json_loads(big, 0, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_uint_eq(json_string_length(json_object_get(o, "id")), 252 + 3);
    json_decref(o);
}
END_TEST

START_TEST(a_long_message_is_cut_before_its_fields)
{
    const char *big = long_text();
    char mid[1024];
    log_format_line(mid, sizeof mid, false, "T", LOG_INFO, "m %s status=%d", big, 503);
    ck_assert_uint_ge(strlen(mid), sizeof mid - 8);
    ck_assert_ptr_nonnull(strstr(mid, "xxx... status=503\n"));
    /* cut inside a quoted argument (it holds '='): the quote is closed,
     * and no escape is left half written */
    char quoted[3000];
    memset(quoted, 0x1b, sizeof quoted - 1);
    quoted[0] = '=';
    quoted[sizeof quoted - 1] = '\0';
    for (size_t room = sizeof mid - 40; room < sizeof mid; room++) {
        log_format_line(mid, room, false, "T", LOG_INFO, "m %s status=%d", quoted, 503);
        char *end = strstr(mid, " status=503\n");
        ck_assert_ptr_nonnull(end);
        ck_assert_msg(end - mid >= 4 && memcmp(end - 4, "...\"", 4) == 0, "room %zu: %s", room,
                      end - 12);
        ck_assert_msg(memcmp(end - 8, "\\x1b", 4) == 0,
                      "room %zu: a cut escape before the quote: %s", room, end - 12);
    }
    log_format_line(mid, sizeof mid, true, "T", LOG_INFO, "m %s status=%d", big, 503);
    ck_assert_str_eq(mid, "{\"ts\":\"T\",\"level\":\"info\",\"msg\":\"(message too long)\","
                          "\"status\":\"503\"}\n");
}
END_TEST

START_TEST(a_buffer_of_two_bytes_gets_a_newline_and_nothing_past_it)
{
    char tiny[2] = {'x', 'x'};
    ck_assert_uint_eq(log_format_line(tiny, sizeof tiny, true, "T", LOG_INFO, "m k=%s", "v"), 1);
    ck_assert_str_eq(tiny, "\n");
    ck_assert_uint_eq(log_format_line(tiny, sizeof tiny, false, "T", LOG_INFO, "m k=%s", "v"), 1);
    ck_assert_str_eq(tiny, "\n");
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
    tcase_add_test(tc, c1_controls_are_escaped_in_text_and_json_lines);
    tcase_add_test(tc, json_line_lifts_trailing_fields_into_members);
    tcase_add_test(tc, json_line_keeps_free_text_in_msg);
    tcase_add_test(tc, json_line_keeps_the_real_status_whatever_the_arguments_say);
    tcase_add_test(tc, json_line_takes_no_field_from_an_argument_in_the_message_text);
    tcase_add_test(tc, json_line_replaces_invalid_utf8_instead_of_dropping_the_member);
    tcase_add_test(tc, text_line_quotes_a_field_value_with_spaces_quotes_or_equals);
    tcase_add_test(tc, text_line_quotes_an_argument_that_looks_like_a_field_in_the_message_text);
    tcase_add_test(tc, conversions_format_as_printf_does);
    tcase_add_test(tc, a_long_line_is_cut_not_overflowed);
    tcase_add_test(tc, a_long_client_value_is_cut_and_the_fields_after_it_stay);
    tcase_add_test(tc, a_long_message_is_cut_before_its_fields);
    tcase_add_test(tc, a_buffer_of_two_bytes_gets_a_newline_and_nothing_past_it);
    tcase_add_test(tc, level_names_parse_in_any_case);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(log_suite)
