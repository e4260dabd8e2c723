/**
 * The pieces a prompt is assembled from besides the corpus: system messages, opening lines, tasks,
 * questions and their parameters. Written for this project and dedicated to the public domain
 * (CC0-1.0). Slots: {n} a count, {words} a length, {language}, {audience}, {format}, {d} and {e}
 * document numbers, {count} the number of documents, {ref} the dossier's reference, {date}.
 */

/** System messages; a prompt has none (Qwen's default is rendered) about half the time. */
export const systemMessages: readonly string[] = [
  "You are a meticulous research assistant. Quote the documents when it helps, and say when they do not answer a question.",
  "You are an archivist who catalogues mixed collections of papers for a public library.",
  "You are a patient teacher preparing material for a reading group.",
  "You are an editor at a reference publisher. Be precise, plain and complete.",
  "You are an analyst who writes briefings for busy decision makers.",
  "You are a careful fact-checker. Separate what the documents state from what you infer.",
  "You are a technical writer who explains unfamiliar material to newcomers.",
  "You are a historian of ideas with a dry sense of humour.",
  "You help a museum curator write exhibition notes.",
  "You are a study-guide author. Write in full sentences and define every unusual term.",
  "You are a translator and commentator who keeps the tone of each source.",
  "You prepare reading notes for a law firm's knowledge team.",
  "You assist a journalist who is checking a long file of background material.",
  "You are a librarian answering a reader's written enquiry.",
  "You write clear, well-organised reports and never skip a requested section.",
  "You are an examiner writing questions and model answers from set texts.",
];

/** Opening lines: every prompt's first user tokens differ, so no two prompts share a long prefix. */
export const openings: readonly string[] = [
  "Dossier {ref}, compiled on {date}: {count} documents follow.",
  "Reading pack {ref} ({date}). It holds {count} documents from different collections.",
  "File {ref}. Assembled {date} for review; {count} documents are attached below.",
  "Request {ref}, received {date}. Please work through the {count} documents that follow.",
  "Collection {ref} — {count} documents, catalogued on {date}.",
  "Briefing set {ref} (prepared {date}) contains {count} source documents.",
  "Archive batch {ref}, dated {date}, with {count} documents to process.",
  "Case notes {ref}. On {date} the following {count} documents were gathered.",
];

/** Tasks: what to do with the documents. Each asks for a long answer, so generation runs to max_tokens. */
export const tasks: readonly string[] = [
  "Write a detailed summary of each document in turn, about {words} words each, then a closing paragraph on what they have in common.",
  "Write {n} questions a teacher could ask about these documents, each followed by a model answer of at least three sentences.",
  "Translate the opening paragraphs of Document {d} into {language}, keeping the tone, then explain in English the choices you made.",
  "Produce structured notes on the documents as {format}, with a heading per document and at least {n} points under each.",
  "Explain the documents to {audience}, one section per document, in about {words} words per section.",
  "Compare Document {d} with Document {e} in depth: their subjects, their style, what each assumes the reader knows, and what each leaves out.",
  "Build a glossary of at least {n} unusual words or terms from the documents, giving for each the document it comes from and a careful definition.",
  "Write a critical review of the documents as a collection: which are most informative, which are weakest, and why, in about {words} words.",
  "List every person, place and organisation the documents mention, as {format}, with the document number and a one-sentence note for each.",
  "Write a quiz of {n} multiple-choice questions covering all the documents, with four options each, the answer, and a short explanation.",
  "Rewrite Document {d} for {audience}, then write a paragraph on what you changed and why.",
  "Draft a letter to a friend describing what you learned from these documents, mentioning at least {n} specific details, in about {words} words.",
  "Extract the facts and figures from the documents as {format}, then write a paragraph interpreting the most interesting of them.",
  "Identify the main claim of each document, the evidence it offers, and one question it leaves open; then rank the documents by how convincing they are.",
  "Write a timeline of the events the documents mention, as {format}, followed by a commentary of about {words} words.",
  "Write an essay of about {words} words that uses at least {n} of the documents to discuss how people explain unfamiliar things.",
  "Prepare a briefing for {audience}: a summary, the key points of each document as {format}, and a list of open questions.",
  "Write {n} discussion prompts for a reading group, each tied to a specific document, with notes for the group leader.",
  "Continue the style of Document {d} for another four paragraphs, on a subject taken from Document {e}; do not summarise, write.",
  "Summarise the documents in {language}, one paragraph per document, then give an English version of your summary of Document {d}.",
  "Catalogue the documents as an archivist would: for each, a title, a source, a date if known, a subject heading, and an abstract of about {words} words.",
  "Write a dialogue between two readers who disagree about Documents {d} and {e}, with at least {n} exchanges, then a short neutral summary.",
  "Find every number in the documents and present them as {format} with what each measures; then check them for consistency and comment.",
  "Write study notes for {audience} covering all the documents, with a key-terms box, a summary, and {n} review questions at the end.",
];

/** Questions added after the documents; {d} and {e} name documents. */
export const questions: readonly string[] = [
  "What is the main subject of Document {d}, and which detail in it is the most surprising?",
  "How would the author of Document {d} respond to the ideas in Document {e}?",
  "Which words in Document {d} would a modern reader find hardest, and what do they mean?",
  "What does Document {e} assume its reader already knows?",
  "Is anything in Document {d} contradicted or supported by another document? Explain.",
  "Which document would you give to someone new to the subject first, and why?",
  "Quote the sentence that best sums up Document {e} and explain your choice.",
  "What question does Document {d} raise but leave unanswered?",
  "How does the tone of Document {d} differ from that of Document {e}?",
  "Which of the figures or facts in Document {e} would be most useful to a student?",
  "What would be lost if Document {d} were cut to a single sentence?",
  "Name two things Documents {d} and {e} have in common, and one way they differ.",
];

/** Closing instructions, after the questions. */
export const closings: readonly string[] = [
  "Answer the task first, then the questions in order. Number your answers.",
  "Take the task and the questions in order, and be thorough.",
  "Work through everything above carefully; do not skip any part.",
  "Give a complete answer to the task and to each question.",
  "Begin with the task; answer the questions after it, each under its own heading.",
];

export const languages: readonly string[] = [
  "French",
  "German",
  "Spanish",
  "Italian",
  "Portuguese",
  "Dutch",
  "Swedish",
  "Polish",
];

export const audiences: readonly string[] = [
  "a curious ten-year-old",
  "a first-year university student",
  "a busy executive",
  "a retired engineer",
  "a secondary-school history class",
  "a visitor who reads English as a second language",
  "a lawyer who needs the facts only",
  "a journalist on a deadline",
];

export const formats: readonly string[] = [
  "a Markdown bullet list",
  "a numbered list",
  "a Markdown table",
  "JSON objects, one per line",
  "an outline with headings and sub-points",
  "a two-column list of item and note",
];
