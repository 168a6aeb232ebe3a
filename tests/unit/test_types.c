/* test_types.c - the resource ids of each operation (the table of
 * docs/security.md), the kinds limited to a scope, and the scope test (the
 * requests are decoded from JSON, as the server builds them); saturating
 * time sums and the expansion of schedule promise id templates; the names
 * of operations and states, kvmap lookup and the two origin rules of
 * DECISIONS.md #3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire.h"
#include "tests/unit/unit.h"

#define H "\"head\":{}"

/* The resource ids of kind with data, joined by "|" ("NULL" for a NULL
 * entry), from a request decoded from JSON; scoped receives
 * request_is_scoped. The text lives in a static buffer. */
static const char *ids_of(const char *kind, const char *data, bool *scoped)
{
    static char out[1024];
    arena_t *a = arena_new();
    request_t req;
    unit_decode(a, kind, data, &req);
    const char *const *ids = NULL;
    size_t n = request_resource_ids(&req, a, &ids);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", i ? "|" : "",
                 ids[i] ? ids[i] : "NULL");
    if (scoped)
        *scoped = request_is_scoped(&req);
    arena_free(a);
    return out;
}

static void expect_ids(const char *kind, const char *data, const char *want)
{
    bool scoped = true;
    ck_assert_msg(strcmp(ids_of(kind, data, &scoped), want) == 0, "%s: got %s, want %s", kind,
                  ids_of(kind, data, NULL), want);
    ck_assert_msg(!scoped, "%s must not be scoped", kind);
}

START_TEST(every_kind_names_its_id_fields)
{
    expect_ids("promise.get", "{\"id\":\"p\"}", "p");
    expect_ids("promise.create", "{\"id\":\"p\",\"timeoutAt\":1}", "p");
    expect_ids("promise.settle", "{\"id\":\"p\",\"state\":\"resolved\"}", "p");
    expect_ids("promise.register_listener", "{\"awaited\":\"p\",\"address\":\"poll://any@g\"}",
               "p");
    expect_ids("task.get", "{\"id\":\"t\"}", "t");
    expect_ids("task.halt", "{\"id\":\"t\"}", "t");
    expect_ids("task.continue", "{\"id\":\"t\"}", "t");
    expect_ids("task.acquire", "{\"id\":\"t\",\"version\":0,\"pid\":\"w\",\"ttl\":1}", "t");
    expect_ids("task.release", "{\"id\":\"t\",\"version\":0}", "t");
    expect_ids("task.create",
               "{\"pid\":\"w\",\"ttl\":1,\"action\":{\"kind\":\"promise.create\"," H
               ",\"data\":{\"id\":\"t\",\"timeoutAt\":1,"
               "\"tags\":{\"resonate:target\":\"poll://any@g\"}}}}",
               "t");
    expect_ids("task.suspend",
               "{\"id\":\"t\",\"version\":1,\"actions\":["
               "{\"kind\":\"promise.register_callback\"," H
               ",\"data\":{\"awaited\":\"t.1\",\"awaiter\":\"t\"}},"
               "{\"kind\":\"promise.register_callback\"," H
               ",\"data\":{\"awaited\":\"t.2\",\"awaiter\":\"t\"}}]}",
               "t|t.1|t.2");
    expect_ids("schedule.get", "{\"id\":\"s\"}", "s");
    expect_ids("schedule.delete", "{\"id\":\"s\"}", "s");
    expect_ids("task.heartbeat",
               "{\"pid\":\"w\",\"tasks\":[{\"id\":\"a:1\",\"version\":1},"
               "{\"id\":\"a:2\",\"version\":1}]}",
               "a:1|a:2");
}
END_TEST

/* Issue 9, finding 3: the awaiter is the task a settlement resumes. */
START_TEST(register_callback_names_awaited_and_awaiter)
{
    expect_ids("promise.register_callback", "{\"awaited\":\"a:1\",\"awaiter\":\"a:2\"}", "a:1|a:2");
}
END_TEST

