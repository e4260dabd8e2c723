/**
 * Name of the prompt generator (generatePrompt + planWorkload); bump it when the way prompts are
 * composed or the corpus changes: settled rounds publish their prompts by making them again, and
 * do so only for jobs of this very generator. Its own module so configuration code can name it
 * without loading the tokenizer and the corpus.
 */
export const promptGeneratorName = "cacheon-gen-v1";
