import { execFileSync } from "node:child_process";
import { join } from "node:path";

/**
 * Makes a self-signed P-256 certificate for localhost and 127.0.0.1 with openssl, so TLS is
 * exercised for real. Returns the paths of the PEM files written in `dir`.
 */
export function makeSelfSignedCert(
  dir: string,
  options: { name?: string; days?: number } = {},
): {
  cert: string;
  key: string;
} {
  const name = options.name ?? "server";
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      String(options.days ?? 1),
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}
