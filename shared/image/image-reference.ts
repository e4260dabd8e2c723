import { CacheonError } from "../errors/cacheon-error.ts";

/**
 * An image pinned by digest, with the registry and repository normalised. Field names match the
 * proto message cacheon.v1.ImageReference, so `create(ImageReferenceSchema, ref)` converts it.
 */
export interface PinnedImage {
  /** Registry host[:port], e.g. "docker.io", "127.0.0.1:5000". */
  registry: string;
  /** Repository path, e.g. "library/nginx". */
  repository: string;
  /** "sha256:" and 64 lowercase hex. */
  digest: string;
  /** Tag written beside the digest, "" when none. Display only. */
  tag: string;
}

/** Docker Hub's canonical registry name. */
export const dockerHub = "docker.io";

// Limits and grammar from the distribution spec (distribution/reference): a whole name of at most
// 255 characters, tags of at most 128, lowercase path components separated by "/", a domain of
// DNS labels (or an IPv6 literal) with an optional port.
const maxNameLength = 255;
const pathComponent = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const domainLabel = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const portPattern = /^[0-9]{1,5}$/;
const ipv6Literal = /^\[[0-9a-fA-F:.]+\]$/;
const tagPattern = /^[\w][\w.-]{0,127}$/;
const sha256Digest = /^sha256:[a-f0-9]{64}$/;

/** Parses `[registry/]repo[:tag]@sha256:<64 hex>`; throws CacheonError("invalid-argument") saying what is wrong. */
export function parseImageReference(text: string): PinnedImage {
  const result = tryParseImageReference(text);
  if (!result.ok) throw new CacheonError("invalid-argument", result.error);
  return result.image;
}

/** Like {@link parseImageReference} without throwing. */
export function tryParseImageReference(
  text: string,
): { ok: true; image: PinnedImage } | { ok: false; error: string } {
  const fail = (why: string) => ({
    ok: false as const,
    error: `invalid image reference ${quote(text)}: ${why}`,
  });
  if (typeof text !== "string" || text.length === 0) return fail("it is empty");
  if (text.length > maxNameLength + 1 + 128 + 1 + 71) return fail("it is longer than any valid reference");
  // Anything outside printable ASCII (spaces, control characters, look-alike letters such as
  // Cyrillic "а" or fullwidth "＠") is refused before parsing, so nothing can hide in it.
  const bad = [...text].find((ch) => ch < "!" || ch > "~");
  if (bad !== undefined) {
    const code = bad.codePointAt(0)?.toString(16).toUpperCase().padStart(4, "0");
    return fail(
      `it contains ${bad.trim() === "" ? "whitespace or a control character" : `the non-ASCII character "${bad}"`} (U+${code}); references are plain ASCII`,
    );
  }

  const at = text.indexOf("@");
  if (at < 0) {
    return fail(
      "it has no digest. Pin the image by content: append @sha256:<64 hex digits> (`docker buildx imagetools inspect IMAGE` or `docker inspect --format '{{index .RepoDigests 0}}' IMAGE` prints it); tags can be moved and are refused",
    );
  }
  if (text.indexOf("@", at + 1) >= 0) return fail('it contains more than one "@"');
  const namePart = text.slice(0, at);
  const digest = text.slice(at + 1);
  if (!digest.startsWith("sha256:")) return fail(`the digest "${digest}" must start with "sha256:"`);
  const hex = digest.slice("sha256:".length);
  if (/[A-F]/.test(hex)) return fail("the digest must be lowercase hex (the spec does not allow uppercase)");
  if (!/^[0-9a-f]*$/.test(hex)) return fail("the digest holds characters other than hex digits");
  if (hex.length !== 64) return fail(`the digest has ${hex.length} hex digits; sha256 has exactly 64`);
  if (!sha256Digest.test(digest)) return fail("the digest is malformed");

  // A tag follows the last ":" after the last "/" (a ":" before a "/" is a registry port).
  let name = namePart;
  let tag = "";
  const lastSlash = namePart.lastIndexOf("/");
  const colon = namePart.indexOf(":", lastSlash + 1);
  if (colon >= 0) {
    name = namePart.slice(0, colon);
    tag = namePart.slice(colon + 1);
    if (!tagPattern.test(tag)) {
      return fail(
        `the tag "${tag}" is not valid (letters, digits, "_", "." and "-", at most 128, not starting with "." or "-")`,
      );
    }
  }
  if (name.length === 0) return fail("the repository name is empty");
  if (name.length > maxNameLength)
    return fail(`the name is ${name.length} characters; the limit is ${maxNameLength}`);

  const components = name.split("/");
  const traversal = components.find((c) => c === "." || c === "..");
  if (traversal !== undefined) return fail(`the path component "${traversal}" is not allowed`);
  let registry = dockerHub;
  const first = components[0] ?? "";
  if (
    components.length > 1 &&
    (first.includes(".") || first.includes(":") || first === "localhost" || /[A-Z]/.test(first))
  ) {
    registry = first;
    components.shift();
    const domainError = checkDomain(registry);
    if (domainError) return fail(domainError);
  }
  for (const component of components) {
    if (!pathComponent.test(component)) {
      return fail(
        `the path component "${component}" is not valid (lowercase letters and digits, separated by ".", "_", "__" or "-")`,
      );
    }
  }
  if (registry === "index.docker.io" || registry === "registry-1.docker.io") registry = dockerHub;
  if (registry === dockerHub && components.length === 1) components.unshift("library");
  const repository = components.join("/");
  if (`${registry}/${repository}`.length > maxNameLength && registry !== dockerHub) {
    return fail(`the name is longer than ${maxNameLength} characters`);
  }
  return { ok: true, image: { registry, repository, digest, tag } };
}

function checkDomain(domain: string): string | undefined {
  let host = domain;
  const portMatch = /^(.*):([^:\]]*)$/.exec(domain);
  if (portMatch && !ipv6Literal.test(domain)) {
    host = portMatch[1] ?? "";
    const port = portMatch[2] ?? "";
    if (!portPattern.test(port) || Number(port) > 65535 || Number(port) === 0)
      return `the registry port "${port}" is not valid`;
  }
  if (ipv6Literal.test(host)) return undefined;
  const labels = host.split(".");
  if (labels.some((label) => !domainLabel.test(label)))
    return `the registry "${domain}" is not a valid host name`;
  return undefined;
}

/**
 * The canonical text of a reference: `registry/repository[:tag]@digest`. Docker Hub images are
 * written in full ("docker.io/library/nginx@..."), so the text names exactly one thing.
 */
export function formatImageReference(image: PinnedImage, options: { withTag?: boolean } = {}): string {
  const tag = options.withTag !== false && image.tag ? `:${image.tag}` : "";
  return `${image.registry}/${image.repository}${tag}@${image.digest}`;
}

/** The reference to give Docker for pulling: never includes the tag, so only the digest decides. */
export function pullReference(image: PinnedImage): string {
  return formatImageReference(image, { withTag: false });
}

/** The repository as Docker records it in RepoDigests (Docker Hub names are shortened there). */
export function repoDigestName(image: PinnedImage): string {
  if (image.registry !== dockerHub) return `${image.registry}/${image.repository}`;
  return image.repository.startsWith("library/")
    ? image.repository.slice("library/".length)
    : image.repository;
}

function quote(text: unknown): string {
  const s = String(text);
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}
