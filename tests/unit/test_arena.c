/* test_arena.c - per-request memory pool. */
#include <string.h>

#include "core/arena.h"
#include "tests/unit/unit.h"

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

static Suite *arena_suite(void)
{
    Suite *s = suite_create("arena");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, arena_alloc_returns_zeroed_aligned_memory);
    tcase_add_test(tc, arena_serves_allocations_larger_than_a_block);
    tcase_add_test(tc, arena_printf_and_strndup_copy_exactly);
    tcase_add_test(tc, arena_free_runs_deferred_cleanups_once);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(arena_suite)
