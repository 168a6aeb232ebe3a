/* revoke.c - the revocation list (auth.revoked): parsing and matching.
 *
 * The file is one entry a line; blank lines and lines whose first non-blank
 * character is `#` are ignored, and `#` after a blank starts a trailing
 * comment. Fields are separated by spaces or tabs:
 *
 *     jti ID                          the token whose jti claim is ID
 *     sub SUBJECT                     every token whose sub claim is SUBJECT
 *     sub SUBJECT before SECONDS      those of them issued before SECONDS
 *                                     (iat < SECONDS; a token without a
 *                                     numeric iat is revoked too)
 *
 * Any other line stops the parse with its line number: a list that is half
 * understood would let tokens through that the operator meant to stop. The
 * parsed list is immutable (sorted arrays, binary search) and shared by
 * reference between verifications and the reload that replaces it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/internal.h"

#define MAX_FILE (64 << 20)
#define MAX_LINE 8192
#define MAX_ENTRIES (1 << 20)
#define MAX_FIELD 1024
#define MAX_SECONDS 253402300799LL /* 9999-12-31T23:59:59Z */

typedef struct {
    char *sub;
    int64_t before; /* INT64_MAX: every token of sub */
} sub_rule_t;

struct auth_revoked {
    atomic_uint refs;
    char **jti; /* sorted, unique */
    size_t n_jti;
    sub_rule_t *subs; /* sorted by sub, unique (the widest rule kept) */
    size_t n_subs;
};

auth_revoked_t *auth_revoked_retain(auth_revoked_t *rl)
{
    if (rl)
        atomic_fetch_add(&rl->refs, 1);
    return rl;
}

void auth_revoked_release(auth_revoked_t *rl)
{
    if (!rl || atomic_fetch_sub(&rl->refs, 1) != 1)
        return;
    for (size_t i = 0; i < rl->n_jti; i++)
        free(rl->jti[i]);
    for (size_t i = 0; i < rl->n_subs; i++)
        free(rl->subs[i].sub);
    free(rl->jti);
    free(rl->subs);
    free(rl);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_sub(const void *a, const void *b)
{
    return strcmp(((const sub_rule_t *)a)->sub, ((const sub_rule_t *)b)->sub);
}

/* Splits line (NUL-terminated, modified) into at most max fields; a `#`
 * at the start of a field ends the line. Returns the count, or max + 1
 * when there are more. */
static size_t split(char *line, char **f, size_t max)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            return n;
        if (n == max)
            return max + 1;
        f[n++] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (*p)
            *p++ = '\0';
    }
}

static int parse_seconds(const char *s, int64_t *out)
{
    int64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
        if (v > MAX_SECONDS)
            return -1;
    }
    *out = v;
    return 0;
}

/* Growable arrays while parsing. */
typedef struct {
    char **jti;
    size_t n_jti, cap_jti;
    sub_rule_t *subs;
    size_t n_subs, cap_subs;
} build_t;

static int add_jti(build_t *b, const char *id)
{
    if (b->n_jti == b->cap_jti) {
        size_t cap = b->cap_jti ? 2 * b->cap_jti : 16;
        char **nj = realloc(b->jti, cap * sizeof *nj);
        if (!nj)
            return -1;
        b->jti = nj;
        b->cap_jti = cap;
    }
    if (!(b->jti[b->n_jti] = strdup(id)))
        return -1;
    b->n_jti++;
    return 0;
}

static int add_sub(build_t *b, const char *sub, int64_t before)
{
    if (b->n_subs == b->cap_subs) {
        size_t cap = b->cap_subs ? 2 * b->cap_subs : 16;
        sub_rule_t *ns = realloc(b->subs, cap * sizeof *ns);
        if (!ns)
            return -1;
        b->subs = ns;
        b->cap_subs = cap;
    }
    if (!(b->subs[b->n_subs].sub = strdup(sub)))
        return -1;
    b->subs[b->n_subs++].before = before;
    return 0;
}

/* Sorts both arrays and folds duplicates (for a subject, the rule that
 * revokes more wins: no `before`, else the latest time). */
static void finish(build_t *b)
{
    if (b->n_jti)
        qsort(b->jti, b->n_jti, sizeof *b->jti, cmp_str);
    size_t o = 0;
    for (size_t i = 0; i < b->n_jti; i++) {
        if (o && strcmp(b->jti[o - 1], b->jti[i]) == 0) {
            free(b->jti[i]);
            continue;
        }
        b->jti[o++] = b->jti[i];
    }
    b->n_jti = o;
    if (b->n_subs)
        qsort(b->subs, b->n_subs, sizeof *b->subs, cmp_sub);
    o = 0;
    for (size_t i = 0; i < b->n_subs; i++) {
        if (o && strcmp(b->subs[o - 1].sub, b->subs[i].sub) == 0) {
            if (b->subs[i].before > b->subs[o - 1].before)
                b->subs[o - 1].before = b->subs[i].before;
            free(b->subs[i].sub);
            continue;
        }
        b->subs[o++] = b->subs[i];
    }
    b->n_subs = o;
}

static const char SYNTAX[] =
    "expected `jti ID`, `sub SUBJECT` or `sub SUBJECT before UNIX-SECONDS`";

