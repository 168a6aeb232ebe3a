/* test_toml.c - the resonate.toml reader: the subset it accepts, and the
 * file:line messages of what it refuses. */
#include <stdlib.h>
#include <string.h>

#include "conf/toml.h"
#include "tests/unit/unit.h"

static toml_doc_t doc;
static char err[512];

static int parse(const char *text)
{
    err[0] = '\0';
    return toml_parse(text, strlen(text), "t.toml", &doc, err, sizeof err);
}

static const toml_entry_t *get(const char *key)
{
    for (size_t i = 0; i < doc.n; i++)
        if (strcmp(doc.v[i].key, key) == 0)
            return &doc.v[i];
    return NULL;
}

static void teardown(void)
{
    toml_free(&doc);
}

/* The message of a refused document, which must start with the file:line. */
static void assert_refused(const char *text, const char *where, const char *what)
{
    ck_assert_int_eq(parse(text), -1);
    ck_assert_msg(strncmp(err, where, strlen(where)) == 0, "'%s' does not start with '%s'", err,
                  where);
    ck_assert_msg(strstr(err, what) != NULL, "'%s' does not mention '%s'", err, what);
    ck_assert_uint_eq(doc.n, 0);
}

START_TEST(tables_nested_tables_and_dotted_keys_flatten_to_full_keys)
{
    ck_assert_int_eq(parse("level = \"info\"\n"
                           "[server]\n"
                           "port = 8001\n"
                           "cors.allow_origins = [\"*\"]\n"
                           "[transports.http_poll]\n"
                           "enabled = false\n"
                           "[ storage . \"sqlite\" ]\n"
                           "path = 'x.db'\n"),
                     0);
    ck_assert_uint_eq(doc.n, 5);
    ck_assert_str_eq(get("level")->str, "info");
    ck_assert_int_eq(get("server.port")->i, 8001);
    ck_assert_int_eq(get("server.port")->line, 3);
    ck_assert_int_eq(get("server.cors.allow_origins")->type, TOML_ARRAY);
    ck_assert_int_eq(get("transports.http_poll.enabled")->type, TOML_BOOL);
    ck_assert(!get("transports.http_poll.enabled")->b);
    ck_assert_str_eq(get("storage.sqlite.path")->str, "x.db");
}
END_TEST

START_TEST(comments_blank_lines_crlf_and_bom_are_ignored)
{
    ck_assert_int_eq(parse("\xEF\xBB\xBF# header comment\r\n"
                           "\r\n"
                           "  [server]   # trailing comment\r\n"
                           "\tport = 1 # one\r\n"
                           "host = \"a#b\"\r\n"),
                     0);
    ck_assert_int_eq(get("server.port")->i, 1);
    ck_assert_int_eq(get("server.port")->line, 4);
    ck_assert_str_eq(get("server.host")->str, "a#b");
}
END_TEST

START_TEST(basic_string_escapes_are_decoded)
{
    ck_assert_int_eq(parse("a = \"q\\\" b\\\\ t\\t n\\n u\\u00e9 U\\U0001F600\"\n"
                           "b = 'C:\\path\\no escapes'\n"),
                     0);
    ck_assert_str_eq(get("a")->str, "q\" b\\ t\t n\n u\xc3\xa9 U\xf0\x9f\x98\x80");
    ck_assert_str_eq(get("b")->str, "C:\\path\\no escapes");
}
END_TEST

START_TEST(integers_allow_signs_underscores_and_bases)
{
    ck_assert_int_eq(parse("a = +42\nb = -7\nc = 1_000_000\nd = 0xff\ne = 0o17\nf = 0b101\n"
                           "g = 0\nh = 9223372036854775807\ni = -9223372036854775808\n"),
                     0);
    ck_assert_int_eq(get("a")->i, 42);
    ck_assert_int_eq(get("b")->i, -7);
    ck_assert_int_eq(get("c")->i, 1000000);
    ck_assert_int_eq(get("d")->i, 255);
    ck_assert_int_eq(get("e")->i, 15);
    ck_assert_int_eq(get("f")->i, 5);
    ck_assert_int_eq(get("g")->i, 0);
    ck_assert_int_eq(get("h")->i, INT64_MAX);
    ck_assert_int_eq(get("i")->i, INT64_MIN);
}
END_TEST

