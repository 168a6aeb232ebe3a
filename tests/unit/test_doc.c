/* test_doc.c - the reference documentation (cli/doc.c): every flag of the
 * configuration table, of `resonate token` and of every client command is
 * in its man page and in both completion scripts; resonate.toml(5) has
 * every key with its environment variable; no line of any page is a stray
 * roff request; unknown pages and shells are refused naming the choices;
 * --version names the protocol and every library. tests/cli/docs.test.mjs
 * checks the same from the outside, from what --help prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cli/client.h"
#include "cli/doc.h"
#include "cli/token.h"
#include "conf/config.h"
#include "server/serve.h"
#include "tests/unit/unit.h"

/* Man page page as a malloc'd string. */
static char *capture_man(const char *page)
{
    char *buf = NULL, err[512];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(doc_man(page, f, err, sizeof err), 0);
    fclose(f);
    return buf;
}

/* The completion script of shell as a malloc'd string. */
static char *capture_completion(const char *shell)
{
    char *buf = NULL, err[512];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(doc_completion(shell, f, err, sizeof err), 0);
    fclose(f);
    return buf;
}

/* flag as roff writes it: every '-' as "\-". */
static void roff_flag(const char *flag, char *out, size_t len)
{
    size_t n = 0;
    for (const char *p = flag; *p && n + 3 < len; p++) {
        if (*p == '-')
            out[n++] = '\\';
        out[n++] = *p;
    }
    out[n] = '\0';
}

/* True when word occurs in s as a whole word (not as the prefix of a
 * longer flag: --server is not found in --server-port alone). */
static bool has_word(const char *s, const char *word)
{
    size_t l = strlen(word);
    for (const char *p = strstr(s, word); p; p = strstr(p + 1, word)) {
        char after = p[l];
        bool end = !((after >= 'a' && after <= 'z') || after == '-' || after == '_' ||
                     (after >= '0' && after <= '9'));
        if (end)
            return true;
    }
    return false;
}

typedef struct {
    const char *man, *bash, *zsh;
    int seen;
} pages_t;

static void check_flag(const char *what, const char *flag, const pages_t *p)
{
    char r[128];
    roff_flag(flag, r, sizeof r);
    ck_assert_msg(has_word(p->man, r), "%s: %s is not in the man page", what, flag);
    ck_assert_msg(has_word(p->bash, flag), "%s: %s is not in the bash completion", what, flag);
    ck_assert_msg(has_word(p->zsh, flag), "%s: %s is not in the zsh completion", what, flag);
}

static void serve_flag(const conf_flag_t *f, void *arg)
{
    pages_t *p = arg;
    check_flag("serve", f->flag, p);
    p->seen++;
}

START_TEST(every_serve_flag_is_in_the_serve_man_page_and_both_completions)
{
    pages_t p = {capture_man("resonate-serve"), capture_completion("bash"),
                 capture_completion("zsh"), 0};
    conf_each_flag(serve_flag, &p);
    ck_assert_int_gt(p.seen, 50);
    free((char *)p.man);
    p.man = capture_man("resonate-dev.1");
    p.seen = 0;
    conf_each_flag(serve_flag, &p);
    ck_assert_int_gt(p.seen, 50);
    /* the bash completion offers them after serve and after dev */
    ck_assert_ptr_nonnull(strstr(p.bash, "    serve | dev)\n"));
    ck_assert_ptr_nonnull(strstr(p.zsh, "_resonate_dev() {"));
    free((char *)p.man);
    free((char *)p.bash);
    free((char *)p.zsh);
}
END_TEST

START_TEST(every_token_and_client_flag_is_in_its_man_page_and_both_completions)
{
    pages_t p = {capture_man("resonate-token"), capture_completion("bash"),
                 capture_completion("zsh"), 0};
    for (const token_flag_t *t = token_flags; t->flag; t++)
        check_flag("token", t->flag, &p);
    free((char *)p.man);
    for (size_t g = 0; g < client_doc_groups(); g++) {
        client_cmd_doc_t d;
        client_doc_command(g, 0, &d);
        char page[64];
        snprintf(page, sizeof page, "resonate-%s", d.group);
        p.man = capture_man(page);
        for (size_t c = 0; c < client_doc_commands(g); c++) {
            client_doc_command(g, c, &d);
            for (size_t i = 0; i < d.nopts; i++) {
                char flag[64];
                snprintf(flag, sizeof flag, "--%s", d.opts[i].name);
                check_flag(page, flag, &p);
                p.seen++;
            }
            if (d.name) {
                char title[160], name[64];
                roff_flag(d.name, name, sizeof name);
                snprintf(title, sizeof title, ".SS \"%s %s\"", d.group, name);
                ck_assert_msg(strstr(p.man, title), "%s lacks the section %s", page, title);
            }
        }
        client_opt_doc_t o;
        for (size_t i = 0; client_doc_common_opt(i, &o); i++) {
            char flag[64];
            snprintf(flag, sizeof flag, "--%s", o.name);
            check_flag(page, flag, &p);
        }
        free((char *)p.man);
    }
    ck_assert_int_gt(p.seen, 40);
    free((char *)p.bash);
    free((char *)p.zsh);
}
END_TEST

