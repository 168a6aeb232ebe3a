/* ui.h - the web console's files (issue 13), compiled into the binary.
 *
 * The console is static HTML, CSS and JavaScript kept as source in ui/ and
 * turned into byte arrays at build time by scripts/embed-ui.sh (run by the
 * Makefile): nothing is read from disk or fetched at run time. The console
 * talks to the same POST / API as any client, so authentication, prefix
 * checks and limits apply to it unchanged; server/http.c serves these bytes
 * at GET /ui (the page) and GET /ui/<file>, with the headers of
 * ui_security_headers, when ui.enabled is true.
 *
 * Everything here is immutable after compilation: any thread may call it. */
#ifndef RESONATE_UI_H
#define RESONATE_UI_H

#include <stddef.h>

typedef struct {
    const char *path;         /* "/ui/index.html", "/ui/console.js", ... */
    const char *content_type; /* e.g. "text/javascript; charset=utf-8" */
    const unsigned char *data;
    size_t len;
} ui_asset_t;

/* The asset a GET of url (the path, no query) names: "/ui" and "/ui/" are
 * the page (index.html), "/ui/<file>" that file. NULL for any other url,
 * including "/ui/index.html/x", "/uix" and names not in ui/. */
const ui_asset_t *ui_find(const char *url);

/* One response header of the console. */
typedef struct {
    const char *name, *value;
} ui_header_t;

/* The headers every /ui answer carries (its 404s included), n in *n: a
 * Content-Security-Policy allowing scripts, styles and fetches from the
 * server itself only (no inline script or style, no frames, no forms
 * elsewhere), X-Frame-Options DENY, Referrer-Policy no-referrer,
 * X-Content-Type-Options nosniff, Cache-Control no-cache. */
const ui_header_t *ui_security_headers(size_t *n);

#endif
