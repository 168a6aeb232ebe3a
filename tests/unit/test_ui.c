/* test_ui.c - the web console's embedded files (server/ui.c): which url
 * names which file, that the bytes served are those of ui/ (the generator
 * dropped and added nothing), and the rules the files must keep for the
 * Content-Security-Policy and for rendering store values as text: every
 * asset the page names exists, no inline script, style or event handler,
 * and no HTML sink in the script. The HTTP side is in test_http.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/ui.h"
#include "tests/unit/unit.h"

/* The text of a (NUL-terminated copy; caller frees). */
static char *text_of(const ui_asset_t *a)
{
    char *s = malloc(a->len + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, a->data, a->len);
    s[a->len] = '\0';
    return s;
}

START_TEST(page_urls_name_index_and_files_name_themselves)
{
    const ui_asset_t *index = ui_find("/ui/index.html");
    ck_assert_ptr_nonnull(index);
    ck_assert_ptr_eq(ui_find("/ui"), index);
    ck_assert_ptr_eq(ui_find("/ui/"), index);
    ck_assert_str_eq(index->content_type, "text/html; charset=utf-8");
    ck_assert_str_eq(ui_find("/ui/console.js")->content_type, "text/javascript; charset=utf-8");
    ck_assert_str_eq(ui_find("/ui/console.css")->content_type, "text/css; charset=utf-8");
    static const char *const none[] = {"",
                                       "/",
                                       "/uix",
                                       "/ui/x",
                                       "/ui/ui",
                                       "ui/index.html",
                                       "/ui/index.html/",
                                       "/UI",
                                       "/ui/../ui/index.html",
                                       "/ui/index"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        ck_assert_msg(ui_find(none[i]) == NULL, "\"%s\" found a file", none[i]);
    ck_assert_ptr_null(ui_find(NULL));
}
END_TEST

START_TEST(embedded_bytes_are_the_files_of_ui)
{
    static const char *const files[] = {"index.html", "console.js", "console.css"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[64], url[64];
        snprintf(path, sizeof path, "ui/%s", files[i]);
        snprintf(url, sizeof url, "/ui/%s", files[i]);
        FILE *f = fopen(path, "rb");
        ck_assert_msg(f != NULL, "cannot open %s (tests run from the repository root)", path);
        static unsigned char buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        const ui_asset_t *a = ui_find(url);
        ck_assert_ptr_nonnull(a);
        ck_assert_uint_eq(a->len, n);
        ck_assert_msg(memcmp(a->data, buf, n) == 0, "%s differs from %s", url, path);
    }
}
END_TEST

START_TEST(page_names_only_embedded_assets_and_nothing_inline)
{
    char *html = text_of(ui_find("/ui"));
    size_t refs = 0;
    for (const char *attr = "src=\"", *p = html; p;) {
        const char *a = strstr(p, "src=\""), *b = strstr(p, "href=\"");
        const char *at = a && (!b || a < b) ? a : b;
        if (!at)
            break;
        attr = at == a ? "src=\"" : "href=\"";
        const char *v = at + strlen(attr);
        size_t len = strcspn(v, "\"");
        char url[128];
        snprintf(url, sizeof url, "%.*s", (int)len, v);
        /* In-page routes (#/...) and the console's own files only: no other
         * origin, nothing the server does not embed. */
        if (url[0] != '#') {
            ck_assert_msg(ui_find(url) != NULL, "the page names \"%s\", which is not embedded",
                          url);
            refs++;
        }
        p = v + len;
    }
    ck_assert_uint_ge(refs, 2); /* the script and the style sheet */
    /* Every <script has a src; no style element or attribute, no on*= handler. */
    for (const char *p = strstr(html, "<script"); p; p = strstr(p + 1, "<script"))
        ck_assert_msg(strncmp(p, "<script src=\"/ui/", 17) == 0, "inline script at: %.40s", p);
    ck_assert_ptr_null(strstr(html, "<style"));
    ck_assert_ptr_null(strstr(html, "style=\""));
    ck_assert_ptr_null(strstr(html, " onclick="));
    ck_assert_ptr_null(strstr(html, " onload="));
    free(html);
}
END_TEST

START_TEST(script_renders_values_as_text_only)
{
    char *js = text_of(ui_find("/ui/console.js"));
    static const char *const sinks[] = {"innerHTML",      "outerHTML",      "insertAdjacentHTML",
                                        "document.write", "eval(",          "new Function",
                                        "localStorage",   "sessionStorage", "document.cookie"};
    for (size_t i = 0; i < sizeof sinks / sizeof *sinks; i++)
        ck_assert_msg(strstr(js, sinks[i]) == NULL, "console.js uses %s", sinks[i]);
    free(js);
}
END_TEST

START_TEST(security_headers_forbid_inline_code_framing_and_referrers)
{
    size_t n;
    const ui_header_t *h = ui_security_headers(&n);
    const char *csp = NULL, *xfo = NULL, *ref = NULL, *nosniff = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(h[i].name, "Content-Security-Policy") == 0)
            csp = h[i].value;
        else if (strcmp(h[i].name, "X-Frame-Options") == 0)
            xfo = h[i].value;
        else if (strcmp(h[i].name, "Referrer-Policy") == 0)
            ref = h[i].value;
        else if (strcmp(h[i].name, "X-Content-Type-Options") == 0)
            nosniff = h[i].value;
    }
    ck_assert_ptr_nonnull(csp);
    ck_assert_ptr_nonnull(strstr(csp, "script-src 'self'"));
    ck_assert_ptr_nonnull(strstr(csp, "connect-src 'self'"));
    ck_assert_ptr_null(strstr(csp, "unsafe"));
    ck_assert_ptr_null(strstr(csp, "*"));
    ck_assert_str_eq(xfo, "DENY");
    ck_assert_str_eq(ref, "no-referrer");
    ck_assert_str_eq(nosniff, "nosniff");
}
END_TEST

static Suite *ui_suite(void)
{
    Suite *s = suite_create("ui");
    TCase *tc = tcase_create("files");
    tcase_add_test(tc, page_urls_name_index_and_files_name_themselves);
    tcase_add_test(tc, embedded_bytes_are_the_files_of_ui);
    tcase_add_test(tc, page_names_only_embedded_assets_and_nothing_inline);
    tcase_add_test(tc, script_renders_values_as_text_only);
    tcase_add_test(tc, security_headers_forbid_inline_code_framing_and_referrers);
    suite_add_tcase(s, tc);
    return s;
}
UNIT_SUITE(ui_suite)
