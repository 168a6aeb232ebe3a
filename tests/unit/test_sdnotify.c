/* test_sdnotify.c - readiness datagrams to $NOTIFY_SOCKET. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf/sdnotify.h"
#include "tests/unit/unit.h"

/* A bound datagram socket at path ('@' = abstract); returns its fd. */
static int listen_dgram(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    ck_assert_int_eq(
        bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)),
        0);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void receive(int fd, char *buf, size_t len)
{
    ssize_t n = recv(fd, buf, len - 1, 0);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
}

START_TEST(state_arrives_as_one_datagram)
{
    char dir[] = "/tmp/resonate-notify-XXXXXX", path[PATH_MAX], buf[256], err[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/notify", dir);
    int fd = listen_dgram(path);
    ck_assert_int_eq(sdnotify_send_to(path, "READY=1\nSTATUS=Serving", err, sizeof err), 1);
    receive(fd, buf, sizeof buf);
    ck_assert_str_eq(buf, "READY=1\nSTATUS=Serving");
    close(fd);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(abstract_socket_names_start_with_at)
{
    char path[64], buf[64], err[256];
    snprintf(path, sizeof path, "@resonate-test-%d", (int)getpid());
    int fd = listen_dgram(path);
    ck_assert_int_eq(sdnotify_send_to(path, "STOPPING=1", err, sizeof err), 1);
    receive(fd, buf, sizeof buf);
    ck_assert_str_eq(buf, "STOPPING=1");
    close(fd);
}
END_TEST

START_TEST(environment_variable_selects_the_socket)
{
    char err[256], buf[64];
    unsetenv("NOTIFY_SOCKET");
    ck_assert_int_eq(sdnotify_send("READY=1", err, sizeof err), 0);
    char path[64];
    snprintf(path, sizeof path, "@resonate-env-%d", (int)getpid());
    int fd = listen_dgram(path);
    setenv("NOTIFY_SOCKET", path, 1);
    ck_assert_int_eq(sdnotify_send("READY=1", err, sizeof err), 1);
    receive(fd, buf, sizeof buf);
    ck_assert_str_eq(buf, "READY=1");
    unsetenv("NOTIFY_SOCKET");
    close(fd);
}
END_TEST

START_TEST(bad_socket_paths_are_reported)
{
    char err[256];
    ck_assert_int_eq(sdnotify_send_to("relative/path", "READY=1", err, sizeof err), -1);
    ck_assert_str_eq(err, "NOTIFY_SOCKET 'relative/path' is not a socket path");
    ck_assert_int_eq(sdnotify_send_to("/nonexistent/socket", "READY=1", err, sizeof err), -1);
    ck_assert_str_eq(err, "NOTIFY_SOCKET /nonexistent/socket: No such file or directory");
    ck_assert_int_eq(sdnotify_send_to(NULL, "READY=1", err, sizeof err), 0);
}
END_TEST

static Suite *sdnotify_suite(void)
{
    Suite *s = suite_create("sdnotify");
    TCase *tc = tcase_create("notify");
    tcase_add_test(tc, state_arrives_as_one_datagram);
    tcase_add_test(tc, abstract_socket_names_start_with_at);
    tcase_add_test(tc, environment_variable_selects_the_socket);
    tcase_add_test(tc, bad_socket_paths_are_reported);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_SUITE(sdnotify_suite)
