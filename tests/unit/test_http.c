/* test_http.c - the libmicrohttpd front end (server/http.c) with the whole
 * server of server_fixture.h: the RPC envelope in and out, refusals at the
 * edge (malformed JSON, body limit, methods, removed REST paths, debug
 * kinds), /health and /ready, an SSE stream that receives the execute of a
 * task addressed to it (front end, store thread, outbox and hub together),
 * authentication and prefix authorization in unsigned mode, CORS, and the
 * web console at /ui (content types, security headers, 404s, disabled). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "core/base64.h"
#include "server/http.h"
#include "tests/unit/server_fixture.h"
#include "tests/unit/unit.h"

#define WAIT_MS 5000

static void teardown(void)
{
    fixture_stop();
}

static void setup_debug(void)
{
    fixture_start(&(fixture_config_t){.debug = true, .max_body = 4096});
}

static void setup_plain(void)
{
    fixture_start(&(fixture_config_t){.debug = false});
}

static void setup_auth(void)
{
    fixture_start(&(fixture_config_t){.debug = true, .auth = "none"});
}

static void setup_ui(void)
{
    fixture_start(&(fixture_config_t){.ui = true});
}

static char *const any_origin[] = {"*"};
static void setup_cors(void)
{
    fixture_start(&(fixture_config_t){.cors_origins = any_origin, .n_cors_origins = 1});
}

/* POSTs an envelope of kind with data (JSON text) and optional head.auth;
 * returns the HTTP status and the parsed answer in *out (caller decrefs). */
static int rpc(const char *kind, const char *data, const char *token, json_t **out)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"kind\":\"%s\",\"head\":{\"corrId\":\"c1\",\"version\":\"2026-04-01\"%s%s%s},"
             "\"data\":%s}",
             kind, token ? ",\"auth\":\"" : "", token ? token : "", token ? "\"" : "", data);
    char *resp = NULL;
    int status = fixture_http("POST", "/", body, NULL, &resp, NULL);
    json_t *j = resp ? json_loads(resp, 0, NULL) : NULL;
    ck_assert_msg(j != NULL, "not JSON: %s", resp ? resp : "(empty)");
    free(resp);
    /* The envelope's status is the HTTP status. */
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "head"), "status")),
                     status);
    if (out)
        *out = j;
    else
        json_decref(j);
    return status;
}

static const char *message_of(json_t *env)
{
    return json_string_value(json_object_get(env, "data"));
}

START_TEST(rpc_answer_echoes_kind_and_corr_id_in_the_envelope)
{
    json_t *env;
    ck_assert_int_eq(rpc("promise.create",
                         "{\"id\":\"p\",\"timeoutAt\":9999999999999,\"param\":{},\"tags\":{}}",
                         NULL, &env),
                     200);
    ck_assert_str_eq(json_string_value(json_object_get(env, "kind")), "promise.create");
    json_t *head = json_object_get(env, "head");
    ck_assert_str_eq(json_string_value(json_object_get(head, "corrId")), "c1");
    ck_assert_str_eq(json_string_value(json_object_get(head, "version")), "2026-04-01");
    json_t *p = json_object_get(json_object_get(env, "data"), "promise");
    ck_assert_str_eq(json_string_value(json_object_get(p, "state")), "pending");
    json_decref(env);
    ck_assert_int_eq(rpc("promise.get", "{\"id\":\"p\"}", NULL, NULL), 200);
    ck_assert_int_eq(rpc("promise.get", "{\"id\":\"q\"}", NULL, &env), 404);
    ck_assert_str_eq(message_of(env), "Promise not found");
    json_decref(env);
}
END_TEST

START_TEST(malformed_body_is_400_with_kind_unknown_and_corr_id_0)
{
    char *resp = NULL;
    ck_assert_int_eq(fixture_http("POST", "/", "{not json", NULL, &resp, NULL), 400);
    json_t *j = json_loads(resp, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "kind")), "unknown");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "head"), "corrId")), "0");
    json_decref(j);
    free(resp);
}
END_TEST

START_TEST(body_over_the_limit_is_413_naming_the_limit)
{
    static char big[8192];
    memset(big, ' ', sizeof big - 1);
    char *resp = NULL;
    ck_assert_int_eq(fixture_http("POST", "/", big, NULL, &resp, NULL), 413);
    ck_assert_ptr_nonnull(strstr(resp, "the limit is 4096 bytes"));
    free(resp);
}
END_TEST

