/* test_client.c - the client subcommands (cli/client.c): the pure helpers
 * (payload encoding as the Rust CLI does it, duration formatting), then
 * every subcommand run through client_main against the in-process server of
 * server_fixture.h, its standard output and error captured: the request it
 * builds (read back from the server's state), the summary or --json it
 * prints, its usage errors (exit 2, nothing sent) and how it reports failed
 * requests (exit 1). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/client.h"
#include "tests/unit/server_fixture.h"
#include "tests/unit/unit.h"

START_TEST(base64_helpers_allocate_nul_terminated_results_and_refuse_invalid_input)
{
    /* The encoding itself is core/base64.c's (test_base64.c). */
    char *s = client_base64_encode((const unsigned char *)"hello", 5);
    ck_assert_str_eq(s, "aGVsbG8=");
    free(s);
    size_t n = 99;
    unsigned char *p = client_base64_decode("aGVsbG8=", &n);
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq((char *)p, "hello");
    free(p);
    ck_assert_ptr_null(client_base64_decode("aGVsbG8", &n));
}
END_TEST

START_TEST(payload_string_data_is_base64_of_the_string_itself)
{
    char err[256];
    char *s = client_payload_encode("--param", "{\"data\":\"hello\",\"headers\":{\"a\":\"1\"}}",
                                    err, sizeof err);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "{\"data\":\"aGVsbG8=\",\"headers\":{\"a\":\"1\"}}");
    free(s);
}
END_TEST

START_TEST(payload_json_data_is_serialised_compactly_with_sorted_keys_then_encoded)
{
    char err[256];
    /* base64 of {"a":2,"b":[1,true]} */
    char *s = client_payload_encode("--value", "{\"data\": {\"b\": [1, true], \"a\": 2}}", err,
                                    sizeof err);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "{\"data\":\"eyJhIjoyLCJiIjpbMSx0cnVlXX0=\"}");
    free(s);
    s = client_payload_encode("--value", "{\"data\": 42}", err, sizeof err);
    ck_assert_str_eq(s, "{\"data\":\"NDI=\"}");
    free(s);
}
END_TEST

START_TEST(payload_without_data_is_sent_unchanged)
{
    char err[256];
    char *s = client_payload_encode("--param", "{\"headers\":{}}", err, sizeof err);
    ck_assert_str_eq(s, "{\"headers\":{}}");
    free(s);
}
END_TEST

START_TEST(payload_errors_name_the_flag)
{
    char err[256];
    ck_assert_ptr_null(client_payload_encode("--param", "{\"data\":", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "invalid JSON in --param"));
    ck_assert_ptr_null(client_payload_encode("--value", "\"ok\"", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "--value must be a JSON object"));
    ck_assert_ptr_null(client_payload_encode("--value", "{\"a\":1,\"a\":2}", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "--value"));
}
END_TEST

START_TEST(durations_show_the_two_largest_units)
{
    static const struct {
        long long ms;
        const char *out;
    } cases[] = {{0, "0ms"},        {250, "250ms"},     {1000, "1s"},
                 {61000, "1m1s"},   {3600000, "1h"},    {5400000, "1h30m"},
                 {3723000, "1h2m"}, {90061000, "1d1h"}, {86400000 + 60000, "1d"},
                 {-45000, "45s"}};
    char buf[32];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        client_format_duration(cases[i].ms, buf, sizeof buf);
        ck_assert_msg(strcmp(buf, cases[i].out) == 0, "%lld ms -> '%s', want '%s'", cases[i].ms,
                      buf, cases[i].out);
    }
}
END_TEST

