// The console page's script, served as /app.js (so the Content-Security-Policy
// needs no inline script). Every piece of stored text reaches the page through
// textContent or text nodes, never as HTML.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const HUMAN = "human";
  const state = {
    csrf: "",
    instances: [],
    seenNames: new Set([HUMAN]),
    feedLoaded: false,
    feedOldest: null,
    conv: { a: "", b: "", oldest: null, loaded: false },
    search: { params: null, oldest: null, terms: [], count: 0 },
    events: null,
    wasDown: false,
    /** Receipt changes seen live, by message id (ticks of cards drawn later). */
    receipts: new Map(),
    /** The message the compose form answers, when replying. */
    replyTo: null,
  };

  // --- small helpers ---------------------------------------------------
  // Another agent's words as a person should see them, as the CLI shows them
  // (lib/protocol/peer_text.ts): every Unicode line break a line break;
  // control characters, bidi controls and lone surrogates as escapes, so a
  // message cannot hide text or reorder what is read.
  const BREAKS = /\r\n|[\r\v\f\u0085\u2028\u2029]/g;
  const UNSAFE =
    // deno-lint-ignore no-control-regex
    /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
  function peerText(text) {
    return String(text).replace(BREAKS, "\n").replace(UNSAFE, (c) => {
      const n = c.charCodeAt(0);
      return n < 0x100
        ? "\\x" + n.toString(16).padStart(2, "0")
        : "\\u" + n.toString(16).padStart(4, "0");
    });
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function hue(name) {
    let h = 7;
    for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return "hue-" + (h % 8);
  }
  function initial(name) {
    const m = /[A-Za-z0-9]/.exec(name);
    return m ? m[0] : "?";
  }
  const timeFmt = new Intl.DateTimeFormat(undefined, {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
  const shortFmt = new Intl.DateTimeFormat(undefined, {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
  const dayFmt = new Intl.DateTimeFormat(undefined, {
    weekday: "long",
    month: "long",
    day: "numeric",
    year: "numeric",
  });
  const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });
  function sameDay(a, b) {
    const x = new Date(a), y = new Date(b);
    return x.getFullYear() === y.getFullYear() && x.getMonth() === y.getMonth() &&
      x.getDate() === y.getDate();
  }
  function when(t) {
    return sameDay(t, Date.now()) ? timeFmt.format(t) : shortFmt.format(t);
  }
  function ago(t) {
    const s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 45) return "just now";
    const m = Math.round(s / 60);
    if (m < 60) return m + " min ago";
    const h = Math.round(m / 60);
    if (h < 36) return h + " h ago";
    return Math.round(h / 24) + " days ago";
  }
  function timeEl(t) {
    const e = el("time", "when", when(t));
    e.dateTime = new Date(t).toISOString();
    e.title = fullFmt.format(t);
    return e;
  }
  function size(n) {
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KB";
    return (n / 1048576).toFixed(1) + " MB";
  }

  // --- API ----------------------------------------------------------------
  async function api(path, init) {
    const res = await fetch(
      path,
      Object.assign({ credentials: "same-origin", cache: "no-store" }, init || {}),
    );
    let body = null;
    try {
      body = await res.json();
    } catch (_) { /* not JSON */ }
    if (res.status === 401) loggedOut();
    if (!res.ok) {
      throw new Error(
        body && body.error ? body.error.message : "Request failed (HTTP " + res.status + ")",
      );
    }
    return body;
  }
  function query(params) {
    const q = new URLSearchParams();
    for (const k of Object.keys(params)) {
      const v = params[k];
      if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
    }
    return q.toString();
  }
  function loggedOut() {
    const c = $("conn");
    c.dataset.state = "down";
    c.textContent = "logged out: run agent-ipc web";
    if (state.events) state.events.close();
  }

  // --- messages -----------------------------------------------------------
  function nameButton(name, onClick) {
    const b = el("button", "name " + hue(name), name);
    b.type = "button";
    b.title = "Open the conversation";
    b.addEventListener("click", onClick);
    return b;
  }
  function fillText(node, raw, terms) {
    const text = peerText(raw);
    if (!terms || terms.length === 0) {
      node.textContent = text;
      return;
    }
    const escaped = terms.map((t) => t.replace(/[.*+?^$(){}|[\]\\]/g, "\\$&"));
    const re = new RegExp("(" + escaped.join("|") + ")", "gi");
    let at = 0;
    for (const m of text.matchAll(re)) {
      if (m.index > at) node.append(document.createTextNode(text.slice(at, m.index)));
      node.append(el("mark", "", m[0]));
      at = m.index + m[0].length;
    }
    if (at < text.length) node.append(document.createTextNode(text.slice(at)));
  }
  function extras(m) {
    const box = el("div", "extra");
    if (m.large) {
      const a = el("a", "large-link", "Full message (" + size(m.large.size) + ")");
      a.href = "/api/messages/" + encodeURIComponent(m.id) + "/content";
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      box.append(a);
    }
    if (m.data && typeof m.data === "object") {
      const d = el("details", "data");
      d.append(el("summary", "", "data"), el("pre", "", JSON.stringify(m.data, null, 2)));
      box.append(d);
    }
    return box.childElementCount ? box : null;
  }
  // --- conversations: short ids, urgency, replies, receipts (ticks) ---------
  function receiptState(m) {
    if (m.replied_at) return "replied";
    if (m.read_at) return "read";
    if (m.delivered_at) return "delivered";
    return "queued";
  }
  const TICKS = { queued: "✓", delivered: "✓✓", read: "✓✓", replied: "↩" };
  function ticksEl(m) {
    const span = el("span", "ticks");
    span.dataset.id = m.id;
    fillTicks(span, m);
    return span;
  }
  function fillTicks(span, m) {
    const st = receiptState(m);
    span.dataset.state = st;
    span.textContent = TICKS[st];
    const steps = ["queued " + when(m.time)];
    if (m.delivered_at) steps.push("delivered " + when(m.delivered_at));
    if (m.read_at) steps.push("read " + when(m.read_at));
    if (m.replied_at) steps.push("replied " + when(m.replied_at));
    span.title = steps.join(" · ");
    span.setAttribute("aria-label", st + ": " + steps.join(", "));
  }
  /** Receipt changes from the live feed: every shown copy of the message gets new ticks. */
  function updateReceipt(id, change) {
    const known = state.receipts.get(id) || {};
    Object.assign(known, change);
    state.receipts.set(id, known);
    for (const span of document.querySelectorAll('.ticks[data-id="' + CSS.escape(id) + '"]')) {
      const m = JSON.parse(span.dataset.m || "{}");
      for (const k of Object.keys(change)) if (!m[k]) m[k] = change[k];
      span.dataset.m = JSON.stringify(m);
      fillTicks(span, m);
    }
  }
  function convBits(m, node) {
    const sid = el("span", "short-id", "#" + m.short_id);
    sid.title = m.id;
    node.append(sid);
    if (m.urgent) node.append(el("span", "badge urgent", "URGENT"));
  }
  function replyLine(m) {
    if (!m.reply_to) return null;
    const p = el("p", "reply-to");
    p.append(
      document.createTextNode("↩ re "),
      el("span", "short-id", "#" + m.reply_to_short),
    );
    if (m.quote) p.append(document.createTextNode(" “" + peerText(m.quote) + "”"));
    return p;
  }
  function actions(m) {
    const box = el("div", "msg-actions");
    if (m.to === HUMAN) {
      const r = el("button", "link", "Reply");
      r.type = "button";
      r.addEventListener("click", () => replyTo(m));
      box.append(r);
    }
    if (m.reply_to || m.replied_at || m.thread_id) {
      const t = el("a", "link", "Thread");
      t.href = "#/thread/" + encodeURIComponent(m.id) + "/" + encodeURIComponent(m.from);
      box.append(t);
    }
    return box.childElementCount ? box : null;
  }
  function withTicks(m) {
    const t = ticksEl(m);
    const extra = state.receipts.get(m.id);
    const merged = extra ? Object.assign({}, m, extra) : m;
    t.dataset.m = JSON.stringify({
      time: merged.time,
      delivered_at: merged.delivered_at,
      read_at: merged.read_at,
      replied_at: merged.replied_at,
    });
    fillTicks(t, merged);
    return t;
  }
  function groupKey(m) {
    return m.from + "\u0000" + m.time + "\u0000" + m.content;
  }
  function messageCard(m, terms) {
    const li = el("li", "msg");
    if (m.from === HUMAN) li.classList.add("from-human");
    if (m.from === "system") li.classList.add("from-system");
    if (m.urgent) li.classList.add("urgent");
    li.dataset.key = groupKey(m);
    li.dataset.id = m.id;
    const av = el("span", "avatar " + hue(m.from), initial(m.from));
    av.setAttribute("aria-hidden", "true");
    const head = el("div", "msg-head");
    const to = el("span", "to-list");
    to.append(nameButton(m.to, () => openConversation(m.from, m.to)));
    head.append(
      nameButton(m.from, () => openConversation(m.from, m.to)),
      el("span", "arrow", "→"),
      to,
      timeEl(m.time),
    );
    convBits(m, head);
    head.append(withTicks(m));
    const body = el("p", "body");
    fillText(body, m.content, terms);
    li.append(av, head);
    const re = replyLine(m);
    if (re) li.append(re);
    li.append(body);
    const x = extras(m);
    if (x) li.append(x);
    const acts = actions(m);
    if (acts) li.append(acts);
    return li;
  }
  // A broadcast is one queued copy per recipient: show it once, with every recipient.
  function addRecipient(card, m) {
    const to = card.querySelector(".to-list");
    for (const b of to.children) if (b.textContent === m.to) return;
    to.append(nameButton(m.to, () => openConversation(m.from, m.to)));
  }
  function appendMessages(list, messages, terms) {
    for (const m of messages) {
      noteName(m.from);
      noteName(m.to);
      const last = list.lastElementChild;
      if (last && last.dataset.key === groupKey(m)) addRecipient(last, m);
      else list.append(messageCard(m, terms));
    }
  }
  function prependMessage(list, m) {
    const first = list.firstElementChild;
    if (first && first.dataset.key === groupKey(m)) {
      addRecipient(first, m);
      return;
    }
    const card = messageCard(m);
    card.classList.add("fresh");
    card.addEventListener("animationend", () => card.classList.remove("fresh"), { once: true });
    list.prepend(card);
  }

  // --- live feed ----------------------------------------------------------
  async function loadFeed(more) {
    const params = { limit: 50 };
    if (more && state.feedOldest) params.before = state.feedOldest;
    const r = await api("/api/messages?" + query(params));
    const feed = $("feed");
    if (!more) feed.replaceChildren();
    appendMessages(feed, r.messages);
    if (r.messages.length) state.feedOldest = r.messages[r.messages.length - 1].id;
    $("feed-more").hidden = !r.more;
    $("feed-empty").hidden = feed.childElementCount > 0;
    state.feedLoaded = true;
  }
  function onMessage(m) {
    noteName(m.from);
    noteName(m.to);
    if (m.reply_to) updateReceipt(m.reply_to, { replied_at: m.time });
    if (state.feedLoaded) {
      prependMessage($("feed"), m);
      $("feed-empty").hidden = true;
    }
    const c = state.conv;
    if (c.loaded && ((m.from === c.a && m.to === c.b) || (m.from === c.b && m.to === c.a))) {
      addBubbles([m], false);
      $("conv-empty").hidden = true;
      globalThis.scrollTo({ top: document.body.scrollHeight });
    }
    refreshInstancesSoon();
  }

  // --- instances ------------------------------------------------------------
  let instancesTimer = 0;
  function refreshInstancesSoon() {
    if (instancesTimer) return;
    instancesTimer = setTimeout(() => {
      instancesTimer = 0;
      loadInstances().catch(() => {});
    }, 250);
  }
  async function loadInstances() {
    const r = await api("/api/instances");
    state.instances = r.instances;
    for (const i of r.instances) noteName(i.name);
    renderSide();
    renderInstances();
    renderComposeTargets();
    loadClaims().catch(() => {});
  }
  // --- file claims (read-only) ------------------------------------------------
  async function loadClaims() {
    const r = await api("/api/claims");
    const ul = $("side-claims");
    ul.replaceChildren();
    for (const c of r.claims) {
      const li = el("li");
      const path = el("span", "name", peerText(c.path));
      path.title = peerText(c.root + "/" + c.path + (c.reason ? " — " + c.reason : ""));
      const who = el("span", "badge" + (c.shared ? "" : " busy"), c.holder);
      who.title = (c.shared ? "shared" : "exclusive") + ", until " +
        new Date(c.expires_at).toLocaleTimeString();
      li.append(path, who);
      ul.append(li);
    }
    $("claims-empty").hidden = ul.childElementCount > 0;
  }
  function noteName(name) {
    if (state.seenNames.has(name) || name === "all") return;
    state.seenNames.add(name);
    const o = document.createElement("option");
    o.value = name;
    $("names").append(o);
    if (state.conv.loaded || !$("view-conversation").hidden) renderPairSelects();
  }
  function renderSide() {
    const ul = $("side-instances");
    ul.replaceChildren();
    for (const i of state.instances.filter((i) => i.registered)) {
      const li = el("li");
      const dot = el("span", "dot" + (i.online ? " on" : ""));
      dot.title = i.online ? "online" : "offline, last seen " + ago(i.last_seen);
      const name = nameButton(i.name, () => composeTo(i.name));
      name.title = "Write to " + i.name;
      const q = el("span", "badge" + (i.queued ? " busy" : ""), i.queued);
      q.title = i.queued + " unread" + (i.activity ? "; assistant " + i.activity.state : "");
      li.append(dot, name, q);
      ul.append(li);
    }
    $("side-empty").hidden = ul.childElementCount > 0;
  }
  function renderInstances() {
    const ul = $("instances");
    ul.replaceChildren();
    for (const i of state.instances) {
      const li = el("li", "card instance" + (i.registered ? "" : " gone"));
      const head = el("div", "instance-head");
      const av = el("span", "avatar " + hue(i.name), initial(i.name));
      av.setAttribute("aria-hidden", "true");
      const st = el(
        "span",
        "state" + (i.online ? " on" : ""),
        i.online ? "online" : i.registered ? "offline" : "unregistered",
      );
      const col = el("div");
      col.append(el("span", "instance-title " + hue(i.name), i.name), st);
      head.append(av, col);
      const dl = el("dl");
      const row = (k, v) =>
        dl.append(el("dt", "", k), v instanceof Node ? wrap(v) : el("dd", "", v));
      const wrap = (node) => {
        const dd = el("dd");
        dd.append(node);
        return dd;
      };
      row(
        "Queue",
        i.queued === 0
          ? "empty"
          : i.queued === 1
          ? "1 message waiting"
          : i.queued + " messages waiting",
      );
      if (i.activity) {
        // From its assistant's hooks: in a turn, or waiting for its person (or a wake).
        const a = el("span", "", i.activity.state + ", " + ago(i.activity.since));
        a.title = fullFmt.format(i.activity.since);
        row("Assistant", a);
        row("Attention", i.activity.attention ? "yes (messages shown at its prompts)" : "no");
        row("Wake", i.activity.wake);
        row(
          "Last wake",
          i.activity.last_wake
            ? ago(i.activity.last_wake) +
              (i.activity.last_wake_via ? " (" + i.activity.last_wake_via + ")" : "")
            : "never",
        );
      }
      const seen = el("span", "", ago(i.last_seen));
      seen.title = fullFmt.format(i.last_seen);
      row("Last seen", seen);
      row("First seen", shortFmt.format(i.created_at));
      if (i.host) row("Host", i.host);
      if (i.renamed_from.length) {
        const span = el("span");
        i.renamed_from.forEach((r, n) => {
          if (n) span.append(document.createTextNode(", "));
          const s = el("span", "", r.name);
          s.title = "renamed " + fullFmt.format(r.at);
          span.append(s, document.createTextNode(" (" + ago(r.at) + ")"));
        });
        row("Renamed from", span);
      } else if (i.last_rename_at) {
        row("Renamed", ago(i.last_rename_at));
      }
      const actions = el("div", "actions");
      if (i.registered) {
        const write = el("button", "", "Write");
        write.type = "button";
        write.addEventListener("click", () => composeTo(i.name));
        actions.append(write);
      }
      const talk = el("button", "", "Conversation");
      talk.type = "button";
      talk.addEventListener("click", () => openConversation(i.name, HUMAN));
      actions.append(talk);
      li.append(head, dl, actions);
      ul.append(li);
    }
    $("instances-empty").hidden = ul.childElementCount > 0;
  }

  // --- compose --------------------------------------------------------------
  function renderComposeTargets() {
    const sel = $("compose-to");
    const keep = sel.value;
    sel.replaceChildren();
    const names = state.instances.filter((i) => i.registered).map((i) => i.name);
    for (const n of names) {
      const o = el(
        "option",
        "",
        n + (state.instances.find((i) => i.name === n).online ? "" : "  (offline)"),
      );
      o.value = n;
      sel.append(o);
    }
    const all = el("option", "", "Everyone (all instances)");
    all.value = "all";
    sel.append(all);
    if (keep && [...sel.options].some((o) => o.value === keep)) sel.value = keep;
  }
  function composeTo(name) {
    location.hash = "#/live";
    const sel = $("compose-to");
    if (![...sel.options].some((o) => o.value === name)) {
      const o = el("option", "", name);
      o.value = name;
      sel.prepend(o);
    }
    sel.value = name;
    $("compose-text").focus();
  }
  function replyTo(m) {
    state.replyTo = m;
    location.hash = "#/live";
    const label = $("compose-reply");
    label.hidden = false;
    $("compose-reply-text").textContent = "Replying to #" + m.short_id + " from " + m.from;
    composeTo(m.from);
  }
  function cancelReply() {
    state.replyTo = null;
    $("compose-reply").hidden = true;
  }
  async function send(ev) {
    ev.preventDefault();
    const to = $("compose-to").value;
    const text = $("compose-text");
    const status = $("compose-status");
    const urgent = $("compose-urgent").checked;
    const replying = state.replyTo;
    if (!to || text.value.trim() === "") {
      status.className = "hint error";
      status.textContent = to ? "Write something first" : "Choose a recipient";
      return;
    }
    const button = $("compose-send");
    button.disabled = true;
    try {
      const r = await api("/api/send", {
        method: "POST",
        headers: { "content-type": "application/json", "x-csrf-token": state.csrf },
        body: JSON.stringify(
          replying
            ? { reply_to: replying.id, content: text.value, urgent: urgent }
            : { to: to, content: text.value, urgent: urgent },
        ),
      });
      text.value = "";
      $("compose-urgent").checked = false;
      cancelReply();
      status.className = "hint ok";
      status.textContent = r.message;
    } catch (e) {
      status.className = "hint error";
      status.textContent = e.message;
    } finally {
      button.disabled = false;
    }
  }

  // --- conversation -----------------------------------------------------------
  function renderPairSelects() {
    const names = [...state.seenNames].sort((x, y) => x.localeCompare(y));
    for (const [id, value] of [["conv-a", state.conv.a], ["conv-b", state.conv.b]]) {
      const sel = $(id);
      sel.replaceChildren();
      const none = el("option", "", "choose…");
      none.value = "";
      sel.append(none);
      for (const n of names) {
        const o = el("option", "", n);
        o.value = n;
        sel.append(o);
      }
      if (value && !state.seenNames.has(value)) {
        const o = el("option", "", value);
        o.value = value;
        sel.append(o);
      }
      sel.value = value || "";
    }
  }
  function openConversation(a, b) {
    // The person at the console reads best on the right.
    if (a === HUMAN) [a, b] = [b, a];
    location.hash = "#/conversation/" + encodeURIComponent(a) + "/" + encodeURIComponent(b);
  }
  function addBubbles(messages, atTop) {
    const list = $("conv");
    const frag = document.createDocumentFragment();
    const prev = atTop ? null : list.lastElementChild;
    let prevTime = prev && prev.dataset.time ? Number(prev.dataset.time) : null;
    for (const m of messages) {
      if (prevTime === null || !sameDay(prevTime, m.time)) {
        frag.append(el("li", "day", dayFmt.format(m.time)));
      }
      const li = el("li", "bubble " + hue(m.from) + (m.from === state.conv.b ? " mine" : ""));
      if (m.urgent) li.classList.add("urgent");
      li.dataset.time = String(m.time);
      const body = el("p", "body");
      fillText(body, m.content);
      const meta = el("div", "meta");
      meta.append(
        document.createTextNode(m.from + " · "),
        timeEl(m.time),
        document.createTextNode(" "),
      );
      convBits(m, meta);
      meta.append(withTicks(m));
      const re = replyLine(m);
      if (re) li.append(re);
      li.append(body);
      const x = extras(m);
      if (x) li.append(x);
      li.append(meta);
      frag.append(li);
      prevTime = m.time;
    }
    if (atTop) {
      const first = list.firstElementChild;
      // Drop the old first day label when the new part ends on the same day.
      if (
        first && first.classList.contains("day") && messages.length &&
        first.nextElementSibling && sameDay(Number(first.nextElementSibling.dataset.time), prevTime)
      ) first.remove();
      list.prepend(frag);
    } else list.append(frag);
  }
  async function loadConversation(more) {
    const c = state.conv;
    if (!c.a || !c.b) {
      $("conv").replaceChildren();
      $("conv-empty").hidden = true;
      $("conv-more").hidden = true;
      c.loaded = false;
      return;
    }
    const params = { a: c.a, b: c.b, limit: 200 };
    if (more && c.oldest) params.before = c.oldest;
    const r = await api("/api/messages?" + query(params));
    const chrono = r.messages.slice().reverse();
    if (!more) $("conv").replaceChildren();
    addBubbles(chrono, more);
    if (r.messages.length) c.oldest = r.messages[r.messages.length - 1].id;
    $("conv-more").hidden = !r.more;
    $("conv-empty").hidden = $("conv").childElementCount > 0;
    c.loaded = true;
    if (!more) globalThis.scrollTo({ top: document.body.scrollHeight });
  }

  // --- search ---------------------------------------------------------------
  function localTime(id) {
    const v = $(id).value;
    return v ? new Date(v).getTime() : undefined;
  }
  function searchTerms(q) {
    return q.replace(/\b(AND|OR|NOT|NEAR)\b/g, " ").replace(/["*()^:+]/g, " ").split(/\s+/).filter((
      w,
    ) => w.length > 1);
  }
  async function runSearch(more) {
    const s = state.search;
    if (!more) {
      const q = $("search-q").value.trim();
      s.params = {
        q: q,
        from: $("search-from").value.trim(),
        to: $("search-to").value.trim(),
        since: localTime("search-since"),
        until: localTime("search-until"),
        limit: 50,
      };
      s.terms = searchTerms(q);
      s.count = 0;
      s.oldest = null;
    }
    const params = Object.assign({}, s.params);
    if (more && s.oldest) params.before = s.oldest;
    const summary = $("search-summary");
    let r;
    try {
      r = await api("/api/messages?" + query(params));
    } catch (e) {
      summary.textContent = e.message;
      return;
    }
    const list = $("search-results");
    if (!more) list.replaceChildren();
    appendMessages(list, r.messages, s.terms);
    s.count += r.messages.length;
    if (r.messages.length) s.oldest = r.messages[r.messages.length - 1].id;
    $("search-more").hidden = !r.more;
    summary.textContent = s.count === 0
      ? "Nothing found."
      : s.count + (r.more ? "+" : "") + (s.count === 1 ? " message" : " messages") +
        ", newest first";
  }

  // --- views ------------------------------------------------------------------
  function route() {
    const parts = location.hash.replace(/^#\/?/, "").split("/").map((p) => decodeURIComponent(p));
    const view = ["live", "instances", "conversation", "search", "thread"].includes(parts[0])
      ? parts[0]
      : "live";
    for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + view;
    for (const a of document.querySelectorAll(".tabs a")) {
      if (a.dataset.view === view) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    if (view === "conversation") {
      const a = parts[1] || state.conv.a;
      const b = parts[2] || state.conv.b;
      const changed = a !== state.conv.a || b !== state.conv.b || !state.conv.loaded;
      state.conv.a = a || "";
      state.conv.b = b || "";
      renderPairSelects();
      if (changed) {
        state.conv.oldest = null;
        loadConversation(false).catch(showError);
      }
    }
    if (view === "search") $("search-q").focus();
    if (view === "thread" && parts[1] && parts[2]) loadThread(parts[1], parts[2]).catch(showError);
  }
  async function loadThread(id, party) {
    const r = await api("/api/thread?" + query({ id: id, party: party }));
    const list = $("thread");
    list.replaceChildren();
    appendMessages(list, r.messages);
    $("thread-summary").textContent = r.messages.length
      ? "Thread #" + r.messages[0].short_id + ": " + r.messages.length +
        (r.messages.length === 1 ? " message" : " messages") + ", oldest first"
      : "No such thread.";
  }
  function showError(e) {
    const s = $("compose-status");
    s.className = "hint error";
    s.textContent = e.message;
  }

  // --- live events ---------------------------------------------------------------
  function connect() {
    const conn = $("conn");
    const es = new EventSource("/api/events");
    state.events = es;
    es.addEventListener("open", () => {
      conn.dataset.state = "live";
      conn.textContent = "live";
      if (state.wasDown) {
        // Back after a gap (broker restart): fetch what was missed.
        state.wasDown = false;
        loadFeed(false).catch(() => {});
        loadInstances().catch(() => {});
      }
    });
    es.addEventListener("message", (e) => onMessage(JSON.parse(e.data).message));
    es.addEventListener("delivered", (e) => {
      const d = JSON.parse(e.data);
      for (const id of d.ids) updateReceipt(id, { delivered_at: Date.now() });
    });
    es.addEventListener("acked", (e) => {
      const d = JSON.parse(e.data);
      for (const id of d.ids || []) updateReceipt(id, { read_at: Date.now() });
    });
    es.addEventListener("acked", () => refreshInstancesSoon());
    es.addEventListener("instance", () => refreshInstancesSoon());
    es.addEventListener("error", () => {
      state.wasDown = true;
      conn.dataset.state = "connecting";
      conn.textContent = "reconnecting";
      if (es.readyState === EventSource.CLOSED) {
        setTimeout(() => {
          api("/api/session").then(() => connect(), () => setTimeout(connect, 3000));
        }, 2000);
      }
    });
  }

  async function start() {
    $("compose").addEventListener("submit", send);
    $("compose-reply-cancel").addEventListener("click", cancelReply);
    $("compose-text").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("compose").requestSubmit();
    });
    $("feed-more").addEventListener("click", () => loadFeed(true).catch(showError));
    $("conv-more").addEventListener("click", () => loadConversation(true).catch(showError));
    $("search-more").addEventListener("click", () => runSearch(true));
    $("search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      runSearch(false);
    });
    for (const id of ["conv-a", "conv-b"]) {
      $(id).addEventListener("change", () => {
        const a = $("conv-a").value, b = $("conv-b").value;
        location.hash = "#/conversation/" + encodeURIComponent(a) + "/" + encodeURIComponent(b);
      });
    }
    globalThis.addEventListener("hashchange", route);
    setInterval(() => {
      renderSide();
      renderInstances();
      loadClaims().catch(() => {}); // claims expire on their own
    }, 30000);
    try {
      const s = await api("/api/session");
      state.csrf = s.csrf;
      $("foot-info").textContent = "agent-ipc " + s.version +
        (s.broker ? " · broker " + s.broker : "") + " · store " + s.store;
    } catch (e) {
      showError(e);
      return;
    }
    connect();
    await Promise.all([loadInstances(), loadFeed(false)]).catch(showError);
    route();
  }
  start();
})();
