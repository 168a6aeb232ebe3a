/* test_decode.c - request envelopes and operation data into request_t. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire.h"
#include "tests/unit/unit.h"

#define HEAD "\"head\":{\"corrId\":\"c1\",\"version\":\"2026-04-01\"}"

/* One decoding run: envelope, then the request (when the envelope passed). */
typedef struct {
    arena_t *a;
    envelope_t env;
    request_t req;
    response_t err;
    int rc;
} run_t;

static void run_raw(run_t *t, const char *body, bool debug)
{
    memset(t, 0, sizeof *t);
    t->a = arena_new();
    t->rc = wire_decode_envelope(t->a, body, strlen(body), &t->env, &t->err);
    if (t->rc == 0)
        t->rc = wire_decode_request(t->a, &t->env, debug, &t->req, &t->err);
}

static void run_done(run_t *t)
{
    response_clear(&t->err);
    arena_free(t->a);
}

static const char *err_text(const run_t *t)
{
    ck_assert_ptr_nonnull(t->err.data);
    ck_assert(json_is_string(t->err.data));
    return json_string_value(t->err.data);
}

/* A body for kind with data (a JSON text). */
static void run_op(run_t *t, const char *kind, const char *data)
{
    char body[8192];
    snprintf(body, sizeof body, "{\"kind\":\"%s\"," HEAD ",\"data\":%s}", kind, data);
    run_raw(t, body, true);
}

/* Asserts that the raw body is rejected with status and exactly msg. */
static void expect_raw(const char *body, bool debug, int status, const char *msg)
{
    run_t t;
    run_raw(&t, body, debug);
    ck_assert_int_eq(t.rc, -1);
    ck_assert_int_eq(t.err.status, status);
    ck_assert_str_eq(err_text(&t), msg);
    run_done(&t);
}

/* Asserts that kind with data is rejected with 400 and exactly msg. */
static void expect_400(const char *kind, const char *data, const char *msg)
{
    run_t t;
    run_op(&t, kind, data);
    ck_assert_msg(t.rc == -1, "accepted: %s %s", kind, data);
    ck_assert_int_eq(t.err.status, 400);
    ck_assert_str_eq(err_text(&t), msg);
    run_done(&t);
}

/* Asserts that kind with data is accepted. */
static void expect_ok(const char *kind, const char *data)
{
    run_t t;
    run_op(&t, kind, data);
    ck_assert_msg(t.rc == 0, "%s %s: %s", kind, data, t.rc ? err_text(&t) : "");
    run_done(&t);
}

/* Decodes and asserts success; the caller frees with run_done. */
static void decode_ok(run_t *t, const char *kind, const char *data)
{
    run_op(t, kind, data);
    ck_assert_msg(t->rc == 0, "%s %s: %s", kind, data, t->rc ? err_text(t) : "");
}

static void assert_kv(const kvmap_t *m, size_t i, const char *key, const char *val)
{
    ck_assert_uint_lt(i, m->n);
    ck_assert_str_eq(m->items[i].key, key);
    ck_assert_str_eq(m->items[i].val, val);
}

/* ---- envelope ---------------------------------------------------------- */

START_TEST(envelope_fills_kind_corr_id_token_and_debug_time)
{
    run_t t;
    run_raw(&t,
            "{\"data\":{\"id\":\"p\"},\"kind\":\"promise.get\",\"extra\":[1,{}],\"head\":{"
            "\"corrId\":\"c-9\",\"version\":\"2026-04-01\",\"auth\":\"tok\","
            "\"resonate:debug_time\":1234,\"resonate:origin\":\"x\"}}",
            false);
    ck_assert_int_eq(t.rc, 0);
    ck_assert_str_eq(t.env.kind, "promise.get");
    ck_assert_str_eq(t.env.corr_id, "c-9");
    ck_assert_str_eq(t.env.token, "tok");
    ck_assert(t.env.has_debug_time);
    ck_assert_int_eq(t.env.debug_time, 1234);
    ck_assert_int_eq(t.req.op, OP_PROMISE_GET);
    ck_assert_str_eq(t.req.kind, "promise.get");
    ck_assert_str_eq(t.req.corr_id, "c-9");
    ck_assert_str_eq(t.req.token, "tok");
    ck_assert(t.req.has_debug_time);
    ck_assert_int_eq(t.req.debug_time, 1234);
    run_done(&t);
}
END_TEST

START_TEST(envelope_null_auth_and_debug_time_are_absent)
{
    run_t t;
    run_raw(&t,
            "{\"kind\":\"promise.get\",\"head\":{\"corrId\":\"\",\"version\":\"2026-04-01\","
            "\"auth\":null,\"resonate:debug_time\":null},\"data\":{\"id\":\"p\"}}",
            false);
    ck_assert_int_eq(t.rc, 0);
    ck_assert_ptr_null(t.env.token);
    ck_assert(!t.env.has_debug_time);
    ck_assert_str_eq(t.env.corr_id, "");
    run_done(&t);
}
END_TEST

START_TEST(unparseable_bodies_report_serde_like_errors_with_position)
{
    expect_raw("", false, 400,
               "Invalid request envelope: EOF while parsing a value at line 1 column 0");
    expect_raw("{\"kind\":\n\"x\"", false, 400,
               "Invalid request envelope: EOF while parsing an object at line 2 column 3");
    expect_raw("{\"kind\":\"promise.get\"," HEAD ",\"data\":{}} x", false, 400,
               "Invalid request envelope: trailing characters at line 1 column 80");
    expect_raw("abc", false, 400, "Invalid request envelope: expected value at line 1 column 3");
    expect_raw("{\"a\" 1}", false, 400,
               "Invalid request envelope: expected `:` at line 1 column 6");
}
END_TEST

START_TEST(unparseable_body_echoes_default_kind_and_corr_id)
{
    run_t t;
    run_raw(&t, "{\"kind\":\"promise.get\",\"head\":{\"corrId\":\"c\"", false);
    ck_assert_int_eq(t.rc, -1);
    ck_assert_str_eq(t.env.kind, "unknown");
    ck_assert_str_eq(t.env.corr_id, "0");
    run_done(&t);
}
END_TEST

START_TEST(envelope_type_errors_recover_kind_and_corr_id)
{
    run_t t;
    run_raw(&t, "{\"kind\":\"promise.get\",\"head\":{\"corrId\":\"c7\",\"version\":2},\"data\":{}}",
            false);
    ck_assert_int_eq(t.rc, -1);
    ck_assert_int_eq(t.err.status, 400);
    ck_assert_str_eq(err_text(&t),
                     "Invalid request envelope: invalid type: integer `2`, expected a string");
    ck_assert_str_eq(t.env.kind, "promise.get");
    ck_assert_str_eq(t.env.corr_id, "c7");
    run_done(&t);

    run_raw(&t, "{\"kind\":7,\"head\":{\"corrId\":5,\"version\":\"2026-04-01\"},\"data\":{}}",
            false);
    ck_assert_int_eq(t.rc, -1);
    ck_assert_str_eq(err_text(&t),
                     "Invalid request envelope: invalid type: integer `7`, expected a string");
    ck_assert_str_eq(t.env.kind, "unknown");
    ck_assert_str_eq(t.env.corr_id, "0");
    run_done(&t);
}
END_TEST

START_TEST(envelope_shape_errors_follow_serde)
{
    expect_raw("{" HEAD ",\"data\":{}}", false, 400,
               "Invalid request envelope: missing field `kind`");
    expect_raw("{\"kind\":\"promise.get\"," HEAD "}", false, 400,
               "Invalid request envelope: missing field `data`");
    expect_raw("{\"kind\":\"promise.get\",\"data\":{}}", false, 400,
               "Invalid request envelope: missing field `head`");
    expect_raw("{\"kind\":\"promise.get\",\"head\":{\"version\":\"2026-04-01\"},\"data\":{}}",
               false, 400, "Invalid request envelope: missing field `corrId`");
    expect_raw("{\"kind\":\"promise.get\",\"head\":{\"corrId\":\"c\"},\"data\":{}}", false, 400,
               "Invalid request envelope: missing field `version`");
    expect_raw("{\"kind\":\"promise.get\",\"head\":null,\"data\":{}}", false, 400,
               "Invalid request envelope: invalid type: null, expected struct RequestHead");
    expect_raw("[1,2]", false, 400,
               "Invalid request envelope: invalid type: sequence, expected struct RequestEnvelope");
    expect_raw("\"x\\ny\"", false, 400,
               "Invalid request envelope: invalid type: string \"x\\ny\", expected struct "
               "RequestEnvelope");
    expect_raw("{\"kind\":\"promise.get\",\"head\":{\"corrId\":\"c\",\"version\":\"2026-04-01\","
               "\"resonate:debug_time\":1.5},\"data\":{}}",
               false, 400,
               "Invalid request envelope: invalid type: floating point `1.5`, expected i64");
    expect_raw("{\"kind\":\"promise.get\",\"head\":{\"corrId\":\"c\",\"version\":\"2026-04-01\","
               "\"auth\":true},\"data\":{}}",
               false, 400,
               "Invalid request envelope: invalid type: boolean `true`, expected a string");
}
END_TEST

START_TEST(envelope_members_are_checked_in_document_order)
{
    /* serde reads the envelope from the text: the first bad member wins. */
    expect_raw("{\"head\":{\"version\":1,\"corrId\":2},\"kind\":3,\"data\":{}}", false, 400,
               "Invalid request envelope: invalid type: integer `1`, expected a string");
    expect_raw("{\"kind\":3,\"head\":{\"version\":1}}", false, 400,
               "Invalid request envelope: invalid type: integer `3`, expected a string");
}
END_TEST

/* wire_json_load() against json_loadb(): the same tree, members in the
 * same order, or the same error, for the texts its fast path takes and for
 * those it hands to jansson. */
static void expect_same_load(const char *text, size_t len)
{
    json_error_t je1, je2;
    json_t *a = wire_json_load(text, len, &je1);
    json_t *b = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je2);
    if (!b) {
        ck_assert_msg(!a, "accepted what jansson refuses: %.*s", (int)len, text);
        ck_assert_str_eq(je1.text, je2.text);
        ck_assert_int_eq(je1.position, je2.position);
        return;
    }
    ck_assert_msg(a != NULL, "refused what jansson accepts: %.*s", (int)len, text);
    ck_assert_msg(json_equal(a, b), "different tree for %.*s", (int)len, text);
    char *da = json_dumps(a, JSON_ENCODE_ANY), *db = json_dumps(b, JSON_ENCODE_ANY);
    ck_assert_str_eq(da, db);
    free(da);
    free(db);
    json_decref(a);
    json_decref(b);
}

/* wire_json_load_arena() against json_loadb(), as above. */
static void expect_same_arena_load(const char *text, size_t len)
{
    json_error_t je1, je2;
    arena_t *ar = arena_new();
    json_t *a = wire_json_load_arena(ar, text, len, &je1);
    json_t *b = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je2);
    if (!b) {
        ck_assert_msg(!a, "accepted what jansson refuses: %.*s", (int)len, text);
        ck_assert_str_eq(je1.text, je2.text);
        ck_assert_int_eq(je1.position, je2.position);
    } else {
        ck_assert_msg(a != NULL, "refused what jansson accepts: %.*s", (int)len, text);
        ck_assert_msg(json_equal(a, b), "different tree for %.*s", (int)len, text);
        /* true, false and null are jansson's static singletons */
        ck_assert(json_is_boolean(a) || json_is_null(a) || arena_owns(ar, a));
    }
    json_decref(b);
    arena_free(ar); /* and a with it */
}

