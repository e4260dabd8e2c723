/**
 * Name of the prompt generator (generatePrompt + planWorkload); bump it when the way prompts are
 * composed changes. Its own module so configuration code can name it without loading the
 * tokenizer and the corpus.
 */
export const promptGeneratorName = "cacheon-gen-v1";