START_TEST(client_commands_and_aliases_are_recognised)
{
    static const char *const yes[] = {"promises",  "promise",  "tasks",  "task",
                                      "schedules", "schedule", "invoke", "tree"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        ck_assert_msg(client_is_command(yes[i]), "%s", yes[i]);
    ck_assert(!client_is_command("serve"));
    ck_assert(!client_is_command("promisez"));
    ck_assert(!client_is_command(""));
}
END_TEST

/* ---- subcommands against a server ---- */

typedef struct {
    int rc;
    char out[65536], err[8192];
} run_t;

static run_t R;

/* Reads what f holds into buf (NUL-terminated, truncated to cap). */
static void slurp(FILE *f, char *buf, size_t cap)
{
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs `resonate <args...>` (NULL-terminated) with -S pointing at the
 * fixture server appended when with_server; fills R and returns the exit
 * status. */
static int run_v(bool with_server, const char *first, va_list ap)
{
    char *argv[40];
    int argc = 0;
    argv[argc++] = (char *)first;
    for (const char *a; (a = va_arg(ap, const char *));)
        argv[argc++] = (char *)a;
    if (with_server) {
        argv[argc++] = "-S";
        argv[argc++] = (char *)fixture_url();
    }
    argv[argc] = NULL;
    FILE *out = tmpfile(), *err = tmpfile();
    ck_assert(out && err);
    unit_stdio_t saved = unit_redirect_stdio(out, err);
    R.rc = client_main(argc, argv);
    unit_restore_stdio(saved);
    slurp(out, R.out, sizeof R.out);
    slurp(err, R.err, sizeof R.err);
    return R.rc;
}

static int cli(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    int rc = run_v(true, first, ap);
    va_end(ap);
    return rc;
}

static int cli_noserver(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    int rc = run_v(false, first, ap);
    va_end(ap);
    return rc;
}

#define OUT_HAS(s) ck_assert_msg(strstr(R.out, s), "stdout lacks [%s]:\n%s", s, R.out)
#define ERR_HAS(s) ck_assert_msg(strstr(R.err, s), "stderr lacks [%s]:\n%s", s, R.err)

/* The --json output of the last run, parsed (caller decrefs). */
static json_t *out_json(void)
{
    json_t *j = json_loads(R.out, JSON_DECODE_ANY, NULL);
    ck_assert_msg(j != NULL, "not JSON: %s", R.out);
    return j;
}

/* data.<key>.<field> of `resonate <group> get <id> --json`, as a string. */
static char *get_field(const char *group, const char *key, const char *id, const char *field)
{
    ck_assert_int_eq(cli(group, "get", id, "--json", NULL), 0);
    json_t *j = out_json();
    json_t *v = json_object_get(json_object_get(j, key), field);
    char *s = json_is_string(v) ? strdup(json_string_value(v))
                                : json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(j);
    return s;
}

static void setup_server(void)
{
    fixture_start(&(fixture_config_t){.debug = true});
    unsetenv("RESONATE_URL");
    unsetenv("RESONATE_TOKEN");
}

static void teardown_server(void)
{
    fixture_stop();
}

START_TEST(promises_create_sends_timeout_param_and_tags_and_shows_the_promise)
{
    ck_assert_int_eq(cli("promises", "create", "p1", "--timeout", "1h", "--param",
                         "{\"data\":\"hello\"}", "--tags", "{\"env\":\"dev\"}", "--target",
                         "poll://any@g", NULL),
                     0);
    OUT_HAS("id        p1\n");
    OUT_HAS("state     pending\n");
    OUT_HAS("timeout   ");
    /* An hour from the moment of sending, shown from the moment of the answer. */
    ck_assert_msg(strstr(R.out, "(in 59m") || strstr(R.out, "(in 1h)\n"), "%s", R.out);
    OUT_HAS("tags      env=dev\n");
    OUT_HAS("          resonate:target=poll://any@g\n");
    OUT_HAS("param     hello\n");
    char *data = get_field("promises", "promise", "p1", "param");
    ck_assert_str_eq(data, "{\"data\":\"aGVsbG8=\"}");
    free(data);
}
END_TEST

START_TEST(promises_resolve_reject_and_cancel_settle_with_the_value)
{
    cli("promises", "create", "a", "--timeout", "1h", NULL);
    cli("promises", "create", "b", "--timeout", "1h", NULL);
    cli("promises", "create", "c", "--timeout", "1h", NULL);
    ck_assert_int_eq(cli("promises", "resolve", "a", "--value", "{\"data\":{\"ok\":true}}", NULL),
                     0);
    OUT_HAS("state     resolved\n");
    OUT_HAS("value     {\"ok\":true}\n");
    OUT_HAS("settled   ");
    ck_assert_int_eq(cli("promise", "reject", "b", NULL), 0);
    OUT_HAS("state     rejected\n");
    OUT_HAS("value     (empty)\n");
    ck_assert_int_eq(cli("promises", "cancel", "c", "--json", NULL), 0);
    json_t *j = out_json();
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "promise"), "state")),
                     "rejected_canceled");
    json_decref(j);
}
END_TEST

