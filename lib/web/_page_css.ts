/**
 * The console page's stylesheet, embedded as a string: system fonts only (no
 * external fonts or CDNs), light and dark by `prefers-color-scheme`, and a
 * layout that folds to one column on narrow windows.
 *
 * @module
 */

/** The console's CSS. */
export const PAGE_CSS = `
:root {
  color-scheme: light dark;
  --bg: #f6f6f3;
  --surface: #ffffff;
  --surface-2: #f0f0ec;
  --text: #1c1d21;
  --muted: #696d76;
  --faint: #9a9ea6;
  --border: #e3e3de;
  --accent: #4b49c8;
  --accent-soft: #ecebfb;
  --accent-text: #ffffff;
  --ok: #1f9d55;
  --warn: #c27803;
  --bad: #c53030;
  --mark: #fde68a;
  --shadow: 0 1px 2px rgb(20 20 30 / 6%), 0 2px 8px rgb(20 20 30 / 4%);
  --radius: 12px;
  --sans: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", Ubuntu, Cantarell,
    "Helvetica Neue", Arial, sans-serif;
  --mono: ui-monospace, "SF Mono", "Cascadia Mono", "DejaVu Sans Mono", Menlo, Consolas,
    monospace;
  --h0: #4b49c8; --h1: #0f7b6c; --h2: #b4540a; --h3: #b0306a;
  --h4: #2467b5; --h5: #6d8a12; --h6: #8a4fd0; --h7: #a3420f;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #111318;
    --surface: #191c23;
    --surface-2: #20242d;
    --text: #e7e9ee;
    --muted: #a0a6b2;
    --faint: #6f7683;
    --border: #2a2f3a;
    --accent: #9c9bff;
    --accent-soft: #26264a;
    --accent-text: #14142b;
    --ok: #4ade80;
    --warn: #fbbf24;
    --bad: #f87171;
    --mark: #6b5310;
    --shadow: 0 1px 2px rgb(0 0 0 / 30%);
    --h0: #a5a4ff; --h1: #4fd1bd; --h2: #f6ad55; --h3: #f687b3;
    --h4: #76b4ff; --h5: #b5d95a; --h6: #c9a2ff; --h7: #ff9b6b;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0;
  background: var(--bg);
  color: var(--text);
  font: 15px/1.55 var(--sans);
  min-height: 100vh;
  display: flex;
  flex-direction: column;
}
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre { font-family: var(--mono); font-size: 0.88em; }
button, input, select, textarea { font: inherit; color: inherit; }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
[hidden] { display: none !important; }

/* --- header -------------------------------------------------------- */
.top {
  position: sticky; top: 0; z-index: 5;
  background: color-mix(in srgb, var(--bg) 85%, transparent);
  backdrop-filter: blur(8px);
  border-bottom: 1px solid var(--border);
}
.top-inner {
  max-width: 1120px; margin: 0 auto; padding: 10px 20px;
  display: flex; align-items: center; gap: 20px;
}
.brand {
  display: flex; align-items: center; gap: 8px;
  font-weight: 650; font-size: 16px; color: var(--text); letter-spacing: -0.01em;
}
.brand:hover { text-decoration: none; }
.tabs { display: flex; gap: 4px; overflow-x: auto; scrollbar-width: none; flex: 1; }
.tabs a {
  padding: 6px 12px; border-radius: 999px; color: var(--muted); white-space: nowrap;
  font-weight: 500;
}
.tabs a:hover { color: var(--text); background: var(--surface-2); text-decoration: none; }
.tabs a[aria-current="page"] { color: var(--accent); background: var(--accent-soft); }
.conn {
  display: inline-flex; align-items: center; gap: 6px; white-space: nowrap;
  font-size: 13px; color: var(--muted);
}
.conn::before {
  content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--warn);
}
.conn[data-state="live"]::before { background: var(--ok); box-shadow: 0 0 0 3px color-mix(in srgb, var(--ok) 20%, transparent); }
.conn[data-state="down"]::before { background: var(--bad); }

/* --- layout -------------------------------------------------------- */
main { width: 100%; max-width: 1120px; margin: 0 auto; padding: 20px; flex: 1; }
.live-grid { display: grid; grid-template-columns: minmax(0, 1fr) 280px; gap: 28px; align-items: start; }
.live-side { position: sticky; top: 76px; }
.section-title {
  font-size: 13px; font-weight: 650; text-transform: uppercase; letter-spacing: 0.06em;
  color: var(--muted); margin: 24px 0 10px;
}
.section-title .sub { text-transform: none; letter-spacing: 0; font-weight: 400; color: var(--faint); }
.view > .section-title:first-child, .live-side > .section-title:first-child { margin-top: 4px; }
.card {
  background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius);
  box-shadow: var(--shadow);
}
.empty { color: var(--muted); text-align: center; padding: 28px 12px; }
.empty.small { padding: 8px 0; text-align: left; font-size: 14px; }
.hint { color: var(--faint); font-size: 13px; }
.hint.error { color: var(--bad); }
.hint.ok { color: var(--ok); }
.foot { text-align: center; color: var(--faint); font-size: 12px; padding: 16px; }

/* --- controls ------------------------------------------------------ */
input, select, textarea {
  background: var(--surface); border: 1px solid var(--border); border-radius: 8px;
  padding: 7px 10px; min-width: 0;
}
input:focus, select:focus, textarea:focus { border-color: var(--accent); outline: none; box-shadow: 0 0 0 3px var(--accent-soft); }
button {
  border: 1px solid var(--border); background: var(--surface); border-radius: 8px;
  padding: 7px 14px; cursor: pointer; font-weight: 550;
}
button:hover { background: var(--surface-2); }
button.primary { background: var(--accent); border-color: var(--accent); color: var(--accent-text); }
button.primary:hover { filter: brightness(1.08); }
button:disabled { opacity: 0.6; cursor: default; }
.more { display: block; margin: 14px auto; }

/* --- compose ------------------------------------------------------- */
.compose { padding: 14px; display: grid; gap: 10px; }
.compose-head { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
.compose-head label { font-weight: 600; }
.compose-head select { min-width: 160px; }
.compose .as { margin-left: auto; color: var(--muted); font-size: 13px; }
.compose textarea { width: 100%; resize: vertical; min-height: 72px; line-height: 1.5; }
.compose-foot { display: flex; align-items: center; justify-content: space-between; gap: 10px; }

/* --- messages ------------------------------------------------------ */
.messages { list-style: none; margin: 0; padding: 0; display: grid; gap: 10px; }
.msg {
  background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius);
  padding: 12px 14px 12px 14px; box-shadow: var(--shadow);
  display: grid; grid-template-columns: 34px minmax(0, 1fr); column-gap: 12px;
}
.msg.fresh { animation: arrive 1.6s ease-out; }
@keyframes arrive { from { background: var(--accent-soft); } to { background: var(--surface); } }
.msg.from-human { border-left: 3px solid var(--accent); }
.msg.from-system { background: var(--surface-2); box-shadow: none; }
.msg.from-system .body { color: var(--muted); font-style: italic; }
.avatar {
  width: 34px; height: 34px; border-radius: 50%; display: grid; place-items: center;
  font-weight: 700; font-size: 14px; color: var(--surface); background: var(--hue, var(--h0));
  grid-row: span 3; text-transform: uppercase; user-select: none;
}
.msg-head { display: flex; align-items: baseline; gap: 6px; flex-wrap: wrap; min-width: 0; }
.name {
  font-weight: 650; color: var(--hue, var(--text)); background: none; border: 0; padding: 0;
  cursor: pointer; border-radius: 4px;
}
.name:hover { background: none; text-decoration: underline; }
.arrow { color: var(--faint); }
.to-list { display: inline-flex; flex-wrap: wrap; gap: 2px 0; }
.to-list .name + .name::before { content: ",\\00a0"; color: var(--faint); font-weight: 400; }
.when { margin-left: auto; color: var(--faint); font-size: 13px; white-space: nowrap; font-variant-numeric: tabular-nums; }
.body {
  margin: 4px 0 0; white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word;
}
.body mark { background: var(--mark); color: inherit; border-radius: 3px; padding: 0 1px; }
.extra { display: flex; gap: 12px; flex-wrap: wrap; margin-top: 6px; font-size: 13px; }
.large-link::after { content: " ↗"; }
details.data summary { cursor: pointer; color: var(--muted); }
details.data pre {
  margin: 6px 0 0; padding: 8px 10px; background: var(--surface-2); border-radius: 8px;
  overflow: auto; max-height: 300px;
}
.hue-0 { --hue: var(--h0); } .hue-1 { --hue: var(--h1); } .hue-2 { --hue: var(--h2); }
.hue-3 { --hue: var(--h3); } .hue-4 { --hue: var(--h4); } .hue-5 { --hue: var(--h5); }
.hue-6 { --hue: var(--h6); } .hue-7 { --hue: var(--h7); }

/* --- side list and instances -------------------------------------- */
.side-list { list-style: none; margin: 0; padding: 0; display: grid; gap: 2px; }
.side-list li {
  display: flex; align-items: center; gap: 10px; padding: 6px 8px; border-radius: 8px;
}
.side-list li:hover { background: var(--surface-2); }
.side-list .name { flex: 1; text-align: left; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.dot { width: 8px; height: 8px; border-radius: 50%; background: var(--faint); flex: none; }
.dot.on { background: var(--ok); }
.badge {
  font-size: 12px; font-weight: 600; padding: 1px 8px; border-radius: 999px;
  background: var(--surface-2); color: var(--muted); font-variant-numeric: tabular-nums;
}
.badge.busy { background: var(--accent-soft); color: var(--accent); }
.instance-grid {
  list-style: none; margin: 0; padding: 0; display: grid; gap: 12px;
  grid-template-columns: repeat(auto-fill, minmax(260px, 1fr));
}
.instance { padding: 14px; display: grid; gap: 10px; align-content: start; }
.instance.gone { opacity: 0.65; }
.instance-head { display: flex; align-items: center; gap: 10px; }
.instance-head .avatar { grid-row: auto; }
.instance-title { font-size: 17px; font-weight: 650; color: var(--hue); display: block; line-height: 1.25; }
.instance dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 12px; margin: 0; font-size: 14px; }
.instance dt { color: var(--muted); }
.instance dd { margin: 0; font-variant-numeric: tabular-nums; }
.instance .actions { display: flex; gap: 8px; margin-top: 2px; }
.instance .actions button { padding: 4px 10px; font-size: 13px; }
.state { font-size: 13px; color: var(--muted); }
.state.on { color: var(--ok); font-weight: 600; }

/* --- conversation -------------------------------------------------- */
.pair { display: flex; align-items: center; gap: 12px; padding: 12px 14px; flex-wrap: wrap; }
.pair select { flex: 1; min-width: 120px; }
.pair-sep { color: var(--muted); font-size: 18px; }
.chat { list-style: none; margin: 16px 0 0; padding: 0; display: flex; flex-direction: column; gap: 8px; }
.bubble {
  max-width: min(78%, 640px); padding: 9px 13px; border-radius: 16px; background: var(--surface);
  border: 1px solid var(--border); box-shadow: var(--shadow); align-self: flex-start;
  border-bottom-left-radius: 4px;
}
.bubble.mine {
  align-self: flex-end; background: var(--accent-soft); border-color: transparent;
  border-bottom-left-radius: 16px; border-bottom-right-radius: 4px;
}
.bubble .meta { font-size: 12px; color: var(--faint); margin-top: 4px; }
.bubble .body { margin: 0; }
.day { align-self: center; font-size: 12px; color: var(--faint); margin: 10px 0 2px; }

/* --- search -------------------------------------------------------- */
.search { padding: 14px; display: grid; gap: 12px; }
.search-main { display: flex; gap: 10px; }
.search-main input { flex: 1; font-size: 16px; padding: 9px 12px; }
.filters { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 10px; }
.filters label { display: grid; gap: 4px; font-size: 13px; color: var(--muted); font-weight: 550; }
.filters input { font-weight: 400; color: var(--text); }
.summary { color: var(--muted); font-size: 14px; margin: 14px 2px 10px; }

/* --- narrow windows ------------------------------------------------ */
@media (max-width: 860px) {
  .live-grid { grid-template-columns: minmax(0, 1fr); }
  .live-side { position: static; order: -1; }
  .side-list { grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); }
  .filters { grid-template-columns: repeat(2, minmax(0, 1fr)); }
}
@media (max-width: 560px) {
  .top-inner { padding: 8px 12px 6px; gap: 4px 10px; flex-wrap: wrap; justify-content: space-between; }
  .tabs { order: 3; flex-basis: 100%; margin: 0 -4px; }
  .tabs a { padding: 5px 10px; }
  .live-side { top: auto; }
  main { padding: 12px; }
  .msg { grid-template-columns: minmax(0, 1fr); }
  .msg .avatar { display: none; }
  .when { margin-left: 0; width: 100%; }
  .filters { grid-template-columns: minmax(0, 1fr); }
  .bubble { max-width: 92%; }
}
@media (prefers-reduced-motion: reduce) { .msg.fresh { animation: none; } }
`;
