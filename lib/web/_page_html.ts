/**
 * The console page's HTML, embedded as a string so the page is served from
 * the program itself (`deno compile` binaries, runs from a URL). Static: no
 * data is ever written into it; the script fills it with `textContent`.
 *
 * @module
 */

/** The single page of the console. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<title>agent-ipc console</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header class="top">
  <div class="top-inner">
    <a class="brand" href="#/live" aria-label="agent-ipc console, live feed">
      <img src="/favicon.svg" alt="" width="22" height="22">
      <span>agent-ipc</span>
    </a>
    <nav class="tabs" aria-label="Views">
      <a href="#/live" data-view="live">Live</a>
      <a href="#/instances" data-view="instances">Instances</a>
      <a href="#/conversation" data-view="conversation">Conversation</a>
      <a href="#/search" data-view="search">Search</a>
    </nav>
    <span id="conn" class="conn" data-state="connecting" role="status">connecting</span>
  </div>
</header>

<main>
  <section id="view-live" class="view" aria-labelledby="live-title">
    <div class="live-grid">
      <div class="live-main">
        <form id="compose" class="card compose" autocomplete="off">
          <div class="compose-head">
            <label for="compose-to">To</label>
            <select id="compose-to" required></select>
            <span class="as">sending as <b>human</b></span>
          </div>
          <textarea id="compose-text" rows="3" maxlength="524288" required
            placeholder="Write to your agents…"></textarea>
          <div class="compose-foot">
            <span id="compose-status" class="hint" role="status">Ctrl+Enter sends</span>
            <button type="submit" id="compose-send" class="primary">Send</button>
          </div>
        </form>
        <h1 id="live-title" class="section-title">Live feed <span class="sub">newest first</span></h1>
        <ol id="feed" class="messages" aria-live="polite"></ol>
        <p id="feed-empty" class="empty" hidden>No messages yet. Send one from an agent, from the command line (<code>agent-ipc send NAME "hello"</code>) or from the box above.</p>
        <button id="feed-more" class="more" type="button" hidden>Older messages</button>
      </div>
      <aside class="live-side" aria-labelledby="side-title">
        <h2 id="side-title" class="section-title">Instances</h2>
        <ul id="side-instances" class="side-list"></ul>
        <p id="side-empty" class="empty small" hidden>No instance has registered yet.</p>
      </aside>
    </div>
  </section>

  <section id="view-instances" class="view" aria-labelledby="inst-title" hidden>
    <h1 id="inst-title" class="section-title">Instances</h1>
    <ul id="instances" class="instance-grid"></ul>
    <p id="instances-empty" class="empty" hidden>No instance has registered yet.</p>
  </section>

  <section id="view-conversation" class="view" aria-labelledby="conv-title" hidden>
    <h1 id="conv-title" class="section-title">Conversation</h1>
    <form id="conv-form" class="card pair" autocomplete="off">
      <select id="conv-a" aria-label="First instance"></select>
      <span class="pair-sep" aria-hidden="true">⇄</span>
      <select id="conv-b" aria-label="Second instance"></select>
    </form>
    <button id="conv-more" class="more" type="button" hidden>Earlier messages</button>
    <ol id="conv" class="chat"></ol>
    <p id="conv-empty" class="empty" hidden>These two have not exchanged messages (in the kept history).</p>
  </section>

  <section id="view-search" class="view" aria-labelledby="search-title" hidden>
    <h1 id="search-title" class="section-title">Search history</h1>
    <form id="search-form" class="card search" role="search" autocomplete="off">
      <div class="search-main">
        <input id="search-q" type="search" placeholder="Words, &quot;a phrase&quot;, prefix*" aria-label="Search text" maxlength="500">
        <button type="submit" class="primary">Search</button>
      </div>
      <div class="filters">
        <label>From <input id="search-from" list="names" placeholder="anyone" maxlength="32"></label>
        <label>To <input id="search-to" list="names" placeholder="anyone" maxlength="32"></label>
        <label>Since <input id="search-since" type="datetime-local"></label>
        <label>Until <input id="search-until" type="datetime-local"></label>
      </div>
    </form>
    <p id="search-summary" class="summary" role="status"></p>
    <ol id="search-results" class="messages"></ol>
    <button id="search-more" class="more" type="button" hidden>More results</button>
  </section>
  <datalist id="names"></datalist>
</main>
<footer class="foot"><span id="foot-info"></span></footer>
</body>
</html>
`;

/** The icon: two speech bubbles, one answering the other. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect x="2" y="4" width="19" height="14" rx="5" fill="#4b49c8"/>
<path d="M7 17v6l5-5z" fill="#4b49c8"/>
<rect x="11" y="12" width="19" height="14" rx="5" fill="#0f9f8c"/>
<path d="M25 25v5l-5-5z" fill="#0f9f8c"/>
<circle cx="16" cy="19" r="1.6" fill="#fff"/><circle cx="20.5" cy="19" r="1.6" fill="#fff"/>
<circle cx="25" cy="19" r="1.6" fill="#fff"/>
</svg>
`;
