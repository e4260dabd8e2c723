/**
 * The sim's vocabulary: special tokens, the 256 byte tokens (so any text can be encoded), whole
 * English words with and without a leading space, and word pieces for words it does not know.
 * Token ids are stable: they are positions in {@link vocabulary}.
 */

/** Ends a chat turn; the chat model's end-of-sequence token. */
export const IM_END = "<|im_end|>";
/** Starts a chat turn. */
export const IM_START = "<|im_start|>";
/** End of a plain-text document; also stops generation. */
export const END_OF_TEXT = "<|endoftext|>";

/** Special tokens, in id order. */
export const specialTokens: readonly string[] = [END_OF_TEXT, IM_START, IM_END];
export const END_OF_TEXT_ID = 0;
export const IM_START_ID = 1;
export const IM_END_ID = 2;
/** The id of byte b is BYTE_BASE + b. */
export const BYTE_BASE = 3;

const commonWords = `the of and to in is it that was for on are as with his they at be this from have or by one
had not but what all were when we there can an your which their said if do will each about how up out them then
she many some so these would other into has more her two like him see time could no make than first been its who
now people my made over did down only way find use may water long little very after words called just where most
know get through back much go good new write our me man too any day same right look think also around another came
come work three word must because does part even place well such here take why things help put years different
away again off went old number great tell men say small every found still between name should home big give air
line set own under read last never us left end along while might next sound below saw something thought both few
those always looked show large often together asked house world going want school important until form food keep
children feet land side without boy once animals life enough took sometimes four head above kind began almost live
page got earth need far hand high year mother light parts country father let night following picture being study
second eyes soon times story boys since white days ever paper hard near sentence better best across during today
others however sure means knew try told young miles sun ways thing whole hear example heard several change answer
room sea against top turned learn point city play toward five using himself usually money seen car morning given
river voice power open stood true clear road door fire moment window garden letter silence winter summer forest
light dark evening journey question reason answer truth memory history language music ship island mountain valley
king queen village castle friend stranger doctor captain soldier letter book chapter passage story quiet gentle
strange beautiful ancient careful curious simple quick slow bright cold warm deep certain whether perhaps rather
indeed although toward upon within without beneath beyond among nothing everything someone anyone yourself myself
herself itself ourselves themselves walked spoke smiled laughed wondered remembered returned followed watched
waited carried opened closed believed seemed appeared became remained continued happened understood considered
model server token request response measure speed correct answer result value system process data table value
because therefore finally suddenly slowly quietly softly clearly simply really already almost again`;

/** Suffixes and short pieces for words outside the word list (tokenized greedily, longest first). */
const pieces = `ing ed er est ly tion sion ment ness able ible al ous ive ful less ism ist ity ize ise
s es y en re un in im dis pre pro con com ex st th ch sh ph wh qu tr pl pr br cr dr fr gr bl cl fl gl sl sp sc sk sm sn sw tw
a e i o u an ar at ed el em en er es et ic id il in ir is it le li lo ma me mi mo ne ni no nt ol om on or os ou ra re ri ro se si so ta te ti to tu ur us ve`;

/** Punctuation the model emits as whole tokens. */
export const punctuationTokens: readonly string[] = [".", ",", ";", ":", "!", "?", "\n"];

function buildVocabulary(): string[] {
  const out: string[] = [...specialTokens];
  for (let b = 0; b < 256; b++) out.push(byteToken(b));
  const seen = new Set<string>(out);
  const add = (piece: string) => {
    if (piece !== "" && !seen.has(piece)) {
      seen.add(piece);
      out.push(piece);
    }
  };
  for (const p of punctuationTokens) add(p);
  const words = [...new Set(commonWords.split(/\s+/).filter(Boolean))];
  for (const w of words) {
    const cap = w[0]?.toUpperCase() + w.slice(1);
    add(` ${w}`);
    add(w);
    add(` ${cap}`);
    add(cap);
  }
  for (const p of pieces.split(/\s+/).filter(Boolean)) {
    add(p);
    add(` ${p}`);
  }
  for (const d of "0123456789") {
    add(d);
    add(` ${d}`);
  }
  return out;
}

/** The textual stand-in of a byte token: a single-byte string for ASCII, `<0xNN>` otherwise. */
export function byteToken(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
}

/** Every token's string form, by id. Byte tokens are `<0xNN>`. */
export const vocabulary: readonly string[] = buildVocabulary();

/**
 * Token ids the model generates as text: whole words with a leading space, capitalised words with a
 * leading space (or without one at the start of a line) and punctuation. They never join with a neighbour into a longer vocabulary piece, so
 * re-tokenizing generated text gives back the generated ids.
 */
export const generatableIds: {
  lower: number[];
  capital: number[];
  lineStart: number[];
  punctuation: number[];
} = (() => {
  const lower: number[] = [];
  const capital: number[] = [];
  const lineStart: number[] = [];
  const punctuation: number[] = [];
  const words = new Set(commonWords.split(/\s+/).filter(Boolean));
  vocabulary.forEach((piece, id) => {
    if (punctuationTokens.includes(piece)) punctuation.push(id);
    else if (piece.startsWith(" ") && words.has(piece.slice(1))) lower.push(id);
    else if (piece.startsWith(" ") && words.has(piece.slice(1).toLowerCase())) capital.push(id);
    else if (/^[A-Z]/.test(piece) && words.has(piece.toLowerCase())) lineStart.push(id);
  });
  return { lower, capital, lineStart, punctuation };
})();
