/* test_addr.c - message address validity (protocol-promises.md §7). */
#include <string.h>

#include "core/addr.h"
#include "tests/unit/unit.h"

static const char *const valid[] = {
    "http://w:9000/x",
    "https://example.com",
    "HTTP://Example.COM/path?q=1#f",
    "http://user:pw@host/",
    "http:w",       /* special schemes skip missing slashes */
    "http:\\\\w/x", /* and backslashes */
    "http://1.2.3.4:80",
    "http://0x7f.1",
    "http://[::1]:8080/",
    "http://[2001:db8::1.2.3.4]",
    "http://h:/",
    "http://\xc3\xa9xample.com",
    "  http://w/  ",
    "http://w\t/x\n",
    "poll://any@default",
    "poll://uni@g/abc",
    "POLL://any@g/abc/def",
    "poll://any:secret@g",
    "poll://uni@g:8080/id?x#y",
    "poll://any@[::1]/p",
    "gcps://proj/topic",
    "gcps://proj/topic/sub",
    "bash://",
    "bash:",
    "bash://docker/img",
    "bash:anything goes",
    "Bash://x",
};

static const char *const invalid[] = {
    "",
    "x",
    "   ",
    "local://any@g",
    "ftp://h/x",
    "1http://h",
    "http://",
    "http:",
    "http://a@",
    "http://:80",
    "http://h:99999",
    "http://h:8x",
    "http://a b",
    "http://a<b",
    "http://a%20b",
    "http://a%zz",
    "http://999.1.1.1",
    "http://1.2.3.4.5",
    "http://foo.1",
    "http://08",
    "http://[::1",
    "http://[1:2:3:4:5:6:7:8:9]",
    "http://[1::2::3]",
    "http://[::1]x",
    "http://[::1.2.3.04]",
    "http://\xff",
    "poll://g",
    "poll://ANY@g",
    "poll://Uni@g",
    "poll://any@",
    "poll://any@/x",
    "poll://any@:80",
    "poll:any@g",
    "poll://anyx@g",
    "poll://any@a b",
    "gcps://proj",
    "gcps://proj/",
    "gcps://proj?x",
    "gcps:///topic",
    "gcps:proj/topic",
    "bash://a b",
    "bash://[x]",
    "bash://h:1x",
};

START_TEST(valid_addresses_are_accepted)
{
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++)
        ck_assert_msg(addr_parse(valid[i], NULL), "expected valid: %s", valid[i]);
}
END_TEST

START_TEST(invalid_addresses_are_rejected)
{
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++)
        ck_assert_msg(!addr_parse(invalid[i], NULL), "expected invalid: %s", invalid[i]);
    ck_assert(!addr_parse(NULL, NULL));
}
END_TEST

START_TEST(poll_address_yields_cast_group_and_id)
{
    addr_t a;
    ck_assert(addr_parse("poll://any@workers/p-1", &a));
    ck_assert_int_eq(a.scheme, ADDR_POLL);
    ck_assert(a.any);
    ck_assert_str_eq(a.group, "workers");
    ck_assert_str_eq(a.id, "p-1");

    ck_assert(addr_parse(" poll://uni@default:81/x/y?q#f ", &a));
    ck_assert(!a.any);
    ck_assert_str_eq(a.group, "default");
    ck_assert_str_eq(a.id, "x/y");

    ck_assert(addr_parse("poll://any@g", &a));
    ck_assert_str_eq(a.id, "");
    ck_assert(addr_parse("poll://any@g/", &a));
    ck_assert_str_eq(a.id, "");
}
END_TEST

START_TEST(scheme_is_reported)
{
    addr_t a;
    ck_assert(addr_parse("https://h", &a));
    ck_assert_int_eq(a.scheme, ADDR_HTTP);
    ck_assert(addr_parse("gcps://p/t", &a));
    ck_assert_int_eq(a.scheme, ADDR_GCPS);
    ck_assert(addr_parse("bash://", &a));
    ck_assert_int_eq(a.scheme, ADDR_BASH);
}
END_TEST

START_TEST(poll_group_and_id_longer_than_buffers_are_rejected)
{
    char buf[600];
    addr_t a;
    memset(buf, 0, sizeof buf);
    strcpy(buf, "poll://any@");
    memset(buf + strlen(buf), 'g', 255);
    ck_assert(addr_parse(buf, &a)); /* 255 fits with its NUL */
    ck_assert_uint_eq(strlen(a.group), 255);
    strcat(buf, "g");
    ck_assert(!addr_parse(buf, &a));

    memset(buf, 0, sizeof buf);
    strcpy(buf, "poll://any@g/");
    memset(buf + strlen(buf), 'i', 256);
    ck_assert(!addr_parse(buf, &a));
    buf[strlen(buf) - 1] = '\0';
    ck_assert(addr_parse(buf, &a));
    ck_assert_uint_eq(strlen(a.id), 255);
}
END_TEST

static Suite *addr_suite(void)
{
    Suite *s = suite_create("addr");
    TCase *tc = tcase_create("addr");
    tcase_add_test(tc, valid_addresses_are_accepted);
    tcase_add_test(tc, invalid_addresses_are_rejected);
    tcase_add_test(tc, poll_address_yields_cast_group_and_id);
    tcase_add_test(tc, scheme_is_reported);
    tcase_add_test(tc, poll_group_and_id_longer_than_buffers_are_rejected);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(addr_suite)
