/**
 * What the sim's model writes with: the words and punctuation it draws its answers from, as Qwen2.5
 * token ids (only words that are one token, with and without a capital and a leading space).
 */
import { encode } from "./tokenizer.ts";

export { END_OF_TEXT_ID, IM_END_ID, IM_START_ID } from "../shared/tokenizer/qwen-tokenizer.ts";

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

/** Punctuation the model emits as whole tokens. */
export const punctuationTokens: readonly string[] = [".", ",", ";", ":", "!", "?", "\n"];

/** The id of a piece that is one token. */
function single(piece: string): number | undefined {
  const ids = encode(piece);
  return ids.length === 1 ? ids[0] : undefined;
}

/** The id of one punctuation piece (each of {@link punctuationTokens} is one token). */
export function punctuationId(piece: string): number {
  const id = single(piece);
  if (id === undefined) throw new Error(`"${piece}" is not one Qwen token`);
  return id;
}

/**
 * Token ids the model generates as text: whole words with a leading space, capitalised words with a
 * leading space (or without one at the start of a line) and punctuation.
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
  const words = [...new Set(commonWords.split(/\s+/).filter(Boolean))];
  const add = (into: number[], piece: string) => {
    const id = single(piece);
    if (id !== undefined && !into.includes(id)) into.push(id);
  };
  for (const w of words) {
    const cap = (w[0]?.toUpperCase() ?? "") + w.slice(1);
    add(lower, ` ${w}`);
    add(capital, ` ${cap}`);
    add(lineStart, cap);
  }
  return { lower, capital, lineStart, punctuation: punctuationTokens.map(punctuationId) };
})();
