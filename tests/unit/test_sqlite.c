/* test_sqlite.c - the SQLite store: records, queries, transactions, schema.
 *
 * The tests of the port's contract (the "memory" and "search" cases) run
 * against the PostgreSQL adapter too, as the case "postgres", when
 * RESONATE_TEST_PG_URL names a database the tests may empty
 * (scripts/pg-cluster.sh starts one); tests/unit/test_postgres.c has that
 * adapter's own tests. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/wire.h"
#include "store/kvjson.h"
#include "store/sqlite_internal.h"
#include "store/postgres.h"
#include "store/sqlite.h"
#include "tests/unit/unit.h"

#define KVS(...) ((kvmap_t){(kv_t[]){__VA_ARGS__}, sizeof((kv_t[]){__VA_ARGS__}) / sizeof(kv_t)})
#define NO_KVS ((kvmap_t){NULL, 0})

#define OK(call) ck_assert_msg((call) == STORE_OK, "%s: %s", #call, store_errmsg(fx.st))

static struct {
    store_t *st;
    arena_t *a;
    char path[64]; /* file database of the test, "" for :memory: */
} fx;

static void setup_mem(void)
{
    char err[256] = "";
    fx.path[0] = '\0';
    fx.st = store_sqlite_open(":memory:", err, sizeof err);
    ck_assert_msg(fx.st != NULL, "open: %s", err);
    fx.a = arena_new();
}

/* The PostgreSQL adapter on RESONATE_TEST_PG_URL, emptied. */
static void setup_pg(void)
{
    char err[512] = "";
    fx.path[0] = '\0';
    fx.st = store_postgres_open(getenv("RESONATE_TEST_PG_URL"), err, sizeof err);
    ck_assert_msg(fx.st != NULL, "open: %s", err);
    ck_assert_int_eq(store_reset(fx.st), STORE_OK);
    fx.a = arena_new();
}

static void remove_db(const char *path)
{
    char side[160];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

/* A fresh, empty file name under /tmp (mkstemp's file is removed so SQLite
 * creates it). */
static void tmp_db(char *path, size_t len)
{
    snprintf(path, len, "/tmp/resonate-sqlite-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(path);
}

static store_t *open_file(const char *path)
{
    char err[512] = "";
    store_t *st = store_sqlite_open(path, err, sizeof err);
    ck_assert_msg(st != NULL, "open %s: %s", path, err);
    return st;
}

static void setup_file(void)
{
    tmp_db(fx.path, sizeof fx.path);
    fx.st = open_file(fx.path);
    fx.a = arena_new();
}

static void teardown(void)
{
    if (fx.st)
        store_close(fx.st);
    fx.st = NULL;
    arena_free(fx.a);
    fx.a = NULL;
    if (fx.path[0])
        remove_db(fx.path);
}

static promise_t mk_promise(const char *id, pstate_t state, int64_t timeout_at)
{
    promise_t p = {0};
    p.id = id;
    p.state = state;
    p.timeout_at = timeout_at;
    p.created_at = 100;
    if (state != PSTATE_PENDING) {
        p.has_settled_at = true;
        p.settled_at = 150;
    }
    return p;
}

static void insert_promise(const char *id, pstate_t state, int64_t timeout_at, kvmap_t tags)
{
    promise_t p = mk_promise(id, state, timeout_at);
    p.tags = tags;
    OK(store_promise_insert(fx.st, &p));
}

static promise_t *get_promise(const char *id)
{
    promise_t *p = (promise_t *)1;
    OK(store_promise_get(fx.st, fx.a, id, &p));
    return p;
}

static void assert_kvmap_eq(const kvmap_t *got, const kvmap_t *want)
{
    ck_assert_uint_eq(got->n, want->n);
    for (size_t i = 0; i < want->n; i++) {
        ck_assert_str_eq(got->items[i].key, want->items[i].key);
        ck_assert_str_eq(got->items[i].val, want->items[i].val);
    }
}

static search_req_t search(int64_t limit, const char *cursor)
{
    search_req_t q = {0};
    q.limit = limit;
    q.cursor = cursor;
    return q;
}

/* Ids of a promise list joined by ',' (for compact assertions). */
static const char *promise_ids(const promise_t *ps, size_t n)
{
    char *out = arena_alloc(fx.a, 1024);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out, ",");
        strcat(out, ps[i].id);
    }
    return out;
}

static const char *joined(const char *const *xs, size_t n)
{
    char *out = arena_alloc(fx.a, 1024);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out, ",");
        strcat(out, xs[i]);
    }
    return out;
}

static int raw_user_version(const char *path)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    int v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* ---- promises -------------------------------------------------------------- */

START_TEST(promise_round_trip_keeps_every_field)
{
    promise_t p = mk_promise("wf:ü-日本-🎉", PSTATE_PENDING, 5000);
    p.param.has_headers = true;
    p.param.headers = KVS({"a", "1"}, {"b", "ünï\"cødé\n"});
    p.param.data = "aGk=";
    p.tags = KVS({"resonate:target", "poll://any@g"}, {"x", "日本"});
    OK(store_promise_insert(fx.st, &p));

    promise_t *got = get_promise("wf:ü-日本-🎉");
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got->id, "wf:ü-日本-🎉");
    ck_assert_int_eq(got->state, PSTATE_PENDING);
    ck_assert(got->param.has_headers);
    assert_kvmap_eq(&got->param.headers, &p.param.headers);
    ck_assert_str_eq(got->param.data, "aGk=");
    ck_assert(!got->value.has_headers);
    ck_assert_ptr_null(got->value.data);
    assert_kvmap_eq(&got->tags, &p.tags);
    ck_assert_int_eq(got->timeout_at, 5000);
    ck_assert_int_eq(got->created_at, 100);
    ck_assert(!got->has_settled_at);
}
END_TEST

/* Memory statistics cost a global mutex per allocation (store/sqlite.c):
 * the store turns them off before its first connection, so SQLite counts
 * nothing however much it allocates. */
START_TEST(sqlite_keeps_no_memory_statistics_once_a_store_is_open)
{
    promise_t p = mk_promise("stats", PSTATE_PENDING, 5000);
    OK(store_promise_insert(fx.st, &p));
    ck_assert_ptr_nonnull(get_promise("stats"));
    ck_assert_int_eq(sqlite3_memory_used(), 0);
    ck_assert_int_eq(sqlite3_memory_highwater(0), 0);
}
END_TEST

/* The store thread runs a batch without savepoints (no statement journal)
 * and relies on this: a write that fails inside the transaction leaves it
 * to the caller's rollback, which keeps nothing of the batch, not even the
 * writes before the failure; the batch then runs again with savepoints. */
START_TEST(the_writer_is_optimistic_and_its_rollback_after_a_failed_write_keeps_nothing)
{
    ck_assert(fx.st->optimistic);
    promise_t a = mk_promise("a", PSTATE_PENDING, 10), b = mk_promise("b", PSTATE_PENDING, 10);
    OK(store_begin(fx.st));
    OK(store_promise_insert(fx.st, &a));
    OK(store_promise_insert(fx.st, &b));
    ck_assert_int_eq(store_promise_insert(fx.st, &a), STORE_ERR);
    OK(store_rollback(fx.st));
    ck_assert_ptr_null(get_promise("a"));
    ck_assert_ptr_null(get_promise("b"));
}
END_TEST

START_TEST(promise_absent_and_empty_headers_and_data_stay_distinct)
{
    promise_t p = mk_promise("p", PSTATE_RESOLVED, 5000);
    p.param.has_headers = true; /* {} */
    p.param.data = NULL;
    p.value.has_headers = false;
    p.value.data = "";
    OK(store_promise_insert(fx.st, &p));

    promise_t *got = get_promise("p");
    ck_assert(got->param.has_headers);
    ck_assert_uint_eq(got->param.headers.n, 0);
    ck_assert_ptr_null(got->param.data);
    ck_assert(!got->value.has_headers);
    ck_assert_ptr_nonnull(got->value.data);
    ck_assert_str_eq(got->value.data, "");
    ck_assert_uint_eq(got->tags.n, 0);
    ck_assert(got->has_settled_at);
    ck_assert_int_eq(got->settled_at, 150);
}
END_TEST

START_TEST(promise_get_of_missing_id_returns_null)
{
    ck_assert_ptr_null(get_promise("nope"));
}
END_TEST

START_TEST(promise_insert_of_existing_id_fails_with_message)
{
    insert_promise("p", PSTATE_PENDING, 10, NO_KVS);
    promise_t p = mk_promise("p", PSTATE_PENDING, 10);
    ck_assert_int_eq(store_promise_insert(fx.st, &p), STORE_ERR);
    ck_assert_ptr_nonnull(strcasestr(store_errmsg(fx.st), "unique"));
    ck_assert_ptr_nonnull(strstr(store_errmsg(fx.st), "promise_insert"));
}
END_TEST

START_TEST(promise_settle_stores_value_and_leaves_the_due_queue)
{
    insert_promise("p", PSTATE_PENDING, 10, KVS({"k", "v"}));
    pvalue_t v = {.has_headers = true, .headers = KVS({"h", "1"}), .data = "ZG9uZQ=="};
    OK(store_promise_settle(fx.st, "p", PSTATE_REJECTED_CANCELED, &v, 7));

    promise_t *got = get_promise("p");
    ck_assert_int_eq(got->state, PSTATE_REJECTED_CANCELED);
    ck_assert(got->value.has_headers);
    assert_kvmap_eq(&got->value.headers, &v.headers);
    ck_assert_str_eq(got->value.data, "ZG9uZQ==");
    ck_assert(got->has_settled_at);
    ck_assert_int_eq(got->settled_at, 7);
    assert_kvmap_eq(&got->tags, &KVS({"k", "v"}));

    const char **ids;
    size_t n;
    OK(store_promise_due(fx.st, fx.a, 1000, 10, &ids, &n));
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(promise_settle_with_absent_value_stores_nulls)
{
    insert_promise("p", PSTATE_PENDING, 10, NO_KVS);
    pvalue_t v = {0};
    OK(store_promise_settle(fx.st, "p", PSTATE_REJECTED_TIMEDOUT, &v, 10));
    promise_t *got = get_promise("p");
    ck_assert_int_eq(got->state, PSTATE_REJECTED_TIMEDOUT);
    ck_assert(!got->value.has_headers);
    ck_assert_ptr_null(got->value.data);
}
END_TEST

START_TEST(tags_with_escapes_and_unicode_round_trip)
{
    kvmap_t tags =
        KVS({"", "empty key"}, {"a\"b", "quote"}, {"back\\slash", "\\"},
            {"ctl", "\x01\x1f\t\r\n\b\f"}, {"emoji", "🎉 ok"}, {"slash/", "a/b"}, {"ü", "日本語"});
    insert_promise("p", PSTATE_PENDING, 10, tags);
    promise_t *got = get_promise("p");
    assert_kvmap_eq(&got->tags, &tags);
}
END_TEST

/* ---- kvjson ---------------------------------------------------------------- */

START_TEST(kvjson_encoding_matches_wire_dump_byte_for_byte)
{
    kvmap_t maps[] = {
        NO_KVS,
        KVS({"a", "1"}),
        KVS({"a\"b", "q"}, {"ctl", "\x01\x1f\x7f\t"}, {"u", "ü日本🎉"}, {"x/y", "\\"}),
    };
    for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
        kvbuf_t b = {0};
        ck_assert_int_eq(kvjson_encode(&b, &maps[i]), 0);
        json_t *j = wire_kvmap(&maps[i]);
        char *want = wire_dump(j);
        json_decref(j);
        ck_assert_uint_eq(b.len, strlen(want));
        ck_assert_msg(memcmp(b.p, want, b.len) == 0, "map %zu: %.*s vs %s", i, (int)b.len, b.p,
                      want);

        kvmap_t back;
        ck_assert_int_eq(kvjson_decode(fx.a, want, strlen(want), &back), 0);
        assert_kvmap_eq(&back, &maps[i]);
        free(want);
        kvbuf_free(&b);
    }
}
END_TEST

START_TEST(kvjson_decode_sorts_keys_and_reads_every_escape)
{
    const char *text = " { \"b\" : \"\\u00fc\\ud83c\\udf89\" , \"a\":\"\\/\\\"\\\\\\n\" } ";
    kvmap_t m;
    ck_assert_int_eq(kvjson_decode(fx.a, text, strlen(text), &m), 0);
    ck_assert_uint_eq(m.n, 2);
    ck_assert_str_eq(m.items[0].key, "a");
    ck_assert_str_eq(m.items[0].val, "/\"\\\n");
    ck_assert_str_eq(m.items[1].key, "b");
    ck_assert_str_eq(m.items[1].val, "ü🎉");
}
END_TEST

START_TEST(kvjson_decode_rejects_what_is_not_a_string_map)
{
    const char *bad[] = {
        "",
        "[]",
        "{\"a\":1}",
        "{\"a\":\"x\"",
        "{\"a\":\"x\"} x",
        "{\"a\" \"x\"}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\q\"}",
        "{\"b\":\"1\",\"a\":\"2\",\"b\":\"3\"}",
        "{\"a\":\"x\",}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kvmap_t m;
        ck_assert_msg(kvjson_decode(fx.a, bad[i], strlen(bad[i]), &m) == -1, "accepted %s", bad[i]);
    }
    kvmap_t m;
    ck_assert_int_eq(kvjson_decode(fx.a, "{}", 2, &m), 0);
    ck_assert_uint_eq(m.n, 0);
}
END_TEST

/* ---- promise queries ------------------------------------------------------- */

START_TEST(promise_search_filters_by_state_and_every_tag)
{
    insert_promise("a", PSTATE_PENDING, 10, KVS({"k", "v"}, {"x.y\"z", "1"}));
    insert_promise("b", PSTATE_RESOLVED, 10, KVS({"k", "v"}));
    insert_promise("c", PSTATE_PENDING, 10, KVS({"k", "w"}));
    insert_promise("d", PSTATE_PENDING, 10, NO_KVS);
    promise_t *ps;
    size_t n;
    const char *cur;

    search_req_t q = search(10, NULL);
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "a,b,c,d");
    ck_assert_ptr_null(cur);

    q.has_state = true;
    q.state = PSTATE_PENDING;
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "a,c,d");

    q.tags = KVS({"k", "v"});
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "a");

    q.has_state = false;
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "a,b");
    assert_kvmap_eq(&ps[1].tags, &KVS({"k", "v"}));

    q.tags = KVS({"k", "v"}, {"x.y\"z", "1"});
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "a");

    q.tags = KVS({"k", "v"}, {"missing", "1"});
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(promise_search_pages_with_cursor_set_to_the_last_id_while_more_match)
{
    const char *ids[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < 5; i++)
        insert_promise(ids[i], PSTATE_PENDING, 10, NO_KVS);
    promise_t *ps;
    size_t n;
    const char *cur;

    search_req_t q = search(2, NULL);
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "a,b");
    ck_assert_str_eq(cur, "b");

    q.cursor = "b";
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "c,d");
    ck_assert_str_eq(cur, "d");

    q.cursor = "d";
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "e");
    ck_assert_ptr_null(cur);

    q.cursor = "c";
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "d,e");
    ck_assert_ptr_null(cur); /* exactly limit left: no further page */

    /* Limit 0 (never from the wire): no page, so no cursor either. */
    q = search(0, NULL);
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(cur);
}
END_TEST