START_TEST(promises_search_prints_a_table_and_the_next_page_command)
{
    cli("promises", "create", "a", "--timeout", "1h", "--tags", "{\"k\":\"v\"}", NULL);
    cli("promises", "create", "b", "--timeout", "1h", NULL);
    cli("promises", "create", "c", "--timeout", "1h", "--tags", "{\"k\":\"v\"}", NULL);
    ck_assert_int_eq(cli("promises", "search", "--limit", "2", NULL), 0);
    OUT_HAS("ID  STATE    TIMEOUT");
    OUT_HAS("a   pending  ");
    OUT_HAS("k=v\n");
    OUT_HAS("2 promises; more with: resonate promises search --cursor 'b'\n");
    ck_assert_int_eq(cli("promises", "search", "--cursor", "b", NULL), 0);
    OUT_HAS("1 promise\n");
    ck_assert_int_eq(
        cli("promises", "search", "--tags", "{\"k\":\"v\"}", "--state", "pending", "--json", NULL),
        0);
    json_t *j = out_json();
    ck_assert_int_eq(json_array_size(json_object_get(j, "promises")), 2);
    json_decref(j);
    ck_assert_int_eq(cli("promises", "search", "--state", "resolved", NULL), 0);
    OUT_HAS("0 promises\n");
}
END_TEST

START_TEST(promises_register_callback_and_listener_send_both_ids)
{
    cli("promises", "create", "w.1", "--timeout", "1h", NULL);
    cli("promises", "create", "w", "--timeout", "1h", "--target", "poll://any@g", NULL);
    ck_assert_int_eq(cli("promises", "register-callback", "w.1", "w", NULL), 0);
    OUT_HAS("id        w.1\n");
    ck_assert_int_eq(cli("promises", "register-listener", "w.1", "poll://uni@g/me", "--json", NULL),
                     0);
    json_t *j = out_json();
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "promise"), "id")),
                     "w.1");
    json_decref(j);
    ck_assert_int_eq(cli("promises", "register-callback", "w.2", "w", NULL), 1);
    ERR_HAS("error: not found: Awaited promise not found\n");
}
END_TEST