START_TEST(arrays_of_strings_span_lines_with_comments_and_trailing_comma)
{
    ck_assert_int_eq(parse("o = [\n"
                           "  \"https://a\", # first\n"
                           "  'https://b',\n"
                           "]\n"
                           "e = []\n"
                           "after = 1\n"),
                     0);
    const toml_entry_t *o = get("o");
    ck_assert_uint_eq(o->nitems, 2);
    ck_assert_str_eq(o->items[0], "https://a");
    ck_assert_str_eq(o->items[1], "https://b");
    ck_assert_uint_eq(get("e")->nitems, 0);
    ck_assert_int_eq(get("after")->line, 6);
}
END_TEST

START_TEST(inline_tables_flatten_under_their_key)
{
    ck_assert_int_eq(parse("server = { port = 1, cors = { allow_origins = [\"*\"] } }\n"), 0);
    ck_assert_int_eq(get("server.port")->i, 1);
    ck_assert_uint_eq(get("server.cors.allow_origins")->nitems, 1);
}
END_TEST

START_TEST(duplicate_keys_and_tables_are_refused_with_both_lines)
{
    assert_refused("[server]\nport = 1\nport = 2\n", "t.toml:3:", "first set on line 2");
    assert_refused("[server]\n[server]\n", "t.toml:2:", "defined twice (first on line 1)");
    assert_refused("server = 1\n[server]\n", "t.toml:2:", "conflicts with the value 'server'");
    assert_refused("a.b = 1\na.b.c = 2\n", "t.toml:2:", "needs 'a.b' to be a table");
    assert_refused("a.b.c = 1\na.b = 2\n", "t.toml:2:", "'a.b' is a table");
    assert_refused("[a.b]\n[a]\nb = 1\n", "t.toml:3:", "'a.b' is a table (header on line 1)");
}
END_TEST

START_TEST(unsupported_toml_is_refused_by_name)
{
    assert_refused("a = 1.5\n", "t.toml:1:", "floating-point");
    assert_refused("a = inf\n", "t.toml:1:", "floating-point");
    assert_refused("a = 1979-05-27\n", "t.toml:1:", "dates and times");
    assert_refused("a = \"\"\"x\"\"\"\n", "t.toml:1:", "multi-line strings");
    assert_refused("[[a]]\n", "t.toml:1:", "arrays of tables");
    assert_refused("a = [1, 2]\n", "t.toml:1:", "arrays may only hold strings");
}
END_TEST

START_TEST(malformed_lines_are_refused_with_their_line)
{
    assert_refused("a = 1\nb\n", "t.toml:2:", "expected '=' after key 'b'");
    assert_refused("a = \n", "t.toml:1:", "expected a value");
    assert_refused("a = info\n", "t.toml:1:", "got 'info'");
    assert_refused("a = = 1\n", "t.toml:1:", "expected a value (string in quotes");
    assert_refused("a = \"open\n", "t.toml:1:", "unterminated string");
    assert_refused("a = \"x\\q\"\n", "t.toml:1:", "invalid escape '\\q'");
    assert_refused("a = \"\\u12\"\n", "t.toml:1:", "needs 4 hex digits");
    assert_refused("a = \"\\uD800\"\n", "t.toml:1:", "not a valid Unicode");
    assert_refused("a = 1 2\n", "t.toml:1:", "unexpected '2' after the value");
    assert_refused("a = 012\n", "t.toml:1:", "leading zeros");
    assert_refused("a = 1__0\n", "t.toml:1:", "invalid number");
    assert_refused("a = 99999999999999999999\n", "t.toml:1:", "out of range");
    assert_refused("[a\n", "t.toml:1:", "expected ']'");
    assert_refused("a = [\"x\"\n", "t.toml:2:", "unterminated array");
    assert_refused("a = [\"x\" \"y\"]\n", "t.toml:1:", "expected ',' or ']'");
    assert_refused("a = { b = 1\n", "t.toml:1:", "inline table");
    assert_refused("a$ = 1\n", "t.toml:1:", "invalid character '$' after key 'a'");
    assert_refused("= 1\n", "t.toml:1:", "invalid character '=' in a key");
    assert_refused("a = \"tab\x01\"\n", "t.toml:1:", "control character 0x01");
}
END_TEST