START_TEST(wrong_methods_are_405_with_allow_and_other_paths_404_or_410)
{
    char *hdr = NULL;
    ck_assert_int_eq(fixture_http("GET", "/", NULL, NULL, NULL, &hdr), 405);
    ck_assert_ptr_nonnull(strcasestr(hdr, "Allow: POST"));
    free(hdr);
    ck_assert_int_eq(fixture_http("POST", "/health", "", NULL, NULL, NULL), 405);
    ck_assert_int_eq(fixture_http("DELETE", "/ready", NULL, NULL, NULL, NULL), 405);
    ck_assert_int_eq(fixture_http("POST", "/poll/g/w1", "", NULL, NULL, NULL), 405);
    ck_assert_int_eq(fixture_http("GET", "/poll/g", NULL, NULL, NULL, NULL), 404);
    ck_assert_int_eq(fixture_http("GET", "/poll/g/w/x", NULL, NULL, NULL, NULL), 404);
    ck_assert_int_eq(fixture_http("GET", "/nothing", NULL, NULL, NULL, NULL), 404);
    char *body = NULL;
    ck_assert_int_eq(fixture_http("GET", "/promises/p", NULL, NULL, &body, NULL), 410);
    ck_assert_ptr_nonnull(strstr(body, "no longer supported"));
    free(body);
    ck_assert_int_eq(fixture_http("POST", "/tasks", "", NULL, NULL, NULL), 410);
    /* "/promisesX" is not one of the removed roots. */
    ck_assert_int_eq(fixture_http("GET", "/promisesX", NULL, NULL, NULL, NULL), 404);
}
END_TEST

START_TEST(a_port_in_use_or_an_address_not_of_this_machine_is_named_with_the_fix)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    char err[512] = "";
    http_t *h = http_start(&(http_config_t){.bind = "127.0.0.1", .port = ntohs(sin.sin_port)}, err,
                           sizeof err);
    close(fd);
    ck_assert_ptr_null(h);
    ck_assert_msg(strstr(err, "address in use (another process listens on port") &&
                      strstr(err, "set server.port to a free port"),
                  "%s", err);
    /* 192.0.2.1 (TEST-NET-1) is no machine's address. */
    h = http_start(&(http_config_t){.bind = "192.0.2.1", .port = 0}, err, sizeof err);
    ck_assert_ptr_null(h);
    ck_assert_msg(strstr(err, "192.0.2.1 is not an address of this machine") &&
                      strstr(err, "set server.bind to one of them"),
                  "%s", err);
}
END_TEST

START_TEST(health_and_ready_answer_200)
{
    ck_assert_int_eq(fixture_http("GET", "/health", NULL, NULL, NULL, NULL), 200);
    ck_assert_int_eq(fixture_http("HEAD", "/health", NULL, NULL, NULL, NULL), 200);
    ck_assert_int_eq(fixture_http("GET", "/ready", NULL, NULL, NULL, NULL), 200);
}
END_TEST

START_TEST(debug_kinds_are_403_unless_debug_is_on)
{
    json_t *env;
    ck_assert_int_eq(rpc("debug.snap", "{}", NULL, &env), 403);
    json_decref(env);
}
END_TEST

START_TEST(debug_kinds_run_when_debug_is_on)
{
    ck_assert_int_eq(rpc("debug.reset", "{}", NULL, NULL), 200);
    json_t *env;
    ck_assert_int_eq(rpc("debug.snap", "{}", NULL, &env), 200);
    ck_assert(json_is_array(json_object_get(json_object_get(env, "data"), "promises")));
    json_decref(env);
}
END_TEST

/* Sends GET path as HTTP/1.0 on a plain socket; returns the fd, with buf
 * empty for read_for. */