/* Issue 9, finding 1: the name decides which record a create answers. */
START_TEST(schedule_create_names_the_schedule_id_and_the_promise_id_template)
{
    expect_ids("schedule.create",
               "{\"id\":\"s\",\"cron\":\"* * * * *\",\"promiseId\":\"p.{{.id}}\","
               "\"promiseTimeout\":1,\"promiseTags\":{\"resonate:target\":\"poll://any@g\"}}",
               "s|p.{{.id}}|p.s|p.s");
}
END_TEST

/* A prefix that overlaps a placeholder ("{{", "x{") passes as the template
 * is written, not as it is filled in: the template filled in at times 0 and
 * 1 is named too, and one of the two leaves such a prefix. */
START_TEST(schedule_create_names_its_template_filled_in_at_times_0_and_1)
{
    const char *body =
        "{\"id\":\"{{s\",\"cron\":\"* * * * *\",\"promiseId\":\"{{.timestamp}}\","
        "\"promiseTimeout\":1,\"promiseTags\":{\"resonate:target\":\"poll://any@g\"}}";
    expect_ids("schedule.create", body, "{{s|{{.timestamp}}|0|1");
    /* a prefix "x{" ends inside the placeholder */
    expect_ids("schedule.create",
               "{\"id\":\"x{s\",\"cron\":\"* * * * *\",\"promiseId\":\"x{{.timestamp}}\","
               "\"promiseTimeout\":1,\"promiseTags\":{\"resonate:target\":\"poll://any@g\"}}",
               "x{s|x{{.timestamp}}|x0|x1");
    /* a prefix before every placeholder: the same start whatever the time */
    expect_ids("schedule.create",
               "{\"id\":\"a/s\",\"cron\":\"* * * * *\",\"promiseId\":\"a/{{.id}}-{{.timestamp}}\","
               "\"promiseTimeout\":1,\"promiseTags\":{\"resonate:target\":\"poll://any@g\"}}",
               "a/s|a/{{.id}}-{{.timestamp}}|a/a/s-0|a/a/s-1");
}
END_TEST

START_TEST(fulfill_and_fence_name_the_task_and_the_inner_promise)
{
    expect_ids("task.fulfill",
               "{\"id\":\"t\",\"version\":1,\"action\":{\"kind\":\"promise.settle\"," H
               ",\"data\":{\"id\":\"t\",\"state\":\"resolved\"}}}",
               "t|t");
    expect_ids("task.fence",
               "{\"id\":\"t\",\"version\":1,\"action\":{\"kind\":\"promise.create\","
               "\"data\":{\"id\":\"t.1\",\"timeoutAt\":1}}}",
               "t|t.1");
    expect_ids("task.fence",
               "{\"id\":\"t\",\"version\":1,\"action\":{\"kind\":\"promise.settle\","
               "\"data\":{\"id\":\"t.2\",\"state\":\"resolved\"}}}",
               "t|t.2");
}
END_TEST

START_TEST(searches_and_an_empty_heartbeat_name_no_id_and_are_scoped)
{
    static const char *const kinds[] = {"promise.search", "task.search", "schedule.search"};
    bool scoped = false;
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(ids_of(kinds[i], "{}", &scoped), "");
        ck_assert(scoped);
    }
    ck_assert_str_eq(ids_of("task.heartbeat", "{\"pid\":\"w\",\"tasks\":[]}", &scoped), "");
    ck_assert(scoped);
    /* Debug kinds name nothing and are not scoped: a prefixed token is
     * refused them. */
    ck_assert_str_eq(ids_of("debug.snap", "{}", &scoped), "");
    ck_assert(!scoped);
}
END_TEST

START_TEST(an_id_is_in_scope_when_it_starts_with_it_byte_wise)
{
    ck_assert(id_in_scope("acme:x", NULL));
    ck_assert(id_in_scope("acme:x", ""));
    ck_assert(id_in_scope("acme:x", "acme:"));
    ck_assert(id_in_scope("acme:", "acme:"));
    ck_assert(!id_in_scope("acme", "acme:"));
    ck_assert(!id_in_scope("Acme:x", "acme:"));
    /* No separator semantics: "acme" covers "acme2:x" (docs/security.md
     * tells tenants to end prefixes with a separator). */
    ck_assert(id_in_scope("acme2:x", "acme"));
    ck_assert(!id_in_scope("acme2:x", "acme:"));
}
END_TEST