START_TEST(tasks_lifecycle_create_heartbeat_fence_suspend_claim_complete)
{
    ck_assert_int_eq(cli("tasks", "create", "t", "--pid", "w", "--ttl", "30s", "--timeout", "1h",
                         "--target", "poll://any@g", "--param", "{\"data\":\"x\"}", NULL),
                     0);
    OUT_HAS("state     acquired\n");
    OUT_HAS("version   1\n");
    OUT_HAS("pid       w\n");
    OUT_HAS("ttl       30s (lease renewed by heartbeats)\n");
    OUT_HAS("\npromise:\nid        t\n");
    OUT_HAS("preload   (none)\n");
    ck_assert_int_eq(cli("tasks", "heartbeat", "--pid", "w", NULL), 0);
    ck_assert_str_eq(R.out, "leases of w renewed\n");
    ck_assert_int_eq(
        cli("tasks", "heartbeat", "--pid", "w", "--tasks", "[{\"id\":\"t\",\"version\":1}]", NULL),
        0);
    ck_assert_int_eq(cli("tasks", "fence", "t", "--version", "1", "--action",
                         "{\"kind\":\"promise.create\",\"head\":{},\"data\":{\"id\":\"t.1\","
                         "\"timeoutAt\":99999999999999,\"param\":{},\"tags\":{}}}",
                         NULL),
                     0);
    OUT_HAS("fenced promise.create: status 200\n");
    OUT_HAS("id        t.1\n");
    ck_assert_int_eq(cli("tasks", "suspend", "t", "--version", "1", "--awaited", "t.1", NULL), 0);
    ck_assert_str_eq(R.out, "task t suspended until an awaited promise settles\n");
    ck_assert_int_eq(cli("tasks", "get", "t", NULL), 0);
    OUT_HAS("state     suspended\n");
    OUT_HAS("resumes   0\n");
    cli("promises", "resolve", "t.1", NULL);
    ck_assert_int_eq(
        cli("tasks", "claim", "t", "--pid", "w2", "--version", "1", "--ttl", "1m", NULL), 0);
    OUT_HAS("version   2\n");
    OUT_HAS("pid       w2\n");
    /* Already settled: suspend answers 300, which exits 0 with a notice. */
    ck_assert_int_eq(cli("tasks", "suspend", "t", "--version", "2", "--actions",
                         "[{\"kind\":\"promise.register_callback\",\"data\":{\"awaited\":\"t.1\","
                         "\"awaiter\":\"t\"}}]",
                         NULL),
                     0);
    OUT_HAS("task t was NOT suspended");
    ck_assert_int_eq(cli("tasks", "complete", "t", "--version", "2", "--state", "resolved",
                         "--value", "{\"data\":\"done\"}", NULL),
                     0);
    OUT_HAS("state     resolved\n");
    OUT_HAS("value     done\n");
    char *st = get_field("tasks", "task", "t", "state");
    ck_assert_str_eq(st, "fulfilled");
    free(st);
}
END_TEST

START_TEST(tasks_release_halt_continue_and_search)
{
    cli("tasks", "create", "t", "--pid", "w", "--ttl", "30s", "--timeout", "1h", "--tags",
        "{\"resonate:target\":\"poll://any@g\"}", NULL);
    ck_assert_int_eq(cli("tasks", "release", "t", "--version", "1", NULL), 0);
    ck_assert_str_eq(R.out, "task t released\n");
    ck_assert_int_eq(cli("tasks", "halt", "t", NULL), 0);
    ck_assert_str_eq(R.out, "task t halted\n");
    ck_assert_int_eq(cli("tasks", "search", "--state", "halted", NULL), 0);
    OUT_HAS("ID  STATE   VERSION  RESUMES  PID\n");
    OUT_HAS("t   halted  1        0\n");
    OUT_HAS("1 task\n");
    ck_assert_int_eq(cli("tasks", "continue", "t", NULL), 0);
    ck_assert_str_eq(R.out, "task t continued\n");
    ck_assert_int_eq(cli("tasks", "continue", "t", NULL), 1);
    ERR_HAS("error: conflict: Task is not halted\n");
    ck_assert_int_eq(cli("tasks", "complete", "t", "--version", "1", "--action",
                         "{\"kind\":\"promise.settle\",\"data\":{\"id\":\"t\",\"state\":"
                         "\"rejected\"}}",
                         NULL),
                     1);
    ERR_HAS("error: conflict: ");
}
END_TEST

