/* ui.c - the web console's files and headers; see ui.h.
 *
 * ui_assets.inc is generated into $(BUILD)/gen by scripts/embed-ui.sh from
 * the files of ui/ (the Makefile makes every flavour's ui.o depend on it):
 * byte arrays and ui_assets_table[], in the order the files were listed. */
#include "server/ui.h"

#include <string.h>

#include "ui_assets.inc"

#define N_ASSETS (sizeof ui_assets_table / sizeof *ui_assets_table)

const ui_asset_t *ui_find(const char *url)
{
    if (!url)
        return NULL;
    if (strcmp(url, "/ui") == 0 || strcmp(url, "/ui/") == 0)
        url = "/ui/index.html";
    for (size_t i = 0; i < N_ASSETS; i++)
        if (strcmp(url, ui_assets_table[i].path) == 0)
            return &ui_assets_table[i];
    return NULL;
}

/* 'self' only: the page loads /ui/console.css and /ui/console.js and calls
 * POST / on its own origin; nothing inline, no images (every store value is
 * text), no plugins, no frames in or out. */
static const ui_header_t headers[] = {
    {"Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
     "img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Content-Type-Options", "nosniff"},
    {"Cache-Control", "no-cache"},
};

const ui_header_t *ui_security_headers(size_t *n)
{
    *n = sizeof headers / sizeof *headers;
    return headers;
}
