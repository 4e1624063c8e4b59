/**
 * The `ipc` tool's language: the phrases people actually type ("msg fred:
 * hi", "any new messages?", "call me kai") turned into one typed command, or
 * `null` when the text is not one of the accepted forms. Pure: no I/O, so it
 * is tested as a table of phrases and near misses.
 *
 * @module
 */

import { isReservedName, NAME_PATTERN } from "../protocol/validate.ts";

/** A command of the `ipc` tool. */
export type IpcCommand =
  | { kind: "register"; name: string }
  | { kind: "send"; to: string; content: string }
  | { kind: "broadcast"; content: string }
  | { kind: "check" }
  | { kind: "wait"; timeoutS?: number }
  | { kind: "list" }
  | { kind: "rename"; name: string }
  | { kind: "whoami" }
  | { kind: "ask"; to: string; content: string }
  | { kind: "reply"; id: string; content: string }
  | { kind: "thread"; id: string }
  | { kind: "status"; id: string };

/** The accepted forms, shown when a command is not recognised. */
export const IPC_FORMS = `Accepted forms (NAME is 1-32 of A-Z a-z 0-9 _ -):
- register as NAME | register this instance as NAME | call me NAME | my name is NAME
- msg NAME: TEXT | send to NAME: TEXT | tell NAME that TEXT | message NAME TEXT | @NAME TEXT
- broadcast: TEXT | tell everyone: TEXT | send to all: TEXT
- check messages | msgs? | any new messages?
- wait for messages [for 60s]
- list instances | who's online?
- rename to NAME | change my name to NAME
- who am i
- ask NAME: QUESTION (waits for the reply)
- reply to #ID: TEXT | reply #ID TEXT
- thread #ID | show thread #ID
- status of #ID | receipt #ID`;

/** Words that read like a recipient but are not one ("tell me a joke"). */
const NOT_RECIPIENTS = new Set([
  "a",
  "about",
  "an",
  "and",
  "for",
  "from",
  "he",
  "her",
  "him",
  "i",
  "it",
  "me",
  "my",
  "myself",
  "of",
  "our",
  "she",
  "that",
  "the",
  "them",
  "they",
  "this",
  "to",
  "us",
  "we",
  "what",
  "who",
  "you",
  "your",
]);

const EVERYONE = String
  .raw`(?:everyone(?: else)?|everybody(?: else)?|all(?: instances| agents)?|the team|\*)`;
const NAME = String.raw`@?["'\x60]?([A-Za-z0-9_-]{1,32})["'\x60]?`;
const ID = String.raw`#?([A-Za-z0-9_-]{1,64})`;
const ASK = new RegExp(String.raw`^ask\s+${NAME}\s*[:,]\s*(.+)$`, "is");
const REPLY = new RegExp(
  String.raw`^(?:reply|answer|respond)(?:\s+to)?\s+${ID}\s*[:,]?\s+(.+)$`,
  "is",
);
const THREAD = new RegExp(String.raw`^(?:show\s+)?(?:the\s+)?thread(?:\s+of)?\s+${ID}$`, "i");
const STATUS = new RegExp(
  String
    .raw`^(?:(?:message\s+)?status(?:\s+of)?|receipt(?:\s+of|\s+for)?|was)\s+${ID}(?:\s+read)?$`,
  "i",
);

/** Between a recipient and the text: a colon, comma or dash, "that", "saying", or a space. */
const SEP = String.raw`(?:\s*[:,]\s*|\s+[-–—]\s+|\s+(?:that|saying)\s+|\s+)`;
/** Like SEP, but a bare space is not enough ("send hello to fred" is ambiguous). */
const STRICT_SEP = String.raw`(?:\s*[:,]\s*|\s+[-–—]\s+|\s+saying\s+)`;

