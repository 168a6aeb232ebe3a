/* toml.c - fuzz target: the TOML reader (conf/toml.h).
 *
 * Feeds arbitrary bytes to toml_parse as a configuration file (not
 * NUL-terminated, as read from disk), and as a NUL-terminated string to
 * toml_parse_string_array and toml_parse_string (the forms flags and
 * environment variables take). Checks: a failure leaves a NUL-terminated
 * message and an empty document; every accepted entry has a key, a line
 * within the text and a value of its type; and every string or array of
 * strings read survives toml_encode_string_array followed by
 * toml_parse_string_array unchanged. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/toml.h"
#include "fuzz/fuzz.h"

/* items must come back unchanged from encoding and parsing again. */
static void check_roundtrip(char *const *items, size_t n)
{
    char *enc = toml_encode_string_array(items, n);
    if (!enc)
        abort();
    char **back = NULL, err[256];
    size_t nb = 0;
    if (toml_parse_string_array(enc, &back, &nb, err, sizeof err) != 0 || nb != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i], back[i]) != 0)
            abort();
    toml_free_strings(back, nb);
    free(enc);
}

static void check_doc(const toml_doc_t *doc, int lines)
{
    for (size_t i = 0; i < doc->n; i++) {
        const toml_entry_t *e = &doc->v[i];
        if (!e->key || e->line < 1 || e->line > lines)
            abort();
        if (e->type == TOML_STRING) {
            if (!e->str)
                abort();
            check_roundtrip(&e->str, 1);
        } else if (e->type == TOML_ARRAY) {
            if (e->nitems && !e->items)
                abort();
            check_roundtrip(e->items, e->nitems);
        }
        if (!toml_type_name(e->type))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    int lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';

    toml_doc_t doc;
    char err[256];
    memset(err, 'x', sizeof err);
    if (toml_parse((const char *)data, size, "fuzz.toml", &doc, err, sizeof err) == 0) {
        check_doc(&doc, lines);
        toml_free(&doc);
    } else if (!memchr(err, '\0', sizeof err) || doc.n || doc.v) {
        abort();
    }

    char *s = fuzz_cstr(data, size);
    char **items = NULL;
    size_t n = 0;
    if (toml_parse_string_array(s, &items, &n, err, sizeof err) == 0) {
        check_roundtrip(items, n);
        toml_free_strings(items, n);
    }
    char *str = toml_parse_string(s, err, sizeof err);
    if (str) {
        check_roundtrip(&str, 1);
        free(str);
    }
    free(s);
    return 0;
}
