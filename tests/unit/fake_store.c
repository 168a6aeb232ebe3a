/* fake_store.c - see fake_store.h. */
#include "tests/unit/fake_store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "store/sqlite.h"
#include "tests/unit/unit.h"

static const store_vtab_t *real;
static store_vtab_t wrapped;
static _Atomic bool failing[FAKE__COUNT];
static _Atomic int calls[FAKE__COUNT];
static const char *_Atomic fail_id;
static _Atomic int fail_fault; /* STORE_FAULT_* of the injected insert failures */
static _Atomic int fail_left;  /* insert failures still to inject; -1 = no end */

static void (*_Atomic defer_hook)(void *arg);
static void *_Atomic defer_hook_arg;
static void (*_Atomic insert_hook)(void *arg, const char *id);
static void *_Atomic insert_hook_arg;

static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cv = PTHREAD_COND_INITIALIZER;
static bool hold_armed, hold_waiting;

static const char *const names[FAKE__COUNT] = {
    "begin", "commit",   "savepoint",     "rollback_to",
    "ping",  "task_get", "outbox_delete", "outbox_defer",
};

/* Counts call; true when it must fail (errmsg set). */
static bool inject(store_t *st, fake_call_t call)
{
    atomic_fetch_add(&calls[call], 1);
    if (!atomic_load(&failing[call]))
        return false;
    snprintf(st->errmsg, sizeof st->errmsg, "injected %s failure", names[call]);
    return true;
}

static int w_begin(store_t *st)
{
    pthread_mutex_lock(&hold_mu);
    if (hold_armed) {
        hold_waiting = true;
        pthread_cond_broadcast(&hold_cv);
        while (hold_armed)
            pthread_cond_wait(&hold_cv, &hold_mu);
        hold_waiting = false;
    }
    pthread_mutex_unlock(&hold_mu);
    return inject(st, FAKE_BEGIN) ? STORE_ERR : real->begin(st);
}

static int w_commit(store_t *st)
{
    return inject(st, FAKE_COMMIT) ? STORE_ERR : real->commit(st);
}

static int w_savepoint(store_t *st)
{
    return inject(st, FAKE_SAVEPOINT) ? STORE_ERR : real->savepoint(st);
}

static int w_rollback_to(store_t *st)
{
    return inject(st, FAKE_ROLLBACK_TO) ? STORE_ERR : real->rollback_to(st);
}

static int w_ping(store_t *st)
{
    return inject(st, FAKE_PING) ? STORE_ERR : real->ping(st);
}

static int w_task_get(store_t *st, arena_t *a, const char *id, task_t **out)
{
    return inject(st, FAKE_TASK_GET) ? STORE_ERR : real->task_get(st, a, id, out);
}

static int w_outbox_delete(store_t *st, int64_t seq)
{
    return inject(st, FAKE_OUTBOX_DELETE) ? STORE_ERR : real->outbox_delete(st, seq);
}

static int w_outbox_defer(store_t *st, int64_t seq, int64_t not_before, int attempts)
{
    void (*hook)(void *) = atomic_load(&defer_hook);
    if (hook)
        hook(atomic_load(&defer_hook_arg));
    return inject(st, FAKE_OUTBOX_DEFER) ? STORE_ERR
                                         : real->outbox_defer(st, seq, not_before, attempts);
}

static int w_promise_insert(store_t *st, const promise_t *p)
{
    void (*hook)(void *, const char *) = atomic_load(&insert_hook);
    if (hook)
        hook(atomic_load(&insert_hook_arg), p->id);
    const char *id = atomic_load(&fail_id);
    if (id && strcmp(p->id, id) == 0 && atomic_load(&fail_left) != 0) {
        if (atomic_load(&fail_left) > 0)
            atomic_fetch_sub(&fail_left, 1);
        snprintf(st->errmsg, sizeof st->errmsg, "injected promise_insert failure");
        st->fault = atomic_load(&fail_fault);
        return STORE_ERR;
    }
    return real->promise_insert(st, p);
}

store_t *fake_store_open(void)
{
    atomic_store(&defer_hook, NULL);
    atomic_store(&insert_hook, NULL);
    char err[256];
    store_t *st = store_sqlite_open(":memory:", err, sizeof err);
    ck_assert_msg(st != NULL, "open: %s", err);
    for (int i = 0; i < FAKE__COUNT; i++) {
        atomic_store(&failing[i], false);
        atomic_store(&calls[i], 0);
    }
    atomic_store(&fail_id, NULL);
    atomic_store(&fail_fault, STORE_FAULT_NONE);
    atomic_store(&fail_left, -1);
    hold_armed = hold_waiting = false;
    real = st->v;
    wrapped = *real;
    wrapped.begin = w_begin;
    wrapped.commit = w_commit;
    wrapped.savepoint = w_savepoint;
    wrapped.rollback_to = w_rollback_to;
    wrapped.ping = w_ping;
    wrapped.task_get = w_task_get;
    wrapped.outbox_delete = w_outbox_delete;
    wrapped.outbox_defer = w_outbox_defer;
    wrapped.promise_insert = w_promise_insert;
    st->v = &wrapped;
    return st;
}

void fake_store_fail(fake_call_t call, bool on)
{
    atomic_store(&failing[call], on);
}

int fake_store_calls(fake_call_t call)
{
    return atomic_load(&calls[call]);
}

void fake_store_fail_insert(const char *id)
{
    fake_store_fail_insert_as(id, STORE_FAULT_NONE, -1);
}

void fake_store_fail_insert_as(const char *id, int fault, int times)
{
    atomic_store(&fail_fault, fault);
    atomic_store(&fail_left, times);
    atomic_store(&fail_id, id);
}

void fake_store_hold_begin(void)
{
    pthread_mutex_lock(&hold_mu);
    hold_armed = true;
    pthread_mutex_unlock(&hold_mu);
}

bool fake_store_wait_held(int timeout_ms)
{
    struct timespec dl = unit_deadline(timeout_ms);
    pthread_mutex_lock(&hold_mu);
    int rc = 0;
    while (!hold_waiting && rc == 0)
        rc = pthread_cond_timedwait(&hold_cv, &hold_mu, &dl);
    bool held = hold_waiting;
    pthread_mutex_unlock(&hold_mu);
    return held;
}

void fake_store_release_begin(void)
{
    pthread_mutex_lock(&hold_mu);
    hold_armed = false;
    pthread_cond_broadcast(&hold_cv);
    pthread_mutex_unlock(&hold_mu);
}

void fake_store_on_insert(void (*fn)(void *arg, const char *id), void *arg)
{
    atomic_store(&insert_hook_arg, arg);
    atomic_store(&insert_hook, fn);
}

void fake_store_on_defer(void (*fn)(void *arg), void *arg)
{
    atomic_store(&defer_hook_arg, arg);
    atomic_store(&defer_hook, fn);
}
