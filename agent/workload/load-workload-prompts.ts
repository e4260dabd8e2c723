import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { WorkloadSpec } from "../../shared/gen/cacheon/v1/workload_pb.ts";
import { bundledCorpusName, bundledPassages, bundledTemplates } from "./bundled-corpus.ts";
import type { ChatMessage, Prompt } from "./prompt.ts";

/** Options of {@link loadWorkloadPrompts}. */
export interface LoadWorkloadPromptsOptions {
  /** Private JSONL files the agent was given; the one whose sha256 matches "sha256:<hex>" is used. */
  promptFiles?: readonly string[];
}

/**
 * The prompt pool a workload names in `prompt_source`: "bundled:cacheon-chat-v1" (the default when
 * empty) or "sha256:<hex>" of a private JSONL file passed in `promptFiles`.
 */
export function loadWorkloadPrompts(
  workload: Pick<WorkloadSpec, "promptSource" | "promptChars">,
  options: LoadWorkloadPromptsOptions = {},
): Prompt[] {
  const source = workload.promptSource || `bundled:${bundledCorpusName}`;
  if (source.startsWith("bundled:")) {
    const name = source.slice("bundled:".length);
    if (name !== bundledCorpusName) {
      throw new CacheonError(
        "not-found",
        `unknown bundled corpus "${name}": the agent bundles "${bundledCorpusName}"`,
      );
    }
    return bundledPrompts(workload.promptChars);
  }
  if (source.startsWith("generated:")) {
    // Generated prompts exist only inside their job; there is no pool to fall back on.
    throw new CacheonError(
      "invalid-argument",
      `prompt_source "${source}" names prompts generated for one job, but none were given: the job must carry them (EvaluationJob.prompts)`,
    );
  }
  if (source.startsWith("sha256:")) {
    const want = source.slice("sha256:".length).toLowerCase();
    for (const path of options.promptFiles ?? []) {
      const text = readPromptFile(path);
      if (createHash("sha256").update(text).digest("hex") === want) return parsePromptJsonl(text, path);
    }
    throw new CacheonError(
      "not-found",
      `no prompt file with sha256 ${want} was given: pass the validator's JSONL file (--prompts FILE)`,
    );
  }
  throw new CacheonError(
    "invalid-argument",
    `prompt_source "${source}" must be "generated:<generator>", "bundled:<name>" or "sha256:<hex>"`,
  );
}

/** Reads a JSONL prompt file, translating file errors into a message that names the file. */
export function readPromptFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new CacheonError(
      "invalid-argument",
      `cannot read prompt file ${path}: ${(error as Error).message}`,
    );
  }
}

/** The sha256 (hex) of a prompt file's bytes, for WorkloadSpec.prompt_source. */
export function promptFileSha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * Prompts from the bundled corpus: every template with every passage. With `promptChars` > 0 the
 * passage slot is filled with consecutive passages (wrapping) until the prompt reaches about
 * that many characters, so long-context workloads get long prompts.
 */
export function bundledPrompts(promptChars = 0): Prompt[] {
  const prompts: Prompt[] = [];
  for (const template of bundledTemplates) {
    for (let p = 0; p < bundledPassages.length; p++) {
      const first = bundledPassages[p] as (typeof bundledPassages)[number];
      let passage = `${first.title}\n\n${first.text}`;
      for (let k = 1; promptChars > 0 && passage.length + template.user.length < promptChars; k++) {
        const next = bundledPassages[(p + k) % bundledPassages.length] as (typeof bundledPassages)[number];
        passage += `\n\n${next.title}\n\n${next.text}`;
      }
      const messages: ChatMessage[] = [];
      if (template.system) messages.push({ role: "system", content: template.system });
      messages.push({ role: "user", content: template.user.replace("{passage}", passage) });
      prompts.push({ id: `${template.id}/${first.id}`, messages });
    }
  }
  return prompts;
}

/**
 * Parses a private JSONL prompt file: one JSON object per non-blank line, either
 * {"id": "...", "messages": [{"role": "user", "content": "..."}]} or {"id": "...", "prompt": "..."}.
 * Every bad line is reported at once with its line number; ids must be unique.
 */
export function parsePromptJsonl(text: string, name = "prompt file"): Prompt[] {
  const prompts: Prompt[] = [];
  const problems: string[] = [];
  const ids = new Set<string>();
  text.split("\n").forEach((raw, index) => {
    const line = raw.trim();
    if (line === "") return;
    const where = `${name}:${index + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      problems.push(`${where}: not JSON (${(error as Error).message})`);
      return;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      problems.push(`${where}: expected a JSON object`);
      return;
    }
    const object = value as { id?: unknown; messages?: unknown; prompt?: unknown };
    const id = typeof object.id === "string" && object.id !== "" ? object.id : `line-${index + 1}`;
    if (ids.has(id)) {
      problems.push(`${where}: duplicate id "${id}"`);
      return;
    }
    let messages: ChatMessage[] | undefined;
    if (typeof object.prompt === "string" && object.prompt !== "") {
      messages = [{ role: "user", content: object.prompt }];
    } else if (Array.isArray(object.messages) && object.messages.length > 0) {
      const ok = object.messages.every(
        (m) =>
          typeof m === "object" &&
          m !== null &&
          ["system", "user", "assistant"].includes((m as ChatMessage).role) &&
          typeof (m as ChatMessage).content === "string",
      );
      if (ok)
        messages = (object.messages as ChatMessage[]).map((m) => ({ role: m.role, content: m.content }));
    }
    if (!messages) {
      problems.push(
        `${where}: needs "prompt" (a non-empty string) or "messages" (a list of {role: system|user|assistant, content: string})`,
      );
      return;
    }
    ids.add(id);
    prompts.push({ id, messages });
  });
  if (problems.length > 0) {
    throw new CacheonError(
      "invalid-argument",
      `${name} has ${problems.length} bad line${problems.length > 1 ? "s" : ""}:\n  - ${problems.slice(0, 20).join("\n  - ")}`,
    );
  }
  if (prompts.length === 0) throw new CacheonError("invalid-argument", `${name} holds no prompts`);
  return prompts;
}