START_TEST(fast_json_load_matches_jansson)
{
    static const char *const texts[] = {
        "{\"kind\":\"promise.create\"," HEAD ",\"data\":{\"id\":\"p\",\"timeoutAt\":4102444800000,"
        "\"param\":{},\"tags\":{\"k\":\"v\"}}}",
        " { \"a\" : [ 1 , -2 , 0 , -0 , true , false , null , [ ] , { } ] }\n\t\r",
        "{\"b\":1,\"a\":2,\"b\":3}",
        "{\"\":\"\"}",
        "[]",
        "{}",
        "\"s\"",
        "0",
        "-0",
        "7",
        "true",
        "null",
        "922337203685477580",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "123456789012345678",
        "1234567890123456789",
        "01",
        "-",
        "-a",
        "1.5",
        "1e3",
        "1E3",
        "-0.0",
        "\"\\u0041\"",
        "{\"a\\u0000\":1}",
        "\"\\u0000\"",
        "\"caf\xc3\xa9\"",
        "\"\xff\"",
        "\"a\tb\"",
        "\"\x7f\"",
        "truex",
        "true1",
        "nul",
        "tru",
        "{\"a\":1,}",
        "[1,]",
        "{\"a\" 1}",
        "{a:1}",
        "[1 2]",
        "{\"a\":1}x",
        "",
        "   ",
        "{",
        "[",
        "\"abc",
        "{\"a\":",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]",
        "12x",
        "{\"a\":12x}",
        "[tru]",
        "[-]",
        "[1-2]",
        "{\"a\":1}{\"b\":2}",
        "\"a\"\"b\"",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        expect_same_load(texts[i], strlen(texts[i]));
        expect_same_arena_load(texts[i], strlen(texts[i]));
    }
    expect_same_load("{\"a\":\"b\0c\"}", 11);
    expect_same_load("{\"a\":1}\0", 8);
    expect_same_arena_load("{\"a\":\"b\0c\"}", 11);

    /* Random edits of an envelope: replace, insert or delete bytes drawn
     * from JSON's alphabet (fixed seed, so a failure repeats). */
    const char *base = texts[0];
    static const char alphabet[] = "{}[],:\"\\ -0123456789.eEtruefalsn\x01\xc3";
    uint32_t seed = 11;
    char buf[512];
    for (int n = 0; n < 20000; n++) {
        size_t len = strlen(base);
        memcpy(buf, base, len);
        int edits = 1 + n % 4;
        for (int e = 0; e < edits && len > 0 && len < sizeof buf - 1; e++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            char c = alphabet[(seed >> 20) % (sizeof alphabet - 1)];
            int op = (int)((seed >> 4) % 3);
            if (op == 0) {
                buf[at] = c;
            } else if (op == 1) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = c;
                len++;
            } else {
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
            }
        }
        expect_same_load(buf, len);
    }
}
END_TEST

START_TEST(duplicate_envelope_members_are_rejected)
{
    expect_raw("{\"kind\":\"a\",\"kind\":\"promise.get\"," HEAD ",\"data\":{\"id\":\"p\"}}", false,
               400, "Invalid request envelope: duplicate field `kind`");
    expect_raw("{\"kind\":\"promise.get\",\"head\":{\"corrId\":\"a\",\"version\":\"2026-04-01\","
               "\"corrId\":\"b\"},\"data\":{\"id\":\"p\"}}",
               false, 400, "Invalid request envelope: duplicate field `corrId`");
    /* An escaped spelling is the same key. */
    expect_raw("{\"kind\":\"promise.get\",\"k\\u0069nd\":\"x\"," HEAD ",\"data\":{}}", false, 400,
               "Invalid request envelope: duplicate field `kind`");
}
END_TEST

/* ---- the request document in the request's arena ------------------------- */

/* What jansson allocates and frees through the functions installed in it
 * (core/decode.c's), counted by wrappers put in front of them. */
static struct {
    json_malloc_t malloc_fn;
    json_free_t free_fn;
    arena_t *arena;   /* the request's: an allocation elsewhere is heap */
    int allocs, heap; /* calls; results outside arena */
    int frees, foreign;
} jc;

static void *count_malloc(size_t n)
{
    void *p = jc.malloc_fn(n);
    jc.allocs++;
    if (!jc.arena || !arena_owns(jc.arena, p))
        jc.heap++;
    return p;
}

static void count_free(void *p)
{
    jc.frees++;
    if (jc.arena && !arena_owns(jc.arena, p))
        jc.foreign++;
    jc.free_fn(p);
}

static void count_start(arena_t *a)
{
    memset(&jc, 0, sizeof jc);
    json_get_alloc_funcs(&jc.malloc_fn, &jc.free_fn);
    jc.arena = a;
    json_set_alloc_funcs(count_malloc, count_free);
}

static void count_stop(void)
{
    json_set_alloc_funcs(jc.malloc_fn, jc.free_fn);
}

/* A promise.create as bench/create.lua sends it. */
#define CREATE_BODY                                                                                \
    "{\"kind\":\"promise.create\",\"head\":{\"corrId\":\"17\",\"version\":\"2026-04-01\"},"        \
    "\"data\":{\"id\":\"wrk-1-0-17\",\"timeoutAt\":4102444800000,\"param\":{},\"tags\":{}}}"

START_TEST(request_document_is_built_in_the_arena_without_malloc)
{
    arena_t *a = arena_new();
    envelope_t env;
    response_t err = {0};
    count_start(a);
    int rc = wire_decode_envelope(a, CREATE_BODY, strlen(CREATE_BODY), &env, &err);
    count_stop();
    ck_assert_int_eq(rc, 0);
    ck_assert_int_ge(jc.allocs, 20); /* every node, string and table went through jansson */
    ck_assert_int_eq(jc.heap, 0);    /* and all came from the arena */
    ck_assert_int_eq(jc.frees, 0);
    ck_assert(arena_owns(a, env.data));
    ck_assert(arena_owns(a, env.kind));
    ck_assert(arena_owns(a, env.corr_id));
    json_t *id = json_object_get(env.data, "id");
    ck_assert(arena_owns(a, id));
    ck_assert(arena_owns(a, json_string_value(id)));
    request_t req;
    ck_assert_int_eq(wire_decode_request(a, &env, false, &req, &err), 0);
    ck_assert_str_eq(req.u.promise_create.id, "wrk-1-0-17");
    /* Freeing the arena frees the document: jansson frees nothing. */
    count_start(NULL);
    arena_free(a);
    count_stop();
    ck_assert_int_eq(jc.frees, 0);
}
END_TEST

/* Decodes body's envelope in an arena of its own, expecting rc, and that
 * jansson took nothing from the heap for it; then frees the arena. */
static void expect_arena_envelope(const char *body, size_t len, int rc)
{
    arena_t *a = arena_new();
    envelope_t env;
    response_t err = {0};
    count_start(a);
    json_error_t je;
    json_t *doc = wire_json_load_arena(a, body, len, &je);
    count_stop();
    ck_assert_msg(jc.heap == 0, "%d heap allocations for %.60s", jc.heap, body);
    ck_assert_msg(jc.foreign == 0, "%d frees of heap memory for %.60s", jc.foreign, body);
    if (doc)
        ck_assert(arena_owns(a, doc));
    ck_assert_int_eq(wire_decode_envelope(a, body, len, &env, &err), rc);
    if (rc == 0) {
        ck_assert(arena_owns(a, env.data));
        request_t req;
        if (wire_decode_request(a, &env, false, &req, &err) != 0)
            ck_assert_int_eq(err.status, 400);
    } else {
        ck_assert_int_eq(err.status, 400);
    }
    response_clear(&err);
    arena_free(a);
}

START_TEST(request_document_from_jansson_fallback_is_built_in_the_arena)
{
    static const char *const bodies[] = {
        /* escapes, non-ASCII, a float, a long integer: jansson parses */
        "{\"kind\":\"promise.create\"," HEAD ",\"data\":{\"id\":\"p\\u00e9\\n\\\"q\\\"\","
        "\"timeoutAt\":1,\"param\":{\"data\":\"caf\xc3\xa9\"},\"tags\":{\"k\\/\":\"v\"}}}",
        "{\"kind\":\"promise.create\"," HEAD ",\"data\":{\"id\":\"p\",\"timeoutAt\":1.5}}",
        "{\"kind\":\"promise.create\"," HEAD ",\"data\":{\"id\":\"p\","
        "\"timeoutAt\":12345678901234567890}}",
        "{\"kind\":\"promise.get\"," HEAD ",\"data\":{\"id\":\"\xe2\x82\xac\","
        "\"x\":[1,2.5,-3e2,[true,null],{\"a\":{\"b\":[]}}]}}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++)
        expect_arena_envelope(bodies[i], strlen(bodies[i]), i == 2 ? -1 : 0);
}
END_TEST

START_TEST(request_document_parse_errors_leave_nothing_behind)
{
    static const char *const bodies[] = {
        "{\"kind\":\"promise.get\",\"head\":{\"corrId\":\"c\"",
        "{\"kind\":\"promise.get\"," HEAD ",\"data\":{\"id\":\"\\u00e9\",\"x\":[1,2,{\"a\":tru}]}}",
        "{\"kind\":\"promise.get\"," HEAD ",\"data\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,"
        "\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"j\":10.5,}}",
        "[\"\\x\"]",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++)
        expect_arena_envelope(bodies[i], strlen(bodies[i]), -1);
}
END_TEST

/* A body whose "data" member holds a string of n bytes written as \\u0041
 * escapes (so jansson parses it), followed by tail. */
static char *escaped_body(size_t n, const char *tail, size_t *len)
{
    static const char pre[] = "{\"kind\":\"promise.get\"," HEAD ",\"data\":{\"id\":\"";
    size_t cap = sizeof pre + 6 * n + strlen(tail) + 1;
    char *b = malloc(cap), *p = b;
    ck_assert_ptr_nonnull(b);
    p += sprintf(p, "%s", pre);
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "\\u0041");
    p += sprintf(p, "\"%s", tail);
    *len = (size_t)(p - b);
    return b;
}

START_TEST(large_request_document_holds_about_its_size_in_the_arena)
{
    /* jansson's lexer doubles a buffer as the string grows: the buffers it
     * outgrows are given back at once (arena_release), so the arena holds
     * the string and little more (jansson sizes a decoded string's buffer
     * by its escaped text: len bytes here; keeping the lexer's buffers
     * would hold about 3 * len more). */
    enum { N = 1 << 20 };
    size_t len;
    char *body = escaped_body(N, "}}", &len);
    arena_t *a = arena_new();
    envelope_t env;
    response_t err = {0};
    count_start(a);
    ck_assert_int_eq(wire_decode_envelope(a, body, len, &env, &err), 0);
    count_stop();
    ck_assert_int_eq(jc.heap, 0);
    ck_assert_int_eq(jc.foreign, 0);
    ck_assert_int_gt(jc.frees, 0); /* the lexer's outgrown buffers */
    ck_assert_uint_eq(json_string_length(json_object_get(env.data, "id")), N);
    ck_assert_uint_lt(arena_held(a), len + len / 8);
    arena_free(a);

    /* The same string, then a syntax error: the partial tree is dropped,
     * and with it every large piece. */
    free(body);
    body = escaped_body(N, ",\"x\":[1,}}", &len);
    a = arena_new();
    count_start(a);
    ck_assert_int_eq(wire_decode_envelope(a, body, len, &env, &err), -1);
    count_stop();
    ck_assert_int_eq(err.status, 400);
    ck_assert_int_eq(jc.foreign, 0);
    ck_assert_uint_lt(arena_held(a), 64 * 1024);
    response_clear(&err);
    arena_free(a);
    free(body);
}
END_TEST