const BROADCAST = [
  new RegExp(String.raw`^@(?:all|everyone|channel|here)\s*[:,]?\s+(.+)$`, "is"),
  new RegExp(String.raw`^(?:broadcast|announce)(?:\s+to\s+${EVERYONE})?\s*[:,]?\s+(.+)$`, "is"),
  new RegExp(String.raw`^(?:broadcast|announce)\s*:\s*(.+)$`, "is"),
  new RegExp(
    String
      .raw`^(?:tell|notify|message|msg|send(?: a)?(?: message| msg)?(?: to)?|ping)\s+${EVERYONE}${SEP}(.+)$`,
    "is",
  ),
];

const SEND = [
  // "@fred hi"
  new RegExp(String.raw`^@([A-Za-z0-9_-]{1,32})\s*[:,]?\s+(.+)$`, "s"),
  // "msg fred: hi", "message fred hi", "dm fred hi", "tell fred that hi",
  // "send to fred: hi", "send a message to fred saying hi", "write to fred: hi"
  new RegExp(
    String
      .raw`^(?:msg|message|dm|pm|tell|send(?: a)?(?: message| msg| note)? to|write to|reply to)\s+${NAME}${SEP}(.+)$`,
    "is",
  ),
  // "send fred: hi" (a separator is required after a bare "send")
  new RegExp(String.raw`^send\s+${NAME}${STRICT_SEP}(.+)$`, "is"),
];

const REGISTER = new RegExp(
  String
    .raw`^(?:register(?:\s+(?:this(?:\s+(?:instance|session|agent))?|me|myself))?(?:\s+(?:as|with name|under))?` +
    String
      .raw`|(?:you can\s+)?call\s+(?:me|this(?:\s+(?:instance|agent))?)|my name is|my name's|name me|identify as|join as|(?:log|sign)\s*in as)\s+${NAME}$`,
  "i",
);

const RENAME = new RegExp(
  String
    .raw`^(?:rename(?:\s+(?:me|myself|this(?:\s+instance)?))?(?:\s+(?:to|as))?|(?:change|set|switch)\s+my\s+name\s+to|change\s+name\s+to)\s+${NAME}$`,
  "i",
);

const CHECK = new RegExp(
  "^(?:" + [
    String
      .raw`check(?:\s+(?:for\s+)?(?:my\s+|the\s+)?(?:new\s+|unread\s+)?(?:messages|msgs|inbox|mail))?`,
    String.raw`(?:any\s+|got\s+any\s+)?(?:new\s+|unread\s+)?(?:messages|msgs|mail)`,
    String
      .raw`(?:read|get|show|fetch|open)(?:\s+my|\s+the)?(?:\s+new|\s+unread)?\s+(?:messages|msgs|inbox|mail)`,
    String.raw`(?:my\s+)?inbox`,
    String.raw`do\s+i\s+have\s+(?:any\s+)?(?:new\s+|unread\s+)?(?:messages|msgs|mail)`,
    String.raw`anything\s+(?:new\s+)?for\s+me`,
    String.raw`got\s+mail`,
  ].join("|") + ")$",
  "i",
);

const LIST = new RegExp(
  "^(?:" + [
    String
      .raw`list(?:\s+(?:all\s+|the\s+)?(?:online\s+)?(?:instances|agents|peers|members|names))?`,
    String
      .raw`(?:who's|whos|who\s+is|who\s+are|who)\s+(?:online|here|around|connected|registered|there)`,
    String.raw`(?:show|get|see)(?:\s+all|\s+the)?\s+(?:instances|agents|peers)`,
    String.raw`(?:instances|agents|peers)(?:\s+online)?`,
  ].join("|") + ")$",
  "i",
);