START_TEST(promise_search_orders_and_pages_ids_by_bytes)
{
    const char *ids[] = {"é", "a", "Z", "B", "", "aa"};
    for (size_t i = 0; i < 6; i++)
        insert_promise(ids[i], PSTATE_PENDING, 10, NO_KVS);
    promise_t *ps;
    size_t n;
    const char *cur;
    search_req_t q = search(10, NULL);
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_uint_eq(n, 6);
    ck_assert_str_eq(promise_ids(ps, n), ",B,Z,a,aa,é");

    q.cursor = "";
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "B,Z,a,aa,é");
}
END_TEST

/* DECISIONS #15: id_prefix is a byte range; the cursor cannot leave it. */
START_TEST(promise_search_with_id_prefix_returns_only_ids_starting_with_it)
{
    const char *ids[] = {"ab",
                         "ab\xff",
                         "ab\xff\xff",
                         "ab\xff\xffz",
                         "ac",
                         "\xff\xff",
                         "\xff\xff"
                         "a",
                         "\xff\xfe",
                         "abc",
                         "a"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        insert_promise(ids[i], PSTATE_PENDING, 10, NO_KVS);
    promise_t *ps;
    size_t n;
    const char *cur;
    search_req_t q = search(10, NULL);
    q.id_prefix = "ab";
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "ab,abc,ab\xff,ab\xff\xff,ab\xff\xffz");
    /* A prefix ending in 0xFF bytes: the upper bound moves to the byte
     * before them. */
    q.id_prefix = "ab\xff";
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "ab\xff,ab\xff\xff,ab\xff\xffz");
    /* Only 0xFF bytes: no upper bound at all. */
    q.id_prefix = "\xff\xff";
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "\xff\xff,\xff\xff"
                                         "a");
    /* Cursor below the prefix: from the prefix on; inside: after it; above:
     * nothing. */
    q.id_prefix = "ab";
    q.cursor = "a";
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_uint_eq(n, 5);
    q.cursor = "abc";
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "ab\xff,ab\xff\xff,ab\xff\xffz");
    q.cursor = "ac";
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(cur);
    /* Paging inside the prefix reports more only for matches. */
    q = search(4, NULL);
    q.id_prefix = "ab";
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_uint_eq(n, 4);
    ck_assert_ptr_nonnull(cur);
    q = search(5, NULL);
    q.id_prefix = "ab";
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_ptr_null(cur);
    /* "" is no restriction. */
    q = search(20, NULL);
    q.id_prefix = "";
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_uint_eq(n, sizeof ids / sizeof *ids);
}
END_TEST

/* ---- searches against a brute-force filter ----------------------------------
 *
 * Random promises, tasks and schedules (a fixed seed), then many random
 * searches, each paged to its end and compared with a plain filter over
 * the rows as inserted. While the id range holds fewer rows than
 * STORE_SEARCH_SCAN_MAX a page is exact (limit matches, cursor = last id
 * exactly when more match); past it, a page may end early with a cursor,
 * but paging on yields exactly the matches. */

static schedule_t mk_schedule(const char *id, int64_t next_run_at, kvmap_t tags);

static uint64_t rnd_state;

static uint32_t rnd(uint32_t n)
{
    rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rnd_state >> 33) % n;
}

/* Ids over a small alphabet (0xFF included) so that prefixes and cursors
 * hit many rows. */
static const char *rnd_id(void)
{
    static const char alpha[] = {'a', 'b', 'c', '\xff'};
    size_t len = 1 + rnd(7);
    char *id = arena_alloc(fx.a, len + 1);
    for (size_t i = 0; i < len; i++)
        id[i] = alpha[rnd(4)];
    id[len] = '\0';
    return id;
}

/* Each of four keys (sorted) with probability 1/2, values "0".."2". */
static kvmap_t rnd_tags(size_t max)
{
    static const char *const keys[] = {"k0", "k1", "k2", "resonate:x"};
    static const char *const vals[] = {"0", "1", "2"};
    kvmap_t m = {arena_alloc(fx.a, 4 * sizeof(kv_t)), 0};
    for (size_t i = 0; i < 4 && m.n < max; i++)
        if (rnd(2))
            m.items[m.n++] = (kv_t){keys[i], vals[rnd(3)]};
    return m;
}

typedef struct {
    const char *id;
    int state;
    kvmap_t tags;
} row_t;

