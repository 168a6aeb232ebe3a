/* fake_store.h - failure injection for the unit tests of the store thread
 * and the outbox: a private in-memory SQLite store whose port calls can be
 * made to fail, counted, or held on demand.
 *
 * The store is the real SQLite adapter with its vtable pointer swapped for a
 * copy in which a few entries are wrapped; every other call goes straight to
 * SQLite, so the state the tests read back is real. The knobs are process
 * globals (Check runs each test in its own process) and are thread-safe: the
 * store thread under test reads them while the test thread sets them. */
#ifndef RESONATE_FAKE_STORE_H
#define RESONATE_FAKE_STORE_H

#include <stdbool.h>

#include "core/store.h"

/* The port calls that can fail (or be counted). */
typedef enum {
    FAKE_BEGIN,
    FAKE_COMMIT,
    FAKE_SAVEPOINT,
    FAKE_ROLLBACK_TO,
    FAKE_PING,
    FAKE_TASK_GET,
    FAKE_OUTBOX_DELETE,
    FAKE_OUTBOX_DEFER,
    FAKE__COUNT
} fake_call_t;

/* Opens the store and resets every knob (no failures, counters at 0, no
 * hold). Fails the test when SQLite cannot open. Close with store_close. */
store_t *fake_store_open(void);

/* From now on, call fails (STORE_ERR, with errmsg "injected <call>
 * failure") while on is true. A failing commit leaves the transaction open
 * (as SQLite does after a failed COMMIT); a failing rollback_to leaves it
 * open too, so the caller's rollback is what discards it. */
void fake_store_fail(fake_call_t call, bool on);

/* Number of times call was made since fake_store_open (failed ones too). */
int fake_store_calls(fake_call_t call);

/* promise_insert of exactly this id fails (NULL: none). id must outlive
 * the test. */
void fake_store_fail_insert(const char *id);

/* As fake_store_fail_insert, the failures classed as fault (STORE_FAULT_*),
 * and only the first times of them (-1: every one). */
void fake_store_fail_insert_as(const char *id, int fault, int times);

/* fn(arg) runs at every outbox_defer before it writes (NULL: none), on the
 * thread that calls it. */
void fake_store_on_defer(void (*fn)(void *arg), void *arg);

/* fn(arg, id) runs at every promise_insert before it writes (NULL: none),
 * on the thread that calls it. */
void fake_store_on_insert(void (*fn)(void *arg, const char *id), void *arg);

/* The next begin blocks until fake_store_release_begin; fake_store_wait_held
 * returns once a begin is blocked (false after timeout_ms). Lets a test
 * queue several jobs while the store thread is busy, so that they form one
 * batch. */
void fake_store_hold_begin(void);
bool fake_store_wait_held(int timeout_ms);
void fake_store_release_begin(void);

#endif
