/* test_revoke.c - the revocation list (auth/revoke.c): every line form the
 * parser takes, every line it refuses (with the line number), and the
 * matcher's rules. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/internal.h"
#include "tests/unit/unit.h"

static auth_revoked_t *parse_ok(const char *text)
{
    auth_revoked_t *rl = NULL;
    char err[256] = "";
    int rc = auth_revoked_parse(text, strlen(text), "list", &rl, err, sizeof err);
    ck_assert_msg(rc == 0, "parse failed: %s", err);
    ck_assert_ptr_nonnull(rl);
    return rl;
}

static void parse_err(const char *text, size_t len, const char *want)
{
    auth_revoked_t *rl = (auth_revoked_t *)1;
    char err[256] = "";
    ck_assert_int_eq(auth_revoked_parse(text, len, "list", &rl, err, sizeof err), -1);
    ck_assert_ptr_null(rl);
    ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err, want);
}

START_TEST(empty_text_blank_lines_and_comments_are_an_empty_list)
{
    auth_revoked_t *rl = parse_ok("");
    size_t nj, ns;
    auth_revoked_counts(rl, &nj, &ns);
    ck_assert_uint_eq(nj + ns, 0);
    ck_assert(!auth_revoked_match(rl, "x", "y", false, 0));
    auth_revoked_release(rl);
    rl = parse_ok("\n   \n\t\n# jti commented-out\n   # sub indented-comment\r\n");
    auth_revoked_counts(rl, &nj, &ns);
    ck_assert_uint_eq(nj + ns, 0);
    ck_assert(!auth_revoked_match(rl, "commented-out", "indented-comment", false, 0));
    auth_revoked_release(rl);
}
END_TEST

START_TEST(each_entry_form_is_read_with_any_blanks_and_line_endings)
{
    auth_revoked_t *rl = parse_ok("jti a1\r\n"
                                  "\tjti   b2  # trailing comment\n"
                                  "sub alice\n"
                                  "sub  bob\tbefore  1700000000\n"
                                  "jti a#b\n" /* # inside a field is part of it */
                                  "jti last-without-newline");
    size_t nj, ns;
    auth_revoked_counts(rl, &nj, &ns);
    ck_assert_uint_eq(nj, 4);
    ck_assert_uint_eq(ns, 2);
    ck_assert(auth_revoked_match(rl, "a1", NULL, false, 0));
    ck_assert(auth_revoked_match(rl, "b2", NULL, false, 0));
    ck_assert(auth_revoked_match(rl, "a#b", NULL, false, 0));
    ck_assert(auth_revoked_match(rl, "last-without-newline", NULL, false, 0));
    ck_assert(!auth_revoked_match(rl, "a", NULL, false, 0));
    ck_assert(!auth_revoked_match(rl, "a1 ", NULL, false, 0));
    ck_assert(!auth_revoked_match(rl, "A1", NULL, false, 0)); /* case-sensitive */
    auth_revoked_release(rl);
}
END_TEST

START_TEST(sub_rules_revoke_by_subject_and_by_issue_time)
{
    auth_revoked_t *rl = parse_ok("sub alice\nsub bob before 1000\n");
    ck_assert(auth_revoked_match(rl, NULL, "alice", false, 0));
    ck_assert(auth_revoked_match(rl, "any", "alice", true, 99999999));
    ck_assert(!auth_revoked_match(rl, NULL, "alice2", false, 0));
    ck_assert(!auth_revoked_match(rl, NULL, "alic", false, 0));
    ck_assert(auth_revoked_match(rl, NULL, "bob", true, 999));
    ck_assert(auth_revoked_match(rl, NULL, "bob", true, -5));
    ck_assert(!auth_revoked_match(rl, NULL, "bob", true, 1000)); /* iat < time, strictly */
    ck_assert(!auth_revoked_match(rl, NULL, "bob", true, 5000));
    ck_assert(auth_revoked_match(rl, NULL, "bob", false, 0));  /* no iat: revoked */
    ck_assert(!auth_revoked_match(rl, "bob", NULL, false, 0)); /* a jti is not a sub */
    ck_assert(!auth_revoked_match(rl, NULL, NULL, false, 0));
    ck_assert(!auth_revoked_match(NULL, "x", "alice", false, 0));
    auth_revoked_release(rl);
}
END_TEST

