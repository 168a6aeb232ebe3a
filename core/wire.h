/* wire.h - JSON on the wire: request envelopes in, response envelopes out.
 *
 * This is the edge where external input is parsed, once, into the typed
 * structs of core/types.h, applying every decoding and validation rule of the
 * protocol (shape, types, field rules, reserved tags, addresses). After
 * wire_decode_request succeeds nothing downstream looks at raw JSON.
 * Error texts follow the reference server (docs/compatibility.md lists where
 * they cannot match byte for byte). */
#ifndef RESONATE_WIRE_H
#define RESONATE_WIRE_H

#include <jansson.h>

#include "core/arena.h"
#include "core/types.h"

/* A response before serialisation: data is an object/array on success, a
 * JSON string (the message) on failure. The commonest answer,
 * {"promise": record}, is handed back typed instead (promise set, data
 * NULL), so no JSON tree is built on the store thread and freed on an HTTP
 * thread: the encoder writes it straight from the record. */
typedef struct {
    int status;
    json_t *data;             /* owned; NULL until set */
    const promise_t *promise; /* borrowed: lives in the request's arena */
} response_t;

/* Sets r to status with data (reference stolen); frees any previous data. */
void response_set(response_t *r, int status, json_t *data);

/* Sets r to status with data {"promise": *p}. p and its strings are
 * borrowed and must stay unchanged until r is encoded or cleared (the
 * engine allocates them in the request's arena, which the connection keeps
 * until its answer is written). */
void response_promise(response_t *r, int status, const promise_t *p);

/* r's data as a JSON tree (built from the typed record when there is one,
 * and kept in r->data); NULL when r has none. For tests and tools: the
 * server encodes with wire_encode_response. */
json_t *response_json(response_t *r);

/* Sets r to an error: status and a printf-formatted message. */
void response_error(response_t *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Frees r->data. */
void response_clear(response_t *r);

/* The envelope of a request: what is known before the operation's data is
 * decoded. kind and corr_id are always set, to "unknown"/"0" when the body
 * did not provide them, so an error response can echo them. */
typedef struct {
    const char *kind;
    const char *corr_id;
    const char *token; /* head.auth, NULL when absent or null */
    bool has_debug_time;
    int64_t debug_time;
    json_t *data; /* in the request document: read-only, lives as long as the arena */
} envelope_t;

/* Largest request body accepted, in bytes (the reference's 2 MiB). */
#define WIRE_MAX_BODY (2u * 1024u * 1024u)

/* json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, je): the same
 * tree (members in the same order) or the same error, faster on the plain
 * ASCII JSON that requests are (a one-pass scanner; jansson parses what it
 * does not handle). je is written only on failure. The caller owns the
 * result (json_decref). */
json_t *wire_json_load(const char *text, size_t len, json_error_t *je);

/* A request document: wire_json_load with every node, string and table of
 * the tree allocated from the arena a, so parsing calls no malloc (but for
 * a piece larger than an arena block) and freeing calls no free. How:
 * jansson's allocation functions are this module's, installed before main
 * (a constructor) in every binary that links it; they are malloc and free
 * but on a thread inside wire_json_load_arena, where they allocate from a
 * and free nothing (but a's own large pieces that jansson outgrew while
 * parsing, arena_release). Nothing else runs in that window.
 *
 * The contract of the result (NULL on failure, as wire_json_load):
 *   - it lives exactly as long as a: arena_free(a) releases it, with no
 *     json_decref, and no pointer into it may outlive a;
 *   - it is read-only: no json_decref or json_incref of it or of any node
 *     in it (a decref would free() arena memory; an incref would keep a
 *     node beyond a), no json_object_set*, json_object_del, json_array_*
 *     change (a table grown outside the window would free() arena memory,
 *     a value added would leak); copy what must change or live longer
 *     (json_deep_copy, outside the window, copies to the heap);
 *   - reading it (json_object_get, json_object_foreach, json_*_value,
 *     json_dumps, whose result is malloc'd as usual) is safe on any thread
 *     that may use a. */
json_t *wire_json_load_arena(arena_t *a, const char *text, size_t len, json_error_t *je);

/* Parses body into env (envelope steps 1-4: JSON, kind, data object,
 * version). Returns 0, or -1 with err set to the 400 to send. The request
 * document (wire_json_load_arena) and every string of env live in a;
 * body is not kept. */
int wire_decode_envelope(arena_t *a, const char *body, size_t len, envelope_t *env,
                         response_t *err);

/* Decodes and validates env->data for the operation named by env->kind into
 * out. Unknown kinds are 400, debug kinds without debug mode 403. Returns 0,
 * or -1 with err set. */
int wire_decode_request(arena_t *a, const envelope_t *env, bool debug_enabled, request_t *out,
                        response_t *err);

/* Authorizes a request that is decoded only structurally: every id field of
 * req is set (request_resource_ids applies) and no semantic rule has run.
 * Returns true to go on; false with err set (a 403) to refuse. May set
 * req->scope. */
typedef bool (*wire_authz_fn)(void *udata, request_t *req, response_t *err);

/* As wire_decode_request, calling authz (when not NULL) exactly once per
 * request between structural decoding and the semantic rules
 * (operations.md 3.5): a refused request gets authz's answer whatever else
 * is wrong with it, so a prefixed token learns nothing from validation
 * texts about ids outside its prefix. Unknown and debug kinds are passed
 * to authz before being reported unknown or disabled. */
int wire_decode_request_authz(arena_t *a, const envelope_t *env, bool debug_enabled,
                              wire_authz_fn authz, void *udata, request_t *out, response_t *err);

/* Records as the reference emits them (keys sorted at serialisation). */
json_t *wire_promise(const promise_t *p);
json_t *wire_task(const task_t *t);
json_t *wire_schedule(const schedule_t *s);
json_t *wire_pvalue(const pvalue_t *v);
json_t *wire_kvmap(const kvmap_t *m);

/* An upper bound of the size of wire_promise(p) encoded compactly, computed
 * in one cheap pass over its strings without building it (for budgets such
 * as the preload's): every byte that JSON escapes is counted as 6. */
size_t wire_promise_size(const promise_t *p);

/* Serialises a response envelope: {kind, head:{corrId,status,version}, data}
 * with every object inside data key-sorted. Returns a malloc'd string (caller
 * frees) and its length in *len. */
char *wire_encode_envelope(const char *kind, const char *corr_id, int status, const json_t *data,
                           size_t *len);

/* wire_encode_envelope of r's status and data, typed record included. */
char *wire_encode_response(const char *kind, const char *corr_id, const response_t *r, size_t *len);

/* Writes the n bytes at s as a JSON string literal at out, escaped as
 * jansson's compact output is: '"', '\\' and control characters (\u00XX in
 * upper case where there is no short form), everything else verbatim.
 * Returns the bytes written; the caller reserved 6 * n + 2. */
size_t wire_put_string(char *out, const char *s, size_t n);

/* Bytes of the terminal control character at s[i] (i < n): 1 for a C0
 * control or DEL, 2 for a C1 control in UTF-8 (U+0080-U+009F: 0xC2 then
 * 0x80-0x9F; U+009B acts as CSI in some terminals), 0 for anything else.
 * What the CLI and the log escape of the text clients stored. */
size_t wire_control_len(const char *s, size_t n, size_t i);

/* Serialises a JSON value compactly with sorted keys; malloc'd, caller frees. */
char *wire_dump(const json_t *v);

#endif
