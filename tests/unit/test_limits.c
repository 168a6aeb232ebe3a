/* test_limits.c - bounds on the sizes inside a request (issue 9). Requests
 * are decoded from JSON as the server does, then checked. */
#include <stdio.h>
#include <string.h>

#include "core/limits.h"
#include "tests/unit/unit.h"

/* Small bounds, so the cases stay readable. */
static const limits_t small = {.id_max_bytes = 16,
                               .tags_max_count = 3,
                               .tag_key_max_bytes = 8,
                               .tag_value_max_bytes = 16,
                               .tags_max_bytes = 30,
                               .cron_max_bytes = 20};

static const limits_t defaults = {.id_max_bytes = LIMITS_ID_MAX_BYTES,
                                  .tags_max_count = LIMITS_TAGS_MAX_COUNT,
                                  .tag_key_max_bytes = LIMITS_TAG_KEY_MAX_BYTES,
                                  .tag_value_max_bytes = LIMITS_TAG_VALUE_MAX_BYTES,
                                  .tags_max_bytes = LIMITS_TAGS_MAX_BYTES,
                                  .cron_max_bytes = LIMITS_CRON_MAX_BYTES};

/* Decodes kind with data (must be valid) and checks it against lim.
 * Returns NULL when within the limits, else the 400's message (static). */
static const char *check(const limits_t *lim, const char *kind, const char *data)
{
    static char msg[512];
    arena_t *a = arena_new();
    request_t req;
    response_t err = {0};
    unit_decode(a, kind, data, &req);
    const char *out = NULL;
    if (limits_check(lim, a, &req, &err) != 0) {
        ck_assert_int_eq(err.status, 400);
        snprintf(msg, sizeof msg, "%s", json_string_value(err.data));
        out = msg;
    }
    response_clear(&err);
    arena_free(a);
    return out;
}

static void expect_refused(const char *kind, const char *data, const char *msg)
{
    const char *got = check(&small, kind, data);
    ck_assert_msg(got != NULL, "accepted: %s %s", kind, data);
    ck_assert_str_eq(got, msg);
}

#define ID17 "aaaaaaaaaaaaaaaaa" /* one byte over small.id_max_bytes */

