/* test_addr.c - message address validity (protocol-promises.md §7) and the
 * push allow list (transports.http_push.allow). */
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

/* Review finding: a push TLS failure logged the target URL with its
 * user:pass@. */
START_TEST(redact_hides_the_userinfo_of_a_target_and_nothing_else)
{
    static const char *const cases[][2] = {
        {"https://user:pass@hooks.example/x?y#z", "https://***@hooks.example/x?y#z"},
        {"http://token@10.0.0.5:8080", "http://***@10.0.0.5:8080"},
        {"HTTPS://a:b@c@host/p@q", "HTTPS://***@host/p@q"}, /* the last '@' ends it */
        {"https://host/path@x?u=a@b#c@d", "https://host/path@x?u=a@b#c@d"},
        {"https://host", "https://host"},
        {"poll://uni@group/id", "poll://uni@group/id"},
        {"POLL://any@group", "POLL://any@group"},
        {"gcps://k:s@project/topic", "gcps://***@project/topic"},
        {"not a url @ all", "not a url @ all"},
        {"", ""},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_str_eq(addr_redact(cases[i][0], buf, sizeof buf), cases[i][1]);
    /* Truncated to the buffer, never past it, and still without the secret. */
    char small[12];
    ck_assert_str_eq(addr_redact("https://user:secret@host/x", small, sizeof small), "https://***");
}
END_TEST

static char *const allow[] = {"http://a.example", "https://b.example:8443/hooks",
                              "http://[::1]:9000/", "http://10.0.0.5/r/"};
#define N_ALLOW (sizeof allow / sizeof *allow)

START_TEST(push_allow_covers_its_origin_and_paths_below_its_path)
{
    static const char *const ok[] = {
        "http://a.example",
        "http://a.example/",
        "http://a.example/x?y#z",
        "http://a.example:80/x", /* the default port made explicit */
        "HTTP://A.Example/x",    /* scheme and host in any case */
        "https://b.example:8443/hooks",
        "https://b.example:8443/hooks/",
        "https://b.example:8443/hooks/w1?x",
        "https://b.example:8443/hooks?x",
        "http://[::1]:9000/anything",
        "http://10.0.0.5/r/",
        "http://10.0.0.5/r/w",
        "poll://any@group/id", /* not pushed over HTTP: not restricted */
        "poll://uni@group",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        ck_assert_msg(addr_push_allowed(ok[i], allow, N_ALLOW), "%s", ok[i]);
}
END_TEST

START_TEST(push_allow_refuses_other_hosts_however_they_are_spelt)
{
    static const char *const refused[] = {
        "http://a.example.evil.com/",            /* a longer host */
        "http://a.exampleevil.com/",             /* no boundary after the host */
        "http://a.example@evil.com/",            /* userinfo: the host is evil.com */
        "http://a.example:x@evil.com/",          /* userinfo with a colon */
        "http://a.example:8080/",                /* another port */
        "https://a.example/",                    /* another scheme (port 443) */
        "http://a.example./",                    /* another spelling of the host */
        "http://a%2eexample/",                   /* percent-encoding in the host */
        "http:\\\\a.example/",                   /* backslashes (WHATWG reads them as '/') */
        "http:a.example",                        /* missing slashes */
        "http:///a.example",                     /* too many slashes */
        " http://a.example/",                    /* leading space (stripped by WHATWG) */
        "http://a.exa\tmple/",                   /* a tab (dropped by WHATWG) */
        "http://a.example/x y",                  /* a space in the path */
        "http://a.example\\@evil.com/",          /* backslash then userinfo */
        "http://127.0.0.1:9/x",                  /* not listed at all */
        "http://2130706433/",                    /* 127.0.0.1 as one number */
        "http://[::1]:9001/",                    /* listed IPv6 host, other port */
        "https://b.example:8443/hook",           /* shorter than the entry's path */
        "https://b.example:8443/hooksx",         /* the entry's path is not a segment prefix */
        "https://b.example:8443/hooks/../admin", /* dot segments */
        "https://b.example:8443/hooks/%2e%2E/admin",
        "https://b.example:8443/hooks/./x",
        "https://b.example/hooks/", /* port 443, not 8443 */
        "http://10.0.0.5/",
        "http://10.0.0.5/rx",
        "not a url",
        "bash://x",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        const char *r = refused[i];
        bool expect_true = strncmp(r, "bash", 4) == 0; /* not pushed: allowed */
        ck_assert_msg(addr_push_allowed(r, allow, N_ALLOW) == expect_true, "%s", r);
    }
    ck_assert(!addr_push_allowed("http://a.example/", allow, 0));
    ck_assert(!addr_push_allowed(NULL, allow, N_ALLOW));
}
END_TEST

START_TEST(push_allow_entries_are_checked)
{
    char why[256];
    static const char *const good[] = {"http://a.example", "https://b.example:8443/hooks/",
                                       "http://[::1]:9000", "HTTP://C.example/"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        ck_assert_msg(addr_push_prefix_valid(good[i], why, sizeof why), "%s: %s", good[i], why);
    static const char *const bad[] = {
        "a.example",
        "http://",
        "http://u@a.example",
        "http://a.example:0",
        "http://a.example:99999",
        "http://a.example/?q",
        "http://a.example/#f",
        "http://a.example/../x",
        "ftp://a.example",
        "http://a.example/ x",
        "http://[zz]/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why[0] = '\0';
        ck_assert_msg(!addr_push_prefix_valid(bad[i], why, sizeof why), "%s", bad[i]);
        ck_assert_ptr_nonnull(strstr(why, "push URL prefix"));
    }
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
    tcase_add_test(tc, redact_hides_the_userinfo_of_a_target_and_nothing_else);
    tcase_add_test(tc, push_allow_covers_its_origin_and_paths_below_its_path);
    tcase_add_test(tc, push_allow_refuses_other_hosts_however_they_are_spelt);
    tcase_add_test(tc, push_allow_entries_are_checked);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(addr_suite)
