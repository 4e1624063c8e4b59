import assert from "node:assert/strict";
import { IPC_FORMS, type IpcCommand, parseIpcCommand } from "../../lib/mcp/nl_parser.ts";

const PHRASES: [string, IpcCommand][] = [
  // register
  ["Register this instance as claude", { kind: "register", name: "claude" }],
  ["register as X", { kind: "register", name: "X" }],
  ["register kai", { kind: "register", name: "kai" }],
  ["register me as fred-2", { kind: "register", name: "fred-2" }],
  ["please register this session as bot_1.", { kind: "register", name: "bot_1" }],
  ["call me X", { kind: "register", name: "X" }],
  ["You can call me Kai", { kind: "register", name: "Kai" }],
  ["my name is X", { kind: "register", name: "X" }],
  ["My name’s gemini!", { kind: "register", name: "gemini" }],
  ['register as "claude"', { kind: "register", name: "claude" }],
  // send
  ["msg fred: hello there", { kind: "send", to: "fred", content: "hello there" }],
  ["send to fred: build is green", { kind: "send", to: "fred", content: "build is green" }],
  ["tell fred that the tests pass", { kind: "send", to: "fred", content: "the tests pass" }],
  ["message fred can you review PR 12?", {
    kind: "send",
    to: "fred",
    content: "can you review PR 12?",
  }],
  ["send fred: hi", { kind: "send", to: "fred", content: "hi" }],
  ["send a message to kai saying lunch?", { kind: "send", to: "kai", content: "lunch?" }],
  ["dm kai ping", { kind: "send", to: "kai", content: "ping" }],
  ["@kai: ready when you are", { kind: "send", to: "kai", content: "ready when you are" }],
  ["tell fred - deploy at 5", { kind: "send", to: "fred", content: "deploy at 5" }],
  ['msg fred: "quoted text"', { kind: "send", to: "fred", content: "quoted text" }],
  ["Please tell Fred: line one\nline two", {
    kind: "send",
    to: "Fred",
    content: "line one\nline two",
  }],
  ["tell ghost that you will be back", {
    kind: "send",
    to: "ghost",
    content: "you will be back",
  }],
  // broadcast
  ["broadcast: standup in 5", { kind: "broadcast", content: "standup in 5" }],
  ["broadcast standup in 5", { kind: "broadcast", content: "standup in 5" }],
  ["tell everyone: standup in 5", { kind: "broadcast", content: "standup in 5" }],
  ["send to all: standup in 5", { kind: "broadcast", content: "standup in 5" }],
  ["msg all: hi", { kind: "broadcast", content: "hi" }],
  ["tell everybody that I am done", { kind: "broadcast", content: "I am done" }],
  ["@all lunch", { kind: "broadcast", content: "lunch" }],
  // check
  ["check messages", { kind: "check" }],
  ["msgs?", { kind: "check" }],
  ["any new messages?", { kind: "check" }],
  ["Check my inbox please", { kind: "check" }],
  ["check", { kind: "check" }],
  ["do I have any new messages?", { kind: "check" }],
  ["read messages", { kind: "check" }],
  ["inbox", { kind: "check" }],
  // list
  ["list instances", { kind: "list" }],
  ["who's online?", { kind: "list" }],
  ["Who’s online", { kind: "list" }],
  ["who is here", { kind: "list" }],
  ["list", { kind: "list" }],
  ["show agents", { kind: "list" }],
  // rename
  ["rename to X", { kind: "rename", name: "X" }],
  ["change my name to X", { kind: "rename", name: "X" }],
  ["rename me to kai2", { kind: "rename", name: "kai2" }],
  ["set my name to bob.", { kind: "rename", name: "bob" }],
  // whoami
  ["who am i?", { kind: "whoami" }],
  ["whoami", { kind: "whoami" }],
  ["ask fred: can I merge?", { kind: "ask", to: "fred", content: "can I merge?" }],
  ["reply to #k3x9a0q: yes", { kind: "reply", id: "k3x9a0q", content: "yes" }],
  ["reply k3x9a0q go ahead", { kind: "reply", id: "k3x9a0q", content: "go ahead" }],
  ["show thread #k3x9a0q", { kind: "thread", id: "k3x9a0q" }],
  ["status of #k3x9a0q", { kind: "status", id: "k3x9a0q" }],
  ["was #k3x9a0q read?", { kind: "status", id: "k3x9a0q" }],
  ["what's my name", { kind: "whoami" }],
  // wait
  ["wait for messages", { kind: "wait" }],
  ["wait", { kind: "wait" }],
  ["wait for a reply for 60s", { kind: "wait", timeoutS: 60 }],
  ["wait 2 minutes for messages", { kind: "wait", timeoutS: 120 }],
  ["listen for messages", { kind: "wait" }],
];

const NEAR_MISSES = [
  "",
  "   ",
  "register",
  "register me",
  "rename",
  "rename to",
  "rename fred to kai",
  "call me maybe later",
  "my name is not important",
  "tell me a joke",
  "tell fred",
  "msg fred:",
  "message from fred",
  "send hello to fred",
  "send",
  "broadcast",
  "tell everyone",
  "check the build",
  "check fred's messages",
  "list the files in src",
  "who is fred?",
  "messages are slow today",
  "hello",
  "register as system",
  "msg human: hi",
  "register as a-name-that-is-far-too-long-for-the-rules",
  "wait until tomorrow",
  "I'm back",
];

Deno.test("nl parser: every accepted phrase becomes its command", () => {
  for (const [phrase, want] of PHRASES) {
    assert.deepEqual(parseIpcCommand(phrase), want, `phrase ${JSON.stringify(phrase)}`);
  }
});

Deno.test("nl parser: near misses are not commands", () => {
  for (const phrase of NEAR_MISSES) {
    assert.equal(parseIpcCommand(phrase), null, `phrase ${JSON.stringify(phrase)}`);
  }
});

Deno.test("nl parser: the help lists every kind of command", () => {
  for (
    const word of ["register", "msg", "broadcast", "check", "wait", "list", "rename", "who am i"]
  ) {
    assert.ok(IPC_FORMS.includes(word), word);
  }
});