START_TEST(schedules_create_get_search_and_delete)
{
    ck_assert_int_eq(cli("schedules", "create", "s", "--cron", "*/5 * * * *", "--promise-id",
                         "job.{{.timestamp}}", "--promise-timeout", "1h", "--target",
                         "poll://any@g", "--promise-param", "{\"data\":\"p\"}", NULL),
                     0);
    OUT_HAS("id               s\n");
    OUT_HAS("cron             */5 * * * *\n");
    OUT_HAS("promise id       job.{{.timestamp}}\n");
    OUT_HAS("promise timeout  1h\n");
    OUT_HAS("promise tags     resonate:target=poll://any@g\n");
    OUT_HAS("promise param    p\n");
    OUT_HAS("last run         (never)\n");
    ck_assert_int_eq(cli("schedule", "get", "s", NULL), 0);
    OUT_HAS("next run         ");
    ck_assert_int_eq(cli("schedules", "search", NULL), 0);
    OUT_HAS("ID  CRON         NEXT RUN");
    OUT_HAS("job.{{.timestamp}}\n1 schedule\n");
    ck_assert_int_eq(cli("schedules", "delete", "s", NULL), 0);
    ck_assert_str_eq(R.out, "schedule s deleted\n");
    ck_assert_int_eq(cli("schedules", "get", "s", NULL), 1);
    ERR_HAS("error: not found: Schedule not found\n");
}
END_TEST

START_TEST(invoke_creates_a_promise_whose_param_is_the_call)
{
    ck_assert_int_eq(cli("invoke", "inv", "--func", "add", "--arg", "1", "--arg", "x", "--target",
                         "poll://any@workers", "--delay", "1m", NULL),
                     0);
    OUT_HAS("id        inv\n");
    ck_assert_int_eq(cli("promises", "get", "inv", NULL), 0);
    OUT_HAS("param     {\"args\":[1,\"x\"],\"func\":\"add\",\"version\":1}\n");
    OUT_HAS("resonate:target=poll://any@workers\n");
    OUT_HAS("resonate:delay=");
    ck_assert_int_eq(cli("invoke", "inv2", "-f", "f", "--json-args", "[[1,2]]", "--version", "3",
                         "-t", "10m", "--json", NULL),
                     0);
    json_t *j = out_json();
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(json_object_get(j, "promise"), "tags"),
                                          "resonate:target")),
        "poll://any@default");
    json_decref(j);
    ck_assert_int_eq(cli("invoke", "inv3", "-f", "f", "--version", "0", NULL), 2);
    ERR_HAS("--version must be greater than 0");
}
END_TEST

START_TEST(tree_links_the_promises_of_an_origin_by_parent)
{
    cli("promises", "create", "root", "--timeout", "1h", "--tags", "{\"resonate:origin\":\"root\"}",
        NULL);
    cli("promises", "create", "root.1", "--timeout", "1h", "--tags",
        "{\"resonate:origin\":\"root\",\"resonate:parent\":\"root\"}", NULL);
    cli("promises", "create", "root.2", "--timeout", "1h", "--tags",
        "{\"resonate:origin\":\"root\",\"resonate:parent\":\"root\"}", NULL);
    cli("promises", "create", "root.1.1", "--timeout", "1h", "--tags",
        "{\"resonate:origin\":\"root\",\"resonate:parent\":\"root.1\"}", NULL);
    cli("promises", "resolve", "root.2", NULL);
    ck_assert_int_eq(cli("tree", "root", NULL), 0);
    OUT_HAS("root");
    OUT_HAS("├── root.1");
    OUT_HAS("│   └── root.1.1");
    OUT_HAS("└── root.2");
    ck_assert_int_eq(cli("tree", "root", "--json", NULL), 0);
    json_t *j = out_json();
    json_t *kids = json_object_get(j, "children");
    ck_assert_int_eq(json_array_size(kids), 2);
    json_decref(j);
    /* An unknown root shows as its bare id. */
    ck_assert_int_eq(cli("tree", "nothing", NULL), 0);
    ck_assert_str_eq(R.out, "nothing\n");
}
END_TEST

