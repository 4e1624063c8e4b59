/**
 * What each assistant expects a hook to print: one output adapter per
 * assistant, in a table, so the event handlers say what to show and the
 * adapter says how this assistant takes it (Claude Code, Codex and Gemini CLI:
 * `hookSpecificOutput.additionalContext`; Cursor: `additional_context` and a
 * stop hook's `followup_message`; Windsurf: nothing a model sees).
 *
 * @module
 */

/** The assistants that run hooks. */
export const HOOK_ASSISTANTS = ["claude", "codex", "gemini", "cursor", "windsurf"] as const;
/** Which assistant runs the hook. */
export type HookAssistant = typeof HOOK_ASSISTANTS[number];

/** The events whose hooks show unread messages. */
export type AttentionEvent = "start" | "prompt" | "tool";

/** How one assistant takes a hook's output. */
export interface OutputAdapter {
  /**
   * The stdout line that puts `text` before the model at `event` (the
   * assistant's own event name, when its JSON named one, is `named`);
   * undefined: this assistant shows a hook's output to no model.
   */
  attention?: (text: string, event: AttentionEvent, named: string | undefined) => string;
  /** The stdout line of a stop hook that starts a follow-up turn with `text`. */
  followup?: (text: string) => string;
  /** How a wake hook hands `text` over: on stderr, with this exit code. */
  wake: (text: string) => { stderr: string; code: number };
}

/** Claude Code, Codex and Gemini CLI: `hookSpecificOutput` under their event names. */
function hookSpecific(names: Record<AttentionEvent, string>): OutputAdapter["attention"] {
  return (text, event, named) =>
    JSON.stringify({
      hookSpecificOutput: { hookEventName: named || names[event], additionalContext: text },
    });
}

const CLAUDE_EVENTS = { start: "SessionStart", prompt: "UserPromptSubmit", tool: "PostToolUse" };

/** Claude Code's asyncRewake: exit 2 with the text on stderr wakes the idle session. */
const rewake = (text: string) => ({ stderr: text, code: 2 });

/**
 * The adapters, by assistant.
 *
 * @example
 * ```ts
 * const line = OUTPUT_ADAPTERS.cursor.attention?.("hi", "start", undefined);
 * // '{"additional_context":"hi"}'
 * ```
 */
export const OUTPUT_ADAPTERS: Readonly<Record<HookAssistant, OutputAdapter>> = {
  claude: { attention: hookSpecific(CLAUDE_EVENTS), wake: rewake },
  codex: { attention: hookSpecific(CLAUDE_EVENTS), wake: rewake },
  gemini: {
    attention: hookSpecific({ start: "SessionStart", prompt: "BeforeAgent", tool: "AfterTool" }),
    wake: rewake,
  },
  cursor: {
    attention: (text) => JSON.stringify({ additional_context: text }),
    followup: (text) => JSON.stringify({ followup_message: text }),
    wake: rewake,
  },
  // Windsurf's post_cascade_response hook shows no model anything.
  windsurf: { wake: rewake },
};