int auth_revoked_parse(const char *text, size_t len, const char *name, auth_revoked_t **out,
                       char *err, size_t errlen)
{
    build_t b = {0};
    char line[MAX_LINE + 1];
    size_t lineno = 0;
    int rc = -1;
    *out = NULL;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - pos;
        lineno++;
        if (n && text[end - 1] == '\r')
            n--;
        if (n > MAX_LINE) {
            auth_errf(err, errlen, "%s line %zu: longer than %d bytes", name, lineno, MAX_LINE);
            goto fail;
        }
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos = end + 1;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)line[i];
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
                auth_errf(err, errlen, "%s line %zu: control character 0x%02x at column %zu", name,
                          lineno, ch, i + 1);
                goto fail;
            }
        }
        char *f[4];
        size_t nf = split(line, f, 4);
        if (nf == 0)
            continue;
        for (size_t i = 0; i < nf && i < 4; i++)
            if (strlen(f[i]) > MAX_FIELD) {
                auth_errf(err, errlen, "%s line %zu: field %zu is longer than %d bytes", name,
                          lineno, i + 1, MAX_FIELD);
                goto fail;
            }
        if (b.n_jti + b.n_subs >= MAX_ENTRIES) {
            auth_errf(err, errlen,
                      "%s line %zu: more than %d entries (revoke by `sub SUBJECT before "
                      "UNIX-SECONDS` instead of one `jti` per token)",
                      name, lineno, MAX_ENTRIES);
            goto fail;
        }
        int64_t before = INT64_MAX;
        if (nf == 2 && strcmp(f[0], "jti") == 0) {
            if (add_jti(&b, f[1]) != 0)
                goto oom;
        } else if (strcmp(f[0], "sub") == 0 && (nf == 2 || nf == 4)) {
            if (nf == 4 && (strcmp(f[2], "before") != 0 || parse_seconds(f[3], &before) != 0)) {
                auth_errf(err, errlen,
                          "%s line %zu: `%.40s %.40s` is not `before UNIX-SECONDS` (a whole "
                          "number of seconds since 1970, at most %lld)",
                          name, lineno, f[2], f[3], (long long)MAX_SECONDS);
                goto fail;
            }
            if (add_sub(&b, f[1], before) != 0)
                goto oom;
        } else {
            auth_errf(err, errlen, "%s line %zu: %s entry starting with `%.40s` (%s)", name, lineno,
                      nf > 4 ? "too many fields in the" : "not an", f[0], SYNTAX);
            goto fail;
        }
    }
    finish(&b);
    auth_revoked_t *rl = calloc(1, sizeof *rl);
    if (!rl)
        goto oom;
    atomic_init(&rl->refs, 1);
    rl->jti = b.jti;
    rl->n_jti = b.n_jti;
    rl->subs = b.subs;
    rl->n_subs = b.n_subs;
    *out = rl;
    return 0;
oom:
    auth_errf(err, errlen, "out of memory");
fail:
    for (size_t i = 0; i < b.n_jti; i++)
        free(b.jti[i]);
    for (size_t i = 0; i < b.n_subs; i++)
        free(b.subs[i].sub);
    free(b.jti);
    free(b.subs);
    return rc;
}

int auth_revoked_load(const char *path, auth_revoked_t **out, char *err, size_t errlen)
{
    char name[300];
    snprintf(name, sizeof name, "revocation file '%.280s'", path);
    *out = NULL;
    /* O_NONBLOCK: a FIFO put in its place must not hang the reload (and
     * with it the signal loop); fstat then refuses it. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        auth_errf(err, errlen, "cannot read %s: %s", name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct stat st;
    char *buf = NULL;
    int rc = -1;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        auth_errf(err, errlen,
                  "%s is a directory, not a file: set auth.revoked to the list file itself (one "
                  "'jti ID' or 'sub SUBJECT' a line)",
                  name);
        goto done;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE) {
        auth_errf(err, errlen, "%s is not a regular file of at most %d MiB", name, MAX_FILE >> 20);
        goto done;
    }
    if (!(buf = malloc((size_t)st.st_size + 1))) {
        auth_errf(err, errlen, "out of memory");
        goto done;
    }
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        auth_errf(err, errlen, "cannot read %s", name);
        goto done;
    }
    rc = auth_revoked_parse(buf, n, name, out, err, errlen);
done:
    free(buf);
    fclose(f);
    return rc;
}

int auth_revocable_id(const char *what, const char *id, char *err, size_t errlen)
{
    size_t n = strlen(id);
    const char *why = NULL;
    if (n > MAX_FIELD)
        why = "is longer than the 1024 bytes a revocation entry takes";
    else if (id[0] == '#')
        why = "starts with '#', which a revocation file reads as a comment";
    for (size_t i = 0; !why && i < n; i++) {
        unsigned char ch = (unsigned char)id[i];
        if (ch == ' ' || ch == '\t')
            why = "contains a blank, which separates the fields of a revocation entry";
        else if (ch < 0x20 || ch == 0x7f)
            why = "contains a control character, which a revocation file refuses";
    }
    if (!why)
        return 0;
    auth_errf(err, errlen, "%s %s, so no revocation entry could name it; choose another", what,
              why);
    return -1;
}

bool auth_revoked_match(const auth_revoked_t *rl, const char *jti, const char *sub, bool has_iat,
                        int64_t iat)
{
    if (!rl)
        return false;
    if (jti && rl->n_jti && bsearch(&jti, rl->jti, rl->n_jti, sizeof *rl->jti, cmp_str))
        return true;
    if (!sub || !rl->n_subs)
        return false;
    sub_rule_t key = {.sub = (char *)sub};
    const sub_rule_t *r = bsearch(&key, rl->subs, rl->n_subs, sizeof *rl->subs, cmp_sub);
    if (!r)
        return false;
    return r->before == INT64_MAX || !has_iat || iat < r->before;
}

void auth_revoked_counts(const auth_revoked_t *rl, size_t *n_jti, size_t *n_sub)
{
    *n_jti = rl ? rl->n_jti : 0;
    *n_sub = rl ? rl->n_subs : 0;
}
