/**
 * The console page: real files in `page/` (HTML, CSS, JS, icon) that the
 * formatter and linter see, embedded into the program by text imports, so
 * the page is served from the program itself wherever it runs: from a
 * checkout, from a URL (fetched with the module graph), from a `deno bundle`
 * file (inlined as strings) or a `deno compile` binary (embedded modules).
 *
 * The page is static: no data is ever written into it; the script fills it
 * with `textContent`, and it is served as `/app.js` so the
 * Content-Security-Policy needs no inline script.
 *
 * @module
 */

import PAGE_CSS from "./page/app.css" with { type: "text" };
import FAVICON_SVG from "./page/favicon.svg" with { type: "text" };
import PAGE_HTML from "./page/index.html" with { type: "text" };
import PAGE_JS from "./page/app.js" with { type: "text" };

export { FAVICON_SVG, PAGE_CSS, PAGE_HTML, PAGE_JS };