START_TEST(usage_errors_exit_2_and_say_how_to_get_help)
{
    ck_assert_int_eq(cli("promises", "create", "p", NULL), 2);
    ERR_HAS("error: missing required option --timeout <DURATION>");
    ERR_HAS("Run 'resonate promises create --help' for usage.");
    ck_assert_int_eq(cli("promises", "frobnicate", NULL), 2);
    ERR_HAS("unknown command 'frobnicate' for 'resonate promises'");
    ck_assert_int_eq(cli("promises", "get", NULL), 2);
    ERR_HAS("missing argument <ID>");
    ck_assert_int_eq(cli("promises", "get", "a", "b", NULL), 2);
    ERR_HAS("unexpected argument 'b'");
    ck_assert_int_eq(cli("promises", "get", "a", "--bogus", "1", NULL), 2);
    ERR_HAS("unknown option '--bogus'");
    ck_assert_int_eq(cli("promises", "--bogus", NULL), 2);
    ERR_HAS("options of a command go after its name");
    ck_assert_int_eq(cli("promises", NULL), 2);
    ERR_HAS("missing command: one of get, create, resolve");
    ck_assert_int_eq(cli("promises", "create", "p", "--timeout", "1h", "--timeout", "2h", NULL), 2);
    ERR_HAS("--timeout given twice");
    ck_assert_int_eq(cli("promises", "create", "p", "--timeout", "soon", NULL), 2);
    ERR_HAS("--timeout");
    ck_assert_int_eq(cli("promises", "create", "p", "--timeout", "1h", "--param", "[1]", NULL), 2);
    ERR_HAS("--param must be a JSON object");
    ck_assert_int_eq(cli("tasks", "claim", "t", "--pid", NULL), 2);
    ERR_HAS("--pid needs a value");
    ck_assert_int_eq(cli("tasks", "suspend", "t", "--version", "1", NULL), 2);
    ERR_HAS("--awaited ID");
    ck_assert_int_eq(cli("tasks", "complete", "t", "--version", "x", "--state", "resolved", NULL),
                     2);
    ck_assert_int_eq(cli("tasks", "complete", "t", "--version", "1", "--state", "done", NULL), 2);
    ERR_HAS("invalid --state 'done'");
    ck_assert_int_eq(cli("tasks", "complete", "t", "--version", "1", NULL), 2);
    ERR_HAS("give the outcome with --state");
    ck_assert_int_eq(cli("promises", "search", "--limit", "many", NULL), 2);
    ck_assert_int_eq(cli_noserver("nope", NULL), 2);
    ERR_HAS("error: unknown command 'nope'");
    ck_assert_int_eq(cli("promises", "get", "p", "-S", "http://x", NULL), 2);
    ERR_HAS("-S given twice");
}
END_TEST

START_TEST(help_prints_usage_flags_and_notes_and_exits_0)
{
    ck_assert_int_eq(cli_noserver("promises", "create", "--help", NULL), 0);
    OUT_HAS("Usage: resonate promises create <ID> --timeout <DURATION> [OPTIONS]\n");
    OUT_HAS("Sends promise.create.\n");
    OUT_HAS("--param <JSON>");
    OUT_HAS("(required)");
    OUT_HAS("Payloads (--param, --value, --promise-param)");
    ck_assert_int_eq(cli_noserver("promises", "--help", NULL), 0);
    OUT_HAS("Usage: resonate promises <COMMAND> [OPTIONS]\n");
    OUT_HAS("register-listener");
    ck_assert_int_eq(cli_noserver("tasks", "help", "claim", NULL), 0);
    OUT_HAS("Usage: resonate tasks claim <ID> --pid <PID> --version <N> --ttl <DURATION>");
    ck_assert_int_eq(cli_noserver("invoke", "-h", NULL), 0);
    OUT_HAS("-f, --func <NAME>");
    OUT_HAS("[default: poll://any@default]");
    ck_assert_int_eq(cli_noserver("schedules", "help", NULL), 0);
    OUT_HAS("Run 'resonate schedules <COMMAND> --help'");
    FILE *f = tmpfile();
    client_print_commands(f);
    char buf[1024];
    slurp(f, buf, sizeof buf);
    ck_assert_ptr_nonnull(strstr(buf, "  promises  Get, create, settle and search promises\n"));
}
END_TEST