START_TEST(jansson_outside_request_documents_uses_the_heap)
{
    arena_t *a = arena_new();
    count_start(a);
    json_t *o = json_pack("{s:s,s:[i,f]}", "k", "v", "l", 1, 2.5);
    char *text = json_dumps(o, JSON_SORT_KEYS);
    count_stop();
    ck_assert_int_gt(jc.allocs, 0);
    ck_assert_int_eq(jc.heap, jc.allocs);
    ck_assert_str_eq(text, "{\"k\": \"v\", \"l\": [1, 2.5]}");
    free(text); /* malloc'd as jansson's documentation says */
    json_decref(o);
    ck_assert_uint_eq(arena_used(a), 0);
    arena_free(a);
}
END_TEST

START_TEST(duplicates_elsewhere_keep_the_last_value)
{
    run_t t;
    run_raw(&t,
            "{\"x\":1,\"x\":2,\"kind\":\"promise.get\",\"head\":{\"corrId\":\"c\",\"version\":"
            "\"2026-04-01\",\"o\":{\"corrId\":1,\"corrId\":2}},\"data\":{\"id\":\"a\",\"id\":\"b\","
            "\"n\":{\"kind\":1,\"kind\":2}}}",
            false);
    ck_assert_msg(t.rc == 0, "%s", t.rc ? err_text(&t) : "");
    ck_assert_str_eq(t.req.u.get.id, "b");
    run_done(&t);
}
END_TEST

START_TEST(duplicate_kind_echoes_the_last_value)
{
    run_t t;
    run_raw(&t, "{\"kind\":\"a\",\"kind\":\"b\"," HEAD ",\"data\":{}}", false);
    ck_assert_int_eq(t.rc, -1);
    ck_assert_str_eq(t.env.kind, "b");
    ck_assert_str_eq(t.env.corr_id, "c1");
    run_done(&t);
}
END_TEST

START_TEST(empty_kind_is_rejected_and_echoed_empty)
{
    run_t t;
    run_raw(&t, "{\"kind\":\"\"," HEAD ",\"data\":5}", false);
    ck_assert_int_eq(t.rc, -1);
    ck_assert_int_eq(t.err.status, 400);
    ck_assert_str_eq(err_text(&t),
                     "Missing or invalid 'kind' field \xe2\x80\x94 must be a non-empty string");
    ck_assert_str_eq(t.env.kind, "");
    ck_assert_str_eq(t.env.corr_id, "c1");
    run_done(&t);
}
END_TEST

START_TEST(non_object_data_beats_unknown_kind)
{
    static const char *const datas[] = {"null", "[]", "\"x\"", "1", "true"};
    for (size_t i = 0; i < 5; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"kind\":\"no.such\"," HEAD ",\"data\":%s}", datas[i]);
        expect_raw(body, false, 400, "Invalid 'data' field \xe2\x80\x94 must be an object");
    }
}
END_TEST

START_TEST(wrong_version_beats_unknown_kind)
{
    expect_raw("{\"kind\":\"no.such\",\"head\":{\"corrId\":\"c\",\"version\":\"2025-01-01\"},"
               "\"data\":{}}",
               false, 400,
               "Unsupported protocol version '2025-01-01', supported versions: [\"2026-04-01\"]");
    /* ...but a data that is not an object comes first. */
    expect_raw("{\"kind\":\"x\",\"head\":{\"corrId\":\"c\",\"version\":\"v\"},\"data\":[]}", false,
               400, "Invalid 'data' field \xe2\x80\x94 must be an object");
}
END_TEST

START_TEST(unknown_kind_is_400_and_debug_kinds_need_debug_mode)
{
    expect_raw("{\"kind\":\"promise.nope\"," HEAD ",\"data\":{}}", true, 400,
               "Unknown operation: promise.nope");
    static const char *const kinds[] = {"debug.start", "debug.stop", "debug.reset", "debug.snap",
                                        "debug.tick"};
    for (size_t i = 0; i < 5; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"kind\":\"%s\"," HEAD ",\"data\":{\"x\":1}}", kinds[i]);
        expect_raw(body, false, 403, "Debug operations are disabled");
    }
    run_t t;
    run_op(&t, "debug.snap", "{\"anything\":[1]}");
    ck_assert_int_eq(t.rc, 0);
    ck_assert_int_eq(t.req.op, OP_DEBUG_SNAP);
    run_done(&t);
}
END_TEST

START_TEST(nul_bytes_in_envelope_strings_are_rejected)
{
    expect_raw("{\"kind\":\"promise.get\",\"head\":{\"corrId\":\"a\\u0000b\",\"version\":"
               "\"2026-04-01\"},\"data\":{\"id\":\"p\"}}",
               false, 400, "Invalid request envelope: corrId must not contain null bytes");
    expect_raw("{\"kind\":\"promise.get\",\"head\":{\"corrId\":\"c\",\"version\":\"2026-04-01\","
               "\"auth\":\"t\\u0000\"},\"data\":{\"id\":\"p\"}}",
               false, 400, "Invalid request envelope: auth must not contain null bytes");
}
END_TEST

START_TEST(integers_beyond_i64_fail_the_parse)
{
    run_t t;
    run_op(&t, "promise.create", "{\"id\":\"p\",\"timeoutAt\":99999999999999999999}");
    ck_assert_int_eq(t.rc, -1);
    ck_assert_int_eq(t.err.status, 400);
    const char *want = "Invalid request envelope: number out of range at line 1 column ";
    ck_assert_msg(strncmp(err_text(&t), want, strlen(want)) == 0, "%s", err_text(&t));
    run_done(&t);

    decode_ok(&t, "promise.create", "{\"id\":\"p\",\"timeoutAt\":9223372036854775807}");
    ck_assert_int_eq(t.req.u.promise_create.timeout_at, INT64_MAX);
    run_done(&t);
}
END_TEST

/* ---- promise.* ------------------------------------------------------------- */

START_TEST(promise_get_decodes_id)
{
    run_t t;
    decode_ok(&t, "promise.get", "{\"id\":\"p-1\",\"ignored\":true}");
    ck_assert_int_eq(t.req.op, OP_PROMISE_GET);
    ck_assert_str_eq(t.req.u.get.id, "p-1");
    run_done(&t);
    expect_400("promise.get", "{\"id\":\"\"}", "Promise ID is required");
    expect_400("promise.get", "{}", "Invalid request: missing field `id`");
    expect_400("promise.get", "{\"id\":null}",
               "Invalid request: invalid type: null, expected a string");
    expect_400("promise.get", "{\"id\":5}",
               "Invalid request: invalid type: integer `5`, expected a string");
    expect_400("promise.get", "{\"id\":\"a\\u0000\"}", "Promise ID must not contain null bytes");
}
END_TEST

START_TEST(promise_create_decodes_every_field_with_sorted_maps)
{
    run_t t;
    decode_ok(
        &t, "promise.create",
        "{\"id\":\"p\",\"timeoutAt\":5000,\"param\":{\"data\":\"eA==\",\"headers\":{\"z\":\"1\","
        "\"a\":\"2\",\"m\":\"3\"},\"x\":1},\"tags\":{\"resonate:target\":\"poll://any@g\","
        "\"b\":\"2\",\"B\":\"1\",\"\xc3\xa9\":\"3\"}}");
    const promise_create_t *c = &t.req.u.promise_create;
    ck_assert_int_eq(t.req.op, OP_PROMISE_CREATE);
    ck_assert_str_eq(c->id, "p");
    ck_assert_int_eq(c->timeout_at, 5000);
    ck_assert_str_eq(c->param.data, "eA==");
    ck_assert(c->param.has_headers);
    ck_assert_uint_eq(c->param.headers.n, 3);
    assert_kv(&c->param.headers, 0, "a", "2");
    assert_kv(&c->param.headers, 1, "m", "3");
    assert_kv(&c->param.headers, 2, "z", "1");
    ck_assert_uint_eq(c->tags.n, 4);
    assert_kv(&c->tags, 0, "B", "1");
    assert_kv(&c->tags, 1, "b", "2");
    assert_kv(&c->tags, 2, "resonate:target", "poll://any@g");
    assert_kv(&c->tags, 3, "\xc3\xa9", "3");
    ck_assert_str_eq(kvmap_get(&c->tags, "b"), "2");
    ck_assert_str_eq(kvmap_get(&c->param.headers, "z"), "1");
    run_done(&t);
}
END_TEST

START_TEST(promise_create_defaults_param_and_tags)
{
    run_t t;
    decode_ok(&t, "promise.create", "{\"id\":\"p\",\"timeoutAt\":0}");
    const promise_create_t *c = &t.req.u.promise_create;
    ck_assert(!c->param.has_headers);
    ck_assert_ptr_null(c->param.data);
    ck_assert_uint_eq(c->tags.n, 0);
    ck_assert_ptr_null(kvmap_get(&c->tags, "resonate:target"));
    run_done(&t);

    /* Null members of a value are absent; an empty headers map is kept. */
    decode_ok(&t, "promise.create",
              "{\"id\":\"p\",\"timeoutAt\":1,\"param\":{\"data\":null,\"headers\":null}}");
    ck_assert(!t.req.u.promise_create.param.has_headers);
    ck_assert_ptr_null(t.req.u.promise_create.param.data);
    run_done(&t);
    decode_ok(&t, "promise.create", "{\"id\":\"p\",\"timeoutAt\":1,\"param\":{\"headers\":{}}}");
    ck_assert(t.req.u.promise_create.param.has_headers);
    ck_assert_uint_eq(t.req.u.promise_create.param.headers.n, 0);
    run_done(&t);
}
END_TEST

START_TEST(promise_create_type_errors_follow_serde)
{
    const char *k = "promise.create";
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":5.0}",
               "Invalid request: invalid type: floating point `5.0`, expected i64");
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":1.5}",
               "Invalid request: invalid type: floating point `1.5`, expected i64");
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":1e20}",
               "Invalid request: invalid type: floating point `1e20`, expected i64");
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":-2.5e-7}",
               "Invalid request: invalid type: floating point `-2.5e-7`, expected i64");
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":0.001}",
               "Invalid request: invalid type: floating point `0.001`, expected i64");
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":123456.75}",
               "Invalid request: invalid type: floating point `123456.75`, expected i64");
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":\"5\"}",
               "Invalid request: invalid type: string \"5\", expected i64");
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":null}",
               "Invalid request: invalid type: null, expected i64");
    expect_400(k, "{\"id\":[],\"timeoutAt\":1}",
               "Invalid request: invalid type: sequence, expected a string");
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":1,\"param\":null}",
               "Invalid request: invalid type: null, expected struct PromiseValue");
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":1,\"param\":\"x\"}",
               "Invalid request: invalid type: string \"x\", expected struct PromiseValue");
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":1,\"param\":{\"data\":1}}",
               "Invalid request: invalid type: integer `1`, expected a string");
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":1,\"param\":{\"headers\":{\"a\":false}}}",
               "Invalid request: invalid type: boolean `false`, expected a string");
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":1,\"tags\":null}",
               "Invalid request: invalid type: null, expected a map");
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":1,\"tags\":{\"a\":{}}}",
               "Invalid request: invalid type: map, expected a string");
    expect_400(k, "{\"id\":\"p\"}", "Invalid request: missing field `timeoutAt`");
    expect_400(k, "{}", "Invalid request: missing field `id`");
}
END_TEST