START_TEST(every_id_over_the_limit_is_refused_naming_field_and_setting)
{
    static const struct {
        const char *kind, *data, *msg;
    } cases[] = {
        {"promise.get", "{\"id\":\"" ID17 "\"}", "Promise ID"},
        {"promise.create", "{\"id\":\"" ID17 "\",\"timeoutAt\":1}", "Promise ID"},
        {"promise.settle", "{\"id\":\"" ID17 "\",\"state\":\"resolved\"}", "Promise ID"},
        {"promise.register_callback", "{\"awaited\":\"a:1\",\"awaiter\":\"a:" ID17 "\"}",
         "Awaiter promise ID"},
        {"promise.register_listener", "{\"awaited\":\"a\",\"address\":\"http://" ID17 "\"}",
         "Address"},
        {"promise.search", "{\"cursor\":\"" ID17 "\"}", "Cursor"},
        {"task.get", "{\"id\":\"" ID17 "\"}", "Task ID"},
        {"task.halt", "{\"id\":\"" ID17 "\"}", "Task ID"},
        {"task.acquire", "{\"id\":\"t\",\"version\":0,\"pid\":\"" ID17 "\",\"ttl\":1}",
         "Process ID"},
        {"task.release", "{\"id\":\"" ID17 "\",\"version\":0}", "Task ID"},
        {"task.suspend",
         "{\"id\":\"a\",\"version\":1,\"actions\":[{\"kind\":\"promise.register_callback\","
         "\"head\":{},\"data\":{\"awaited\":\"a." ID17 "\",\"awaiter\":\"a\"}}]}",
         "Awaited promise ID"},
        {"task.fence",
         "{\"id\":\"a\",\"version\":1,\"action\":{\"kind\":\"promise.create\",\"data\":{\"id\":"
         "\"a." ID17 "\",\"timeoutAt\":1}}}",
         "Promise ID"},
        {"task.heartbeat", "{\"pid\":\"w\",\"tasks\":[{\"id\":\"" ID17 "\",\"version\":1}]}",
         "Task ID"},
        {"schedule.delete", "{\"id\":\"" ID17 "\"}", "Schedule ID"},
        {"schedule.create",
         "{\"id\":\"s\",\"cron\":\"* * * * *\",\"promiseId\":\"" ID17 "\",\"promiseTimeout\":1,"
         "\"promiseTags\":{\"resonate:target\":\"http://w\"}}",
         "Promise ID template"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char want[256];
        const char *got = check(&small, cases[i].kind, cases[i].data);
        ck_assert_msg(got != NULL, "accepted: %s", cases[i].kind);
        snprintf(want, sizeof want, "%s is ", cases[i].msg);
        ck_assert_msg(strncmp(got, want, strlen(want)) == 0, "%s: %s", cases[i].kind, got);
        ck_assert_msg(strstr(got, ", over the limit of 16 (limits.id_max_bytes)"), "%s: %s",
                      cases[i].kind, got);
    }
    ck_assert_str_eq(check(&small, "task.get", "{\"id\":\"" ID17 "\"}"),
                     "Task ID is 17 bytes, over the limit of 16 (limits.id_max_bytes)");
    ck_assert_ptr_null(check(&small, "task.get", "{\"id\":\"aaaaaaaaaaaaaaaa\"}"));
}
END_TEST

START_TEST(tag_maps_are_bounded_in_count_key_value_and_total)
{
    const char *k = "promise.create";
    expect_refused(
        k, "{\"id\":\"p\",\"timeoutAt\":1,\"tags\":{\"a\":\"\",\"b\":\"\",\"c\":\"\",\"d\":\"\"}}",
        "tags has 4 entries, over the limit of 3 (limits.tags_max_count)");
    expect_refused(k, "{\"id\":\"p\",\"timeoutAt\":1,\"tags\":{\"abcdefghi\":\"\"}}",
                   "A key of tags is 9 bytes, over the limit of 8 (limits.tag_key_max_bytes)");
    expect_refused(
        k, "{\"id\":\"p\",\"timeoutAt\":1,\"tags\":{\"a\":\"" ID17 "\"}}",
        "A value of tags is 17 bytes, over the limit of 16 (limits.tag_value_max_bytes)");
    expect_refused(k,
                   "{\"id\":\"p\",\"timeoutAt\":1,\"tags\":{\"a\":\"0123456789\","
                   "\"b\":\"0123456789\",\"c\":\"0123456789\"}}",
                   "The total of tags is 33 bytes, over the limit of 30 (limits.tags_max_bytes)");
    expect_refused(k,
                   "{\"id\":\"p\",\"timeoutAt\":1,\"param\":{\"headers\":{\"a\":\"\",\"b\":\"\","
                   "\"c\":\"\",\"d\":\"\"}}}",
                   "param headers has 4 entries, over the limit of 3 (limits.tags_max_count)");
    expect_refused(
        "promise.settle",
        "{\"id\":\"p\",\"state\":\"resolved\",\"value\":{\"headers\":{\"abcdefghi\":\"\"}}}",
        "A key of value headers is 9 bytes, over the limit of 8 "
        "(limits.tag_key_max_bytes)");
    expect_refused("promise.search", "{\"tags\":{\"a\":\"" ID17 "\"}}",
                   "A value of the tags filter is 17 bytes, over the limit of 16 "
                   "(limits.tag_value_max_bytes)");
    ck_assert_ptr_null(check(&small, k,
                             "{\"id\":\"p\",\"timeoutAt\":1,\"tags\":{\"a\":\"0123456789\","
                             "\"b\":\"0123456789\",\"c\":\"0123456\"}}"));
}
END_TEST

START_TEST(schedule_cron_and_expanded_promise_id_are_bounded)
{
    const char *k = "schedule.create";
    expect_refused(k,
                   "{\"id\":\"s\",\"cron\":\"0    0    *    *    *\",\"promiseId\":\"p\","
                   "\"promiseTimeout\":1,\"promiseTags\":{\"resonate:target\":\"http://w\"}}",
                   "Cron expression is 21 bytes, over the limit of 20 (limits.cron_max_bytes)");
    /* 14 bytes as written; {{.id}} x2 with a 9-byte id gives 20. */
    expect_refused(k,
                   "{\"id\":\"sssssssss\",\"cron\":\"* * * * *\",\"promiseId\":\"{{.id}}{{.id}}\","
                   "\"promiseTimeout\":1,\"promiseTags\":{\"resonate:target\":\"http://w\"}}",
                   "Promise ID template expanded is 18 bytes, over the limit of 16 "
                   "(limits.id_max_bytes)");
    /* The longest timestamp (20 bytes) is assumed for {{.timestamp}}. */
    expect_refused(k,
                   "{\"id\":\"s\",\"cron\":\"* * * * *\",\"promiseId\":\"{{.timestamp}}\","
                   "\"promiseTimeout\":1,\"promiseTags\":{\"resonate:target\":\"http://w\"}}",
                   "Promise ID template expanded is 20 bytes, over the limit of 16 "
                   "(limits.id_max_bytes)");
    limits_t wider = small; /* "resonate:target" is a 15-byte key */
    wider.tag_key_max_bytes = 15;
    ck_assert_ptr_null(check(&wider, k,
                             "{\"id\":\"s\",\"cron\":\"* * * * *\",\"promiseId\":\"j.{{.id}}\","
                             "\"promiseTimeout\":1,\"promiseTags\":{\"resonate:target\":\"h\"}}"));
}
END_TEST

START_TEST(defaults_accept_what_the_sdk_sends)
{
    /* A child 300 levels deep under a UUID root, with the SDK's tags. */
    char id[2048] = "3f1c2a9e-7b7e-4c1b-9a55-0d1f1f6c2b7a";
    for (int i = 0; i < 300; i++)
        snprintf(id + strlen(id), sizeof id - strlen(id), ".%d", i % 10);
    char data[8192];
    snprintf(data, sizeof data,
             "{\"pid\":\"3f1c2a9e-7b7e-4c1b-9a55-0d1f1f6c2b7a\",\"ttl\":60000,\"action\":{"
             "\"kind\":\"promise.create\",\"head\":{},\"data\":{\"id\":\"%s\",\"timeoutAt\":"
             "9007199254740991,\"param\":{\"headers\":{},\"data\":\"eyJmdW5jIjoiZiJ9\"},"
             "\"tags\":{\"resonate:scope\":\"global\",\"resonate:target\":\"poll://any@default\","
             "\"resonate:branch\":\"%s\",\"resonate:parent\":\"%s\",\"resonate:origin\":\"%.36s\","
             "\"resonate:invoke\":\"poll://any@default\"}}}}",
             id, id, id, id);
    ck_assert_ptr_null(check(&defaults, "task.create", data));
    /* Zero means unbounded. */
    limits_t none = {0};
    ck_assert_ptr_null(check(&none, "promise.get", "{\"id\":\"" ID17 ID17 ID17 "\"}"));
}
END_TEST

static Suite *limits_suite(void)
{
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, every_id_over_the_limit_is_refused_naming_field_and_setting);
    tcase_add_test(tc, tag_maps_are_bounded_in_count_key_value_and_total);
    tcase_add_test(tc, schedule_cron_and_expanded_promise_id_are_bounded);
    tcase_add_test(tc, defaults_accept_what_the_sdk_sends);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(limits_suite)