START_TEST(time_sums_saturate_instead_of_overflowing)
{
    ck_assert_int_eq(time_add_sat(1000, 60000), 61000);
    ck_assert_int_eq(time_add_sat(1000, INT64_MAX), INT64_MAX);
    ck_assert_int_eq(time_add_sat(INT64_MAX, 1), INT64_MAX);
    ck_assert_int_eq(time_add_sat(INT64_MIN, -1), INT64_MIN);
    ck_assert_int_eq(time_add_sat(INT64_MIN, INT64_MAX), -1);
}
END_TEST

START_TEST(schedule_promise_id_expands_id_then_timestamp)
{
    arena_t *a = arena_new();
    ck_assert_str_eq(schedule_promise_id(a, "job.{{.id}}.{{.timestamp}}", "s", 60000),
                     "job.s.60000");
    ck_assert_str_eq(schedule_promise_id(a, "{{.id}}{{.id}}", "ab", 1), "abab");
    ck_assert_str_eq(schedule_promise_id(a, "plain", "s", 1), "plain");
    /* An id holding {{.timestamp}} is expanded too, as the engine always did. */
    ck_assert_str_eq(schedule_promise_id(a, "{{.id}}", "{{.timestamp}}", INT64_MIN),
                     "-9223372036854775808");
    arena_free(a);
}
END_TEST

/* Only the start is filled in, however large the whole would be. */
START_TEST(a_template_head_is_bounded_however_large_the_filled_in_template)
{
    arena_t *a = arena_new();
    size_t nt = 2u << 20, ni = 1u << 20;
    char *tpl = malloc(nt + 1), *id = malloc(ni + 1);
    ck_assert_ptr_nonnull(tpl);
    ck_assert_ptr_nonnull(id);
    for (size_t i = 0; i + 7 <= nt; i += 7)
        memcpy(tpl + i, "{{.id}}", 7);
    tpl[nt - nt % 7] = '\0';
    memset(id, 'a', ni);
    id[ni] = '\0';
    const char *h = schedule_promise_id_head(a, tpl, id, 0);
    ck_assert_uint_eq(strlen(h), SCHEDULE_ID_HEAD);
    ck_assert(h[0] == 'a' && h[SCHEDULE_ID_HEAD - 1] == 'a');
    /* at most about 15 heads' worth of arena, not the terabytes in full */
    ck_assert_uint_lt(arena_used(a), 16 * (SCHEDULE_ID_HEAD + 1) + 4096);
    /* a short template: the whole of it, as schedule_promise_id gives */
    ck_assert_str_eq(schedule_promise_id_head(a, "job.{{.id}}.{{.timestamp}}", "s", 60000),
                     "job.s.60000");
    free(tpl);
    free(id);
    arena_free(a);
}
END_TEST

START_TEST(every_operation_name_round_trips_and_unknown_names_are_unknown)
{
    for (int op = 0; op < OP__COUNT; op++) {
        const char *name = op_name((op_t)op);
        ck_assert_ptr_nonnull(name);
        ck_assert_int_eq(op_from_name(name), op);
        ck_assert(op_is_debug((op_t)op) == (strncmp(name, "debug.", 6) == 0));
    }
    ck_assert_ptr_null(op_name(OP_UNKNOWN));
    ck_assert_int_eq(op_from_name("promise.bogus"), OP_UNKNOWN);
    ck_assert_int_eq(op_from_name(""), OP_UNKNOWN);
    ck_assert(!op_is_debug(OP_UNKNOWN));
}
END_TEST