START_TEST(duplicate_subjects_keep_the_rule_that_revokes_most)
{
    auth_revoked_t *rl = parse_ok("sub c before 100\nsub c before 300\nsub c before 200\n"
                                  "sub d before 100\nsub d\nsub d before 50\n"
                                  "jti x\njti x\n");
    size_t nj, ns;
    auth_revoked_counts(rl, &nj, &ns);
    ck_assert_uint_eq(nj, 1);
    ck_assert_uint_eq(ns, 2);
    ck_assert(auth_revoked_match(rl, NULL, "c", true, 299));
    ck_assert(!auth_revoked_match(rl, NULL, "c", true, 300));
    ck_assert(auth_revoked_match(rl, NULL, "d", true, 1000000));
    auth_revoked_release(rl);
}
END_TEST

START_TEST(many_entries_are_all_found)
{
    size_t n = 5000, cap = n * 24, len = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    for (size_t i = n; i > 0; i--)
        len += (size_t)snprintf(text + len, cap - len, "%s id-%zu\n", i % 2 ? "jti" : "sub", i);
    auth_revoked_t *rl = NULL;
    char err[128];
    ck_assert_int_eq(auth_revoked_parse(text, len, "list", &rl, err, sizeof err), 0);
    for (size_t i = 1; i <= n; i++) {
        char id[32];
        snprintf(id, sizeof id, "id-%zu", i);
        ck_assert(auth_revoked_match(rl, i % 2 ? id : NULL, i % 2 ? NULL : id, false, 0));
        ck_assert(!auth_revoked_match(rl, i % 2 ? NULL : id, i % 2 ? id : NULL, true, 0));
    }
    ck_assert(!auth_revoked_match(rl, "id-0", "id-0", false, 0));
    auth_revoked_release(rl);
    free(text);
}
END_TEST

START_TEST(bad_lines_are_refused_with_their_number)
{
    parse_err("jti ok\nfoo bar\n", 15, "list line 2: not an entry starting with `foo`");
    parse_err("jti\n", 4, "line 1: not an entry");
    parse_err("\n\njti a b\n", 10, "line 3: not an entry");
    parse_err("sub a before\n", 13, "line 1: not an entry");
    parse_err("sub a after 5\n", 14, "line 1: `after 5` is not `before UNIX-SECONDS`");
    parse_err("sub a before -5\n", 16, "is not `before UNIX-SECONDS`");
    parse_err("sub a before 1e9\n", 17, "is not `before UNIX-SECONDS`");
    parse_err("sub a before 99999999999999999999\n", 34, "is not `before UNIX-SECONDS`");
    parse_err("sub a before 5 x\n", 17, "line 1: too many fields");
    parse_err("JTI a\n", 6, "line 1: not an entry");
    parse_err("jti a\x01\n", 7, "line 1: control character 0x01 at column 6");
    parse_err("jti a\n\njti b\0c\n", 14, "line 3: control character 0x00");
    char *longline = malloc(9000);
    memset(longline, 'x', 9000);
    memcpy(longline, "jti ", 4);
    parse_err(longline, 9000, "line 1: longer than 8192 bytes");
    char field[1100] = "jti ";
    memset(field + 4, 'y', 1030);
    field[1034] = '\0';
    parse_err(field, strlen(field), "line 1: field 2 is longer than 1024 bytes");
    free(longline);
}
END_TEST

START_TEST(load_reads_a_file_and_names_it_in_errors)
{
    char dir[] = "/tmp/resonate-revoke-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char p[128];
    snprintf(p, sizeof p, "%s/list", dir);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs("jti a\nsub b before x\n", f);
    fclose(f);
    auth_revoked_t *rl = NULL;
    char err[256];
    ck_assert_int_eq(auth_revoked_load(p, &rl, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "revocation file '") && strstr(err, "/list' line 2"), "%s", err);
    f = fopen(p, "w");
    fputs("jti a\n", f);
    fclose(f);
    ck_assert_int_eq(auth_revoked_load(p, &rl, err, sizeof err), 0);
    ck_assert(auth_revoked_match(rl, "a", NULL, false, 0));
    auth_revoked_release(rl);
    unlink(p);
    ck_assert_int_eq(auth_revoked_load(p, &rl, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "cannot read revocation file") && strstr(err, "No such file"), "%s",
                  err);
    rmdir(dir);
}
END_TEST