START_TEST(decode_visits_members_in_key_order_then_reports_missing)
{
    const char *k = "promise.create";
    /* id sorts before timeoutAt, so its error wins whatever the text order. */
    expect_400(k, "{\"timeoutAt\":\"x\",\"id\":5}",
               "Invalid request: invalid type: integer `5`, expected a string");
    /* A bad present member beats a missing one. */
    expect_400(k, "{\"timeoutAt\":\"x\"}",
               "Invalid request: invalid type: string \"x\", expected i64");
    /* Inside a map the smallest bad key wins. */
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":1,\"tags\":{\"z\":1,\"a\":true}}",
               "Invalid request: invalid type: boolean `true`, expected a string");
    /* param < tags < timeoutAt */
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":null,\"tags\":1,\"param\":2}",
               "Invalid request: invalid type: integer `2`, expected struct PromiseValue");
}
END_TEST

START_TEST(strings_are_debug_escaped_in_type_errors)
{
    expect_400("promise.create", "{\"id\":\"p\",\"timeoutAt\":\"a\\\"b\\\\c\\td\\u0001\\u0000\"}",
               "Invalid request: invalid type: string \"a\\\"b\\\\c\\td\\u{1}\\0\", expected i64");
}
END_TEST

START_TEST(promise_create_field_rules_are_joined_in_order)
{
    expect_400("promise.create", "{\"id\":\"\",\"timeoutAt\":-1}",
               "Promise ID is required; TimeoutAt must be a non-negative integer");
    expect_400("promise.create", "{\"id\":\"p\",\"timeoutAt\":-1}",
               "TimeoutAt must be a non-negative integer");
}
END_TEST

START_TEST(promise_create_rejects_nul_bytes_after_field_rules)
{
    const char *k = "promise.create";
    expect_400(k, "{\"id\":\"a\\u0000b\",\"timeoutAt\":1}",
               "Promise ID must not contain null bytes");
    expect_400(k, "{\"id\":\"a\\u0000b\",\"timeoutAt\":-1}",
               "TimeoutAt must be a non-negative integer");
    expect_400(k, "{\"id\":\"a\",\"timeoutAt\":1,\"tags\":{\"k\":\"v\\u0000\"}}",
               "Tags must not contain null bytes");
    expect_400(k, "{\"id\":\"a\",\"timeoutAt\":1,\"param\":{\"data\":\"\\u0000\"}}",
               "Value data must not contain null bytes");
    expect_400(k, "{\"id\":\"a\",\"timeoutAt\":1,\"param\":{\"headers\":{\"h\":\"\\u0000\"}}}",
               "Value headers must not contain null bytes");
    /* Before the schema rules. */
    expect_400(k, "{\"id\":\"a\\u0000\",\"timeoutAt\":1,\"tags\":{\"resonate:origin\":\"b\"}}",
               "Promise ID must not contain null bytes");
}
END_TEST

START_TEST(promise_create_lineage_accepts_either_separator)
{
    const char *k = "promise.create";
    expect_ok(k, "{\"id\":\"root\",\"timeoutAt\":1,\"tags\":{\"resonate:origin\":\"root\"}}");
    expect_ok(k, "{\"id\":\"root:1.2\",\"timeoutAt\":1,\"tags\":{\"resonate:origin\":\"root\","
                 "\"resonate:branch\":\"root:1\",\"resonate:parent\":\"root:1\","
                 "\"resonate:prefix\":\"root\"}}");
    expect_ok(k, "{\"id\":\"root.1.2\",\"timeoutAt\":1,\"tags\":{\"resonate:origin\":\"root\","
                 "\"resonate:branch\":\"root.1\",\"resonate:parent\":\"root.1\"}}");
    /* DECISIONS #3: dots (and colons) are allowed in origin and prefix. */
    expect_ok(k, "{\"id\":\"w-1:wf.id.3\",\"timeoutAt\":1,\"tags\":{\"resonate:origin\":"
                 "\"w-1:wf.id\",\"resonate:prefix\":\"w-1:wf\"}}");
    expect_400(k, "{\"id\":\"rootx\",\"timeoutAt\":1,\"tags\":{\"resonate:origin\":\"root\"}}",
               "Promise ID must be prefixed by resonate:origin");
    expect_400(k, "{\"id\":\"r.1\",\"timeoutAt\":1,\"tags\":{\"resonate:branch\":\"r.2\"}}",
               "Promise ID must be prefixed by resonate:branch");
    expect_400(k, "{\"id\":\"r.1\",\"timeoutAt\":1,\"tags\":{\"resonate:parent\":\"r-1\"}}",
               "Promise ID and resonate:parent must belong to the same origin");
    /* First failing schema rule only. */
    expect_400(k,
               "{\"id\":\"x\",\"timeoutAt\":1,\"tags\":{\"resonate:origin\":\"a\","
               "\"resonate:branch\":\"b\",\"resonate:delay\":\"z\"}}",
               "Promise ID must be prefixed by resonate:origin");
}
END_TEST

/* The tags of the second-level detached child (DECISIONS #14): the
 * parent is a sibling minted off the same prefix, not a prefix of the id. */
#define NESTED_TAGS(id, parent, prefix)                                                            \
    "\"tags\":{\"resonate:origin\":\"" id "\",\"resonate:branch\":\"" id "\","                     \
    "\"resonate:parent\":\"" parent "\",\"resonate:prefix\":\"" prefix "\","                       \
    "\"resonate:scope\":\"global\",\"resonate:target\":\"poll://any@default\"}"
#define NESTED_CREATE(id, parent, prefix)                                                          \
    "{\"id\":\"" id "\",\"timeoutAt\":1," NESTED_TAGS(id, parent, prefix) "}"
#define NESTED_FENCE(id, parent, prefix)                                                           \
    "{\"id\":\"" parent                                                                            \
    "\",\"version\":1,\"action\":{\"kind\":\"promise.create\",\"data\":" NESTED_CREATE(            \
        id, parent, prefix) "}}"

START_TEST(promise_create_accepts_a_detached_child_of_a_detached_child)
{
    expect_ok("promise.create",
              NESTED_CREATE("nest-root.d10adbebf742c76", "nest-root.d0324200e2cd1f0", "nest-root"));
    expect_ok("task.fence",
              NESTED_FENCE("nest-root.d10adbebf742c76", "nest-root.d0324200e2cd1f0", "nest-root"));
    /* The first level (parent = the root, a prefix of the id) as before. */
    expect_ok("task.fence", NESTED_FENCE("nest-root.d0324200e2cd1f0", "nest-root", "nest-root"));
    /* The ':' scheme and roots holding the other separator (DECISIONS #3). */
    expect_ok("promise.create", NESTED_CREATE("root:d2", "root:d1", "root"));
    expect_ok("promise.create", NESTED_CREATE("w-1:wf.id.d2", "w-1:wf.id.d1", "w-1:wf.id"));
    expect_ok("promise.create", NESTED_CREATE("a.b.d2", "a.b.d1", "a.b"));
    /* A parent sharing only the '.' origin, or only the ':' origin. */
    expect_ok("promise.create", NESTED_CREATE("a.x:1", "a.y", "a"));
    expect_ok("promise.create", NESTED_CREATE("a:x.1", "a:y", "a"));
}
END_TEST

START_TEST(promise_create_refuses_a_parent_of_another_origin)
{
    const char *msg = "Promise ID and resonate:parent must belong to the same origin";
    expect_400("promise.create", NESTED_CREATE("nest-root.d1", "other.d0", "nest-root"), msg);
    expect_400("task.fence", NESTED_FENCE("nest-root.d1", "other.d0", "nest-root"), msg);
    expect_400("promise.create", NESTED_CREATE("a:1", "b:1", "a"), msg);
    /* "ab" is not the origin "a" under either rule. */
    expect_400("promise.create", NESTED_CREATE("a.1", "ab.1", "a"), msg);
    expect_400("promise.create", NESTED_CREATE("a:1", "ab:1", "a"), msg);
    /* A parent tag without the other lineage tags is checked alike. */
    expect_400("promise.create",
               "{\"id\":\"x.1\",\"timeoutAt\":1,\"tags\":{\"resonate:parent\":\"y\"}}", msg);
    /* origin and branch come first and keep the reference's rule and text. */
    expect_400("promise.create",
               "{\"id\":\"a.2\",\"timeoutAt\":1,\"tags\":{\"resonate:branch\":\"a.1\","
               "\"resonate:parent\":\"b\"}}",
               "Promise ID must be prefixed by resonate:branch");
}
END_TEST

START_TEST(promise_create_refuses_an_id_outside_its_prefix)
{
    const char *msg = "Promise ID must be prefixed by resonate:prefix";
    expect_400("promise.create",
               NESTED_CREATE("nest-root.d10adbebf742c76", "nest-root.d0324200e2cd1f0", "nest"),
               msg);
    expect_400("task.fence",
               NESTED_FENCE("nest-root.d10adbebf742c76", "nest-root.d0324200e2cd1f0", "other"),
               msg);
    expect_400("task.create",
               "{\"pid\":\"w\",\"ttl\":1,\"action\":{\"kind\":\"promise.create\",\"head\":{},"
               "\"data\":{\"id\":\"job\",\"timeoutAt\":1,\"tags\":{\"resonate:prefix\":\"jo\","
               "\"resonate:target\":\"poll://any@default\"}}}}",
               msg);
    /* Equal to the prefix, or extending it with either separator. */
    expect_ok("promise.create",
              "{\"id\":\"job\",\"timeoutAt\":1,\"tags\":{\"resonate:prefix\":\"job\"}}");
    expect_ok("promise.create",
              "{\"id\":\"job:1.2\",\"timeoutAt\":1,\"tags\":{\"resonate:prefix\":\"job:1\"}}");
}
END_TEST

START_TEST(promise_create_validates_delay_as_reference)
{
    const char *k = "promise.create";
    expect_ok(k, "{\"id\":\"p\",\"timeoutAt\":10,\"tags\":{\"resonate:delay\":\"9\","
                 "\"resonate:target\":\"http://w\"}}");
    expect_ok(k, "{\"id\":\"p\",\"timeoutAt\":10,\"tags\":{\"resonate:delay\":\"+0\","
                 "\"resonate:target\":\"http://w\"}}");
    static const char *const bad[] = {"x", "", " 1", "1 ", "-1", "1.0", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char data[256];
        snprintf(data, sizeof data,
                 "{\"id\":\"p\",\"timeoutAt\":10,\"tags\":{\"resonate:delay\":\"%s\","
                 "\"resonate:target\":\"http://w\"}}",
                 bad[i]);
        expect_400(k, data, "resonate:delay must be a non-negative integer");
    }
    expect_400(k,
               "{\"id\":\"p\",\"timeoutAt\":10,\"tags\":{\"resonate:delay\":\"10\","
               "\"resonate:target\":\"http://w\"}}",
               "resonate:delay must be less than timeoutAt");
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":10,\"tags\":{\"resonate:delay\":\"5\"}}",
               "resonate:delay requires a resonate:target tag");
}
END_TEST

/* Issue 9, finding 8: durations and resonate:delay are bounded by
 * TIME_MAX_MS (2^53 - 1) so no sum of times can overflow; timeoutAt is not. */
