/* test_arena.c - per-request memory pool. */
#include <malloc.h>
#include <pthread.h>
#include <string.h>

#include "core/arena.h"
#include "tests/unit/unit.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define UNIT_LSAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define UNIT_TSAN 1
#endif

static int deferred_calls;

static void count_call(void *p)
{
    (void)p;
    deferred_calls++;
}

START_TEST(arena_alloc_returns_zeroed_aligned_memory)
{
    arena_t *a = arena_new();
    for (int i = 1; i < 100; i++) {
        unsigned char *p = arena_alloc(a, (size_t)i);
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
        for (int j = 0; j < i; j++)
            ck_assert_uint_eq(p[j], 0);
        memset(p, 0xff, (size_t)i);
    }
    arena_free(a);
}
END_TEST

START_TEST(arena_serves_allocations_larger_than_a_block)
{
    arena_t *a = arena_new();
    char *small = arena_strdup(a, "before");
    char *big = arena_alloc(a, 100000);
    memset(big, 'x', 100000);
    char *after = arena_strdup(a, "after");
    ck_assert_str_eq(small, "before");
    ck_assert_str_eq(after, "after");
    ck_assert_uint_ge(arena_used(a), 100000);
    arena_free(a);
}
END_TEST

START_TEST(arena_printf_and_strndup_copy_exactly)
{
    arena_t *a = arena_new();
    ck_assert_str_eq(arena_printf(a, "%s-%d", "x", 42), "x-42");
    ck_assert_str_eq(arena_strndup(a, "abcdef", 3), "abc");
    ck_assert_ptr_null(arena_strdup(a, NULL));
    arena_free(a);
}
END_TEST

START_TEST(arena_free_runs_deferred_cleanups_once)
{
    deferred_calls = 0;
    arena_t *a = arena_new();
    arena_defer(a, count_call, NULL);
    arena_defer(a, count_call, NULL);
    ck_assert_int_eq(deferred_calls, 0);
    arena_free(a);
    ck_assert_int_eq(deferred_calls, 2);
}
END_TEST

START_TEST(arena_release_returns_a_large_allocation_at_once)
{
    arena_t *a = arena_new();
    char *small = arena_alloc(a, 100);
    size_t before = arena_held(a);
    char *big = arena_alloc_raw(a, 100000);
    memset(big, 'x', 100000);
    ck_assert(arena_owns(a, big));
    ck_assert_uint_ge(arena_held(a), before + 100000);
    ck_assert(!arena_release(a, small)); /* stays until arena_free */
    ck_assert(arena_owns(a, small));
    ck_assert(arena_release(a, big));
    ck_assert(!arena_owns(a, big));
    ck_assert_uint_eq(arena_held(a), before);
    ck_assert(!arena_release(a, big)); /* already given back */
    arena_free(a);
}
END_TEST

START_TEST(arena_owns_only_what_it_handed_out)
{
    arena_t *a = arena_new(), *b = arena_new();
    char *p = arena_strdup(a, "mine"), *q = arena_strdup(b, "yours");
    char local = 0;
    char *heap = malloc(16);
    ck_assert(arena_owns(a, p));
    ck_assert(!arena_owns(a, q));
    ck_assert(!arena_owns(a, &local));
    ck_assert(!arena_owns(a, heap));
    for (int i = 0; i < 10; i++) /* later blocks too */
        ck_assert(arena_owns(a, arena_alloc(a, 3000)));
    free(heap);
    arena_free(b);
    arena_free(a);
}
END_TEST

/* Under ASan a freed arena is never handed out again at once: a late use of
 * it (a request context, say) stays a reported use after free rather than
 * a silent write into the next request's. */
START_TEST(a_freed_arena_is_reused_at_once_only_outside_asan_builds)
{
    arena_t *a = arena_new();
    arena_strdup(a, "first");
    arena_free(a);
    arena_t *b = arena_new();
    if (arena_caching())
        ck_assert_ptr_eq(b, a);
    else
        ck_assert_ptr_ne(b, a);
    arena_free(b);
}
END_TEST

START_TEST(arena_new_reuses_a_first_block_freed_on_its_thread)
{
    if (!arena_caching())
        return;                  /* ASan build: no cache (arena.h) */
    arena_t *hold = arena_new(); /* the cache is not full now */
    size_t fresh = arena_held(hold);
    arena_t *a = arena_new();
    memset(arena_alloc(a, 100), 0xff, 100);
    for (int i = 0; i < 5; i++) /* later blocks are not cached */
        arena_alloc(a, 4000);
    ck_assert_uint_gt(arena_held(a), fresh);
    int cached = arena_cached();
    arena_free(a);
    ck_assert_int_eq(arena_cached(), cached + 1);
    arena_t *b = arena_new();
    ck_assert_ptr_eq(b, a);
    ck_assert_int_eq(arena_cached(), cached);
    ck_assert_uint_eq(arena_used(b), 0);
    ck_assert_uint_eq(arena_held(b), fresh);
    unsigned char *p = arena_alloc(b, 100);
    for (int i = 0; i < 100; i++)
        ck_assert_uint_eq(p[i], 0);
    arena_free(b);
    arena_free(hold);
}
END_TEST