/* No byte a terminal acts on in the last run's stdout and stderr: C0
 * controls other than newline, DEL, or C1 controls in UTF-8 (0xC2 0x80-0x9F). */
static void assert_no_terminal_controls(void)
{
    const char *outs[] = {R.out, R.err};
    for (size_t k = 0; k < 2; k++)
        for (const unsigned char *p = (const unsigned char *)outs[k]; *p; p++)
            ck_assert_msg(!((*p < 0x20 && *p != '\n') || *p == 0x7f ||
                            (p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0)),
                          "byte 0x%02x at %zu of:\n%s", *p,
                          (size_t)(p - (const unsigned char *)outs[k]), outs[k]);
}

START_TEST(stored_terminal_controls_are_shown_escaped_never_sent_to_the_terminal)
{
    /* Another client (a tenant) stores ESC sequences (OSC 52 writes the
     * clipboard, OSC 0 the title), a newline (a fake line) and a C1 CSI. */
    const char *id = "p\x1b]52;c;eA==\x07\nFAKE\r";
    ck_assert_int_eq(cli("promises", "create", "root", "--timeout", "1h", "--tags",
                         "{\"resonate:origin\":\"root\"}", NULL),
                     0);
    const char *kid = "root.\x1b[2J\n";
    ck_assert_int_eq(cli("promises", "create", kid, "--timeout", "1h", "--tags",
                         "{\"k\\u001b[1m\":\"v\\u009b2J\",\"resonate:origin\":\"root\","
                         "\"resonate:parent\":\"root\",\"resonate:scope\":\"global\"}",
                         "--param", "{\"data\":{\"func\":\"f\\u001b]0;T\\u0007\"}}", NULL),
                     0);
    assert_no_terminal_controls();
    OUT_HAS("id        root.\\x1b[2J\\x0a\n");
    OUT_HAS("k\\x1b[1m=v\\u009b2J\n");
    ck_assert_int_eq(cli("promises", "create", id, "--timeout", "1h", "--param",
                         "{\"data\":\"text then a C1 CSI \\u009b2J\"}", NULL),
                     0);
    assert_no_terminal_controls();
    OUT_HAS("id        p\\x1b]52;c;eA==\\x07\\x0aFAKE\\x0d\n");
    OUT_HAS("param     <"); /* not text a terminal can show as is */
    ck_assert_int_eq(cli("promises", "get", kid, NULL), 0);
    assert_no_terminal_controls();
    ck_assert_int_eq(cli("promises", "search", NULL), 0);
    assert_no_terminal_controls();
    OUT_HAS("root.\\x1b[2J\\x0a");
    ck_assert_int_eq(cli("tree", "root", NULL), 0);
    assert_no_terminal_controls();
    OUT_HAS("└── root.\\x1b[2J\\x0a 🟡 (rpc f\\x1b]0;T\\x07)\n");
    /* --json stays JSON: its escapes are JSON's own. */
    ck_assert_int_eq(cli("promises", "get", kid, "--json", NULL), 0);
    assert_no_terminal_controls();
    json_t *j = out_json();
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "promise"), "id")), kid);
    json_decref(j);
}
END_TEST

START_TEST(failed_requests_exit_1_with_the_server_message)
{
    ck_assert_int_eq(cli("promises", "get", "missing", NULL), 1);
    ck_assert_str_eq(R.err, "error: not found: Promise not found\n");
    ck_assert_str_eq(R.out, "");
    cli("promises", "create", "w.1", "--timeout", "1h", NULL);
    cli("promises", "create", "w", "--timeout", "1h", NULL);
    ck_assert_int_eq(cli("promises", "register-callback", "w.1", "w", NULL), 1);
    ERR_HAS("error: cannot do that: Awaiter promise has no resonate:target tag\n");
    ck_assert_int_eq(
        cli("tasks", "create", "plain", "--pid", "w", "--ttl", "1m", "--timeout", "1h", NULL), 1);
    ERR_HAS("error: bad request: Action must have a resonate:target tag\n");
    ck_assert_int_eq(
        cli("promises", "create", "bad", "--timeout", "1h", "--target", "ftp://x", NULL), 1);
    ERR_HAS("error: bad request: ");
}
END_TEST