START_TEST(time_fields_are_bounded_by_time_max_ms)
{
#define ACTION(ttl)                                                                                \
    "{\"pid\":\"w\",\"ttl\":" ttl ",\"action\":{\"kind\":\"promise.create\",\"head\":{},"          \
    "\"data\":{\"id\":\"p\",\"timeoutAt\":9223372036854775807,"                                    \
    "\"tags\":{\"resonate:target\":\"http://w\"}}}}"
    expect_ok("task.create", ACTION("9007199254740991"));
    expect_400("task.create", ACTION("9223372036854775807"),
               "TTL must be at most 9007199254740991 ms");
#undef ACTION
    expect_ok("task.acquire",
              "{\"id\":\"t\",\"version\":0,\"pid\":\"w\",\"ttl\":9007199254740991}");
    expect_400("task.acquire",
               "{\"id\":\"t\",\"version\":0,\"pid\":\"w\",\"ttl\":9007199254740992}",
               "TTL must be at most 9007199254740991 ms");
#define DELAY(d)                                                                                   \
    "{\"id\":\"p\",\"timeoutAt\":9223372036854775807,\"tags\":{\"resonate:delay\":\"" d "\","      \
    "\"resonate:target\":\"http://w\"}}"
    expect_ok("promise.create", DELAY("9007199254740991"));
    expect_400("promise.create", DELAY("9223372036854775000"),
               "resonate:delay must be at most 9007199254740991");
#undef DELAY
#define SCHEDULE(t)                                                                                \
    "{\"id\":\"s\",\"cron\":\"* * * * *\",\"promiseId\":\"p\",\"promiseTimeout\":" t ","           \
    "\"promiseTags\":{\"resonate:target\":\"http://w\"}}"
    expect_ok("schedule.create", SCHEDULE("9007199254740991"));
    expect_400("schedule.create", SCHEDULE("9223372036854775807"),
               "Promise timeout must be at most 9007199254740991 ms");
#undef SCHEDULE
}
END_TEST

START_TEST(promise_create_target_must_be_an_address)
{
    const char *k = "promise.create";
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":1,\"tags\":{\"resonate:target\":\"\"}}",
               "Invalid resonate:target address");
    expect_400(k, "{\"id\":\"p\",\"timeoutAt\":1,\"tags\":{\"resonate:target\":\"local://any@g\"}}",
               "Invalid resonate:target address");
    /* Schema rules come first. */
    expect_400(k,
               "{\"id\":\"p\",\"timeoutAt\":1,\"tags\":{\"resonate:target\":\"x\","
               "\"resonate:origin\":\"q\"}}",
               "Promise ID must be prefixed by resonate:origin");
    expect_ok(
        k, "{\"id\":\"p\",\"timeoutAt\":1,\"tags\":{\"resonate:target\":\"poll://any@default\"}}");
}
END_TEST

START_TEST(promise_settle_decodes_state_and_value)
{
    run_t t;
    decode_ok(&t, "promise.settle",
              "{\"id\":\"p\",\"state\":\"rejected_canceled\",\"value\":{\"data\":\"x\"}}");
    ck_assert_int_eq(t.req.op, OP_PROMISE_SETTLE);
    ck_assert_str_eq(t.req.u.promise_settle.id, "p");
    ck_assert_int_eq(t.req.u.promise_settle.state, PSTATE_REJECTED_CANCELED);
    ck_assert_str_eq(t.req.u.promise_settle.value.data, "x");
    run_done(&t);
    decode_ok(&t, "promise.settle", "{\"id\":\"p\",\"state\":\"resolved\"}");
    ck_assert_int_eq(t.req.u.promise_settle.state, PSTATE_RESOLVED);
    ck_assert_ptr_null(t.req.u.promise_settle.value.data);
    ck_assert(!t.req.u.promise_settle.value.has_headers);
    run_done(&t);
    decode_ok(&t, "promise.settle", "{\"id\":\"p\",\"state\":\"rejected\"}");
    ck_assert_int_eq(t.req.u.promise_settle.state, PSTATE_REJECTED);
    run_done(&t);

    const char *k = "promise.settle";
    expect_400(k, "{\"id\":\"p\",\"state\":\"pending\"}",
               "Invalid request: unknown variant `pending`, expected one of `resolved`, "
               "`rejected`, `rejected_canceled`");
    expect_400(k, "{\"id\":\"p\",\"state\":\"Resolved\"}",
               "Invalid request: unknown variant `Resolved`, expected one of `resolved`, "
               "`rejected`, `rejected_canceled`");
    expect_400(k, "{\"id\":\"p\",\"state\":1}",
               "Invalid request: invalid type: integer `1`, expected string or map");
    expect_400(k, "{\"id\":\"p\"}", "Invalid request: missing field `state`");
    expect_400(k, "{\"id\":\"\",\"state\":\"resolved\"}", "Promise ID is required");
    expect_400(k, "{\"id\":\"p\",\"state\":\"resolved\",\"value\":null}",
               "Invalid request: invalid type: null, expected struct PromiseValue");
}
END_TEST

START_TEST(register_callback_rules)
{
    run_t t;
    decode_ok(&t, "promise.register_callback", "{\"awaited\":\"a:1\",\"awaiter\":\"a\"}");
    ck_assert_int_eq(t.req.op, OP_PROMISE_REGISTER_CALLBACK);
    ck_assert_str_eq(t.req.u.callback.awaited, "a:1");
    ck_assert_str_eq(t.req.u.callback.awaiter, "a");
    run_done(&t);

    const char *k = "promise.register_callback";
    expect_ok(k, "{\"awaited\":\"a.1\",\"awaiter\":\"a.2\"}");
    expect_400(k, "{\"awaited\":\"\",\"awaiter\":\"\"}",
               "Awaited promise ID is required; Awaiter promise ID is required");
    expect_400(k, "{\"awaited\":\"a\",\"awaiter\":\"a\"}",
               "Awaited and awaiter must be different promises");
    expect_400(k, "{\"awaited\":\"b:1\",\"awaiter\":\"a\"}",
               "Awaiter and awaited must belong to the same origin");
    expect_400(k, "{\"awaiter\":\"a\"}", "Invalid request: missing field `awaited`");
}
END_TEST

START_TEST(register_listener_rules)
{
    run_t t;
    decode_ok(&t, "promise.register_listener",
              "{\"awaited\":\"p\",\"address\":\"poll://uni@default/w1\"}");
    ck_assert_int_eq(t.req.op, OP_PROMISE_REGISTER_LISTENER);
    ck_assert_str_eq(t.req.u.listener.awaited, "p");
    ck_assert_str_eq(t.req.u.listener.address, "poll://uni@default/w1");
    run_done(&t);

    const char *k = "promise.register_listener";
    expect_400(k, "{\"awaited\":\"\",\"address\":\"\"}",
               "Awaited promise ID is required; Address is required");
    expect_400(k, "{\"awaited\":\"p\",\"address\":\"local://uni@g/x\"}",
               "Invalid listener address");
    expect_400(k, "{\"awaited\":\"p\"}", "Invalid request: missing field `address`");
}
END_TEST

START_TEST(promise_search_defaults_and_filters)
{
    run_t t;
    decode_ok(&t, "promise.search", "{}");
    ck_assert_int_eq(t.req.op, OP_PROMISE_SEARCH);
    ck_assert(!t.req.u.search.has_state);
    ck_assert_int_eq(t.req.u.search.limit, 100);
    ck_assert_uint_eq(t.req.u.search.tags.n, 0);
    ck_assert_ptr_null(t.req.u.search.cursor);
    run_done(&t);

    decode_ok(&t, "promise.search",
              "{\"state\":\"rejected_timedout\",\"tags\":{\"y\":\"2\",\"x\":\"1\"},\"limit\":1000,"
              "\"cursor\":\"p9\"}");
    ck_assert(t.req.u.search.has_state);
    ck_assert_int_eq(t.req.u.search.state, PSTATE_REJECTED_TIMEDOUT);
    assert_kv(&t.req.u.search.tags, 0, "x", "1");
    assert_kv(&t.req.u.search.tags, 1, "y", "2");
    ck_assert_int_eq(t.req.u.search.limit, 1000);
    ck_assert_str_eq(t.req.u.search.cursor, "p9");
    run_done(&t);

    decode_ok(&t, "promise.search",
              "{\"state\":null,\"tags\":null,\"limit\":null,\"cursor\":null}");
    ck_assert(!t.req.u.search.has_state);
    ck_assert_int_eq(t.req.u.search.limit, 100);
    ck_assert_ptr_null(t.req.u.search.cursor);
    run_done(&t);
}
END_TEST

START_TEST(search_limits_are_checked)
{
    static const char *const kinds[] = {"promise.search", "task.search", "schedule.search"};
    for (size_t i = 0; i < 3; i++) {
        expect_400(kinds[i], "{\"limit\":0}", "Limit must be a positive integer");
        expect_400(kinds[i], "{\"limit\":-5}", "Limit must be a positive integer");
        expect_400(kinds[i], "{\"limit\":1001}",
                   "Invalid 'limit' \xe2\x80\x94 must be between 1 and 1000");
        expect_400(kinds[i], "{\"limit\":2.0}",
                   "Invalid request: invalid type: floating point `2.0`, expected i64");
        expect_ok(kinds[i], "{\"limit\":1}");
    }
    expect_400("promise.search", "{\"state\":\"done\"}",
               "Invalid request: unknown variant `done`, expected one of `pending`, `resolved`, "
               "`rejected`, `rejected_canceled`, `rejected_timedout`");
    expect_400("task.search", "{\"state\":\"done\"}",
               "Invalid request: unknown variant `done`, expected one of `pending`, `acquired`, "
               "`suspended`, `halted`, `fulfilled`");
}
END_TEST

START_TEST(task_and_schedule_search_defaults)
{
    run_t t;
    decode_ok(&t, "task.search", "{\"state\":\"acquired\",\"tags\":{\"a\":1}}");
    ck_assert(t.req.u.search.has_state);
    ck_assert_int_eq(t.req.u.search.state, TSTATE_ACQUIRED);
    ck_assert_int_eq(t.req.u.search.limit, 100);
    ck_assert_uint_eq(t.req.u.search.tags.n, 0); /* not a task.search member */
    run_done(&t);

    decode_ok(&t, "schedule.search", "{\"tags\":{\"k\":\"v\"},\"state\":7}");
    ck_assert_int_eq(t.req.op, OP_SCHEDULE_SEARCH);
    ck_assert_int_eq(t.req.u.search.limit, 10);
    ck_assert(!t.req.u.search.has_state);
    assert_kv(&t.req.u.search.tags, 0, "k", "v");
    run_done(&t);
}
END_TEST

/* ---- task.* ------------------------------------------------------------------ */

#define CREATE_ACTION(data) "{\"kind\":\"promise.create\",\"head\":{},\"data\":" data "}"
#define TARGET "\"resonate:target\":\"poll://any@default/w\""

START_TEST(task_id_operations_decode_id)
{
    static const struct {
        const char *kind;
        op_t op;
    } ops[] = {{"task.get", OP_TASK_GET},
               {"task.halt", OP_TASK_HALT},
               {"task.continue", OP_TASK_CONTINUE}};
    for (size_t i = 0; i < 3; i++) {
        run_t t;
        decode_ok(&t, ops[i].kind, "{\"id\":\"t1\"}");
        ck_assert_int_eq(t.req.op, ops[i].op);
        ck_assert_str_eq(t.req.u.get.id, "t1");
        run_done(&t);
        expect_400(ops[i].kind, "{\"id\":\"\"}", "Task ID is required");
        expect_400(ops[i].kind, "{\"id\":\"\\u0000\"}", "Task ID must not contain null bytes");
    }
}
END_TEST