/* It read "revocation file '...' is not a regular file of at most 64 MiB". */
START_TEST(a_directory_as_the_list_is_named_with_the_setting_and_what_to_give)
{
    char dir[] = "/tmp/resonate-revoke-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    auth_revoked_t *rl = NULL;
    char err[512], want[512];
    ck_assert_int_eq(auth_revoked_load(dir, &rl, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "revocation file '%s' is a directory, not a file: set auth.revoked to the list file "
             "itself (one 'jti ID' or 'sub SUBJECT' a line)",
             dir);
    ck_assert_str_eq(err, want);
    ck_assert_ptr_null(rl);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* Review finding: a FIFO in the list's place hung the reload in open(),
 * and with it the signal loop (no shutdown, no further reload). */
START_TEST(load_refuses_a_fifo_without_waiting_for_a_writer)
{
    char dir[] = "/tmp/resonate-revoke-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char p[128];
    snprintf(p, sizeof p, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    auth_revoked_t *rl = NULL;
    char err[256] = "";
    int64_t t0 = unit_mono_ms();
    ck_assert_int_eq(auth_revoked_load(p, &rl, err, sizeof err), -1);
    ck_assert_int_lt(unit_mono_ms() - t0, 1000);
    ck_assert_ptr_null(rl);
    ck_assert_msg(strstr(err, "is not a regular file"), "%s", err);
    unlink(p);
    rmdir(dir);
}
END_TEST

/* Review finding: only the file size (64 MiB, some 11 million short
 * lines) bounded the entries; past 2^20 the parse stops and says why. */
START_TEST(more_than_a_million_entries_are_refused_with_the_line)
{
    size_t n = (1u << 20) + 1, len = n * 6;
    char *text = malloc(len + 1);
    ck_assert_ptr_nonnull(text);
    for (size_t i = 0; i < n; i++)
        memcpy(text + 6 * i, "jti a\n", 6);
    text[len] = '\0';
    parse_err(text, len, "list line 1048577: more than 1048576 entries");
    /* One fewer is taken. */
    auth_revoked_t *rl = NULL;
    char err[256] = "";
    ck_assert_msg(auth_revoked_parse(text, len - 6, "list", &rl, err, sizeof err) == 0, "%s", err);
    ck_assert(auth_revoked_match(rl, "a", NULL, false, 0));
    auth_revoked_release(rl);
    free(text);
}
END_TEST

/* Review finding: `resonate token --jti "a b"` minted a token that no
 * revocation entry could name (blanks split fields, '#' starts a comment). */
START_TEST(revocable_ids_are_those_an_entry_can_name)
{
    char err[256] = "";
    ck_assert_int_eq(auth_revocable_id("--jti", "ci-runner-7", err, sizeof err), 0);
    ck_assert_int_eq(auth_revocable_id("--jti", "a#b", err, sizeof err), 0); /* # mid-field */
    static const char *const bad[] = {"a b", "a\tb", "#a", "a\x01", "a\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(auth_revocable_id("--jti", bad[i], err, sizeof err), -1);
        ck_assert_msg(strstr(err, "--jti ") && strstr(err, "no revocation entry could name it"),
                      "%s", err);
        /* ...and indeed the parser takes no entry for it. */
        char line[64];
        snprintf(line, sizeof line, "jti %s\n", bad[i]);
        auth_revoked_t *rl = NULL;
        char perr[256];
        if (auth_revoked_parse(line, strlen(line), "list", &rl, perr, sizeof perr) == 0) {
            ck_assert(!auth_revoked_match(rl, bad[i], NULL, false, 0));
            auth_revoked_release(rl);
        }
    }
    char longid[1026];
    memset(longid, 'x', 1025);
    longid[1025] = '\0';
    ck_assert_int_eq(auth_revocable_id("--jti", longid, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "longer than the 1024 bytes"), "%s", err);
    longid[1024] = '\0';
    ck_assert_int_eq(auth_revocable_id("--jti", longid, err, sizeof err), 0);
}
END_TEST

static Suite *revoke_suite(void)
{
    Suite *s = suite_create("revoke");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, empty_text_blank_lines_and_comments_are_an_empty_list);
    tcase_add_test(tc, each_entry_form_is_read_with_any_blanks_and_line_endings);
    tcase_add_test(tc, duplicate_subjects_keep_the_rule_that_revokes_most);
    tcase_add_test(tc, bad_lines_are_refused_with_their_number);
    tcase_add_test(tc, load_reads_a_file_and_names_it_in_errors);
    tcase_add_test(tc, revocable_ids_are_those_an_entry_can_name);
    tcase_add_test(tc, load_refuses_a_fifo_without_waiting_for_a_writer);
    tcase_add_test(tc, a_directory_as_the_list_is_named_with_the_setting_and_what_to_give);
    tcase_add_test(tc, more_than_a_million_entries_are_refused_with_the_line);
    suite_add_tcase(s, tc);
    tc = tcase_create("match");
    tcase_add_test(tc, sub_rules_revoke_by_subject_and_by_issue_time);
    tcase_add_test(tc, many_entries_are_all_found);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(revoke_suite)