static void toml_key(const conf_flag_t *f, void *arg)
{
    pages_t *p = arg;
    if (!f->key)
        return;
    const char *dot = strrchr(f->key, '.');
    char name[160], env[128] = "RESONATE_", r[128];
    roff_flag(dot ? dot + 1 : f->key, r, sizeof r);
    snprintf(name, sizeof name, "\\fB%s\\fR = ", r);
    ck_assert_msg(strstr(p->man, name), "resonate.toml(5) lacks the key %s", f->key);
    size_t n = strlen(env);
    for (const char *c = f->key; *c && n + 3 < sizeof env; c++) {
        if (*c == '.') {
            env[n++] = '_';
            env[n++] = '_';
        } else {
            env[n++] = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
        }
    }
    env[n] = '\0';
    ck_assert_msg(has_word(p->man, env), "resonate.toml(5) lacks %s", env);
    p->seen++;
}

START_TEST(resonate_toml_5_lists_every_key_with_its_environment_variable)
{
    pages_t p = {capture_man("resonate.toml.5"), NULL, NULL, 0};
    conf_each_flag(toml_key, &p);
    ck_assert_int_gt(p.seen, 50);
    ck_assert_ptr_nonnull(strstr(p.man, ".SS \"[server]\""));
    ck_assert_ptr_nonnull(strstr(p.man, ".SS \"[transports.http_poll]\""));
    ck_assert_ptr_nonnull(strstr(p.man, "From 0 to 65535."));
    free((char *)p.man);
}
END_TEST

START_TEST(no_line_of_any_page_is_a_stray_roff_request)
{
    static const char *const requests[] = {".TH ", ".SH ", ".SS ",  ".TP", ".PP",    ".br",
                                           ".nf",  ".fi",  ".ad l", ".nh", ".\\\" ", NULL};
    char *list = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&list, &len);
    doc_man_pages(f);
    fclose(f);
    int pages = 0;
    for (char *save = NULL, *page = strtok_r(list, "\n", &save); page;
         page = strtok_r(NULL, "\n", &save), pages++) {
        char *man = capture_man(page);
        for (char *l = man; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
            ck_assert_msg(*l != '\'', "%s: a line starts with a quote: %.40s", page, l);
            if (*l != '.')
                continue;
            bool known = false;
            for (int i = 0; requests[i] && !known; i++)
                known = strncmp(l, requests[i], strlen(requests[i])) == 0;
            ck_assert_msg(known, "%s: unexpected request: %.40s", page, l);
        }
        /* the --actions example of tasks suspend starts a line with a quote */
        if (strcmp(page, "resonate-tasks.1") == 0)
            ck_assert_ptr_nonnull(strstr(man, "\n\\&'[{\"kind\""));
        free(man);
    }
    ck_assert_int_eq(pages, 10);
    free(list);
}
END_TEST

START_TEST(unknown_pages_and_shells_are_refused_naming_the_choices)
{
    char err[512];
    ck_assert_int_eq(doc_man("resonate-nope", stdout, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "no man page 'resonate-nope'"));
    ck_assert_ptr_nonnull(strstr(err, " resonate-serve "));
    ck_assert_ptr_nonnull(strstr(err, " resonate.toml"));
    ck_assert_int_eq(doc_completion("fish", stdout, err, sizeof err), -1);
    ck_assert_str_eq(err, "no completion for shell 'fish'; use bash or zsh");
}
END_TEST

START_TEST(version_names_the_protocol_and_every_library)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    doc_version(f);
    fclose(f);
    ck_assert_msg(strncmp(buf, "resonate " RESONATE_VERSION " ", 10 + strlen(RESONATE_VERSION)) ==
                      0,
                  "%s", buf);
    ck_assert_ptr_nonnull(strstr(buf, "\nprotocol 2026-04-01\n"));
    static const char *const libs[] = {"libmicrohttpd", "jansson", "sqlite3", "libpq",
                                       "openssl",       "gnutls",  "libcurl"};
    for (size_t i = 0; i < sizeof libs / sizeof *libs; i++) {
        char line[32];
        snprintf(line, sizeof line, "\n%s ", libs[i]);
        const char *p = strstr(buf, line);
        ck_assert_msg(p != NULL, "--version lacks %s:\n%s", libs[i], buf);
        p += strlen(line);
        ck_assert_msg(*p >= '0' && *p <= '9', "%s has no version number:\n%s", libs[i], buf);
    }
    /* libpq's is the linked library's (PQlibVersion: 150005 = 15.5) */
    char pq[32];
    snprintf(pq, sizeof pq, "\nlibpq %d.%d\n", PQlibVersion() / 10000, PQlibVersion() % 10000);
    ck_assert_msg(strstr(buf, pq) != NULL, "--version lacks '%s':\n%s", pq + 1, buf);
    free(buf);
}
END_TEST

static Suite *doc_suite(void)
{
    Suite *s = suite_create("doc");
    TCase *tc = tcase_create("doc");
    tcase_add_test(tc, every_serve_flag_is_in_the_serve_man_page_and_both_completions);
    tcase_add_test(tc, every_token_and_client_flag_is_in_its_man_page_and_both_completions);
    tcase_add_test(tc, resonate_toml_5_lists_every_key_with_its_environment_variable);
    tcase_add_test(tc, no_line_of_any_page_is_a_stray_roff_request);
    tcase_add_test(tc, unknown_pages_and_shells_are_refused_naming_the_choices);
    tcase_add_test(tc, version_names_the_protocol_and_every_library);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(doc_suite)