START_TEST(task_create_decodes_nested_action)
{
    run_t t;
    decode_ok(&t, "task.create",
              "{\"pid\":\"w\",\"ttl\":60000,\"action\":" CREATE_ACTION(
                  "{\"id\":\"wf\",\"timeoutAt\":99,\"param\":{\"data\":\"d\"},\"tags\":{" TARGET
                  ",\"a\":\"b\"}}") "}");
    ck_assert_int_eq(t.req.op, OP_TASK_CREATE);
    ck_assert_str_eq(t.req.u.task_create.pid, "w");
    ck_assert_int_eq(t.req.u.task_create.ttl, 60000);
    ck_assert_str_eq(t.req.u.task_create.action.id, "wf");
    ck_assert_int_eq(t.req.u.task_create.action.timeout_at, 99);
    ck_assert_str_eq(t.req.u.task_create.action.param.data, "d");
    assert_kv(&t.req.u.task_create.action.tags, 0, "a", "b");
    assert_kv(&t.req.u.task_create.action.tags, 1, "resonate:target", "poll://any@default/w");
    run_done(&t);
    /* The action's head may be any value, null included; its kind is not checked. */
    expect_ok("task.create",
              "{\"pid\":\"w\",\"ttl\":1,\"action\":{\"kind\":\"whatever\",\"head\":null,"
              "\"data\":{\"id\":\"wf\",\"timeoutAt\":9,\"tags\":{" TARGET "}}}}");
}
END_TEST

START_TEST(task_create_rules)
{
    const char *k = "task.create";
    expect_400(
        k,
        "{\"pid\":\"\",\"ttl\":0,\"action\":" CREATE_ACTION("{\"id\":\"\",\"timeoutAt\":-1}") "}",
        "Process ID is required; TTL must be a positive integer; Promise ID is required; "
        "TimeoutAt must be a non-negative integer");
    expect_400(
        k,
        "{\"pid\":\"w\",\"ttl\":1,\"action\":" CREATE_ACTION("{\"id\":\"wf\",\"timeoutAt\":9}") "}",
        "Action must have a resonate:target tag");
    expect_400(k,
               "{\"pid\":\"w\",\"ttl\":1,\"action\":" CREATE_ACTION(
                   "{\"id\":\"wf\",\"timeoutAt\":9,\"tags\":{" TARGET
                   ",\"resonate:delay\":\"1\"}}") "}",
               "Action must not have a resonate:delay tag");
    /* The promise.create rules come first. */
    expect_400(k,
               "{\"pid\":\"w\",\"ttl\":1,\"action\":" CREATE_ACTION(
                   "{\"id\":\"wf\",\"timeoutAt\":9,\"tags\":{\"resonate:delay\":\"1\"}}") "}",
               "resonate:delay requires a resonate:target tag");
    expect_400(k,
               "{\"pid\":\"w\",\"ttl\":1,\"action\":" CREATE_ACTION(
                   "{\"id\":\"wf\",\"timeoutAt\":9,\"tags\":{\"resonate:target\":\"nope\"}}") "}",
               "Invalid resonate:target address");
    expect_400(k, "{\"pid\":\"w\",\"ttl\":1,\"action\":\"x\"}",
               "Invalid request: invalid type: string \"x\", expected struct TaskCreateAction");
    expect_400(k, "{\"pid\":\"w\",\"ttl\":1,\"action\":{\"kind\":\"promise.create\",\"data\":{}}}",
               "Invalid request: missing field `id`");
    expect_400(k,
               "{\"pid\":\"w\",\"ttl\":1,\"action\":{\"kind\":\"promise.create\",\"data\":"
               "{\"id\":\"wf\",\"timeoutAt\":9}}}",
               "Invalid request: missing field `head`");
    expect_400(k, "{\"pid\":\"w\",\"ttl\":1,\"action\":{\"kind\":\"k\",\"head\":{},\"data\":[]}}",
               "Invalid request: invalid type: sequence, expected struct PromiseCreateData");
    /* action sorts before pid. */
    expect_400(k, "{\"pid\":5,\"action\":{}}", "Invalid request: missing field `kind`");
    expect_400(k, "{\"action\":" CREATE_ACTION("{\"id\":\"wf\",\"timeoutAt\":9}") "}",
               "Invalid request: missing field `pid`");
}
END_TEST

START_TEST(task_acquire_and_release_rules)
{
    run_t t;
    decode_ok(&t, "task.acquire", "{\"id\":\"t\",\"version\":3,\"pid\":\"w\",\"ttl\":5}");
    ck_assert_int_eq(t.req.op, OP_TASK_ACQUIRE);
    ck_assert_str_eq(t.req.u.task_acquire.id, "t");
    ck_assert_int_eq(t.req.u.task_acquire.version, 3);
    ck_assert_str_eq(t.req.u.task_acquire.pid, "w");
    ck_assert_int_eq(t.req.u.task_acquire.ttl, 5);
    run_done(&t);
    expect_400("task.acquire", "{\"id\":\"\",\"version\":-1,\"pid\":\"\",\"ttl\":0}",
               "Task ID is required; Version must be a non-negative integer; Process ID is "
               "required; TTL must be a positive integer");
    expect_400("task.acquire", "{\"id\":\"t\",\"version\":0,\"pid\":\"w\"}",
               "Invalid request: missing field `ttl`");

    decode_ok(&t, "task.release", "{\"id\":\"t\",\"version\":0}");
    ck_assert_int_eq(t.req.op, OP_TASK_RELEASE);
    ck_assert_str_eq(t.req.u.task_release.id, "t");
    ck_assert_int_eq(t.req.u.task_release.version, 0);
    run_done(&t);
    expect_400("task.release", "{\"id\":\"t\",\"version\":-1}",
               "Version must be a non-negative integer");
    expect_400("task.release", "{\"id\":\"t\",\"version\":1.0}",
               "Invalid request: invalid type: floating point `1.0`, expected i64");
}
END_TEST

START_TEST(task_fulfill_rules)
{
    run_t t;
    decode_ok(
        &t, "task.fulfill",
        "{\"id\":\"wf\",\"version\":2,\"action\":{\"kind\":\"promise.settle\",\"head\":{},"
        "\"data\":{\"id\":\"wf\",\"state\":\"resolved\",\"value\":{\"headers\":{\"h\":\"v\"}}}}}");
    ck_assert_int_eq(t.req.op, OP_TASK_FULFILL);
    ck_assert_str_eq(t.req.u.task_fulfill.id, "wf");
    ck_assert_int_eq(t.req.u.task_fulfill.version, 2);
    ck_assert_str_eq(t.req.u.task_fulfill.action.id, "wf");
    ck_assert_int_eq(t.req.u.task_fulfill.action.state, PSTATE_RESOLVED);
    assert_kv(&t.req.u.task_fulfill.action.value.headers, 0, "h", "v");
    run_done(&t);

    const char *k = "task.fulfill";
    expect_400(k,
               "{\"id\":\"wf\",\"version\":2,\"action\":{\"kind\":\"k\",\"head\":1,\"data\":"
               "{\"id\":\"other\",\"state\":\"rejected\"}}}",
               "Action ID must match the task ID");
    expect_400(k,
               "{\"id\":\"\",\"version\":2,\"action\":{\"kind\":\"k\",\"head\":1,\"data\":"
               "{\"id\":\"\",\"state\":\"rejected\"}}}",
               "Task ID is required; Promise ID is required");
    expect_400(k, "{\"id\":\"wf\",\"version\":2,\"action\":{\"kind\":\"k\",\"head\":1,\"data\":5}}",
               "Invalid request: invalid type: integer `5`, expected struct TaskFulfillActionData");
    expect_400(k,
               "{\"id\":\"wf\",\"version\":2,\"action\":{\"kind\":\"k\",\"head\":1,\"data\":"
               "{\"id\":\"wf\",\"state\":\"pending\"}}}",
               "Invalid request: unknown variant `pending`, expected one of `resolved`, "
               "`rejected`, `rejected_canceled`");
}
END_TEST

#define CB(awaited, awaiter)                                                                       \
    "{\"kind\":\"promise.register_callback\",\"head\":{},\"data\":{\"awaited\":\"" awaited         \
    "\",\"awaiter\":\"" awaiter "\"}}"

START_TEST(task_suspend_collects_awaited_ids)
{
    run_t t;
    decode_ok(
        &t, "task.suspend",
        "{\"id\":\"wf\",\"version\":1,\"actions\":[" CB("wf.1", "wf") "," CB("wf:2", "wf") "]}");
    ck_assert_int_eq(t.req.op, OP_TASK_SUSPEND);
    ck_assert_str_eq(t.req.u.task_suspend.id, "wf");
    ck_assert_int_eq(t.req.u.task_suspend.version, 1);
    ck_assert_uint_eq(t.req.u.task_suspend.n_awaited, 2);
    ck_assert_str_eq(t.req.u.task_suspend.awaited[0], "wf.1");
    ck_assert_str_eq(t.req.u.task_suspend.awaited[1], "wf:2");
    run_done(&t);
}
END_TEST

START_TEST(task_suspend_rules)
{
    const char *k = "task.suspend";
    expect_400(k, "{\"id\":\"wf\",\"version\":1,\"actions\":[]}", "Actions array cannot be empty");
    expect_400(k, "{\"id\":\"wf\",\"version\":1,\"actions\":[" CB("", "") "," CB("", "wf") "]}",
               "Awaited promise ID is required; Awaiter promise ID is required");
    expect_400(k, "{\"id\":\"wf\",\"version\":1,\"actions\":[" CB("wf.1", "wf.2") "]}",
               "All action awaiter IDs must match the task ID");
    expect_400(k, "{\"id\":\"wf\",\"version\":1,\"actions\":[" CB("wf", "wf") "]}",
               "Awaited and awaiter must be different promises");
    expect_400(k, "{\"id\":\"wf\",\"version\":1,\"actions\":[" CB("x.1", "wf") "]}",
               "Awaiter and awaited must belong to the same origin");
    /* Each nested failure is reported once. */
    expect_400(k,
               "{\"id\":\"wf\",\"version\":1,\"actions\":[" CB("wf", "wf") "," CB("x", "wf") "," CB(
                   "wf", "wf") "]}",
               "Awaited and awaiter must be different promises; Awaiter and awaited must belong "
               "to the same origin");
    expect_400(k, "{\"id\":\"wf\",\"version\":1,\"actions\":{}}",
               "Invalid request: invalid type: map, expected a sequence");
    expect_400(k, "{\"id\":\"wf\",\"version\":1,\"actions\":[1]}",
               "Invalid request: invalid type: integer `1`, expected struct TaskSuspendAction");
    expect_400(k,
               "{\"id\":\"wf\",\"version\":1,\"actions\":[{\"kind\":\"k\",\"data\":{\"awaited\":"
               "\"a\",\"awaiter\":\"b\"}}]}",
               "Invalid request: missing field `head`");
}
END_TEST

#define FENCE(kind, data)                                                                          \
    "{\"id\":\"wf\",\"version\":1,\"action\":{\"kind\":\"" kind "\",\"data\":" data "}}"