START_TEST(arena_cache_keeps_at_most_arena_cache_blocks_per_thread)
{
    if (!arena_caching())
        return; /* ASan build: no cache (arena.h) */
    enum { N = ARENA_CACHE + 5 };
    arena_t *as[N];
    for (int i = 0; i < N; i++)
        as[i] = arena_new();
    ck_assert_int_eq(arena_cached(), 0);
    for (int i = 0; i < N; i++)
        arena_free(as[i]);
    ck_assert_int_eq(arena_cached(), ARENA_CACHE);
}
END_TEST

typedef struct {
    arena_t *foreign; /* made on another thread, freed on this one */
    int cached_after;
} cache_thread_t;

/* Fills its thread's cache and exits without emptying it. */
static void *cache_thread(void *arg)
{
    cache_thread_t *t = arg;
    arena_t *as[ARENA_CACHE + 2];
    for (int i = 0; i < ARENA_CACHE + 2; i++) {
        as[i] = arena_new();
        arena_strdup(as[i], "thread");
    }
    for (int i = 0; i < ARENA_CACHE + 2; i++)
        arena_free(as[i]);
    arena_free(arena_new());
    t->cached_after = arena_cached();
    return NULL;
}

/* Bytes malloc'd and not freed, as glibc counts them (0 where a sanitizer
 * owns the heap: glibc's count does not see its allocations). */
static size_t heap_in_use(void)
{
#if defined(UNIT_LSAN) || defined(UNIT_TSAN)
    return 0;
#else
    return mallinfo2().uordblks;
#endif
}

START_TEST(arena_cache_of_an_exiting_thread_is_freed)
{
    if (!arena_caching())
        return; /* ASan build: no cache (arena.h) */
    /* Warm up thread creation's own allocations. */
    pthread_t th;
    cache_thread_t t = {0};
    ck_assert_int_eq(pthread_create(&th, NULL, cache_thread, &t), 0);
    pthread_join(th, NULL);
    size_t before = heap_in_use();
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_create(&th, NULL, cache_thread, &t), 0);
        pthread_join(th, NULL);
        ck_assert_int_eq(t.cached_after, ARENA_CACHE);
    }
    /* Four threads' caches leaked would be 4 * ARENA_CACHE first blocks. */
    ck_assert_uint_lt(heap_in_use() - before, 4096);
#ifdef UNIT_LSAN
    ck_assert_int_eq(__lsan_do_recoverable_leak_check(), 0);
#endif
}
END_TEST

/* A thread that frees an arena it did not make. */
static void *free_foreign(void *arg)
{
    cache_thread_t *t = arg;
    arena_free(t->foreign);
    t->cached_after = arena_cached();
    return NULL;
}

START_TEST(arena_freed_on_another_thread_goes_to_that_threads_cache)
{
    if (!arena_caching())
        return; /* ASan build: no cache (arena.h) */
    int mine = arena_cached();
    cache_thread_t t = {.foreign = arena_new()};
    arena_strdup(t.foreign, "made here");
    arena_alloc(t.foreign, 10000);
    ck_assert_int_eq(arena_cached(), mine > 0 ? mine - 1 : 0);
    mine = arena_cached();
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, free_foreign, &t), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(t.cached_after, 1);
    ck_assert_int_eq(arena_cached(), mine);
#ifdef UNIT_LSAN
    ck_assert_int_eq(__lsan_do_recoverable_leak_check(), 0);
#endif
}
END_TEST

static Suite *arena_suite(void)
{
    Suite *s = suite_create("arena");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, arena_alloc_returns_zeroed_aligned_memory);
    tcase_add_test(tc, arena_serves_allocations_larger_than_a_block);
    tcase_add_test(tc, arena_printf_and_strndup_copy_exactly);
    tcase_add_test(tc, arena_free_runs_deferred_cleanups_once);
    tcase_add_test(tc, arena_release_returns_a_large_allocation_at_once);
    tcase_add_test(tc, arena_owns_only_what_it_handed_out);
    tcase_add_test(tc, a_freed_arena_is_reused_at_once_only_outside_asan_builds);
    tcase_add_test(tc, arena_new_reuses_a_first_block_freed_on_its_thread);
    tcase_add_test(tc, arena_cache_keeps_at_most_arena_cache_blocks_per_thread);
    tcase_add_test(tc, arena_cache_of_an_exiting_thread_is_freed);
    tcase_add_test(tc, arena_freed_on_another_thread_goes_to_that_threads_cache);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(arena_suite)