static int open_sse(const char *path, char *buf, size_t *have)
{
    unsigned port = 0;
    sscanf(fixture_url(), "http://127.0.0.1:%u", &port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    ck_assert_int_eq(send(fd, req, (size_t)n, 0), n);
    *have = 0;
    buf[0] = '\0';
    return fd;
}

/* Reads until buf holds needle (bounded by WAIT_MS). */
static bool read_for(int fd, char *buf, size_t cap, size_t *have, const char *needle)
{
    int64_t deadline = unit_mono_ms() + WAIT_MS;
    while (!strstr(buf, needle)) {
        int64_t left = deadline - unit_mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return false;
        ssize_t r = recv(fd, buf + *have, cap - 1 - *have, 0);
        if (r <= 0)
            return false;
        *have += (size_t)r;
        buf[*have] = '\0';
    }
    return true;
}

START_TEST(poll_stream_receives_the_execute_of_a_task_addressed_to_it)
{
    char buf[8192];
    size_t have;
    int fd = open_sse("/poll/g/w1", buf, &have);
    ck_assert(read_for(fd, buf, sizeof buf, &have, ": connected\n\n"));
    ck_assert_int_eq(strncmp(buf, "HTTP/1.", 7), 0);
    ck_assert_int_eq(strncmp(buf + 8, " 200", 4), 0);
    ck_assert_int_eq(rpc("promise.create",
                         "{\"id\":\"t\",\"timeoutAt\":9999999999999,\"param\":{},"
                         "\"tags\":{\"resonate:target\":\"poll://uni@g/w1\"}}",
                         NULL, NULL),
                     200);
    ck_assert_msg(
        read_for(fd, buf, sizeof buf, &have,
                 "data: {\"data\":{\"task\":{\"id\":\"t\",\"version\":0}},"
                 "\"head\":{\"serverUrl\":\"http://127.0.0.1\"},\"kind\":\"execute\"}\n\n"),
        "no execute frame, got: %s", buf);
    close(fd);
}
END_TEST

/* An unsigned-mode token (alg HS256, signature not checked) with claims. */
static char *token(const char *claims)
{
    const char *header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t hl = b64_encoded_len(B64_URL, strlen(header));
    size_t cl = b64_encoded_len(B64_URL, strlen(claims));
    char *t = malloc(hl + cl + 8);
    b64_encode(B64_URL, (const unsigned char *)header, strlen(header), t);
    t[hl] = '.';
    b64_encode(B64_URL, (const unsigned char *)claims, strlen(claims), t + hl + 1);
    strcpy(t + hl + 1 + cl, ".c2ln");
    return t;
}

START_TEST(requests_without_a_valid_token_are_401)
{
    json_t *env;
    ck_assert_int_eq(rpc("promise.get", "{\"id\":\"p\"}", NULL, &env), 401);
    ck_assert_str_eq(message_of(env), "Unauthorized: no token");
    json_decref(env);
    ck_assert_int_eq(rpc("promise.get", "{\"id\":\"p\"}", "a.b", &env), 401);
    json_decref(env);
    ck_assert_int_eq(fixture_http("GET", "/poll/g/w1", NULL, NULL, NULL, NULL), 401);
}
END_TEST

START_TEST(prefixed_token_reaches_only_ids_under_its_prefix)
{
    char *tok = token("{\"prefix\":\"acme.\"}");
    json_t *env;
    ck_assert_int_eq(rpc("promise.get", "{\"id\":\"acme.1\"}", tok, &env), 404);
    json_decref(env);
    ck_assert_int_eq(rpc("promise.get", "{\"id\":\"other\"}", tok, &env), 403);
    ck_assert_ptr_nonnull(strstr(message_of(env), "Forbidden"));
    json_decref(env);
    /* A search names no id: a prefixed token's search is limited to its
     * prefix (DECISIONS #15). */
    char *admin = token("{\"role\":\"admin\"}");
    const char *create = "{\"id\":\"%s\",\"timeoutAt\":9999999999999,\"param\":{},\"tags\":{}}";
    char data[256];
    snprintf(data, sizeof data, create, "other");
    ck_assert_int_eq(rpc("promise.create", data, admin, NULL), 200);
    snprintf(data, sizeof data, create, "acme.3");
    ck_assert_int_eq(rpc("promise.create", data, tok, NULL), 200);
    ck_assert_int_eq(rpc("promise.search", "{}", tok, &env), 200);
    json_t *ps = json_object_get(json_object_get(env, "data"), "promises");
    ck_assert_int_eq(json_array_size(ps), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ps, 0), "id")), "acme.3");
    json_decref(env);
    ck_assert_int_eq(rpc("promise.search", "{}", admin, &env), 200);
    ck_assert_int_eq(json_array_size(json_object_get(json_object_get(env, "data"), "promises")), 2);
    json_decref(env);
    free(admin);
    /* The Authorization header works as well as head.auth. */
    char hdr[1024];
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", tok);
    const char *const hdrs[] = {hdr, NULL};
    char *resp = NULL;
    ck_assert_int_eq(
        fixture_http("POST", "/",
                     "{\"kind\":\"promise.get\",\"head\":{\"corrId\":\"c\",\"version\":"
                     "\"2026-04-01\"},\"data\":{\"id\":\"acme.2\"}}",
                     hdrs, &resp, NULL),
        404);
    free(resp);
    free(tok);
}
END_TEST