START_TEST(task_fence_decodes_create_and_settle)
{
    run_t t;
    decode_ok(&t, "task.fence",
              FENCE("promise.create",
                    "{\"id\":\"wf.0\",\"timeoutAt\":7,\"tags\":{\"resonate:delay\":"
                    "\"3\"," TARGET "}}"));
    ck_assert_int_eq(t.req.op, OP_TASK_FENCE);
    ck_assert_str_eq(t.req.u.task_fence.id, "wf");
    ck_assert_int_eq(t.req.u.task_fence.version, 1);
    ck_assert(t.req.u.task_fence.is_create);
    ck_assert_str_eq(t.req.u.task_fence.action_kind, "promise.create");
    ck_assert_str_eq(t.req.u.task_fence.create.id, "wf.0");
    ck_assert_int_eq(t.req.u.task_fence.create.timeout_at, 7);
    ck_assert_str_eq(kvmap_get(&t.req.u.task_fence.create.tags, "resonate:delay"), "3");
    run_done(&t);

    decode_ok(&t, "task.fence",
              "{\"id\":\"wf\",\"version\":1,\"action\":{\"kind\":\"promise.settle\",\"head\":null,"
              "\"data\":{\"id\":\"wf.0\",\"state\":\"rejected\"}}}");
    ck_assert(!t.req.u.task_fence.is_create);
    ck_assert_str_eq(t.req.u.task_fence.action_kind, "promise.settle");
    ck_assert_str_eq(t.req.u.task_fence.settle.id, "wf.0");
    ck_assert_int_eq(t.req.u.task_fence.settle.state, PSTATE_REJECTED);
    run_done(&t);
}
END_TEST

START_TEST(task_fence_rules)
{
    const char *k = "task.fence";
    expect_400(k, FENCE("promise.get", "{\"id\":\"x\"}"), "Invalid fence action kind");
    expect_400(k, FENCE("promise.create", "{\"id\":\"wf\",\"timeoutAt\":1}"),
               "Action ID must not equal the task ID");
    expect_400(k, FENCE("promise.create", "{\"id\":\"wf.1\"}"),
               "Invalid action data: missing field `timeoutAt`");
    expect_400(
        k, FENCE("promise.create", "\"x\""),
        "Invalid action data: invalid type: string \"x\", expected struct PromiseCreateData");
    expect_400(k, FENCE("promise.settle", "{\"id\":\"wf.1\",\"state\":\"x\"}"),
               "Invalid action data: unknown variant `x`, expected one of `resolved`, "
               "`rejected`, `rejected_canceled`");
    expect_400(k, FENCE("promise.settle", "null"),
               "Invalid action data: invalid type: null, expected struct PromiseSettleData");
    expect_400(k, FENCE("promise.create", "{\"id\":\"\",\"timeoutAt\":1}"),
               "Promise ID is required");
    expect_400(k, FENCE("promise.settle", "{\"id\":\"\",\"state\":\"resolved\"}"),
               "Promise ID is required");
    expect_400(k,
               FENCE("promise.create", "{\"id\":\"wf.1\",\"timeoutAt\":1,\"tags\":{"
                                       "\"resonate:target\":\"bad\"}}"),
               "Invalid resonate:target address");
    expect_400(k,
               FENCE("promise.create", "{\"id\":\"wf.1\",\"timeoutAt\":1,\"tags\":{"
                                       "\"resonate:origin\":\"zz\"}}"),
               "Promise ID must be prefixed by resonate:origin");
    /* Outer fields are decoded and validated before the action. */
    expect_400(k, "{\"id\":\"wf\",\"version\":-1,\"action\":{\"kind\":\"nope\",\"data\":1}}",
               "Version must be a non-negative integer");
    expect_400(k, "{\"id\":\"wf\",\"version\":1,\"action\":{\"data\":{}}}",
               "Invalid request: missing field `kind`");
    expect_400(k, "{\"id\":\"wf\",\"version\":1,\"action\":{\"kind\":\"promise.create\"}}",
               "Invalid request: missing field `data`");
}
END_TEST

START_TEST(task_heartbeat_accepts_empty_list_and_checks_origin)
{
    run_t t;
    decode_ok(&t, "task.heartbeat", "{\"pid\":\"w\",\"tasks\":[]}");
    ck_assert_int_eq(t.req.op, OP_TASK_HEARTBEAT);
    ck_assert_str_eq(t.req.u.task_heartbeat.pid, "w");
    ck_assert_uint_eq(t.req.u.task_heartbeat.n_tasks, 0);
    run_done(&t);

    decode_ok(
        &t, "task.heartbeat",
        "{\"pid\":\"w\",\"tasks\":[{\"id\":\"a\",\"version\":1},{\"id\":\"a:1\",\"version\":-4}]}");
    ck_assert_uint_eq(t.req.u.task_heartbeat.n_tasks, 2);
    ck_assert_str_eq(t.req.u.task_heartbeat.tasks[0].id, "a");
    ck_assert_int_eq(t.req.u.task_heartbeat.tasks[0].version, 1);
    ck_assert_str_eq(t.req.u.task_heartbeat.tasks[1].id, "a:1");
    ck_assert_int_eq(t.req.u.task_heartbeat.tasks[1].version, -4);
    run_done(&t);

    const char *k = "task.heartbeat";
    expect_400(
        k, "{\"pid\":\"w\",\"tasks\":[{\"id\":\"a\",\"version\":1},{\"id\":\"b\",\"version\":1}]}",
        "All tasks must belong to the same origin");
    expect_400(k, "{\"pid\":\"\",\"tasks\":[]}", "Process ID is required");
    expect_400(k, "{\"pid\":\"w\",\"tasks\":[{\"id\":\"a\"}]}",
               "Invalid request: missing field `version`");
    expect_400(k, "{\"pid\":\"w\"}", "Invalid request: missing field `tasks`");
    expect_400(k, "{\"pid\":\"w\",\"tasks\":null}",
               "Invalid request: invalid type: null, expected a sequence");
}
END_TEST

/* ---- schedule.*, debug.tick ---------------------------------------------------- */

START_TEST(schedule_create_decodes_and_defaults)
{
    run_t t;
    decode_ok(&t, "schedule.create",
              "{\"id\":\"s\",\"cron\":\"* * * * *\",\"promiseId\":\"p.{{.timestamp}}\","
              "\"promiseTimeout\":1000,\"promiseTags\":{\"resonate:target\":\"x\",\"k\":\"v\"},"
              "\"promiseParam\":{\"data\":\"d\"}}");
    const schedule_create_t *s = &t.req.u.schedule_create;
    ck_assert_int_eq(t.req.op, OP_SCHEDULE_CREATE);
    ck_assert_str_eq(s->id, "s");
    ck_assert_str_eq(s->cron, "* * * * *");
    ck_assert_str_eq(s->promise_id, "p.{{.timestamp}}");
    ck_assert_int_eq(s->promise_timeout, 1000);
    ck_assert_str_eq(s->promise_param.data, "d");
    assert_kv(&s->promise_tags, 0, "k", "v");
    assert_kv(&s->promise_tags, 1, "resonate:target", "x");
    run_done(&t);
}
END_TEST

START_TEST(schedule_create_rules)
{
    const char *k = "schedule.create";
    expect_400(k, "{\"id\":\"\",\"cron\":\"\",\"promiseId\":\"\",\"promiseTimeout\":-1}",
               "Schedule ID is required; Cron expression is required; Promise ID template is "
               "required; Promise timeout must be a non-negative integer");
    expect_400(k, "{\"id\":\"a.b\",\"cron\":\"c\",\"promiseId\":\"p\",\"promiseTimeout\":1}",
               "Schedule ID must not contain '.'");
    expect_400(k, "{\"id\":\"a\",\"cron\":\"c\",\"promiseId\":\"p\",\"promiseTimeout\":1}",
               "promiseTags must include a resonate:target tag");
    expect_400(k,
               "{\"id\":\"a\",\"cron\":\"* * *\",\"promiseId\":\"p\",\"promiseTimeout\":1,"
               "\"promiseTags\":{\"resonate:target\":\"x\"}}",
               "Invalid cron expression");
    /* The schema rules come before the cron expression. */
    expect_400(k, "{\"id\":\"a.b\",\"cron\":\"bad\",\"promiseId\":\"p\",\"promiseTimeout\":1}",
               "Schedule ID must not contain '.'");
    expect_400(k, "{\"id\":\"a\",\"cron\":\"c\",\"promiseId\":\"p\"}",
               "Invalid request: missing field `promiseTimeout`");
    expect_400(k,
               "{\"id\":\"a\",\"cron\":\"c\",\"promiseId\":\"p\",\"promiseTimeout\":1,"
               "\"promiseParam\":null}",
               "Invalid request: invalid type: null, expected struct PromiseValue");
}
END_TEST

START_TEST(schedule_get_and_delete_decode_id)
{
    run_t t;
    decode_ok(&t, "schedule.delete", "{\"id\":\"s\"}");
    ck_assert_int_eq(t.req.op, OP_SCHEDULE_DELETE);
    ck_assert_str_eq(t.req.u.get.id, "s");
    run_done(&t);
    expect_400("schedule.get", "{\"id\":\"\"}", "Schedule ID is required");
    expect_400("schedule.delete", "{\"id\":\"\"}", "Schedule ID is required");
}
END_TEST

START_TEST(debug_tick_requires_integer_time_matching_debug_time)
{
    run_t t;
    decode_ok(&t, "debug.tick", "{\"time\":5000}");
    ck_assert_int_eq(t.req.op, OP_DEBUG_TICK);
    ck_assert_int_eq(t.req.u.tick.time, 5000);
    run_done(&t);

    static const char *const bad[] = {"{}", "{\"time\":null}", "{\"time\":5.0}",
                                      "{\"time\":\"5\"}"};
    for (size_t i = 0; i < 4; i++)
        expect_400("debug.tick", bad[i], "Missing or invalid 'time' field");

    expect_raw("{\"kind\":\"debug.tick\",\"head\":{\"corrId\":\"c\",\"version\":\"2026-04-01\","
               "\"resonate:debug_time\":4},\"data\":{\"time\":5}}",
               true, 400, "resonate:debug_time must equal data.time");
    run_raw(&t,
            "{\"kind\":\"debug.tick\",\"head\":{\"corrId\":\"c\",\"version\":\"2026-04-01\","
            "\"resonate:debug_time\":5},\"data\":{\"time\":5}}",
            true);
    ck_assert_int_eq(t.rc, 0);
    run_done(&t);
}
END_TEST

/* ---- the authorization checkpoint ------------------------------------------ */

/* A checkpoint that refuses any resource id outside "A:" and counts its
 * calls; what the server's authorize does, minus the token. */
static int authz_calls;

static bool refuse_outside_a(void *udata, request_t *req, response_t *err)
{
    (void)udata;
    authz_calls++;
    arena_t *a = arena_new();
    const char *const *ids;
    size_t n = request_resource_ids(req, a, &ids);
    bool ok = n > 0 || request_is_scoped(req);
    for (size_t i = 0; i < n; i++)
        ok = ok && ids[i] && strncmp(ids[i], "A:", 2) == 0;
    arena_free(a);
    if (!ok)
        response_error(err, 403, "refused");
    return ok;
}

/* Decodes kind/data (debug mode as given) through the checkpoint; returns
 * the status (0 = accepted) and sets *msg to the error text. */
static int run_authz(const char *kind, const char *data, bool debug, char *msg, size_t msglen)
{
    char body[8192];
    snprintf(body, sizeof body, "{\"kind\":\"%s\"," HEAD ",\"data\":%s}", kind, data);
    run_t t;
    memset(&t, 0, sizeof t);
    t.a = arena_new();
    authz_calls = 0;
    ck_assert_int_eq(wire_decode_envelope(t.a, body, strlen(body), &t.env, &t.err), 0);
    t.rc = wire_decode_request_authz(t.a, &t.env, debug, refuse_outside_a, NULL, &t.req, &t.err);
    int status = t.rc == 0 ? 0 : t.err.status;
    snprintf(msg, msglen, "%s", t.rc == 0 ? "" : err_text(&t));
    run_done(&t);
    return status;
}