static bool row_matches(const row_t *r, const search_req_t *q, bool use_state, bool use_tags)
{
    if (q->id_prefix && strncmp(r->id, q->id_prefix, strlen(q->id_prefix)) != 0)
        return false;
    if (use_state && q->has_state && r->state != q->state)
        return false;
    for (size_t i = 0; use_tags && i < q->tags.n; i++) {
        const char *v = kvmap_get(&r->tags, q->tags.items[i].key);
        if (!v || strcmp(v, q->tags.items[i].val) != 0)
            return false;
    }
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef enum { S_PROMISE, S_TASK, S_SCHEDULE } skind_t;

/* One page of kind as ids. */
static void search_page(skind_t kind, const search_req_t *q, const char ***ids, size_t *n,
                        const char **cur)
{
    *ids = NULL;
    if (kind == S_PROMISE) {
        promise_t *ps;
        OK(store_promise_search(fx.st, fx.a, q, &ps, n, cur));
        *ids = arena_alloc(fx.a, (*n + 1) * sizeof(char *));
        for (size_t i = 0; i < *n; i++)
            (*ids)[i] = ps[i].id;
    } else if (kind == S_TASK) {
        task_t *ts;
        OK(store_task_search(fx.st, fx.a, q, &ts, n, cur));
        *ids = arena_alloc(fx.a, (*n + 1) * sizeof(char *));
        for (size_t i = 0; i < *n; i++)
            (*ids)[i] = ts[i].id;
    } else {
        schedule_t *ss;
        OK(store_schedule_search(fx.st, fx.a, q, &ss, n, cur));
        *ids = arena_alloc(fx.a, (*n + 1) * sizeof(char *));
        for (size_t i = 0; i < *n; i++)
            (*ids)[i] = ss[i].id;
    }
}

/* Pages q through to its end (at most max_pages pages) and compares every
 * page with the brute-force matches of rows. */
static void check_search(skind_t kind, const row_t *rows, size_t n_rows, search_req_t q,
                         size_t max_pages)
{
    const char **want = arena_alloc(fx.a, (n_rows + 1) * sizeof(char *));
    size_t n_want = 0;
    for (size_t i = 0; i < n_rows; i++)
        if (row_matches(&rows[i], &q, kind != S_SCHEDULE, kind != S_TASK) &&
            (!q.cursor || strcmp(rows[i].id, q.cursor) > 0))
            want[n_want++] = rows[i].id;
    qsort(want, n_want, sizeof *want, cmp_str);
    /* The rows of the id range, sorted: fewer than the cap ahead of the
     * cursor means an exact page. */
    const char **scope = arena_alloc(fx.a, (n_rows + 1) * sizeof(char *));
    size_t n_scope = 0, ahead = 0;
    for (size_t i = 0; i < n_rows; i++)
        if (row_matches(&rows[i], &q, false, false))
            scope[n_scope++] = rows[i].id;
    qsort(scope, n_scope, sizeof *scope, cmp_str);
    size_t at = 0;
    for (size_t page = 0; page < max_pages; page++) {
        while (ahead < n_scope && q.cursor && strcmp(scope[ahead], q.cursor) <= 0)
            ahead++;
        const char **ids;
        size_t n;
        const char *cur;
        search_page(kind, &q, &ids, &n, &cur);
        ck_assert_uint_le(n, (size_t)q.limit);
        for (size_t i = 0; i < n; i++) {
            ck_assert_uint_lt(at + i, n_want);
            ck_assert_str_eq(ids[i], want[at + i]);
        }
        at += n;
        if (n_scope - ahead < STORE_SEARCH_SCAN_MAX || kind == S_TASK) {
            ck_assert_uint_eq(n, (size_t)q.limit < n_want - (at - n) ? (size_t)q.limit
                                                                     : n_want - (at - n));
            if (at < n_want)
                ck_assert_str_eq(cur, ids[n - 1]);
            else
                ck_assert_ptr_null(cur);
        }
        if (!cur) {
            ck_assert_uint_eq(at, n_want);
            return;
        }
        /* Progress: the cursor never goes back. */
        if (q.cursor)
            ck_assert_int_gt(strcmp(cur, q.cursor), 0);
        if (n)
            ck_assert_int_ge(strcmp(cur, ids[n - 1]), 0);
        q.cursor = cur;
    }
}

static search_req_t rnd_search(bool tags)
{
    static const int64_t limits[] = {1, 2, 3, 10, 100, 1000};
    static const char *const prefixes[] = {"a", "ab", "\xff", "c\xff", "", "ba"};
    search_req_t q = {0};
    q.limit = limits[rnd(6)];
    q.has_state = rnd(2);
    if (tags)
        q.tags = rnd_tags(1 + rnd(3));
    if (rnd(3) == 0)
        q.cursor = rnd(4) ? rnd_id() : "";
    if (rnd(3) == 0)
        q.id_prefix = prefixes[rnd(6)];
    return q;
}

START_TEST(searches_match_a_brute_force_filter_on_random_data)
{
    rnd_state = 11;
    enum { N_PROMISES = 3000, N_TASKS = 800, N_SCHEDULES = 400, N_QUERIES = 300 };
    row_t *ps = arena_alloc(fx.a, N_PROMISES * sizeof *ps);
    row_t *ts = arena_alloc(fx.a, N_TASKS * sizeof *ts);
    row_t *ss = arena_alloc(fx.a, N_SCHEDULES * sizeof *ss);
    size_t np = 0, nt = 0, ns = 0;
    OK(store_begin(fx.st));
    while (np < N_PROMISES) {
        promise_t *old;
        row_t r = {rnd_id(), (int)rnd(5), rnd_tags(4)};
        OK(store_promise_get(fx.st, fx.a, r.id, &old));
        if (old)
            continue;
        insert_promise(r.id, (pstate_t)r.state, 10, r.tags);
        ps[np++] = r;
    }
    /* Settling changes the state, never the tags. */
    for (size_t i = 0; i < np; i += 7) {
        if (ps[i].state != PSTATE_PENDING)
            continue;
        OK(store_promise_settle(fx.st, ps[i].id, PSTATE_RESOLVED, NULL, 20));
        ps[i].state = PSTATE_RESOLVED;
    }
    while (nt < N_TASKS) {
        task_t *old;
        row_t r = {rnd_id(), (int)rnd(5), NO_KVS};
        OK(store_task_get(fx.st, fx.a, r.id, &old));
        if (old)
            continue;
        OK(store_task_insert(fx.st, r.id, (tstate_t)r.state, 0));
        ts[nt++] = r;
    }
    while (ns < N_SCHEDULES) {
        schedule_t *old;
        row_t r = {rnd_id(), 0, rnd_tags(4)};
        OK(store_schedule_get(fx.st, fx.a, r.id, &old));
        if (old)
            continue;
        schedule_t s = mk_schedule(r.id, 10, r.tags);
        OK(store_schedule_insert(fx.st, &s));
        ss[ns++] = r;
    }
    OK(store_commit(fx.st));
    for (int i = 0; i < N_QUERIES; i++) {
        search_req_t q = rnd_search(true);
        if (q.has_state)
            q.state = (int)rnd(5);
        check_search(S_PROMISE, ps, np, q, 30);
        q = rnd_search(true);
        check_search(S_SCHEDULE, ss, ns, q, 30);
        q = rnd_search(false);
        if (q.has_state)
            q.state = (int)rnd(5);
        check_search(S_TASK, ts, nt, q, 30);
    }
}
END_TEST

/* Pages q until no cursor comes back (at most 100 calls); every page
 * before the last must be empty (the cap, not the limit, ended it) and
 * move the cursor forward. Returns the number of calls; ids and n hold the last
 * page. */
static size_t page_to_end(skind_t kind, search_req_t q, const char ***ids, size_t *n)
{
    size_t calls = 0;
    const char *cur;
    do {
        search_page(kind, &q, ids, n, &cur);
        calls++;
        if (cur) {
            ck_assert_uint_eq(*n, 0);
            ck_assert(!q.cursor || strcmp(cur, q.cursor) > 0);
        }
        q.cursor = cur;
    } while (cur && calls < 100);
    return calls;
}

/* Two filters that each match many rows but never the same one until the
 * last: every call rejects at most STORE_SEARCH_SCAN_MAX candidates and
 * answers a cursor to continue from. */
START_TEST(a_search_whose_filters_rarely_meet_stops_at_the_scan_cap_with_a_cursor)
{
    size_t total = 3 * STORE_SEARCH_SCAN_MAX;
    OK(store_begin(fx.st));
    for (size_t i = 0; i < total; i++)
        insert_promise(arena_printf(fx.a, "p%06zu", i), i % 2 ? PSTATE_RESOLVED : PSTATE_PENDING,
                       10, i % 2 ? KVS({"x", "1"}) : KVS({"y", "1"}));
    insert_promise("z", PSTATE_RESOLVED, 10, KVS({"y", "1"}));
    OK(store_commit(fx.st));
    search_req_t q = search(10, NULL);
    q.tags = KVS({"y", "1"});
    q.has_state = true;
    q.state = PSTATE_RESOLVED;
    const char **ids;
    size_t n;
    size_t calls = page_to_end(S_PROMISE, q, &ids, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ids[0], "z");
    /* total candidates, each rejected once: about total / cap calls */
    ck_assert_uint_ge(calls, 3);
    ck_assert_uint_le(calls, 5);

    /* Schedules have no tag index: the same cap bounds the rows read. */
    OK(store_begin(fx.st));
    for (size_t i = 0; i < total; i++) {
        schedule_t s = mk_schedule(arena_printf(fx.a, "s%06zu", i), 10, KVS({"y", "1"}));
        OK(store_schedule_insert(fx.st, &s));
    }
    schedule_t s = mk_schedule("z", 10, KVS({"x", "1"}));
    OK(store_schedule_insert(fx.st, &s));
    OK(store_commit(fx.st));
    q = search(10, NULL);
    q.tags = KVS({"x", "1"});
    calls = page_to_end(S_SCHEDULE, q, &ids, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ids[0], "z");
    ck_assert_uint_ge(calls, 3);
    ck_assert_uint_le(calls, 5);
}
END_TEST

START_TEST(promise_due_returns_pending_by_timeout_then_id_up_to_limit)
{
    insert_promise("late", PSTATE_PENDING, 300, NO_KVS);
    insert_promise("b", PSTATE_PENDING, 100, NO_KVS);
    insert_promise("a", PSTATE_PENDING, 100, NO_KVS);
    insert_promise("first", PSTATE_PENDING, 50, NO_KVS);
    insert_promise("done", PSTATE_RESOLVED, 10, NO_KVS);
    insert_promise("future", PSTATE_PENDING, 301, NO_KVS);
    const char **ids;
    size_t n;
    OK(store_promise_due(fx.st, fx.a, 300, 10, &ids, &n));
    ck_assert_str_eq(joined(ids, n), "first,a,b,late");
    OK(store_promise_due(fx.st, fx.a, 300, 2, &ids, &n));
    ck_assert_str_eq(joined(ids, n), "first,a");
    OK(store_promise_due(fx.st, fx.a, 49, 10, &ids, &n));
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(promise_branch_returns_promises_of_the_branch_except_excluded)
{
    insert_promise("root", PSTATE_PENDING, 10, KVS({"resonate:branch", "root"}));
    insert_promise("root.2", PSTATE_PENDING, 10, KVS({"resonate:branch", "root"}, {"z", "1"}));
    insert_promise("root.1", PSTATE_RESOLVED, 10, KVS({"resonate:branch", "root"}));
    insert_promise("other", PSTATE_PENDING, 10, KVS({"resonate:branch", "other"}));
    insert_promise("plain", PSTATE_PENDING, 10, KVS({"resonate:parent", "root"}));
    promise_t *ps;
    size_t n;
    bool more;
    OK(store_promise_branch(fx.st, fx.a, "root", "root", 0, 0, &ps, &n, &more));
    ck_assert_str_eq(promise_ids(ps, n), "root.1,root.2");
    ck_assert_int_eq(ps[0].state, PSTATE_RESOLVED);
    ck_assert(!more);
    OK(store_promise_branch(fx.st, fx.a, "root", NULL, 0, 0, &ps, &n, &more));
    ck_assert_str_eq(promise_ids(ps, n), "root,root.1,root.2");
    OK(store_promise_branch(fx.st, fx.a, "none", NULL, 0, 0, &ps, &n, &more));
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(promise_branch_stops_at_the_count_and_byte_bounds)
{
    insert_promise("root", PSTATE_PENDING, 10, KVS({"resonate:branch", "root"}));
    insert_promise("root.1", PSTATE_PENDING, 10, KVS({"resonate:branch", "root"}));
    insert_promise("root.2", PSTATE_PENDING, 10, KVS({"resonate:branch", "root"}));
    insert_promise("root.3", PSTATE_PENDING, 10, KVS({"resonate:branch", "root"}));
    promise_t *ps;
    size_t n;
    bool more;
    OK(store_promise_branch(fx.st, fx.a, "root", "root", 2, 0, &ps, &n, &more));
    ck_assert_str_eq(promise_ids(ps, n), "root.1,root.2");
    ck_assert(more);
    OK(store_promise_branch(fx.st, fx.a, "root", "root", 3, 0, &ps, &n, &more));
    ck_assert_str_eq(promise_ids(ps, n), "root.1,root.2,root.3");
    ck_assert(!more);
    /* A budget of one byte fits no row; a generous one fits all. */
    OK(store_promise_branch(fx.st, fx.a, "root", "root", 0, 1, &ps, &n, &more));
    ck_assert_uint_eq(n, 0);
    ck_assert(more);
    OK(store_promise_branch(fx.st, fx.a, "root", "root", 0, 1 << 20, &ps, &n, &more));
    ck_assert_uint_eq(n, 3);
    ck_assert(!more);
}
END_TEST

/* ---- callbacks and listeners ------------------------------------------------ */

START_TEST(callback_ready_marks_every_callback_and_returns_awaiters_sorted)
{
    OK(store_callback_insert(fx.st, "p", "c", false));
    OK(store_callback_insert(fx.st, "p", "a", false));
    OK(store_callback_insert(fx.st, "p", "b", false));
    OK(store_callback_insert(fx.st, "q", "a", false));
    const char **aw;
    size_t n;
    bool more = true;
    OK(store_callback_ready(fx.st, fx.a, "p", NULL, 0, &aw, &n, &more));
    ck_assert_str_eq(joined(aw, n), "a,b,c");
    ck_assert(!more);

    store_snap_t snap;
    OK(store_snap(fx.st, fx.a, &snap));
    ck_assert_uint_eq(snap.n_callbacks, 1); /* only q -> a is still waiting */
    ck_assert_str_eq(snap.callbacks[0].awaited, "q");

    OK(store_callback_ready(fx.st, fx.a, "none", NULL, 0, &aw, &n, &more));
    ck_assert_uint_eq(n, 0);
    /* Marked ready once: a second pass finds nothing. */
    OK(store_callback_ready(fx.st, fx.a, "p", NULL, 0, &aw, &n, &more));
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(callback_ready_takes_at_most_max_past_after_and_says_whether_more_remain)
{
    char id[16];
    for (int i = 0; i < 7; i++) {
        snprintf(id, sizeof id, "w%d", i);
        OK(store_callback_insert(fx.st, "p", id, false));
    }
    OK(store_callback_insert(fx.st, "q", "w9", false));
    /* w3 already ready (a direct resume): passed over, not returned. */
    OK(store_callback_insert(fx.st, "p", "w3", true));
    const char **aw;
    size_t n;
    bool more = false;
    OK(store_callback_ready(fx.st, fx.a, "p", NULL, 3, &aw, &n, &more));
    ck_assert_str_eq(joined(aw, n), "w0,w1,w2");
    ck_assert(more);
    OK(store_callback_ready(fx.st, fx.a, "p", "w2", 3, &aw, &n, &more));
    ck_assert_str_eq(joined(aw, n), "w4,w5,w6");
    ck_assert(!more);
    OK(store_callback_ready(fx.st, fx.a, "p", "w6", 3, &aw, &n, &more));
    ck_assert_uint_eq(n, 0);
    ck_assert(!more);
    /* Only those returned were marked: after w1, w2 is ready already. */
    OK(store_callback_ready(fx.st, fx.a, "p", NULL, 0, &aw, &n, &more));
    ck_assert_uint_eq(n, 0);
    store_snap_t snap;
    OK(store_snap(fx.st, fx.a, &snap));
    ck_assert_uint_eq(snap.n_callbacks, 1);
    ck_assert_str_eq(snap.callbacks[0].awaiter, "w9");
    /* Exactly max left: no more. */
    OK(store_callback_ready(fx.st, fx.a, "q", NULL, 1, &aw, &n, &more));
    ck_assert_str_eq(joined(aw, n), "w9");
    ck_assert(!more);
}
END_TEST

START_TEST(callback_insert_with_ready_marks_an_existing_pair_ready)
{
    OK(store_task_insert(fx.st, "a", TSTATE_PENDING, 0));
    OK(store_callback_insert(fx.st, "p", "a", false));
    OK(store_callback_insert(fx.st, "p", "a", true));
    task_t *t;
    OK(store_task_get(fx.st, fx.a, "a", &t));
    ck_assert_int_eq(t->resumes, 1);
    const char **aw;
    size_t n;
    bool more = true;
    OK(store_callback_ready(fx.st, fx.a, "p", NULL, 0, &aw, &n, &more));
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(callback_delete_ready_also_deletes_the_awaiters_callbacks_on_listed_fanouts)
{
    OK(store_task_insert(fx.st, "a", TSTATE_ACQUIRED, 1));
    OK(store_callback_insert(fx.st, "settled", "a", false));
    OK(store_callback_insert(fx.st, "pending", "a", false));
    OK(store_callback_insert(fx.st, "settled", "b", false));
    OK(store_fanout_add(fx.st, "settled", NULL));
    OK(store_callback_delete_ready(fx.st, "a"));
    store_snap_t snap;
    OK(store_snap(fx.st, fx.a, &snap));
    ck_assert_uint_eq(snap.n_callbacks, 2);
    ck_assert_str_eq(snap.callbacks[0].awaiter, "a");
    ck_assert_str_eq(snap.callbacks[0].awaited, "pending");
    ck_assert_str_eq(snap.callbacks[1].awaiter, "b");
}
END_TEST

START_TEST(fanout_list_returns_the_least_passed_first_with_progress_and_forgets_deleted)
{
    fanout_t *fs;
    size_t n;
    OK(store_fanout_due(fx.st, fx.a, 0, &fs, &n));
    ck_assert_uint_eq(n, 0);
    OK(store_fanout_add(fx.st, "b", NULL));
    OK(store_fanout_add(fx.st, "a", "w1"));
    OK(store_fanout_add(fx.st, "c", "w0"));
    OK(store_fanout_add(fx.st, "a", "w9")); /* listed already: kept as it is */
    OK(store_fanout_due(fx.st, fx.a, 0, &fs, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(fs[0].id, "a");
    ck_assert_str_eq(fs[0].after, "w1");
    ck_assert_str_eq(fs[1].id, "b");
    ck_assert_ptr_null(fs[1].after);
    /* a passed over once: b and c come first, a keeps its progress. */
    OK(store_fanout_pass(fx.st, "a", "w5"));
    OK(store_fanout_due(fx.st, fx.a, 2, &fs, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(fs[0].id, "b");
    ck_assert_str_eq(fs[1].id, "c");
    OK(store_fanout_delete(fx.st, "b"));
    OK(store_fanout_delete(fx.st, "missing"));
    OK(store_fanout_due(fx.st, fx.a, 0, &fs, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(fs[0].id, "c");
    ck_assert_str_eq(fs[1].id, "a");
    ck_assert_str_eq(fs[1].after, "w5");
    OK(store_reset(fx.st));
    OK(store_fanout_due(fx.st, fx.a, 0, &fs, &n));
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(callback_insert_of_existing_pair_keeps_it_unchanged)
{
    OK(store_task_insert(fx.st, "a", TSTATE_PENDING, 0));
    OK(store_callback_insert(fx.st, "p", "a", true));
    OK(store_callback_insert(fx.st, "p", "a", false));
    task_t *t;
    OK(store_task_get(fx.st, fx.a, "a", &t));
    ck_assert_int_eq(t->resumes, 1);
}
END_TEST

START_TEST(callback_deletes_remove_ready_or_all_of_an_awaiter)
{
    OK(store_task_insert(fx.st, "a", TSTATE_SUSPENDED, 0));
    OK(store_task_insert(fx.st, "b", TSTATE_PENDING, 0));
    OK(store_callback_insert(fx.st, "p1", "a", true));
    OK(store_callback_insert(fx.st, "p2", "a", true));
    OK(store_callback_insert(fx.st, "p3", "a", false));
    OK(store_callback_insert(fx.st, "p1", "b", true));
    task_t *t;
    OK(store_task_get(fx.st, fx.a, "a", &t));
    ck_assert_int_eq(t->resumes, 2);

    OK(store_callback_delete_ready(fx.st, "a"));
    OK(store_task_get(fx.st, fx.a, "a", &t));
    ck_assert_int_eq(t->resumes, 0);
    store_snap_t snap;
    OK(store_snap(fx.st, fx.a, &snap));
    ck_assert_uint_eq(snap.n_callbacks, 1);
    ck_assert_str_eq(snap.callbacks[0].awaited, "p3");

    OK(store_callback_delete_awaiter(fx.st, "a"));
    OK(store_snap(fx.st, fx.a, &snap));
    ck_assert_uint_eq(snap.n_callbacks, 0);
    /* b's ready callback is untouched */
    OK(store_task_get(fx.st, fx.a, "b", &t));
    ck_assert_int_eq(t->resumes, 1);
}
END_TEST

START_TEST(listener_take_returns_sorted_addresses_once)
{
    OK(store_listener_insert(fx.st, "p", "poll://b@g"));
    OK(store_listener_insert(fx.st, "p", "http://a"));
    OK(store_listener_insert(fx.st, "p", "poll://b@g"));
    OK(store_listener_insert(fx.st, "q", "http://a"));
    const char **addrs;
    size_t n;
    bool more = true;
    OK(store_listener_take(fx.st, fx.a, "p", 0, &addrs, &n, &more));
    ck_assert_str_eq(joined(addrs, n), "http://a,poll://b@g");
    ck_assert(!more);
    OK(store_listener_take(fx.st, fx.a, "p", 0, &addrs, &n, &more));
    ck_assert_uint_eq(n, 0);
    OK(store_listener_take(fx.st, fx.a, "q", 0, &addrs, &n, &more));
    ck_assert_str_eq(joined(addrs, n), "http://a");
}
END_TEST

START_TEST(listener_take_takes_at_most_max_and_says_whether_more_remain)
{
    OK(store_listener_insert(fx.st, "p", "c"));
    OK(store_listener_insert(fx.st, "p", "a"));
    OK(store_listener_insert(fx.st, "p", "b"));
    OK(store_listener_insert(fx.st, "pp", "a"));
    const char **addrs;
    size_t n;
    bool more = false;
    OK(store_listener_take(fx.st, fx.a, "p", 2, &addrs, &n, &more));
    ck_assert_str_eq(joined(addrs, n), "a,b");
    ck_assert(more);
    OK(store_listener_take(fx.st, fx.a, "p", 2, &addrs, &n, &more));
    ck_assert_str_eq(joined(addrs, n), "c");
    ck_assert(!more);
    OK(store_listener_take(fx.st, fx.a, "p", 2, &addrs, &n, &more));
    ck_assert_uint_eq(n, 0);
    ck_assert(!more);
    OK(store_listener_take(fx.st, fx.a, "pp", 1, &addrs, &n, &more));
    ck_assert_str_eq(joined(addrs, n), "a");
    ck_assert(!more);
}
END_TEST

START_TEST(listener_count_stops_at_max_and_reports_whether_the_pair_is_stored)
{
    char addr[32];
    for (int i = 0; i < 500; i++) {
        snprintf(addr, sizeof addr, "poll://uni@g/%03d", i);
        OK(store_listener_insert(fx.st, "p", addr));
    }
    OK(store_listener_insert(fx.st, "q", "http://a"));
    size_t n = 99;
    bool reg = true;
    OK(store_listener_count(fx.st, "p", "poll://uni@g/499", 10, &n, &reg));
    ck_assert_uint_eq(n, 10);
    ck_assert(reg);
    OK(store_listener_count(fx.st, "p", "http://a", 1000, &n, &reg));
    ck_assert_uint_eq(n, 500);
    ck_assert(!reg);
    OK(store_listener_count(fx.st, "p", "poll://uni@g/000", 0, &n, &reg));
    ck_assert_uint_eq(n, 0);
    ck_assert(reg);
    OK(store_listener_count(fx.st, "q", "http://a", 5, &n, &reg));
    ck_assert_uint_eq(n, 1);
    ck_assert(reg);
    /* a prefix of an id is another id */
    OK(store_listener_count(fx.st, "", "http://a", 5, &n, &reg));
    ck_assert_uint_eq(n, 0);
    ck_assert(!reg);
    const char **addrs;
    bool more;
    OK(store_listener_take(fx.st, fx.a, "p", 0, &addrs, &n, &more));
    OK(store_listener_count(fx.st, "p", "poll://uni@g/000", 5, &n, &reg));
    ck_assert_uint_eq(n, 0);
    ck_assert(!reg);
}
END_TEST

/* ---- tasks and timers ------------------------------------------------------- */

START_TEST(task_get_reports_resumes_and_lease_from_its_timer)
{
    task_t *t = (task_t *)1;
    OK(store_task_get(fx.st, fx.a, "t", &t));
    ck_assert_ptr_null(t);

    OK(store_task_insert(fx.st, "t", TSTATE_PENDING, 0));
    task_timer_t retry = {.id = "t", .type = TIMER_RETRY, .timeout = 1000};
    OK(store_timer_set(fx.st, &retry));
    OK(store_task_get(fx.st, fx.a, "t", &t));
    ck_assert_str_eq(t->id, "t");
    ck_assert_int_eq(t->state, TSTATE_PENDING);
    ck_assert_int_eq(t->version, 0);
    ck_assert_int_eq(t->resumes, 0);
    ck_assert(!t->has_lease);
    ck_assert_ptr_null(t->pid);

    OK(store_task_update(fx.st, "t", TSTATE_ACQUIRED, 1));
    task_timer_t lease = {
        .id = "t", .type = TIMER_LEASE, .timeout = 31000, .pid = "w1", .ttl = 30000};
    OK(store_timer_set(fx.st, &lease));
    OK(store_callback_insert(fx.st, "x", "t", true));
    OK(store_callback_insert(fx.st, "y", "t", false));
    OK(store_task_get(fx.st, fx.a, "t", &t));
    ck_assert_int_eq(t->state, TSTATE_ACQUIRED);
    ck_assert_int_eq(t->version, 1);
    ck_assert_int_eq(t->resumes, 1);
    ck_assert(t->has_lease);
    ck_assert_str_eq(t->pid, "w1");
    ck_assert_int_eq(t->ttl, 30000);

    OK(store_timer_delete(fx.st, "t"));
    OK(store_task_get(fx.st, fx.a, "t", &t));
    ck_assert(!t->has_lease);
}
END_TEST

START_TEST(task_insert_of_existing_id_fails)
{
    OK(store_task_insert(fx.st, "t", TSTATE_PENDING, 0));
    ck_assert_int_eq(store_task_insert(fx.st, "t", TSTATE_FULFILLED, 0), STORE_ERR);
    ck_assert_str_ne(store_errmsg(fx.st), "");
}
END_TEST

START_TEST(task_search_filters_state_and_pages)
{
    OK(store_task_insert(fx.st, "a", TSTATE_PENDING, 0));
    OK(store_task_insert(fx.st, "b", TSTATE_HALTED, 3));
    OK(store_task_insert(fx.st, "c", TSTATE_PENDING, 1));
    OK(store_task_insert(fx.st, "d", TSTATE_PENDING, 0));
    task_t *ts;
    size_t n;
    const char *cur;
    search_req_t q = search(2, NULL);
    q.has_state = true;
    q.state = TSTATE_PENDING;
    OK(store_task_search(fx.st, fx.a, &q, &ts, &n, &cur));
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(ts[0].id, "a");
    ck_assert_str_eq(ts[1].id, "c");
    ck_assert_int_eq(ts[1].version, 1);
    ck_assert_ptr_nonnull(cur);
    q.cursor = "c";
    OK(store_task_search(fx.st, fx.a, &q, &ts, &n, &cur));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ts[0].id, "d");
    ck_assert_ptr_null(cur);

    q = search(10, "a");
    OK(store_task_search(fx.st, fx.a, &q, &ts, &n, &cur));
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(ts[0].id, "b");
    ck_assert_int_eq(ts[0].state, TSTATE_HALTED);
}
END_TEST

START_TEST(timer_set_replaces_the_tasks_timer_and_due_orders_by_time_then_id)
{
    task_timer_t t1 = {.id = "t1", .type = TIMER_RETRY, .timeout = 500};
    task_timer_t t2 = {.id = "t2", .type = TIMER_LEASE, .timeout = 200, .pid = "w", .ttl = 10};
    task_timer_t t3 = {.id = "t3", .type = TIMER_RETRY, .timeout = 200};
    task_timer_t t4 = {.id = "t4", .type = TIMER_RETRY, .timeout = 900};
    OK(store_timer_set(fx.st, &t1));
    OK(store_timer_set(fx.st, &t2));
    OK(store_timer_set(fx.st, &t3));
    OK(store_timer_set(fx.st, &t4));
    task_timer_t t1b = {.id = "t1", .type = TIMER_LEASE, .timeout = 100, .pid = "p", .ttl = 7};
    OK(store_timer_set(fx.st, &t1b));

    task_timer_t *g = NULL;
    OK(store_timer_get(fx.st, fx.a, "t1", &g));
    ck_assert_int_eq(g->type, TIMER_LEASE);
    ck_assert_int_eq(g->timeout, 100);
    ck_assert_str_eq(g->pid, "p");
    ck_assert_int_eq(g->ttl, 7);

    task_timer_t *due;
    size_t n;
    OK(store_timer_due(fx.st, fx.a, 500, 10, &due, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(due[0].id, "t1");
    ck_assert_str_eq(due[1].id, "t2");
    ck_assert_str_eq(due[2].id, "t3");
    ck_assert_ptr_null(due[2].pid);
    OK(store_timer_due(fx.st, fx.a, 500, 1, &due, &n));
    ck_assert_uint_eq(n, 1);

    OK(store_timer_delete(fx.st, "t1"));
    OK(store_timer_get(fx.st, fx.a, "t1", &g));
    ck_assert_ptr_null(g);
}
END_TEST

/* An empty heartbeat's renewal, in one statement: the leases of pid on
 * acquired tasks inside the prefix get now + ttl (saturating); another
 * pid's lease, a retry timer, a lease of a task no longer acquired and
 * leases outside the prefix keep their timeout. */
START_TEST(lease_renew_pid_renews_the_pids_leases_of_acquired_tasks_inside_the_prefix)
{
    task_timer_t ts[] = {
        {.id = "p:c", .type = TIMER_LEASE, .timeout = 1, .pid = "w1", .ttl = 5},
        {.id = "p:a", .type = TIMER_LEASE, .timeout = 9, .pid = "w1", .ttl = INT64_MAX},
        {.id = "p:b", .type = TIMER_LEASE, .timeout = 1, .pid = "w2", .ttl = 5},
        {.id = "p:d", .type = TIMER_RETRY, .timeout = 1, .pid = "w1"},
        {.id = "p:e", .type = TIMER_LEASE, .timeout = 1, .pid = "w1", .ttl = 5},
        {.id = "q:a", .type = TIMER_LEASE, .timeout = 1, .pid = "w1", .ttl = 5},
    };
    tstate_t states[] = {TSTATE_ACQUIRED, TSTATE_ACQUIRED,  TSTATE_ACQUIRED,
                         TSTATE_PENDING,  TSTATE_SUSPENDED, TSTATE_ACQUIRED};
    for (size_t i = 0; i < 6; i++) {
        OK(store_task_insert(fx.st, ts[i].id, states[i], 1));
        OK(store_timer_set(fx.st, &ts[i]));
    }
    OK(store_lease_renew_pid(fx.st, "w1", "p:", 100));
    int64_t want[] = {105, INT64_MAX, 1, 1, 1, 1};
    for (size_t i = 0; i < 6; i++) {
        task_timer_t *g;
        OK(store_timer_get(fx.st, fx.a, ts[i].id, &g));
        ck_assert_msg(g->timeout == want[i], "%s: %lld", ts[i].id, (long long)g->timeout);
    }
    OK(store_lease_renew_pid(fx.st, "w1", NULL, 200)); /* no prefix: every id */
    task_timer_t *g;
    OK(store_timer_get(fx.st, fx.a, "q:a", &g));
    ck_assert_int_eq(g->timeout, 205);
    OK(store_timer_get(fx.st, fx.a, "p:b", &g));
    ck_assert_int_eq(g->timeout, 1);
}
END_TEST

/* ---- outbox ------------------------------------------------------------------ */

START_TEST(outbox_execute_replaces_an_older_execute_of_the_same_task)
{
    OK(store_outbox_execute(fx.st, "t", 0, "poll://any@a", 0));
    outbox_msg_t *m;
    size_t n;
    OK(store_outbox_due(fx.st, fx.a, 0, 10, &m, &n));
    ck_assert_uint_eq(n, 1);
    int64_t first = m[0].seq;
    OK(store_outbox_defer(fx.st, first, 0, 3));

    OK(store_outbox_execute(fx.st, "t", 1, "poll://any@b", 5));
    int64_t count;
    OK(store_outbox_count(fx.st, &count));
    ck_assert_int_eq(count, 1);
    OK(store_outbox_due(fx.st, fx.a, 4, 10, &m, &n));
    ck_assert_uint_eq(n, 0);
    OK(store_outbox_due(fx.st, fx.a, 5, 10, &m, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(m[0].kind, MSG_EXECUTE);
    ck_assert_str_eq(m[0].id, "t");
    ck_assert_int_eq(m[0].version, 1);
    ck_assert_str_eq(m[0].address, "poll://any@b");
    ck_assert_int_eq(m[0].attempts, 0);
    ck_assert_int_gt(m[0].seq, first);

    /* Deleting the replaced row's seq (an in-flight delivery) keeps the new one. */
    OK(store_outbox_delete(fx.st, first));
    OK(store_outbox_count(fx.st, &count));
    ck_assert_int_eq(count, 1);
}
END_TEST

START_TEST(outbox_unblock_is_queued_once_per_promise_and_address)
{
    OK(store_outbox_unblock(fx.st, "p", "http://a"));
    OK(store_outbox_unblock(fx.st, "p", "http://a"));
    OK(store_outbox_unblock(fx.st, "p", "http://b"));
    OK(store_outbox_unblock(fx.st, "q", "http://a"));
    /* an execute with the same id is a different message */
    OK(store_outbox_execute(fx.st, "p", 0, "http://a", 0));
    int64_t count;
    OK(store_outbox_count(fx.st, &count));
    ck_assert_int_eq(count, 4);
    outbox_msg_t *m;
    size_t n;
    OK(store_outbox_due(fx.st, fx.a, 0, 10, &m, &n));
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(m[0].kind, MSG_UNBLOCK);
    ck_assert_str_eq(m[0].id, "p");
    ck_assert_str_eq(m[0].address, "http://a");
    ck_assert_int_eq(m[3].kind, MSG_EXECUTE);
}
END_TEST

/* The ids of m[0..n), joined by "|" (arena). */
static const char *outbox_ids(const outbox_msg_t *m, size_t n)
{
    const char *out = "";
    for (size_t i = 0; i < n; i++)
        out = arena_printf(fx.a, "%s%s%s", out, i ? "|" : "", m[i].id);
    return out;
}

/* Due rows: the never-tried ones (not_before 0) by seq and the retried or
 * delayed ones by (not_before, seq), one of each in turn. */
START_TEST(outbox_due_takes_new_and_retried_rows_in_turn_and_honours_not_before_and_limit)
{
    OK(store_outbox_execute(fx.st, "t1", 0, "a", 100));
    OK(store_outbox_execute(fx.st, "t2", 0, "a", 0));
    OK(store_outbox_unblock(fx.st, "p", "a"));
    OK(store_outbox_execute(fx.st, "t3", 0, "a", 50));
    outbox_msg_t *m;
    size_t n;
    OK(store_outbox_due(fx.st, fx.a, 60, 10, &m, &n));
    ck_assert_str_eq(outbox_ids(m, n), "t2|t3|p");
    /* t1, queued first but due at 100, comes after t3, due at 50 */
    OK(store_outbox_due(fx.st, fx.a, 1000, 4, &m, &n));
    ck_assert_str_eq(outbox_ids(m, n), "t2|t3|p|t1");
    OK(store_outbox_due(fx.st, fx.a, 1000, 2, &m, &n));
    ck_assert_str_eq(outbox_ids(m, n), "t2|t3");

    /* t2 retried at 2000 goes after t1; t3 delivered */
    OK(store_outbox_defer(fx.st, m[0].seq, 2000, 1));
    OK(store_outbox_delete(fx.st, m[1].seq));
    OK(store_outbox_due(fx.st, fx.a, 1000, 10, &m, &n));
    ck_assert_str_eq(outbox_ids(m, n), "p|t1");
    OK(store_outbox_due(fx.st, fx.a, 2000, 10, &m, &n));
    ck_assert_str_eq(outbox_ids(m, n), "p|t1|t2");
    ck_assert_int_eq(m[2].attempts, 1);
    ck_assert_int_eq(m[2].not_before, 2000);
}
END_TEST

/* A stream of new messages must not hold back the retries (a round that
 * took the new ones first would never reach them while new ones keep
 * coming), nor a backlog of retries the new ones. */
START_TEST(outbox_due_gives_new_and_retried_rows_half_a_round_each)
{
    for (int i = 0; i < 6; i++) {
        OK(store_outbox_execute(fx.st, arena_printf(fx.a, "retry%d", i), 0, "a", 10 + i));
        OK(store_outbox_execute(fx.st, arena_printf(fx.a, "new%d", i), 0, "a", 0));
    }
    outbox_msg_t *m;
    size_t n;
    OK(store_outbox_due(fx.st, fx.a, 1000, 4, &m, &n));
    ck_assert_str_eq(outbox_ids(m, n), "new0|retry0|new1|retry1");
}
END_TEST

/* The SQLite virtual machine steps of the store's statement whose text
 * holds needle, since the last call. */
static int64_t statement_steps(const char *needle)
{
    sqlite3 *db = store_sqlite_db(fx.st);
    for (sqlite3_stmt *q = sqlite3_next_stmt(db, NULL); q; q = sqlite3_next_stmt(db, q))
        if (strstr(sqlite3_sql(q), needle))
            return sqlite3_stmt_status(q, SQLITE_STMTSTATUS_VM_STEP, 1);
    ck_abort_msg("no statement with %s", needle);
    return -1;
}

static int64_t outbox_due_steps(void)
{
    return statement_steps("FROM outbox WHERE not_before > 0");
}

/* Rows queued far ahead (one tenant's resonate:delay) must not cost every
 * delivery round: it reads what it returns. Before the outbox_due index it
 * read past every one of them, on the store thread. */
START_TEST(finding_the_due_outbox_rows_costs_what_is_due_not_what_waits_for_later)
{
    outbox_msg_t *m;
    size_t n;
    OK(store_outbox_execute(fx.st, "first", 0, "a", 0));
    OK(store_outbox_due(fx.st, fx.a, 1000, 10, &m, &n));
    outbox_due_steps();
    OK(store_outbox_due(fx.st, fx.a, 1000, 10, &m, &n));
    int64_t one = outbox_due_steps();
    OK(store_begin(fx.st));
    for (int i = 0; i < 5000; i++)
        OK(store_outbox_execute(fx.st, arena_printf(fx.a, "later%d", i), 0, "a", INT64_MAX / 2));
    OK(store_commit(fx.st));
    OK(store_outbox_execute(fx.st, "last", 0, "a", 500));
    OK(store_outbox_due(fx.st, fx.a, 1000, 10, &m, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(m[0].id, "first");
    ck_assert_str_eq(m[1].id, "last");
    int64_t steps = outbox_due_steps();
    /* two rows instead of one: a few steps more, not 5,000 rows' worth */
    ck_assert_msg(steps < 3 * one, "%lld VM steps with 5,000 rows queued for later, %lld without",
                  (long long)steps, (long long)one);
}
END_TEST

/* A tick continues the least-served fan-outs: it reads the few it takes,
 * not every fan-out listed (each a settle with more awaiters than
 * limits.settle_fanout_batch). */
START_TEST(the_next_fanouts_cost_what_is_taken_not_what_is_listed)
{
    fanout_t *f;
    size_t n;
    OK(store_fanout_add(fx.st, "f0", NULL));
    OK(store_fanout_due(fx.st, fx.a, 2, &f, &n));
    statement_steps("FROM fanouts ORDER BY passes");
    OK(store_fanout_due(fx.st, fx.a, 2, &f, &n));
    int64_t one = statement_steps("FROM fanouts ORDER BY passes");
    OK(store_begin(fx.st));
    for (int i = 1; i < 3000; i++)
        OK(store_fanout_add(fx.st, arena_printf(fx.a, "f%d", i), NULL));
    OK(store_commit(fx.st));
    OK(store_fanout_due(fx.st, fx.a, 2, &f, &n));
    ck_assert_uint_eq(n, 2);
    int64_t steps = statement_steps("FROM fanouts ORDER BY passes");
    ck_assert_msg(steps < 4 * one, "%lld VM steps with 3,000 fan-outs listed, %lld with one",
                  (long long)steps, (long long)one);
}
END_TEST

START_TEST(outbox_seq_is_never_reused_after_deleting_the_newest_row)
{
    OK(store_outbox_execute(fx.st, "t1", 0, "a", 0));
    outbox_msg_t *m;
    size_t n;
    OK(store_outbox_due(fx.st, fx.a, 0, 10, &m, &n));
    int64_t seq = m[0].seq;
    OK(store_outbox_delete(fx.st, seq));
    OK(store_outbox_execute(fx.st, "t2", 0, "a", 0));
    OK(store_outbox_due(fx.st, fx.a, 0, 10, &m, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_int_gt(m[0].seq, seq);
}
END_TEST

/* ---- schedules -------------------------------------------------------------- */

static schedule_t mk_schedule(const char *id, int64_t next_run_at, kvmap_t tags)
{
    schedule_t s = {0};
    s.id = id;
    s.cron = "*/5 * * * *";
    s.promise_id = "job.{{.id}}.{{.timestamp}}";
    s.promise_timeout = 60000;
    s.promise_tags = tags;
    s.created_at = 1;
    s.next_run_at = next_run_at;
    return s;
}

START_TEST(schedule_round_trip_advance_and_delete)
{
    schedule_t s = mk_schedule("s1", 300000, KVS({"resonate:target", "poll://any@g"}));
    s.promise_param.has_headers = true;
    s.promise_param.headers = KVS({"h", "ü"});
    s.promise_param.data = "e30=";
    OK(store_schedule_insert(fx.st, &s));
    ck_assert_int_eq(store_schedule_insert(fx.st, &s), STORE_ERR);

    schedule_t *g = NULL;
    OK(store_schedule_get(fx.st, fx.a, "s1", &g));
    ck_assert_str_eq(g->id, "s1");
    ck_assert_str_eq(g->cron, "*/5 * * * *");
    ck_assert_str_eq(g->promise_id, "job.{{.id}}.{{.timestamp}}");
    ck_assert_int_eq(g->promise_timeout, 60000);
    ck_assert(g->promise_param.has_headers);
    assert_kvmap_eq(&g->promise_param.headers, &s.promise_param.headers);
    ck_assert_str_eq(g->promise_param.data, "e30=");
    assert_kvmap_eq(&g->promise_tags, &s.promise_tags);
    ck_assert_int_eq(g->created_at, 1);
    ck_assert_int_eq(g->next_run_at, 300000);
    ck_assert(!g->has_last_run_at);

    OK(store_schedule_advance(fx.st, "s1", 300000, 600000));
    OK(store_schedule_get(fx.st, fx.a, "s1", &g));
    ck_assert(g->has_last_run_at);
    ck_assert_int_eq(g->last_run_at, 300000);
    ck_assert_int_eq(g->next_run_at, 600000);

    bool found = false;
    OK(store_schedule_delete(fx.st, "s1", &found));
    ck_assert(found);
    OK(store_schedule_delete(fx.st, "s1", &found));
    ck_assert(!found);
    OK(store_schedule_get(fx.st, fx.a, "s1", &g));
    ck_assert_ptr_null(g);
}
END_TEST

START_TEST(schedule_search_matches_promise_tags_and_pages)
{
    schedule_t s;
    s = mk_schedule("a", 10, KVS({"k", "v"}));
    OK(store_schedule_insert(fx.st, &s));
    s = mk_schedule("b", 10, KVS({"k", "w"}));
    OK(store_schedule_insert(fx.st, &s));
    s = mk_schedule("c", 10, KVS({"k", "v"}, {"z", "1"}));
    OK(store_schedule_insert(fx.st, &s));
    s = mk_schedule("d", 10, KVS({"k", "v"}));
    OK(store_schedule_insert(fx.st, &s));
    schedule_t *ss;
    size_t n;
    const char *cur;
    search_req_t q = search(2, NULL);
    q.tags = KVS({"k", "v"});
    OK(store_schedule_search(fx.st, fx.a, &q, &ss, &n, &cur));
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(ss[0].id, "a");
    ck_assert_str_eq(ss[1].id, "c");
    ck_assert_ptr_nonnull(cur);
    q.cursor = "c";
    OK(store_schedule_search(fx.st, fx.a, &q, &ss, &n, &cur));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ss[0].id, "d");
    ck_assert_ptr_null(cur);
    q = search(10, NULL);
    OK(store_schedule_search(fx.st, fx.a, &q, &ss, &n, &cur));
    ck_assert_uint_eq(n, 4);
}
END_TEST

/* One search page holds at most STORE_SEARCH_MAX_BYTES of records (one at
 * least): a tenant's search of limit 1000 over promises or schedules of
 * ~2 MB each must not build gigabytes on the answering thread. A page cut
 * there ends with a cursor, and paging on returns every match once. */
START_TEST(a_search_page_stops_at_the_byte_budget_with_a_cursor)
{
    size_t big = STORE_SEARCH_MAX_BYTES / 3 + 1; /* two fit, not three */
    char *data = malloc(big + 1);
    ck_assert_ptr_nonnull(data);
    memset(data, 'x', big);
    data[big] = '\0';
    const char *ids[] = {"p1", "p2", "p3", "p4", "p5"};
    for (size_t i = 0; i < 5; i++) {
        promise_t p = mk_promise(ids[i], PSTATE_PENDING, 10);
        p.param.data = data;
        OK(store_promise_insert(fx.st, &p));
        schedule_t sc = mk_schedule(ids[i], 10, NO_KVS);
        sc.promise_param.data = data;
        OK(store_schedule_insert(fx.st, &sc));
    }
    /* A record over the budget by itself still makes a page. */
    char *huge = malloc(STORE_SEARCH_MAX_BYTES + 2);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 'y', STORE_SEARCH_MAX_BYTES + 1);
    huge[STORE_SEARCH_MAX_BYTES + 1] = '\0';
    promise_t p = mk_promise("p6", PSTATE_PENDING, 10);
    p.param.data = huge;
    OK(store_promise_insert(fx.st, &p));
    schedule_t sc = mk_schedule("p6", 10, NO_KVS);
    sc.promise_param.data = huge;
    OK(store_schedule_insert(fx.st, &sc));

    const char *want[] = {"p1,p2", "p3,p4", "p5", "p6"};
    promise_t *ps;
    schedule_t *ss;
    size_t n, pages = 0;
    const char *cur = NULL;
    do {
        search_req_t q = search(1000, cur);
        OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
        ck_assert_uint_lt(pages, 4);
        ck_assert_str_eq(promise_ids(ps, n), want[pages++]);
    } while (cur);
    ck_assert_uint_eq(pages, 4);
    pages = 0;
    do {
        search_req_t q = search(1000, cur);
        OK(store_schedule_search(fx.st, fx.a, &q, &ss, &n, &cur));
        ck_assert_uint_lt(pages, 4);
        const char **got = arena_alloc(fx.a, (n + 1) * sizeof *got);
        for (size_t i = 0; i < n; i++)
            got[i] = ss[i].id;
        ck_assert_str_eq(joined(got, n), want[pages++]);
    } while (cur);
    ck_assert_uint_eq(pages, 4);
    free(data);
    free(huge);
}
END_TEST

/* A first record over the byte budget makes a page alone: the records
 * after it wait for the next page (the budget is not counted past its
 * end, which let every record after such a one into the page). */
START_TEST(a_page_that_starts_with_a_record_over_the_budget_holds_it_alone)
{
    char *huge = malloc(STORE_SEARCH_MAX_BYTES + 2);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 'y', STORE_SEARCH_MAX_BYTES + 1);
    huge[STORE_SEARCH_MAX_BYTES + 1] = '\0';
    const char *ids[] = {"a", "b", "c"};
    for (size_t i = 0; i < 3; i++) {
        promise_t p = mk_promise(ids[i], PSTATE_PENDING, 10);
        p.param.data = i == 0 ? huge : "small";
        OK(store_promise_insert(fx.st, &p));
        schedule_t sc = mk_schedule(ids[i], 10, NO_KVS);
        sc.promise_param.data = i == 0 ? huge : "small";
        OK(store_schedule_insert(fx.st, &sc));
    }
    free(huge);
    promise_t *ps;
    schedule_t *ss;
    size_t n;
    const char *cur;
    search_req_t q = search(1000, NULL);
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "a");
    ck_assert_ptr_nonnull(cur);
    q = search(1000, cur);
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "b,c");
    q = search(1000, NULL);
    OK(store_schedule_search(fx.st, fx.a, &q, &ss, &n, &cur));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ss[0].id, "a");
    ck_assert_ptr_nonnull(cur);
}
END_TEST

START_TEST(schedule_due_orders_by_next_run_then_id_up_to_limit)
{
    schedule_t s;
    s = mk_schedule("late", 300, NO_KVS);
    OK(store_schedule_insert(fx.st, &s));
    s = mk_schedule("b", 100, NO_KVS);
    OK(store_schedule_insert(fx.st, &s));
    s = mk_schedule("a", 100, NO_KVS);
    OK(store_schedule_insert(fx.st, &s));
    s = mk_schedule("future", 301, NO_KVS);
    OK(store_schedule_insert(fx.st, &s));
    schedule_t *ss;
    size_t n;
    bool more;
    OK(store_schedule_due(fx.st, fx.a, 300, 10, 0, &ss, &n, &more));
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(ss[0].id, "a");
    ck_assert_str_eq(ss[1].id, "b");
    ck_assert_str_eq(ss[2].id, "late");
    OK(store_schedule_due(fx.st, fx.a, 300, 1, 0, &ss, &n, &more));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ss[0].id, "a");
}
END_TEST

/* The tick reads due schedules within a byte budget (one at least), so
 * schedules of ~2 MB each never load by the thousand into one tick. */
START_TEST(schedule_due_stops_at_its_byte_budget_and_says_more_are_due)
{
    size_t big = 1000;
    char *data = malloc(big + 1);
    ck_assert_ptr_nonnull(data);
    memset(data, 'x', big);
    data[big] = '\0';
    const char *ids[] = {"a", "b", "c"};
    for (size_t i = 0; i < 3; i++) {
        schedule_t s = mk_schedule(ids[i], 100, NO_KVS);
        s.promise_param.data = data;
        OK(store_schedule_insert(fx.st, &s));
    }
    free(data);
    schedule_t *ss;
    size_t n;
    bool more;
    OK(store_schedule_due(fx.st, fx.a, 300, 10, 2 * big + 200, &ss, &n, &more));
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(ss[1].id, "b");
    ck_assert(more);
    OK(store_schedule_due(fx.st, fx.a, 300, 10, 10, &ss, &n, &more)); /* one at least */
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ss[0].id, "a");
    ck_assert(more);
    OK(store_schedule_due(fx.st, fx.a, 300, 10, 3 * big + 300, &ss, &n, &more));
    ck_assert_uint_eq(n, 3);
    ck_assert(!more);
}
END_TEST

/* ---- snap and reset --------------------------------------------------------- */

static void fill_everything(void)
{
    insert_promise("p2", PSTATE_PENDING, 10, NO_KVS);
    insert_promise("p1", PSTATE_RESOLVED, 10, NO_KVS);
    OK(store_callback_insert(fx.st, "z", "b", false));
    OK(store_callback_insert(fx.st, "a", "c", false));
    OK(store_callback_insert(fx.st, "y", "a", false));
    OK(store_callback_insert(fx.st, "x", "a", false));
    OK(store_listener_insert(fx.st, "p2", "z"));
    OK(store_listener_insert(fx.st, "p1", "y"));
    OK(store_listener_insert(fx.st, "p2", "a"));
    OK(store_task_insert(fx.st, "t2", TSTATE_PENDING, 0));
    OK(store_task_insert(fx.st, "t1", TSTATE_ACQUIRED, 2));
    task_timer_t l = {.id = "t1", .type = TIMER_LEASE, .timeout = 99, .pid = "w", .ttl = 5};
    task_timer_t r = {.id = "t0", .type = TIMER_RETRY, .timeout = 1};
    OK(store_timer_set(fx.st, &l));
    OK(store_timer_set(fx.st, &r));
    OK(store_outbox_unblock(fx.st, "p2", "z"));
    OK(store_outbox_execute(fx.st, "t2", 0, "g", 0));
    OK(store_outbox_unblock(fx.st, "p1", "y"));
    OK(store_outbox_unblock(fx.st, "p2", "a"));
    OK(store_outbox_execute(fx.st, "t1", 2, "g", 0));
    schedule_t s = mk_schedule("s", 10, NO_KVS);
    OK(store_schedule_insert(fx.st, &s));
}

START_TEST(snap_lists_every_entity_in_the_documented_order)
{
    fill_everything();
    store_snap_t sn;
    OK(store_snap(fx.st, fx.a, &sn));
    ck_assert_str_eq(promise_ids(sn.promises, sn.n_promises), "p1,p2");

    ck_assert_uint_eq(sn.n_callbacks, 4); /* by (awaiter, awaited) */
    const char *cb[][2] = {{"x", "a"}, {"y", "a"}, {"z", "b"}, {"a", "c"}};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_str_eq(sn.callbacks[i].awaited, cb[i][0]);
        ck_assert_str_eq(sn.callbacks[i].awaiter, cb[i][1]);
    }

    ck_assert_uint_eq(sn.n_listeners, 3);
    ck_assert_str_eq(sn.listeners[0].promise_id, "p1");
    ck_assert_str_eq(sn.listeners[1].address, "a");
    ck_assert_str_eq(sn.listeners[2].address, "z");

    ck_assert_uint_eq(sn.n_tasks, 2);
    ck_assert_str_eq(sn.tasks[0].id, "t1");
    ck_assert(sn.tasks[0].has_lease);
    ck_assert_str_eq(sn.tasks[0].pid, "w");
    ck_assert_str_eq(sn.tasks[1].id, "t2");
    ck_assert(!sn.tasks[1].has_lease);

    ck_assert_uint_eq(sn.n_timers, 2);
    ck_assert_str_eq(sn.timers[0].id, "t0");
    ck_assert_str_eq(sn.timers[1].id, "t1");

    ck_assert_uint_eq(sn.n_messages, 5);
    const char *msgs[][2] = {{"t1", "g"}, {"t2", "g"}, {"p1", "y"}, {"p2", "a"}, {"p2", "z"}};
    for (size_t i = 0; i < 5; i++) {
        ck_assert_int_eq(sn.messages[i].kind, i < 2 ? MSG_EXECUTE : MSG_UNBLOCK);
        ck_assert_str_eq(sn.messages[i].id, msgs[i][0]);
        ck_assert_str_eq(sn.messages[i].address, msgs[i][1]);
    }
    ck_assert_int_eq(sn.messages[0].version, 2);
}
END_TEST

START_TEST(reset_deletes_every_row_and_keeps_the_schema)
{
    fill_everything();
    insert_promise("tagged", PSTATE_PENDING, 10, KVS({"k", "v"}));
    OK(store_reset(fx.st));
    store_snap_t sn;
    OK(store_snap(fx.st, fx.a, &sn));
    ck_assert_uint_eq(sn.n_promises + sn.n_callbacks + sn.n_listeners + sn.n_tasks + sn.n_timers +
                          sn.n_messages,
                      0);
    schedule_t *g = (schedule_t *)1;
    OK(store_schedule_get(fx.st, fx.a, "s", &g));
    ck_assert_ptr_null(g);
    /* the tag index is empty too (a stale row would fail the search) */
    search_req_t q = {.limit = 10, .tags = KVS({"k", "v"})};
    const char **ids, *cur;
    size_t n;
    search_page(S_PROMISE, &q, &ids, &n, &cur);
    ck_assert_uint_eq(n, 0);
    /* the same keys can be written again */
    fill_everything();
    OK(store_snap(fx.st, fx.a, &sn));
    ck_assert_uint_eq(sn.n_promises, 2);
}
END_TEST

/* ---- transactions ------------------------------------------------------------ */

START_TEST(rollback_discards_the_transaction_and_commit_keeps_it)
{
    OK(store_begin(fx.st));
    insert_promise("gone", PSTATE_PENDING, 10, NO_KVS);
    OK(store_outbox_execute(fx.st, "gone", 0, "a", 0));
    OK(store_rollback(fx.st));
    ck_assert_ptr_null(get_promise("gone"));
    int64_t count;
    OK(store_outbox_count(fx.st, &count));
    ck_assert_int_eq(count, 0);

    OK(store_begin(fx.st));
    insert_promise("kept", PSTATE_PENDING, 10, NO_KVS);
    OK(store_commit(fx.st));
    ck_assert_ptr_nonnull(get_promise("kept"));

    /* nothing open: rollback is a harmless no-op */
    OK(store_rollback(fx.st));
}
END_TEST

START_TEST(rollback_to_undoes_only_the_writes_since_the_savepoint)
{
    OK(store_begin(fx.st));
    OK(store_savepoint(fx.st));
    insert_promise("a", PSTATE_PENDING, 10, NO_KVS);
    OK(store_release(fx.st));
    OK(store_savepoint(fx.st));
    insert_promise("b", PSTATE_PENDING, 10, NO_KVS);
    OK(store_task_insert(fx.st, "b", TSTATE_PENDING, 0));
    OK(store_rollback_to(fx.st));
    OK(store_savepoint(fx.st));
    insert_promise("c", PSTATE_PENDING, 10, NO_KVS);
    OK(store_release(fx.st));
    OK(store_commit(fx.st));

    ck_assert_ptr_nonnull(get_promise("a"));
    ck_assert_ptr_null(get_promise("b"));
    ck_assert_ptr_nonnull(get_promise("c"));
    task_t *t = (task_t *)1;
    OK(store_task_get(fx.st, fx.a, "b", &t));
    ck_assert_ptr_null(t);
}
END_TEST

START_TEST(rollback_to_without_a_transaction_fails_with_message)
{
    ck_assert_int_eq(store_rollback_to(fx.st), STORE_ERR);
    ck_assert_str_ne(store_errmsg(fx.st), "");
}
END_TEST

START_TEST(a_full_disk_is_a_store_error_with_a_readable_message)
{
    OK(store_begin(fx.st));
    insert_promise("seed", PSTATE_PENDING, 10, NO_KVS);
    OK(store_commit(fx.st));
    /* Cap the file at its current size: the next growth is SQLITE_FULL. */
    OK(store_sqlite_exec(fx.st, "PRAGMA max_page_count = 1"));

    char *big = arena_alloc(fx.a, 20000);
    memset(big, 'x', 19999);
    OK(store_begin(fx.st));
    int rc = STORE_OK;
    for (int i = 0; i < 100 && rc == STORE_OK; i++) {
        promise_t p = mk_promise(arena_printf(fx.a, "p%d", i), PSTATE_PENDING, 10);
        p.param.data = big;
        rc = store_promise_insert(fx.st, &p);
    }
    ck_assert_int_eq(rc, STORE_ERR);
    ck_assert_msg(strstr(store_errmsg(fx.st), "full") != NULL, "errmsg: %s", store_errmsg(fx.st));
    /* Whether or not SQLite dropped the whole transaction on the error, a
     * later write of the same transaction must not outlive its rollback. */
    (void)store_task_insert(fx.st, "after", TSTATE_PENDING, 0);
    (void)store_commit(fx.st);
    OK(store_rollback(fx.st));
    OK(store_ping(fx.st));
    ck_assert_ptr_nonnull(get_promise("seed"));
    ck_assert_ptr_null(get_promise("p0"));
    task_t *t = (task_t *)1;
    OK(store_task_get(fx.st, fx.a, "after", &t));
    ck_assert_ptr_null(t);
    /* and the store keeps working */
    OK(store_begin(fx.st));
    OK(store_task_insert(fx.st, "later", TSTATE_PENDING, 0));
    OK(store_commit(fx.st));
    OK(store_task_get(fx.st, fx.a, "later", &t));
    ck_assert_ptr_nonnull(t);
}
END_TEST

/* ---- files and schema -------------------------------------------------------- */

START_TEST(reopening_a_file_keeps_committed_data_and_the_schema_version)
{
    OK(store_begin(fx.st));
    insert_promise("kept", PSTATE_PENDING, 10, KVS({"k", "v"}));
    OK(store_outbox_execute(fx.st, "kept", 0, "a", 0));
    OK(store_commit(fx.st));
    OK(store_begin(fx.st));
    insert_promise("uncommitted", PSTATE_PENDING, 10, NO_KVS);
    store_close(fx.st); /* closing with an open transaction discards it */

    ck_assert_int_eq(raw_user_version(fx.path), STORE_SCHEMA_VERSION);
    fx.st = open_file(fx.path);
    promise_t *p = get_promise("kept");
    ck_assert_ptr_nonnull(p);
    assert_kvmap_eq(&p->tags, &KVS({"k", "v"}));
    ck_assert_ptr_null(get_promise("uncommitted"));
    int64_t count;
    OK(store_outbox_count(fx.st, &count));
    ck_assert_int_eq(count, 1);
}
END_TEST

START_TEST(a_file_database_uses_wal_and_checkpoint_truncates_it)
{
    for (int i = 0; i < 50; i++)
        insert_promise(arena_printf(fx.a, "p%d", i), PSTATE_PENDING, 10, NO_KVS);
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", fx.path);
    struct stat sb;
    ck_assert_int_eq(stat(wal, &sb), 0);
    ck_assert_int_gt(sb.st_size, 0);
    OK(store_checkpoint(fx.st));
    ck_assert_int_eq(stat(wal, &sb), 0);
    ck_assert_int_eq(sb.st_size, 0);
    ck_assert_ptr_nonnull(get_promise("p49"));
}
END_TEST

/* Replaces the fixture's store by a raw connection to a fresh file at
 * schema version v (the store is opened again by the test). */
static sqlite3 *fixture_file_at_version(int v)
{
    store_close(fx.st);
    fx.st = NULL;
    remove_db(fx.path);
    sqlite3 *db;
    char err[256];
    ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
    ck_assert_int_eq(store_sqlite_migrate(db, store_sqlite_migrations(), v, err, sizeof err), 0);
    return db;
}

/* Version 3 indexes the tags of the promises already stored. */
START_TEST(migrating_a_version_2_file_fills_the_tag_index)
{
    sqlite3 *db = fixture_file_at_version(2);
    ck_assert_int_eq(
        sqlite3_exec(db,
                     "INSERT INTO promises (id, state, tags, timeout_at, created_at)"
                     " VALUES ('a', 'pending', '{\"k\":\"v\",\"x\":\"\\u00fc\"}', 10, 1),"
                     " ('b', 'resolved', '{\"k\":\"v\"}', 10, 1),"
                     " ('c', 'pending', '{}', 10, 1);"
                     "INSERT INTO tasks (id, state, version) VALUES ('t', 'halted', 0)",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(raw_user_version(fx.path), 2);

    fx.st = open_file(fx.path);
    ck_assert_int_eq(raw_user_version(fx.path), STORE_SCHEMA_VERSION);
    promise_t *ps;
    size_t n;
    const char *cur;
    search_req_t q = search(10, NULL);
    q.tags = KVS({"k", "v"});
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "a,b");
    q.tags = KVS({"x", "ü"});
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "a");
    q.tags = NO_KVS;
    q.has_state = true;
    q.state = PSTATE_RESOLVED;
    OK(store_promise_search(fx.st, fx.a, &q, &ps, &n, &cur));
    ck_assert_str_eq(promise_ids(ps, n), "b");
    task_t *ts;
    q.state = TSTATE_HALTED;
    OK(store_task_search(fx.st, fx.a, &q, &ts, &n, &cur));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ts[0].id, "t");
    /* exactly the three tag rows */
    ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT group_concat(key || '=' || value || '@' || id)"
                                        " FROM (SELECT * FROM promise_tags ORDER BY id, key)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "k=v@a,x=ü@a,k=v@b");
    sqlite3_finalize(st);
    sqlite3_close(db);
}
END_TEST

START_TEST(a_fresh_file_is_migrated_to_the_current_schema)
{
    ck_assert_int_eq(raw_user_version(fx.path), STORE_SCHEMA_VERSION);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                        " AND name IN ('promises', 'callbacks', 'listeners',"
                                        " 'tasks', 'task_timers', 'outbox', 'schedules')",
                                        -1, &q, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(q, 0), 7);
    sqlite3_finalize(q);
    sqlite3_close(db);
}
END_TEST

START_TEST(a_file_with_a_newer_schema_version_is_refused_untouched)
{
    char path[64];
    tmp_db(path, sizeof path);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    char set[64];
    snprintf(set, sizeof set, "PRAGMA user_version = %d", STORE_SCHEMA_VERSION + 1);
    ck_assert_int_eq(sqlite3_exec(db, set, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    char err[512] = "";
    store_t *st = store_sqlite_open(path, err, sizeof err);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, "newer") != NULL, "err: %s", err);
    ck_assert_int_eq(raw_user_version(path), STORE_SCHEMA_VERSION + 1);
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    ck_assert_int_ne(access(wal, F_OK), 0); /* journal mode was not switched */
    remove_db(path);
}
END_TEST

START_TEST(open_of_a_file_that_is_not_a_database_fails_with_message)
{
    char path[64];
    tmp_db(path, sizeof path);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("this is not an sqlite database, just some text long enough to matter\n", f);
    fclose(f);
    char err[512] = "";
    ck_assert_ptr_null(store_sqlite_open(path, err, sizeof err));
    ck_assert_msg(strstr(err, "not a database") != NULL, "err: %s", err);
    remove_db(path);
}
END_TEST

static const char *const test_steps[] = {
    "CREATE TABLE t (a TEXT); INSERT INTO t VALUES ('one');",
    "ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'two';",
    "CREATE TABLE u (x); THIS IS NOT SQL;",
};

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

static int raw_count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return -1;
    int n = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
    sqlite3_finalize(q);
    return n;
}

/* Regression: step 3 -> 4 edits sqlite_schema, which a connection in
 * defensive mode refuses; the migration turns it off for itself and
 * restores it afterwards. */
START_TEST(migrating_works_on_a_connection_in_defensive_mode_and_leaves_it_so)
{
    sqlite3 *db = fixture_file_at_version(3);
    char err[256] = "";
    ck_assert_int_eq(sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL), SQLITE_OK);
    ck_assert_msg(store_sqlite_migrate(db, store_sqlite_migrations(), STORE_SCHEMA_VERSION, err,
                                       sizeof err) == 0,
                  "%s", err);
    ck_assert_int_eq(raw_count(db, "SELECT count(*) FROM sqlite_schema WHERE sql LIKE '%IN (%'"),
                     0);
    int defensive = 0;
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, -1, &defensive);
    ck_assert_int_eq(defensive, 1);
    sqlite3_close(db);
}
END_TEST

/* Version 4 rewrites every CHECK (x IN (...)) as an OR chain in place:
 * rows stay, other values are still refused, and the file stays sound. */
START_TEST(migrating_a_version_3_file_keeps_its_rows_and_checks_without_in_lists)
{
    sqlite3 *db = fixture_file_at_version(3);
    ck_assert_int_eq(raw_count(db, "SELECT count(*) FROM sqlite_schema WHERE sql LIKE '%IN (%'"),
                     5);
    ck_assert_int_eq(sqlite3_exec(db,
                                  "INSERT INTO promises (id, state, tags, timeout_at, created_at)"
                                  " VALUES ('a', 'rejected_timedout', '{}', 10, 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    fx.st = open_file(fx.path);
    ck_assert_int_eq(raw_user_version(fx.path), STORE_SCHEMA_VERSION);
    promise_t *p;
    OK(store_promise_get(fx.st, fx.a, "a", &p));
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p->state, PSTATE_REJECTED_TIMEDOUT);

    ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
    ck_assert_int_eq(raw_count(db, "SELECT count(*) FROM sqlite_schema WHERE sql LIKE '%IN (%'"),
                     0);
    ck_assert_int_eq(raw_count(db, "SELECT count(*) FROM sqlite_schema WHERE sql LIKE '%CHECK%'"),
                     6);
    static const char *const refused[] = {
        "INSERT INTO promises (id, state, tags, timeout_at, created_at)"
        " VALUES ('b', 'done', '{}', 10, 1)",
        "INSERT INTO tasks (id, state, version) VALUES ('t', 'running', 0)",
        "INSERT INTO outbox (kind, id, version, address, not_before, attempts)"
        " VALUES ('other', 'x', 0, 'a', 0, 0)",
        "INSERT INTO callbacks (awaited, awaiter, ready) VALUES ('x', 'y', 2)",
        "INSERT INTO task_timers (id, type, timeout_at, ttl) VALUES ('x', 2, 0, 0)",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        ck_assert_int_eq(sqlite3_exec(db, refused[i], NULL, NULL, NULL), SQLITE_CONSTRAINT);
    ck_assert_int_eq(
        sqlite3_exec(db,
                     "INSERT INTO tasks (id, state, version) VALUES ('t', 'fulfilled', 0);"
                     "INSERT INTO callbacks (awaited, awaiter, ready) VALUES ('x', 'y', 1)",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    sqlite3_close(db);
}
END_TEST

START_TEST(migrate_upgrades_an_older_file_one_step_at_a_time)
{
    char path[64], err[256] = "";
    tmp_db(path, sizeof path);
    sqlite3 *db = raw_open(path);
    ck_assert_int_eq(store_sqlite_migrate(db, test_steps, 1, err, sizeof err), 0);
    ck_assert_int_eq(raw_count(db, "PRAGMA user_version"), 1);
    ck_assert_int_eq(raw_count(db, "SELECT count(b) FROM t"), -1); /* no column b yet */
    /* a later release with one more step upgrades the existing file */
    ck_assert_int_eq(store_sqlite_migrate(db, test_steps, 2, err, sizeof err), 0);
    ck_assert_int_eq(raw_count(db, "PRAGMA user_version"), 2);
    ck_assert_int_eq(raw_count(db, "SELECT count(*) FROM t WHERE a = 'one' AND b = 'two'"), 1);
    /* running again is a no-op */
    ck_assert_int_eq(store_sqlite_migrate(db, test_steps, 2, err, sizeof err), 0);
    ck_assert_int_eq(raw_count(db, "SELECT count(*) FROM t"), 1);
    sqlite3_close(db);
    remove_db(path);
}
END_TEST

START_TEST(a_failing_migration_leaves_the_file_as_it_was)
{
    char path[64], err[256] = "";
    tmp_db(path, sizeof path);
    sqlite3 *db = raw_open(path);
    ck_assert_int_eq(store_sqlite_migrate(db, test_steps, 3, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "2 -> 3") != NULL, "err: %s", err);
    ck_assert_int_eq(raw_count(db, "PRAGMA user_version"), 0);
    ck_assert_int_eq(raw_count(db, "SELECT count(*) FROM sqlite_master"), 0);
    ck_assert(sqlite3_get_autocommit(db));
    /* and a newer file is refused */
    ck_assert_int_eq(store_sqlite_migrate(db, test_steps, 2, err, sizeof err), 0);
    ck_assert_int_eq(store_sqlite_migrate(db, test_steps, 1, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "newer") != NULL, "err: %s", err);
    ck_assert_int_eq(raw_count(db, "PRAGMA user_version"), 2);
    sqlite3_close(db);
    remove_db(path);
}
END_TEST

/* ---- a database that cannot take writes ------------------------------------ */

START_TEST(ping_writes_and_commits_the_probe_row)
{
    OK(store_ping(fx.st));
    store_close(fx.st);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
    ck_assert_int_eq(raw_count(db, "SELECT count(*) FROM health WHERE written_at > 0"), 1);
    sqlite3_close(db);
    fx.st = open_file(fx.path);
}
END_TEST

START_TEST(check_and_ping_fail_once_the_file_is_deleted)
{
    OK(store_check(fx.st));
    ck_assert_int_eq(unlink(fx.path), 0);
    ck_assert_int_eq(store_check(fx.st), STORE_ERR);
    ck_assert_msg(strstr(store_errmsg(fx.st), "deleted or replaced") &&
                      strstr(store_errmsg(fx.st), fx.path),
                  "%s", store_errmsg(fx.st));
    ck_assert_int_eq(store_ping(fx.st), STORE_ERR);
}
END_TEST

START_TEST(check_fails_once_the_wal_file_is_deleted)
{
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", fx.path);
    OK(store_begin(fx.st));
    insert_promise("p", PSTATE_PENDING, 10, NO_KVS);
    OK(store_commit(fx.st));
    ck_assert_int_eq(unlink(wal), 0);
    ck_assert_int_eq(store_check(fx.st), STORE_ERR);
    ck_assert_msg(strstr(store_errmsg(fx.st), "-wal was deleted or replaced"), "%s",
                  store_errmsg(fx.st));
}
END_TEST

START_TEST(check_fails_once_another_file_is_renamed_over_the_database)
{
    char other[64];
    tmp_db(other, sizeof other);
    store_close(open_file(other));
    ck_assert_int_eq(rename(other, fx.path), 0);
    ck_assert_int_eq(store_check(fx.st), STORE_ERR);
    ck_assert_ptr_nonnull(strstr(store_errmsg(fx.st), "deleted or replaced"));
    /* restored: usable again */
    remove_db(other);
}
END_TEST

START_TEST(a_memory_database_passes_check_and_ping)
{
    OK(store_check(fx.st));
    OK(store_ping(fx.st));
}
END_TEST

/* Runs fn(dir) in a child process without root's privilege to write
 * anywhere (uid/gid nobody when running as root); fn returns 0 or prints
 * why not and returns 1. Asserts fn returned 0. */
static void as_unprivileged(int (*fn)(const char *dir), const char *dir)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (geteuid() == 0 &&
            (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) {
            fprintf(stderr, "cannot drop privileges\n");
            _exit(1);
        }
        _exit(fn(dir));
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %d)",
                  status);
}

/* A directory for as_unprivileged with a database file db in it that was
 * created, written and closed cleanly (no -wal left). */
static void ro_setup(char *dir, size_t dlen, char *path, size_t plen)
{
    snprintf(dir, dlen, "/tmp/resonate-ro-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, plen, "%s/db", dir);
    store_t *st = open_file(path);
    ck_assert_int_eq(store_checkpoint(st), STORE_OK);
    store_close(st);
}

static void ro_teardown(const char *dir, const char *path)
{
    chmod(dir, 0700);
    remove_db(path);
    rmdir(dir);
}

static int open_must_fail(const char *dir, const char *want1, const char *want2)
{
    char path[128], err[1024] = "";
    snprintf(path, sizeof path, "%s/db", dir);
    store_t *st = store_sqlite_open(path, err, sizeof err);
    if (st) {
        store_close(st);
        fprintf(stderr, "opened %s\n", path);
        return 1;
    }
    if (!strstr(err, want1) || !strstr(err, want2)) {
        fprintf(stderr, "unexpected error: %s\n", err);
        return 1;
    }
    return 0;
}

static int open_ro_file(const char *dir)
{
    return open_must_fail(dir, "read-only", "the file is not writable");
}

static int open_in_ro_dir(const char *dir)
{
    return open_must_fail(dir, "is not writable", "-wal and -shm");
}

START_TEST(open_refuses_an_unwritable_file_or_directory_and_says_what_to_fix)
{
    static const struct {
        mode_t dir, file;
        int (*fn)(const char *dir);
    } cases[] = {{0777, 0444, open_ro_file}, {0555, 0666, open_in_ro_dir}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char dir[64], path[128];
        ro_setup(dir, sizeof dir, path, sizeof path);
        ck_assert_int_eq(chmod(path, cases[i].file), 0);
        ck_assert_int_eq(chmod(dir, cases[i].dir), 0);
        as_unprivileged(cases[i].fn, dir);
        ro_teardown(dir, path);
    }
}
END_TEST

/* Opens path, which must fail with an error containing want1 and want2. */
static void open_path_must_fail(const char *path, const char *want1, const char *want2)
{
    char err[1024] = "";
    store_t *st = store_sqlite_open(path, err, sizeof err);
    if (st)
        store_close(st);
    ck_assert_msg(!st, "opened %s", path);
    ck_assert_msg(strstr(err, want1) && strstr(err, want2), "unexpected error: %s", err);
}

START_TEST(open_names_a_missing_directory_a_directory_and_a_non_database_and_what_to_do)
{
    char dir[64], path[128];
    snprintf(dir, sizeof dir, "/tmp/resonate-open-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/missing/db", dir);
    open_path_must_fail(path, "/missing does not exist", "mkdir -p");
    open_path_must_fail(dir, "it is a directory", "/resonate.db");
    snprintf(path, sizeof path, "%s/noise", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 8192; i++)
        fputc((i * 7919 + 13) & 0xFF, f);
    fclose(f);
    open_path_must_fail(path, "not a SQLite database, or is damaged", "move it aside");
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static int ping_after_chmod(const char *dir)
{
    char path[128], err[1024] = "";
    snprintf(path, sizeof path, "%s/db", dir);
    store_t *st = store_sqlite_open(path, err, sizeof err);
    if (!st) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    int rc = 0;
    if (store_ping(st) != STORE_OK || chmod(path, 0444) != 0) {
        fprintf(stderr, "ping before chmod: %s\n", store_errmsg(st));
        rc = 1;
    } else if (store_ping(st) != STORE_ERR || !strstr(store_errmsg(st), "no longer writable")) {
        fprintf(stderr, "ping after chmod: %s\n", store_errmsg(st));
        rc = 1;
    }
    store_close(st);
    return rc;
}

START_TEST(ping_fails_once_the_file_is_no_longer_writable)
{
    char dir[64], path[128];
    ro_setup(dir, sizeof dir, path, sizeof path);
    ck_assert_int_eq(chmod(dir, 0777), 0);
    /* the unprivileged child owns the file, so it may chmod it */
    if (geteuid() == 0)
        ck_assert_int_eq(chown(path, 65534, 65534), 0);
    as_unprivileged(ping_after_chmod, dir);
    ro_teardown(dir, path);
}
END_TEST

/* ---- readers (store_sqlite_open_reader) ------------------------------------ */

static store_t *open_reader(const char *path)
{
    char err[512] = "";
    store_t *rd = store_sqlite_open_reader(path, err, sizeof err);
    ck_assert_msg(rd != NULL, "open reader %s: %s", path, err);
    return rd;
}

START_TEST(a_reader_sees_the_commits_before_its_transaction_and_none_after)
{
    store_t *rd = open_reader(fx.path);
    insert_promise("p1", PSTATE_PENDING, 10, KVS({"k", "v"}));
    promise_t *p = NULL;
    ck_assert_int_eq(store_begin(rd), STORE_OK);
    ck_assert_int_eq(store_promise_get(rd, fx.a, "p1", &p), STORE_OK);
    ck_assert_ptr_nonnull(p);
    /* A commit while the read transaction is open: not in its snapshot, and
     * the reader did not block the writer. */
    insert_promise("p2", PSTATE_PENDING, 10, KVS({"k", "v"}));
    ck_assert_int_eq(store_promise_get(rd, fx.a, "p2", &p), STORE_OK);
    ck_assert_ptr_null(p);
    search_req_t q = search(10, NULL);
    promise_t *ps = NULL;
    size_t n = 0;
    const char *cur = NULL;
    ck_assert_int_eq(store_promise_search(rd, fx.a, &q, &ps, &n, &cur), STORE_OK);
    ck_assert_str_eq(promise_ids(ps, n), "p1");
    ck_assert_int_eq(store_commit(rd), STORE_OK);
    /* The next read transaction sees it. */
    ck_assert_int_eq(store_begin(rd), STORE_OK);
    ck_assert_int_eq(store_promise_get(rd, fx.a, "p2", &p), STORE_OK);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(store_promise_search(rd, fx.a, &q, &ps, &n, &cur), STORE_OK);
    ck_assert_str_eq(promise_ids(ps, n), "p1,p2");
    ck_assert_int_eq(store_rollback(rd), STORE_OK);
    store_close(rd);
}
END_TEST

START_TEST(a_reader_refuses_writes_and_the_writer_still_checkpoints)
{
    store_t *rd = open_reader(fx.path);
    promise_t p = mk_promise("w", PSTATE_PENDING, 10);
    ck_assert_int_eq(store_promise_insert(rd, &p), STORE_ERR);
    ck_assert_msg(strstr(store_errmsg(rd), "readonly") != NULL, "%s", store_errmsg(rd));
    insert_promise("p1", PSTATE_PENDING, 10, NO_KVS);
    promise_t *got = NULL;
    ck_assert_int_eq(store_promise_get(rd, fx.a, "p1", &got), STORE_OK);
    ck_assert_ptr_nonnull(got);
    /* An idle reader (no transaction open) does not stop a full checkpoint. */
    OK(store_checkpoint(fx.st));
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", fx.path);
    struct stat sb;
    ck_assert_int_eq(stat(wal, &sb), 0);
    ck_assert_int_eq(sb.st_size, 0);
    ck_assert_int_eq(store_promise_get(rd, fx.a, "p1", &got), STORE_OK);
    ck_assert_ptr_nonnull(got);
    store_close(rd);
}
END_TEST

START_TEST(a_reader_of_a_memory_or_missing_database_is_refused_with_the_reason)
{
    char err[512] = "";
    ck_assert_ptr_null(store_sqlite_open_reader(":memory:", err, sizeof err));
    ck_assert_msg(strstr(err, "storage.sqlite.path") != NULL, "%s", err);
    err[0] = '\0';
    ck_assert_ptr_null(store_sqlite_open_reader("/nonexistent/dir/r.db", err, sizeof err));
    ck_assert_msg(strstr(err, "cannot open /nonexistent/dir/r.db for reading") != NULL, "%s", err);
}
END_TEST

static Suite *sqlite_suite(void)
{
    Suite *s = suite_create("sqlite");
    TCase *mem = tcase_create("memory");
    tcase_add_checked_fixture(mem, setup_mem, teardown);
    tcase_add_test(mem, promise_round_trip_keeps_every_field);
    tcase_add_test(mem, sqlite_keeps_no_memory_statistics_once_a_store_is_open);
    tcase_add_test(mem,
                   the_writer_is_optimistic_and_its_rollback_after_a_failed_write_keeps_nothing);
    tcase_add_test(mem, promise_absent_and_empty_headers_and_data_stay_distinct);
    tcase_add_test(mem, promise_get_of_missing_id_returns_null);
    tcase_add_test(mem, promise_insert_of_existing_id_fails_with_message);
    tcase_add_test(mem, promise_settle_stores_value_and_leaves_the_due_queue);
    tcase_add_test(mem, promise_settle_with_absent_value_stores_nulls);
    tcase_add_test(mem, tags_with_escapes_and_unicode_round_trip);
    tcase_add_test(mem, kvjson_encoding_matches_wire_dump_byte_for_byte);
    tcase_add_test(mem, kvjson_decode_sorts_keys_and_reads_every_escape);
    tcase_add_test(mem, kvjson_decode_rejects_what_is_not_a_string_map);
    tcase_add_test(mem, promise_search_filters_by_state_and_every_tag);
    tcase_add_test(mem, promise_search_pages_with_cursor_set_to_the_last_id_while_more_match);
    tcase_add_test(mem, promise_search_orders_and_pages_ids_by_bytes);
    tcase_add_test(mem, promise_search_with_id_prefix_returns_only_ids_starting_with_it);
    tcase_add_test(mem, promise_due_returns_pending_by_timeout_then_id_up_to_limit);
    tcase_add_test(mem, promise_branch_returns_promises_of_the_branch_except_excluded);
    tcase_add_test(mem, promise_branch_stops_at_the_count_and_byte_bounds);
    tcase_add_test(mem, callback_ready_marks_every_callback_and_returns_awaiters_sorted);
    tcase_add_test(mem, callback_insert_of_existing_pair_keeps_it_unchanged);
    tcase_add_test(mem, callback_ready_takes_at_most_max_past_after_and_says_whether_more_remain);
    tcase_add_test(mem, callback_insert_with_ready_marks_an_existing_pair_ready);
    tcase_add_test(mem,
                   callback_delete_ready_also_deletes_the_awaiters_callbacks_on_listed_fanouts);
    tcase_add_test(mem,
                   fanout_list_returns_the_least_passed_first_with_progress_and_forgets_deleted);
    tcase_add_test(mem, callback_deletes_remove_ready_or_all_of_an_awaiter);
    tcase_add_test(mem, listener_take_returns_sorted_addresses_once);
    tcase_add_test(mem, listener_take_takes_at_most_max_and_says_whether_more_remain);
    tcase_add_test(mem, listener_count_stops_at_max_and_reports_whether_the_pair_is_stored);
    tcase_add_test(mem, task_get_reports_resumes_and_lease_from_its_timer);
    tcase_add_test(mem, task_insert_of_existing_id_fails);
    tcase_add_test(mem, task_search_filters_state_and_pages);
    tcase_add_test(mem, timer_set_replaces_the_tasks_timer_and_due_orders_by_time_then_id);
    tcase_add_test(mem, lease_renew_pid_renews_the_pids_leases_of_acquired_tasks_inside_the_prefix);
    tcase_add_test(mem, outbox_execute_replaces_an_older_execute_of_the_same_task);
    tcase_add_test(mem, outbox_unblock_is_queued_once_per_promise_and_address);
    tcase_add_test(mem,
                   outbox_due_takes_new_and_retried_rows_in_turn_and_honours_not_before_and_limit);
    tcase_add_test(mem, outbox_due_gives_new_and_retried_rows_half_a_round_each);
    tcase_add_test(mem, finding_the_due_outbox_rows_costs_what_is_due_not_what_waits_for_later);
    tcase_add_test(mem, the_next_fanouts_cost_what_is_taken_not_what_is_listed);
    tcase_add_test(mem, outbox_seq_is_never_reused_after_deleting_the_newest_row);
    tcase_add_test(mem, schedule_round_trip_advance_and_delete);
    tcase_add_test(mem, schedule_search_matches_promise_tags_and_pages);
    tcase_add_test(mem, a_search_page_stops_at_the_byte_budget_with_a_cursor);
    tcase_add_test(mem, a_page_that_starts_with_a_record_over_the_budget_holds_it_alone);
    tcase_add_test(mem, schedule_due_orders_by_next_run_then_id_up_to_limit);
    tcase_add_test(mem, schedule_due_stops_at_its_byte_budget_and_says_more_are_due);
    tcase_add_test(mem, snap_lists_every_entity_in_the_documented_order);
    tcase_add_test(mem, reset_deletes_every_row_and_keeps_the_schema);
    tcase_add_test(mem, rollback_discards_the_transaction_and_commit_keeps_it);
    tcase_add_test(mem, rollback_to_undoes_only_the_writes_since_the_savepoint);
    tcase_add_test(mem, rollback_to_without_a_transaction_fails_with_message);
    tcase_add_test(mem, a_memory_database_passes_check_and_ping);
    suite_add_tcase(s, mem);

    /* Thousands of rows and queries: longer than the default timeout under
     * the sanitizers on a loaded machine. */
    TCase *search = tcase_create("search");
    tcase_add_checked_fixture(search, setup_mem, teardown);
    tcase_set_timeout(search, 60);
    tcase_add_test(search, searches_match_a_brute_force_filter_on_random_data);
    tcase_add_test(search, a_search_whose_filters_rarely_meet_stops_at_the_scan_cap_with_a_cursor);
    suite_add_tcase(s, search);

    /* The same contract on PostgreSQL (tests/run.sh starts a cluster). */
    if (getenv("RESONATE_TEST_PG_URL")) {
        TCase *pgc = tcase_create("postgres");
        tcase_add_checked_fixture(pgc, setup_pg, teardown);
        tcase_add_test(pgc, promise_round_trip_keeps_every_field);
        tcase_add_test(pgc, promise_absent_and_empty_headers_and_data_stay_distinct);
        tcase_add_test(pgc, promise_get_of_missing_id_returns_null);
        tcase_add_test(pgc, promise_insert_of_existing_id_fails_with_message);
        tcase_add_test(pgc, promise_settle_stores_value_and_leaves_the_due_queue);
        tcase_add_test(pgc, promise_settle_with_absent_value_stores_nulls);
        tcase_add_test(pgc, tags_with_escapes_and_unicode_round_trip);
        tcase_add_test(pgc, kvjson_encoding_matches_wire_dump_byte_for_byte);
        tcase_add_test(pgc, kvjson_decode_sorts_keys_and_reads_every_escape);
        tcase_add_test(pgc, kvjson_decode_rejects_what_is_not_a_string_map);
        tcase_add_test(pgc, promise_search_filters_by_state_and_every_tag);
        tcase_add_test(pgc, promise_search_pages_with_cursor_set_to_the_last_id_while_more_match);
        tcase_add_test(pgc, promise_search_orders_and_pages_ids_by_bytes);
        /* ids of raw 0xFF bytes are not text in PostgreSQL (the wire only
         * carries UTF-8): test_postgres.c checks prefixes of UTF-8 ids. */
        tcase_add_test(pgc, promise_due_returns_pending_by_timeout_then_id_up_to_limit);
        tcase_add_test(pgc, promise_branch_returns_promises_of_the_branch_except_excluded);
        tcase_add_test(pgc, promise_branch_stops_at_the_count_and_byte_bounds);
        tcase_add_test(pgc, callback_ready_marks_every_callback_and_returns_awaiters_sorted);
        tcase_add_test(pgc, callback_insert_of_existing_pair_keeps_it_unchanged);
        tcase_add_test(pgc,
                       callback_ready_takes_at_most_max_past_after_and_says_whether_more_remain);
        tcase_add_test(pgc, callback_insert_with_ready_marks_an_existing_pair_ready);
        tcase_add_test(pgc,
                       callback_delete_ready_also_deletes_the_awaiters_callbacks_on_listed_fanouts);
        tcase_add_test(
            pgc, fanout_list_returns_the_least_passed_first_with_progress_and_forgets_deleted);
        tcase_add_test(pgc, callback_deletes_remove_ready_or_all_of_an_awaiter);
        tcase_add_test(pgc, listener_take_returns_sorted_addresses_once);
        tcase_add_test(pgc, listener_take_takes_at_most_max_and_says_whether_more_remain);
        tcase_add_test(pgc, listener_count_stops_at_max_and_reports_whether_the_pair_is_stored);
        tcase_add_test(pgc, task_get_reports_resumes_and_lease_from_its_timer);
        tcase_add_test(pgc, task_insert_of_existing_id_fails);
        tcase_add_test(pgc, task_search_filters_state_and_pages);
        tcase_add_test(pgc, timer_set_replaces_the_tasks_timer_and_due_orders_by_time_then_id);
        tcase_add_test(pgc,
                       lease_renew_pid_renews_the_pids_leases_of_acquired_tasks_inside_the_prefix);
        tcase_add_test(pgc, outbox_execute_replaces_an_older_execute_of_the_same_task);
        tcase_add_test(pgc, outbox_unblock_is_queued_once_per_promise_and_address);
        tcase_add_test(
            pgc, outbox_due_takes_new_and_retried_rows_in_turn_and_honours_not_before_and_limit);
        tcase_add_test(pgc, outbox_due_gives_new_and_retried_rows_half_a_round_each);
        tcase_add_test(pgc, outbox_seq_is_never_reused_after_deleting_the_newest_row);
        tcase_add_test(pgc, schedule_round_trip_advance_and_delete);
        tcase_add_test(pgc, schedule_search_matches_promise_tags_and_pages);
        tcase_add_test(pgc, a_search_page_stops_at_the_byte_budget_with_a_cursor);
        tcase_add_test(pgc, a_page_that_starts_with_a_record_over_the_budget_holds_it_alone);
        tcase_add_test(pgc, schedule_due_orders_by_next_run_then_id_up_to_limit);
        tcase_add_test(pgc, schedule_due_stops_at_its_byte_budget_and_says_more_are_due);
        tcase_add_test(pgc, snap_lists_every_entity_in_the_documented_order);
        tcase_add_test(pgc, reset_deletes_every_row_and_keeps_the_schema);
        tcase_add_test(pgc, rollback_discards_the_transaction_and_commit_keeps_it);
        tcase_add_test(pgc, rollback_to_undoes_only_the_writes_since_the_savepoint);
        tcase_add_test(pgc, rollback_to_without_a_transaction_fails_with_message);
        tcase_add_test(pgc, a_memory_database_passes_check_and_ping);
        tcase_set_timeout(pgc, 60);
        suite_add_tcase(s, pgc);
    } else {
        static bool said;
        if (!said)
            fprintf(stderr, "postgres store tests SKIPPED: RESONATE_TEST_PG_URL is not set "
                            "(scripts/pg-cluster.sh start prints one)\n");
        said = true;
    }

    TCase *file = tcase_create("file");
    tcase_add_checked_fixture(file, setup_file, teardown);
    tcase_add_test(file, a_full_disk_is_a_store_error_with_a_readable_message);
    tcase_add_test(file, reopening_a_file_keeps_committed_data_and_the_schema_version);
    tcase_add_test(file, a_file_database_uses_wal_and_checkpoint_truncates_it);
    tcase_add_test(file, a_fresh_file_is_migrated_to_the_current_schema);
    tcase_add_test(file, migrating_a_version_2_file_fills_the_tag_index);
    tcase_add_test(file, migrating_a_version_3_file_keeps_its_rows_and_checks_without_in_lists);
    tcase_add_test(file, migrating_works_on_a_connection_in_defensive_mode_and_leaves_it_so);
    tcase_add_test(file, a_file_with_a_newer_schema_version_is_refused_untouched);
    tcase_add_test(file, open_of_a_file_that_is_not_a_database_fails_with_message);
    tcase_add_test(file, migrate_upgrades_an_older_file_one_step_at_a_time);
    tcase_add_test(file, a_failing_migration_leaves_the_file_as_it_was);
    tcase_add_test(file, ping_writes_and_commits_the_probe_row);
    tcase_add_test(file, check_and_ping_fail_once_the_file_is_deleted);
    tcase_add_test(file, check_fails_once_the_wal_file_is_deleted);
    tcase_add_test(file, check_fails_once_another_file_is_renamed_over_the_database);
    tcase_add_test(file, open_refuses_an_unwritable_file_or_directory_and_says_what_to_fix);
    tcase_add_test(file,
                   open_names_a_missing_directory_a_directory_and_a_non_database_and_what_to_do);
    tcase_add_test(file, ping_fails_once_the_file_is_no_longer_writable);
    tcase_add_test(file, a_reader_sees_the_commits_before_its_transaction_and_none_after);
    tcase_add_test(file, a_reader_refuses_writes_and_the_writer_still_checkpoints);
    tcase_add_test(file, a_reader_of_a_memory_or_missing_database_is_refused_with_the_reason);
    suite_add_tcase(s, file);
    return s;
}
UNIT_SUITE(sqlite_suite)