START_TEST(cors_preflight_and_answers_carry_the_allowed_origin)
{
    const char *const pre[] = {"Origin: http://app.example", "Access-Control-Request-Method: POST",
                               "Access-Control-Request-Headers: X-Custom", NULL};
    char *hdr = NULL;
    ck_assert_int_eq(fixture_http("OPTIONS", "/", NULL, pre, NULL, &hdr), 204);
    ck_assert_ptr_nonnull(strcasestr(hdr, "Access-Control-Allow-Origin: *"));
    ck_assert_ptr_nonnull(strcasestr(hdr, "Access-Control-Allow-Headers: Authorization, "
                                          "Content-Type, Origin, Content-Length, X-Custom"));
    free(hdr);
    const char *const get[] = {"Origin: http://app.example", NULL};
    ck_assert_int_eq(fixture_http("GET", "/health", NULL, get, NULL, &hdr), 200);
    ck_assert_ptr_nonnull(strcasestr(hdr, "Access-Control-Allow-Origin: *"));
    free(hdr);
}
END_TEST

/* The headers every /ui answer must carry (hdr: the response header block). */
static void assert_ui_headers(const char *hdr)
{
    const char *csp = strcasestr(hdr, "Content-Security-Policy: ");
    ck_assert_msg(csp != NULL, "no CSP in:\n%s", hdr);
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)strcspn(csp, "\r\n"), csp);
    ck_assert_ptr_nonnull(strstr(line, "default-src 'none'"));
    ck_assert_ptr_nonnull(strstr(line, "script-src 'self'"));
    ck_assert_ptr_nonnull(strstr(line, "style-src 'self'"));
    ck_assert_ptr_nonnull(strstr(line, "frame-ancestors 'none'"));
    ck_assert_ptr_null(strstr(line, "unsafe-inline"));
    ck_assert_ptr_null(strstr(line, "unsafe-eval"));
    ck_assert_ptr_nonnull(strcasestr(hdr, "X-Frame-Options: DENY"));
    ck_assert_ptr_nonnull(strcasestr(hdr, "Referrer-Policy: no-referrer"));
    ck_assert_ptr_nonnull(strcasestr(hdr, "X-Content-Type-Options: nosniff"));
}