/* Asserts run_authz's status, text (unless NULL) and number of checkpoint
 * calls. */
static void expect_authz(const char *kind, const char *data, int status, const char *msg, int calls)
{
    char got[256];
    int st = run_authz(kind, data, false, got, sizeof got);
    ck_assert_msg(st == status && (!msg || strcmp(got, msg) == 0) && authz_calls == calls,
                  "%s %s: %d \"%s\" after %d checks", kind, data, st, got, authz_calls);
}

#define ACT(kind, data) "{\"kind\":\"" kind "\",\"head\":{},\"data\":" data "}"

/* Issue 9, finding 11 and operations.md 3.5: a request naming an id outside
 * the prefix is refused whatever else is wrong with it, so validation texts
 * never speak about foreign ids. */
START_TEST(authorization_comes_before_every_semantic_rule)
{
    static const struct {
        const char *kind, *data;
    } cases[] = {
        /* "All tasks must belong to the same origin" otherwise. */
        {"task.heartbeat", "{\"pid\":\"w\",\"tasks\":[{\"id\":\"A:1\",\"version\":1},"
                           "{\"id\":\"B:1\",\"version\":1}]}"},
        /* Empty pid and a foreign task. */
        {"task.heartbeat", "{\"pid\":\"\",\"tasks\":[{\"id\":\"B:1\",\"version\":-1}]}"},
        /* Cross origin. */
        {"promise.register_callback", "{\"awaited\":\"A:x\",\"awaiter\":\"B:y\"}"},
        {"promise.register_callback", "{\"awaited\":\"B:x\",\"awaiter\":\"B:x\"}"},
        {"promise.register_listener", "{\"awaited\":\"B:x\",\"address\":\"not an address\"}"},
        {"promise.create", "{\"id\":\"B:x\",\"timeoutAt\":-1}"},
        {"promise.create", "{\"id\":\"B:x\",\"timeoutAt\":1,\"tags\":{\"resonate:origin\":\"C\"}}"},
        {"promise.settle", "{\"id\":\"\",\"state\":\"resolved\"}"},
        {"promise.get", "{\"id\":\"\"}"},
        {"task.get", "{\"id\":\"B:t\"}"},
        {"schedule.create", "{\"id\":\"B.s\",\"cron\":\"bad\",\"promiseId\":\"A:{{.id}}\","
                            "\"promiseTimeout\":-1}"},
        {"schedule.create", "{\"id\":\"A:s\",\"cron\":\"bad\",\"promiseId\":\"B:{{.id}}\","
                            "\"promiseTimeout\":1}"},
        {"schedule.delete", "{\"id\":\"\"}"},
        {"task.acquire", "{\"id\":\"B:t\",\"version\":-1,\"pid\":\"\",\"ttl\":0}"},
        {"task.release", "{\"id\":\"B:t\",\"version\":-1}"},
        {"task.create", "{\"pid\":\"\",\"ttl\":0,\"action\":" ACT(
                            "promise.create", "{\"id\":\"B:x\",\"timeoutAt\":-1}") "}"},
        /* "Action ID must match the task ID" otherwise. */
        {"task.fulfill", "{\"id\":\"A:t\",\"version\":1,\"action\":" ACT(
                             "promise.settle", "{\"id\":\"B:t\",\"state\":\"resolved\"}") "}"},
        {"task.suspend",
         "{\"id\":\"A:t\",\"version\":1,\"actions\":[" ACT(
             "promise.register_callback", "{\"awaited\":\"B:x\",\"awaiter\":\"A:t\"}") "]}"},
        {"task.fence", "{\"id\":\"A:t\",\"version\":-1,\"action\":" ACT(
                           "promise.create", "{\"id\":\"B:x\",\"timeoutAt\":-1}") "}"},
        {"task.fence", "{\"id\":\"B:t\",\"version\":1,\"action\":" ACT(
                           "promise.settle", "{\"id\":\"B:t\",\"state\":\"resolved\"}") "}"},
        /* Kinds with no id, not scoped: refused before unknown/disabled. */
        {"debug.snap", "{}"},
        {"no.such.kind", "{}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_authz(cases[i].kind, cases[i].data, 403, "refused", 1);
}
END_TEST

START_TEST(structural_errors_come_before_authorization)
{
    expect_authz("promise.get", "{\"id\":5}", 400, NULL, 0);
    expect_authz("task.heartbeat", "{\"pid\":\"w\"}", 400, "Invalid request: missing field `tasks`",
                 0);
}
END_TEST

START_TEST(authorized_requests_are_checked_once_then_validated_as_before)
{
    expect_authz("promise.get", "{\"id\":\"A:x\"}", 0, "", 1);
    expect_authz("promise.search", "{\"limit\":5}", 0, "", 1);
    expect_authz("task.heartbeat", "{\"pid\":\"w\",\"tasks\":[]}", 0, "", 1);
    /* Inside the prefix, the rules answer as without the checkpoint. */
    expect_authz("promise.register_callback", "{\"awaited\":\"A:x\",\"awaiter\":\"A:x\"}", 400,
                 "Awaited and awaiter must be different promises", 1);
    expect_authz("task.heartbeat", "{\"pid\":\"\",\"tasks\":[{\"id\":\"A:1\",\"version\":1}]}", 400,
                 "Process ID is required", 1);
    expect_authz("promise.search", "{\"limit\":0}", 400, NULL, 1);
    /* A fence whose inner action does not decode: the outer rules first,
     * then the inner error, as before. */
    expect_authz(
        "task.fence",
        "{\"id\":\"A:t\",\"version\":-1,\"action\":" ACT("promise.create", "{\"timeoutAt\":1}") "}",
        400, "Version must be a non-negative integer", 1);
    expect_authz(
        "task.fence",
        "{\"id\":\"A:t\",\"version\":1,\"action\":" ACT("promise.create", "{\"timeoutAt\":1}") "}",
        400, "Invalid action data: missing field `id`", 1);
    expect_authz(
        "task.fence",
        "{\"id\":\"A:t\",\"version\":1,\"action\":" ACT("promise.get", "{\"id\":\"A:x\"}") "}", 400,
        "Invalid fence action kind", 1);
}
END_TEST

static Suite *decode_suite(void)
{
    Suite *s = suite_create("decode");
    TCase *env = tcase_create("envelope");
    tcase_add_test(env, envelope_fills_kind_corr_id_token_and_debug_time);
    tcase_add_test(env, envelope_null_auth_and_debug_time_are_absent);
    tcase_add_test(env, unparseable_bodies_report_serde_like_errors_with_position);
    tcase_add_test(env, unparseable_body_echoes_default_kind_and_corr_id);
    tcase_add_test(env, envelope_type_errors_recover_kind_and_corr_id);
    tcase_add_test(env, envelope_shape_errors_follow_serde);
    tcase_add_test(env, envelope_members_are_checked_in_document_order);
    tcase_add_test(env, duplicate_envelope_members_are_rejected);
    tcase_add_test(env, fast_json_load_matches_jansson);
    tcase_add_test(env, request_document_is_built_in_the_arena_without_malloc);
    tcase_add_test(env, request_document_from_jansson_fallback_is_built_in_the_arena);
    tcase_add_test(env, request_document_parse_errors_leave_nothing_behind);
    tcase_add_test(env, large_request_document_holds_about_its_size_in_the_arena);
    tcase_add_test(env, jansson_outside_request_documents_uses_the_heap);
    tcase_add_test(env, duplicates_elsewhere_keep_the_last_value);
    tcase_add_test(env, duplicate_kind_echoes_the_last_value);
    tcase_add_test(env, empty_kind_is_rejected_and_echoed_empty);
    tcase_add_test(env, non_object_data_beats_unknown_kind);
    tcase_add_test(env, wrong_version_beats_unknown_kind);
    tcase_add_test(env, unknown_kind_is_400_and_debug_kinds_need_debug_mode);
    tcase_add_test(env, nul_bytes_in_envelope_strings_are_rejected);
    tcase_add_test(env, integers_beyond_i64_fail_the_parse);
    suite_add_tcase(s, env);

    TCase *pr = tcase_create("promise");
    tcase_add_test(pr, promise_get_decodes_id);
    tcase_add_test(pr, promise_create_decodes_every_field_with_sorted_maps);
    tcase_add_test(pr, promise_create_defaults_param_and_tags);
    tcase_add_test(pr, promise_create_type_errors_follow_serde);
    tcase_add_test(pr, decode_visits_members_in_key_order_then_reports_missing);
    tcase_add_test(pr, strings_are_debug_escaped_in_type_errors);
    tcase_add_test(pr, promise_create_field_rules_are_joined_in_order);
    tcase_add_test(pr, promise_create_rejects_nul_bytes_after_field_rules);
    tcase_add_test(pr, promise_create_lineage_accepts_either_separator);
    tcase_add_test(pr, promise_create_accepts_a_detached_child_of_a_detached_child);
    tcase_add_test(pr, promise_create_refuses_a_parent_of_another_origin);
    tcase_add_test(pr, promise_create_refuses_an_id_outside_its_prefix);
    tcase_add_test(pr, promise_create_validates_delay_as_reference);
    tcase_add_test(pr, time_fields_are_bounded_by_time_max_ms);
    tcase_add_test(pr, promise_create_target_must_be_an_address);
    tcase_add_test(pr, promise_settle_decodes_state_and_value);
    tcase_add_test(pr, register_callback_rules);
    tcase_add_test(pr, register_listener_rules);
    tcase_add_test(pr, promise_search_defaults_and_filters);
    tcase_add_test(pr, search_limits_are_checked);
    tcase_add_test(pr, task_and_schedule_search_defaults);
    suite_add_tcase(s, pr);

    TCase *tk = tcase_create("task");
    tcase_add_test(tk, task_id_operations_decode_id);
    tcase_add_test(tk, task_create_decodes_nested_action);
    tcase_add_test(tk, task_create_rules);
    tcase_add_test(tk, task_acquire_and_release_rules);
    tcase_add_test(tk, task_fulfill_rules);
    tcase_add_test(tk, task_suspend_collects_awaited_ids);
    tcase_add_test(tk, task_suspend_rules);
    tcase_add_test(tk, task_fence_decodes_create_and_settle);
    tcase_add_test(tk, task_fence_rules);
    tcase_add_test(tk, task_heartbeat_accepts_empty_list_and_checks_origin);
    suite_add_tcase(s, tk);

    TCase *sc = tcase_create("schedule_debug");
    tcase_add_test(sc, schedule_create_decodes_and_defaults);
    tcase_add_test(sc, schedule_create_rules);
    tcase_add_test(sc, schedule_get_and_delete_decode_id);
    tcase_add_test(sc, debug_tick_requires_integer_time_matching_debug_time);
    suite_add_tcase(s, sc);

    TCase *az = tcase_create("authorization");
    tcase_add_test(az, authorization_comes_before_every_semantic_rule);
    tcase_add_test(az, structural_errors_come_before_authorization);
    tcase_add_test(az, authorized_requests_are_checked_once_then_validated_as_before);
    suite_add_tcase(s, az);
    return s;
}

UNIT_SUITE(decode_suite)