const WHOAMI =
  /^(?:whoami|who\s+am\s+i|what(?:'s|\s+is)\s+my\s+name|what\s+am\s+i\s+(?:called|registered\s+as))$/i;

const WAIT =
  /^(?:wait(?:\s+for\s+(?:a\s+|the\s+next\s+|next\s+|new\s+|any\s+)?(?:messages?|msgs?|replies|reply|response|answer))?|listen(?:\s+for\s+messages)?|idle\s+until\s+(?:messaged|spoken\s+to))$/i;
const DURATION =
  /\s+(?:for\s+|up\s+to\s+)?(\d{1,4})\s*(s|secs?|seconds?|m|mins?|minutes?)(?=\s|$)/i;

const LEADING_COURTESY =
  /^(?:(?:please|pls|hey|ok|okay|ipc|can\s+you|could\s+you|would\s+you)[\s,]+)+/i;
const TRAILING_COURTESY = /(?:[\s,]+(?:please|pls|now|thanks|thank\s+you))+$/i;

function validName(name: string): boolean {
  return NAME_PATTERN.test(name) && !isReservedName(name);
}

/** A name to register or rename to: valid, and not a word of the sentence ("rename to"). */
function usableName(name: string): boolean {
  return validName(name) && !NOT_RECIPIENTS.has(name.toLowerCase());
}

function unquote(text: string): string {
  const t = text.trim();
  const m = /^(["'\x60“])([\s\S]*)(["'\x60”])$/.exec(t);
  if (m && (m[1] === m[3] || (m[1] === "“" && m[3] === "”")) && m[2].trim() !== "") {
    return m[2];
  }
  return t;
}

/** The argument-free part of a phrase: lower case, no end punctuation or courtesy. */
function head(text: string): string {
  return text
    .replace(/[’‘]/g, "'")
    .replace(/[?!.\s]+$/, "")
    .replace(TRAILING_COURTESY, "")
    .replace(/\s+/g, " ")
    .trim()
    .toLowerCase();
}

/**
 * Parses a free-text command. Returns `null` when the text is none of
 * {@linkcode IPC_FORMS}.
 *
 * @example
 * ```ts
 * parseIpcCommand("tell fred that the build is green");
 * // { kind: "send", to: "fred", content: "the build is green" }
 * ```
 */
export function parseIpcCommand(input: string): IpcCommand | null {
  const text = input.trim().replace(LEADING_COURTESY, "").trim();
  if (text === "") return null;

  const ask = ASK.exec(text);
  if (ask) {
    const content = unquote(ask[2]);
    return validName(ask[1]) && content ? { kind: "ask", to: ask[1], content } : null;
  }
  const reply = REPLY.exec(text);
  if (reply) {
    const content = unquote(reply[2]);
    return content ? { kind: "reply", id: reply[1], content } : null;
  }
  const byId = trimEnd(text);
  const thread = THREAD.exec(byId);
  if (thread) return { kind: "thread", id: thread[1] };
  const status = STATUS.exec(byId);
  if (status) return { kind: "status", id: status[1] };

  for (const re of BROADCAST) {
    const m = re.exec(text);
    if (m) {
      const content = unquote(m[1]);
      return content ? { kind: "broadcast", content } : null;
    }
  }
  for (const re of SEND) {
    const m = re.exec(text);
    if (!m) continue;
    const to = m[1];
    const content = unquote(m[2]);
    if (NOT_RECIPIENTS.has(to.toLowerCase()) || !content) return null;
    if (!validName(to)) return null;
    return { kind: "send", to, content };
  }

  const named = trimEnd(text);
  const reg = REGISTER.exec(named);
  if (reg) return usableName(reg[1]) ? { kind: "register", name: reg[1] } : null;
  const ren = RENAME.exec(named);
  if (ren) return usableName(ren[1]) ? { kind: "rename", name: ren[1] } : null;

  const h = head(text);

  if (CHECK.test(h)) return { kind: "check" };
  if (LIST.test(h)) return { kind: "list" };
  if (WHOAMI.test(h)) return { kind: "whoami" };
  const d = DURATION.exec(h);
  const base = d ? (h.slice(0, d.index) + h.slice(d.index + d[0].length)).trim() : h;
  if (WAIT.test(base)) {
    if (!d) return { kind: "wait" };
    const n = Number(d[1]) * (d[2].startsWith("m") ? 60 : 1);
    return { kind: "wait", timeoutS: n };
  }
  return null;
}

/** The text without end punctuation or trailing courtesy, case kept (names keep their case). */
function trimEnd(text: string): string {
  return text.replace(/[’‘]/g, "'").replace(/[?!.\s]+$/, "").replace(TRAILING_COURTESY, "").trim();
}
