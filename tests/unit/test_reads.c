/* test_reads.c - the pool of read-only connections (server/reads.c) over a
 * database file opened by a writer, as the server does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/reads.h"
#include "store/sqlite.h"
#include "store/sqlite_internal.h"
#include "tests/unit/unit.h"

static struct {
    char path[64];
    store_t *writer;
    reads_t *r;
    arena_t *a;
    engine_config_t cfg;
    response_t resp;
} fx;

static void remove_db(void)
{
    char side[96];
    unlink(fx.path);
    snprintf(side, sizeof side, "%s-wal", fx.path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", fx.path);
    unlink(side);
}

static void setup(void)
{
    snprintf(fx.path, sizeof fx.path, "/tmp/resonate-reads-XXXXXX");
    int fd = mkstemp(fx.path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(fx.path);
    char err[512] = "";
    fx.writer = store_sqlite_open(fx.path, err, sizeof err);
    ck_assert_msg(fx.writer != NULL, "%s", err);
    fx.cfg = (engine_config_t){.retry_timeout = 30000};
    fx.r = reads_new(fx.path, &fx.cfg, err, sizeof err);
    ck_assert_msg(fx.r != NULL, "%s", err);
    fx.a = arena_new();
    memset(&fx.resp, 0, sizeof fx.resp);
}

static void teardown(void)
{
    response_clear(&fx.resp);
    reads_free(fx.r);
    store_close(fx.writer);
    arena_free(fx.a);
    remove_db();
}

/* A committed write through the writer, as the store thread makes it. */
static void write_promise(const char *id)
{
    request_t req = {.op = OP_PROMISE_CREATE, .corr_id = "c", .now = 1000};
    req.u.promise_create = (promise_create_t){.id = id, .timeout_at = 900000};
    response_t resp = {0};
    ck_assert_int_eq(store_begin(fx.writer), STORE_OK);
    ck_assert_int_eq(engine_apply(&fx.cfg, fx.writer, fx.a, &req, &resp), 0);
    ck_assert_int_eq(store_commit(fx.writer), STORE_OK);
    ck_assert_int_eq(resp.status, 200);
    response_clear(&resp);
}

static int read_get(op_t op, const char *id)
{
    request_t req = {.op = op, .corr_id = "c", .now = 2000};
    req.u.get.id = id;
    response_clear(&fx.resp);
    int rc = reads_run(fx.r, fx.a, &req, &fx.resp);
    response_json(&fx.resp); /* the tests read the tree of a typed answer */
    return rc;
}

START_TEST(a_memory_database_has_no_pool_and_no_error)
{
    char err[64] = "x";
    ck_assert_ptr_null(reads_new(":memory:", &fx.cfg, err, sizeof err));
    ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(reads_answer_committed_writes_and_hand_writes_to_the_store_thread)
{
    ck_assert_int_eq(read_get(OP_PROMISE_GET, "p"), 0);
    ck_assert_int_eq(fx.resp.status, 404);
    write_promise("p");
    ck_assert_int_eq(read_get(OP_PROMISE_GET, "p"), 0);
    ck_assert_int_eq(fx.resp.status, 200);
    json_t *p = json_object_get(fx.resp.data, "promise");
    ck_assert_str_eq(json_string_value(json_object_get(p, "state")), "pending");
    request_t w = {.op = OP_PROMISE_CREATE, .corr_id = "c", .now = 2000};
    w.u.promise_create = (promise_create_t){.id = "q", .timeout_at = 900000};
    response_clear(&fx.resp);
    ck_assert_int_eq(reads_run(fx.r, fx.a, &w, &fx.resp), ENGINE_READ_WRITER);
    ck_assert_ptr_null(fx.resp.data);
}
END_TEST

START_TEST(after_stop_every_read_goes_to_the_store_thread)
{
    write_promise("p");
    reads_stop(fx.r);
    ck_assert_int_eq(read_get(OP_PROMISE_GET, "p"), ENGINE_READ_WRITER);
    ck_assert_ptr_null(fx.resp.data);
}
END_TEST

/* The outbox depth gauge is counted on a reader, never by the writer. */
START_TEST(the_outbox_is_counted_on_a_reader_and_not_after_stop)
{
    char err[256] = "";
    int64_t n = -1;
    ck_assert_int_eq(reads_outbox_count(fx.r, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(store_begin(fx.writer), STORE_OK);
    ck_assert_int_eq(store_outbox_execute(fx.writer, "t1", 0, "poll://any@g", 0), STORE_OK);
    ck_assert_int_eq(store_outbox_execute(fx.writer, "t2", 0, "poll://any@g", 0), STORE_OK);
    ck_assert_int_eq(store_commit(fx.writer), STORE_OK);
    ck_assert_int_eq(reads_outbox_count(fx.r, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 2);
    reads_stop(fx.r);
    n = -1;
    ck_assert_int_eq(reads_outbox_count(fx.r, &n, err, sizeof err), 1);
    ck_assert_int_eq(n, -1);
}
END_TEST

START_TEST(a_failed_read_is_500_and_a_reader_that_cannot_open_is_503)
{
    FILE *out = tmpfile(), *err = tmpfile();
    unit_stdio_t saved = unit_redirect_stdio(out, err);
    /* The reader's prepared statement no longer compiles: a read error. */
    ck_assert_int_eq(store_sqlite_exec(fx.writer, "DROP TABLE schedules"), STORE_OK);
    int rc = read_get(OP_SCHEDULE_GET, "s");
    int status = fx.resp.status;
    char first[512];
    snprintf(first, sizeof first, "%s", json_string_value(fx.resp.data) ?: "");
    /* That reader was dropped; with the file gone no new one opens. */
    remove_db();
    int rc2 = read_get(OP_PROMISE_GET, "p");
    unit_restore_stdio(saved);
    fclose(out);
    fclose(err);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(status, 500);
    ck_assert_msg(strstr(first, "Internal error") && strstr(first, "schedules"), "%s", first);
    ck_assert_int_eq(rc2, 0);
    ck_assert_int_eq(fx.resp.status, 503);
    const char *msg = json_string_value(fx.resp.data);
    ck_assert_msg(msg && strstr(msg, "no read connection") && strstr(msg, fx.path), "%s", msg);
}
END_TEST

static Suite *reads_suite(void)
{
    Suite *s = suite_create("reads");
    TCase *tc = tcase_create("pool");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_memory_database_has_no_pool_and_no_error);
    tcase_add_test(tc, reads_answer_committed_writes_and_hand_writes_to_the_store_thread);
    tcase_add_test(tc, after_stop_every_read_goes_to_the_store_thread);
    tcase_add_test(tc, the_outbox_is_counted_on_a_reader_and_not_after_stop);
    tcase_add_test(tc, a_failed_read_is_500_and_a_reader_that_cannot_open_is_503);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(reads_suite)
