// The corpus is a JSON module so the agent bundle (esbuild) carries it; scripts/build-prompt-corpus.ts
// made it from public-domain sources and says how.

import { CacheonError } from "../errors/cacheon-error.ts";
import corpusJson from "./prompt-corpus.json" with { type: "json" };

/** A passage of a source text, placed into prompts as one document. */
export interface CorpusPassage {
  /** Id of its source in {@link PromptCorpus.sources}. */
  source: string;
  /** Its heading: an entry's headword, a country and topic, a chapter and verses. */
  title: string;
  text: string;
}

/** Where a corpus's passages come from, and under which licence. */
export interface CorpusSource {
  id: string;
  title: string;
  licence: string;
  origin: string;
}

/** The texts prompts are composed from. */
export interface PromptCorpus {
  /** Name and version; prompts record it, a changed corpus gets a new name. */
  name: string;
  sources: readonly CorpusSource[];
  passages: readonly CorpusPassage[];
}

let loaded: PromptCorpus | undefined;

/**
 * The corpus shipped with the project, "cacheon-corpus-v1": 3,151 passages, about 600,000 words, of
 * public-domain texts: the Jargon File 4.4.7, the CIA World Factbook's country profiles and the King
 * James Version of the Bible (narrative, wisdom and gospel books).
 */
export function promptCorpus(): PromptCorpus {
  loaded ??= checkCorpus(corpusJson as PromptCorpus);
  return loaded;
}

/** Throws "invalid-argument" unless every passage names a known source and has a title and text. */
export function checkCorpus(corpus: PromptCorpus): PromptCorpus {
  const sources = new Set(corpus.sources.map((s) => s.id));
  const bad = corpus.passages.findIndex(
    (p) => !sources.has(p.source) || p.title.trim() === "" || p.text.trim() === "",
  );
  if (corpus.passages.length === 0 || bad >= 0) {
    throw new CacheonError(
      "invalid-argument",
      corpus.passages.length === 0
        ? `corpus ${corpus.name} has no passages`
        : `corpus ${corpus.name}: passage ${bad} has an unknown source or an empty title or text`,
    );
  }
  return corpus;
}
