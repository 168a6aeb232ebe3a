/* toml.h - a reader for the subset of TOML that resonate.toml uses.
 *
 * Supported: comments, [tables] and [nested.tables], bare/quoted/dotted
 * keys, inline tables, basic strings with every TOML escape, literal
 * strings, integers (decimal with _ separators, 0x/0o/0b), booleans, and
 * arrays of strings (several lines, trailing comma, comments). Anything
 * else (floats, dates, multi-line strings, arrays of tables, arrays of
 * other types) is refused with a message saying so, rather than being
 * misread. The document is flattened: every value is one entry under its
 * full dotted key ("transports.http_poll.enabled") with the line it was
 * written on, which is all the configuration loader needs. */
#ifndef RESONATE_TOML_H
#define RESONATE_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { TOML_STRING, TOML_INT, TOML_BOOL, TOML_ARRAY } toml_type_t;

typedef struct {
    char *key; /* full dotted key; owned by the document */
    int line;  /* 1-based line of the key */
    toml_type_t type;
    char *str;     /* TOML_STRING (owned) */
    int64_t i;     /* TOML_INT */
    bool b;        /* TOML_BOOL */
    char **items;  /* TOML_ARRAY: strings (owned) */
    size_t nitems; /* TOML_ARRAY */
} toml_entry_t;

typedef struct {
    toml_entry_t *v; /* in document order; owned */
    size_t n, cap;
} toml_doc_t;

/* Parses text (len bytes, NUL bytes refused). name prefixes error messages,
 * which read "<name>:<line>: <what is wrong>". Returns 0 and fills doc
 * (free with toml_free), or -1 with the message in err and doc empty. */
int toml_parse(const char *text, size_t len, const char *name, toml_doc_t *doc, char *err,
               size_t errlen);

/* Frees everything doc owns and empties it. */
void toml_free(toml_doc_t *doc);

/* A name for a value type, for messages ("a string", "an integer", ...). */
const char *toml_type_name(toml_type_t t);

/* Parses one TOML array of strings written on its own, e.g.
 * `["https://a", 'https://b']`. Returns 0 with a malloc'd vector of n
 * malloc'd strings in *items (free with toml_free_strings), or -1 with the
 * reason in err. */
int toml_parse_string_array(const char *text, char ***items, size_t *n, char *err, size_t errlen);

/* Parses one TOML string literal ("..." or '...') written on its own.
 * Returns a malloc'd string, or NULL with the reason in err. */
char *toml_parse_string(const char *text, char *err, size_t errlen);

/* Writes items as a TOML array of basic strings into a malloc'd string. */
char *toml_encode_string_array(char *const *items, size_t n);

void toml_free_strings(char **items, size_t n);

#endif