START_TEST(state_names_round_trip_and_unknown_names_parse_as_minus_one)
{
    for (int s = PSTATE_PENDING; s <= PSTATE_REJECTED_TIMEDOUT; s++)
        ck_assert_int_eq(pstate_parse(pstate_name((pstate_t)s)), s);
    for (int s = TSTATE_PENDING; s <= TSTATE_FULFILLED; s++)
        ck_assert_int_eq(tstate_parse(tstate_name((tstate_t)s)), s);
    ck_assert_str_eq(pstate_name(PSTATE_REJECTED_CANCELED), "rejected_canceled");
    ck_assert_str_eq(tstate_name(TSTATE_HALTED), "halted");
    ck_assert_int_eq(pstate_parse("acquired"), -1);
    ck_assert_int_eq(tstate_parse("resolved"), -1);
    ck_assert_int_eq(pstate_parse("Pending"), -1);
}
END_TEST

START_TEST(kvmap_get_finds_every_key_of_a_sorted_map)
{
    kv_t items[] = {{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}};
    kvmap_t m = {.items = items, .n = 5};
    for (size_t i = 0; i < 5; i++)
        ck_assert_str_eq(kvmap_get(&m, items[i].key), items[i].val);
    ck_assert_ptr_null(kvmap_get(&m, "0"));
    ck_assert_ptr_null(kvmap_get(&m, "bb"));
    ck_assert_ptr_null(kvmap_get(&m, "f"));
    kvmap_t empty = {0};
    ck_assert_ptr_null(kvmap_get(&empty, "a"));
}
END_TEST

START_TEST(ids_share_an_origin_under_either_separator_rule)
{
    ck_assert(ids_same_origin("a:1", "a:2"));
    ck_assert(ids_same_origin("a.1", "a.2"));
    ck_assert(ids_same_origin("a", "a.x"));
    ck_assert(ids_same_origin("a.1:x", "a.1:y")); /* ':' rule: origin "a.1" */
    ck_assert(!ids_same_origin("a.1", "a:2"));    /* neither rule agrees */
    ck_assert(!ids_same_origin("ab:1", "a:1"));
    ck_assert(!ids_same_origin("a", "b"));
}
END_TEST

START_TEST(id_extends_its_base_only_at_a_separator)
{
    ck_assert(ids_extends("a", "a"));
    ck_assert(ids_extends("a.1", "a"));
    ck_assert(ids_extends("a:1", "a"));
    ck_assert(!ids_extends("ab", "a"));
    ck_assert(!ids_extends("b.1", "a"));
    ck_assert(!ids_extends("a", "a.1"));
}
END_TEST

static Suite *types_suite(void)
{
    Suite *s = suite_create("types");
    TCase *tc = tcase_create("resource_ids");
    tcase_add_test(tc, every_kind_names_its_id_fields);
    tcase_add_test(tc, register_callback_names_awaited_and_awaiter);
    tcase_add_test(tc, schedule_create_names_the_schedule_id_and_the_promise_id_template);
    tcase_add_test(tc, schedule_create_names_its_template_filled_in_at_times_0_and_1);
    tcase_add_test(tc, fulfill_and_fence_name_the_task_and_the_inner_promise);
    tcase_add_test(tc, searches_and_an_empty_heartbeat_name_no_id_and_are_scoped);
    tcase_add_test(tc, an_id_is_in_scope_when_it_starts_with_it_byte_wise);
    tcase_add_test(tc, time_sums_saturate_instead_of_overflowing);
    tcase_add_test(tc, schedule_promise_id_expands_id_then_timestamp);
    tcase_add_test(tc, a_template_head_is_bounded_however_large_the_filled_in_template);
    suite_add_tcase(s, tc);
    TCase *tn = tcase_create("names");
    tcase_add_test(tn, every_operation_name_round_trips_and_unknown_names_are_unknown);
    tcase_add_test(tn, state_names_round_trip_and_unknown_names_parse_as_minus_one);
    tcase_add_test(tn, kvmap_get_finds_every_key_of_a_sorted_map);
    tcase_add_test(tn, ids_share_an_origin_under_either_separator_rule);
    tcase_add_test(tn, id_extends_its_base_only_at_a_separator);
    suite_add_tcase(s, tn);
    return s;
}

UNIT_SUITE(types_suite)