START_TEST(server_from_the_environment_and_transport_errors)
{
    setenv("RESONATE_URL", fixture_url(), 1);
    ck_assert_int_eq(cli_noserver("promises", "create", "e", "--timeout", "1m", NULL), 0);
    OUT_HAS("id        e\n");
    /* A server address with trailing slashes still reaches POST /. */
    char url[128];
    snprintf(url, sizeof url, "%s//", fixture_url());
    ck_assert_int_eq(cli_noserver("promises", "get", "e", "-S", url, NULL), 0);
    /* Something that is not a Resonate server. */
    snprintf(url, sizeof url, "%s/health", fixture_url());
    ck_assert_int_eq(cli_noserver("promises", "get", "e", "--server", url, NULL), 1);
    ERR_HAS("not a Resonate envelope");
    /* Nobody listening. */
    ck_assert_int_eq(cli_noserver("promises", "get", "e", "-S", "http://127.0.0.1:9", NULL), 1);
    ERR_HAS("cannot connect to the server at http://127.0.0.1:9");
    ck_assert_int_eq(cli_noserver("promises", "get", "e", "-T", "a\nb", NULL), 2);
    ERR_HAS("the token contains a control character");
}
END_TEST

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("helpers");
    tcase_add_test(tc, base64_helpers_allocate_nul_terminated_results_and_refuse_invalid_input);
    tcase_add_test(tc, payload_string_data_is_base64_of_the_string_itself);
    tcase_add_test(tc, payload_json_data_is_serialised_compactly_with_sorted_keys_then_encoded);
    tcase_add_test(tc, payload_without_data_is_sent_unchanged);
    tcase_add_test(tc, payload_errors_name_the_flag);
    tcase_add_test(tc, durations_show_the_two_largest_units);
    tcase_add_test(tc, client_commands_and_aliases_are_recognised);
    suite_add_tcase(s, tc);
    TCase *ts = tcase_create("commands");
    tcase_add_checked_fixture(ts, setup_server, teardown_server);
    tcase_set_timeout(ts, 30);
    tcase_add_test(ts, promises_create_sends_timeout_param_and_tags_and_shows_the_promise);
    tcase_add_test(ts, promises_resolve_reject_and_cancel_settle_with_the_value);
    tcase_add_test(ts, promises_search_prints_a_table_and_the_next_page_command);
    tcase_add_test(ts, promises_register_callback_and_listener_send_both_ids);
    tcase_add_test(ts, tasks_lifecycle_create_heartbeat_fence_suspend_claim_complete);
    tcase_add_test(ts, tasks_release_halt_continue_and_search);
    tcase_add_test(ts, schedules_create_get_search_and_delete);
    tcase_add_test(ts, invoke_creates_a_promise_whose_param_is_the_call);
    tcase_add_test(ts, tree_links_the_promises_of_an_origin_by_parent);
    tcase_add_test(ts, usage_errors_exit_2_and_say_how_to_get_help);
    tcase_add_test(ts, help_prints_usage_flags_and_notes_and_exits_0);
    tcase_add_test(ts, stored_terminal_controls_are_shown_escaped_never_sent_to_the_terminal);
    tcase_add_test(ts, failed_requests_exit_1_with_the_server_message);
    tcase_add_test(ts, server_from_the_environment_and_transport_errors);
    suite_add_tcase(s, ts);
    return s;
}

UNIT_SUITE(client_suite)