START_TEST(nul_byte_is_refused_with_its_line)
{
    const char text[] = "a = 1\nb = \"x\0y\"\n";
    ck_assert_int_eq(toml_parse(text, sizeof text - 1, "t.toml", &doc, err, sizeof err), -1);
    ck_assert_str_eq(err, "t.toml:2: NUL byte in the file");
}
END_TEST

START_TEST(string_array_literal_parses_alone_and_round_trips)
{
    char **items = NULL;
    size_t n = 0;
    ck_assert_int_eq(toml_parse_string_array(" [\"a\\\"b\", 'c'] ", &items, &n, err, sizeof err),
                     0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(items[0], "a\"b");
    char *enc = toml_encode_string_array(items, n);
    ck_assert_str_eq(enc, "[\"a\\\"b\",\"c\"]");
    char **again = NULL;
    size_t n2 = 0;
    ck_assert_int_eq(toml_parse_string_array(enc, &again, &n2, err, sizeof err), 0);
    ck_assert_uint_eq(n2, 2);
    ck_assert_str_eq(again[0], items[0]);
    ck_assert_str_eq(again[1], items[1]);
    toml_free_strings(again, n2);
    toml_free_strings(items, n);
    free(enc);
    ck_assert_int_eq(toml_parse_string_array("[\"a\"] x", &items, &n, err, sizeof err), -1);
    ck_assert_str_eq(err, "unexpected text after the array");
    ck_assert_int_eq(toml_parse_string_array("a,b", &items, &n, err, sizeof err), -1);
}
END_TEST

START_TEST(quoted_string_literal_parses_alone)
{
    char *s = toml_parse_string("\"a\\tb\"", err, sizeof err);
    ck_assert_str_eq(s, "a\tb");
    free(s);
    ck_assert_ptr_null(toml_parse_string("\"a\" b", err, sizeof err));
    ck_assert_str_eq(err, "unexpected text after the string");
    ck_assert_ptr_null(toml_parse_string("plain", err, sizeof err));
}
END_TEST

static Suite *toml_suite(void)
{
    Suite *s = suite_create("toml");
    TCase *tc = tcase_create("parse");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, tables_nested_tables_and_dotted_keys_flatten_to_full_keys);
    tcase_add_test(tc, comments_blank_lines_crlf_and_bom_are_ignored);
    tcase_add_test(tc, basic_string_escapes_are_decoded);
    tcase_add_test(tc, integers_allow_signs_underscores_and_bases);
    tcase_add_test(tc, arrays_of_strings_span_lines_with_comments_and_trailing_comma);
    tcase_add_test(tc, inline_tables_flatten_under_their_key);
    tcase_add_test(tc, duplicate_keys_and_tables_are_refused_with_both_lines);
    tcase_add_test(tc, unsupported_toml_is_refused_by_name);
    tcase_add_test(tc, malformed_lines_are_refused_with_their_line);
    tcase_add_test(tc, nul_byte_is_refused_with_its_line);
    tcase_add_test(tc, string_array_literal_parses_alone_and_round_trips);
    tcase_add_test(tc, quoted_string_literal_parses_alone);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(toml_suite)