START_TEST(ui_serves_its_files_with_their_types_and_security_headers)
{
    static const struct {
        const char *path, *type, *needle;
    } cases[] = {
        {"/ui", "Content-Type: text/html; charset=utf-8", "<script src=\"/ui/console.js\""},
        {"/ui/", "Content-Type: text/html; charset=utf-8", "<script src=\"/ui/console.js\""},
        {"/ui/index.html", "Content-Type: text/html; charset=utf-8", "<!doctype html>"},
        {"/ui/console.js", "Content-Type: text/javascript; charset=utf-8", "\"use strict\""},
        {"/ui/console.css", "Content-Type: text/css; charset=utf-8", ".state-pending"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *body = NULL, *hdr = NULL;
        ck_assert_int_eq(fixture_http("GET", cases[i].path, NULL, NULL, &body, &hdr), 200);
        ck_assert_msg(strcasestr(hdr, cases[i].type), "%s:\n%s", cases[i].path, hdr);
        ck_assert_msg(strstr(body, cases[i].needle), "%s lacks %s", cases[i].path, cases[i].needle);
        assert_ui_headers(hdr);
        free(body);
        free(hdr);
    }
    char *body = NULL, *hdr = NULL;
    ck_assert_int_eq(fixture_http("HEAD", "/ui", NULL, NULL, &body, &hdr), 200);
    ck_assert_ptr_nonnull(strcasestr(hdr, "Content-Type: text/html"));
    assert_ui_headers(hdr);
    free(body);
    free(hdr);
}
END_TEST

START_TEST(ui_unknown_files_are_404_and_other_methods_405)
{
    static const char *const missing[] = {"/ui/nope.js", "/ui/index.html/x", "/ui/console.js.map",
                                          "/ui//console.js", "/ui/Console.js"};
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++) {
        char *body = NULL, *hdr = NULL;
        ck_assert_int_eq(fixture_http("GET", missing[i], NULL, NULL, &body, &hdr), 404);
        ck_assert_ptr_nonnull(strcasestr(hdr, "Content-Type: text/plain"));
        assert_ui_headers(hdr);
        free(body);
        free(hdr);
    }
    /* Only /ui and /ui/... are the console. */
    ck_assert_int_eq(fixture_http("GET", "/uix", NULL, NULL, NULL, NULL), 404);
    ck_assert_int_eq(fixture_http("GET", "/console.js", NULL, NULL, NULL, NULL), 404);
    char *hdr = NULL;
    ck_assert_int_eq(fixture_http("POST", "/ui", "x", NULL, NULL, &hdr), 405);
    ck_assert_ptr_nonnull(strcasestr(hdr, "Allow: GET, HEAD"));
    assert_ui_headers(hdr);
    free(hdr);
    /* The API next to it is unchanged. */
    ck_assert_int_eq(rpc("promise.get", "{\"id\":\"p\"}", NULL, NULL), 404);
}
END_TEST

START_TEST(ui_disabled_is_404_for_every_console_path)
{
    static const char *const paths[] = {"/ui", "/ui/", "/ui/index.html", "/ui/console.js",
                                        "/ui/console.css"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char *body = NULL, *hdr = NULL;
        ck_assert_int_eq(fixture_http("GET", paths[i], NULL, NULL, &body, &hdr), 404);
        ck_assert_msg(!body || !strstr(body, "<html"), "%s served while disabled", paths[i]);
        free(body);
        free(hdr);
    }
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("rpc");
    tcase_add_checked_fixture(tc, setup_debug, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, rpc_answer_echoes_kind_and_corr_id_in_the_envelope);
    tcase_add_test(tc, malformed_body_is_400_with_kind_unknown_and_corr_id_0);
    tcase_add_test(tc, body_over_the_limit_is_413_naming_the_limit);
    tcase_add_test(tc, wrong_methods_are_405_with_allow_and_other_paths_404_or_410);
    tcase_add_test(tc, health_and_ready_answer_200);
    tcase_add_test(tc, debug_kinds_run_when_debug_is_on);
    tcase_add_test(tc, poll_stream_receives_the_execute_of_a_task_addressed_to_it);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("listen");
    tcase_add_test(tl, a_port_in_use_or_an_address_not_of_this_machine_is_named_with_the_fix);
    suite_add_tcase(s, tl);
    TCase *tp = tcase_create("plain");
    tcase_add_checked_fixture(tp, setup_plain, teardown);
    tcase_add_test(tp, debug_kinds_are_403_unless_debug_is_on);
    tcase_add_test(tp, ui_disabled_is_404_for_every_console_path);
    suite_add_tcase(s, tp);
    TCase *ta = tcase_create("auth");
    tcase_add_checked_fixture(ta, setup_auth, teardown);
    tcase_set_timeout(ta, 30);
    tcase_add_test(ta, requests_without_a_valid_token_are_401);
    tcase_add_test(ta, prefixed_token_reaches_only_ids_under_its_prefix);
    suite_add_tcase(s, ta);
    TCase *tui = tcase_create("ui");
    tcase_add_checked_fixture(tui, setup_ui, teardown);
    tcase_add_test(tui, ui_serves_its_files_with_their_types_and_security_headers);
    tcase_add_test(tui, ui_unknown_files_are_404_and_other_methods_405);
    suite_add_tcase(s, tui);
    TCase *tcors = tcase_create("cors");
    tcase_add_checked_fixture(tcors, setup_cors, teardown);
    tcase_add_test(tcors, cors_preflight_and_answers_carry_the_allowed_origin);
    suite_add_tcase(s, tcors);
    return s;
}
UNIT_SUITE(http_suite)
