import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isLoopbackHost } from "../../shared/net/loopback.ts";
import { parseListen } from "../web/web-server.ts";
import { type DoctorCheck, fail, ok, skip, warn } from "./doctor-check.ts";

/** The control plane settings the check reads (ControllerSettings.controlPlane) and whether it runs. */
export interface TlsSettings {
  listen: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  allowPlaintext: boolean;
  /** agents.mode remote: the control plane listens. */
  used: boolean;
}

/** A certificate expiring within this many days is a warning. */
export const certificateWarningDays = 21;

/**
 * Checks the control plane's TLS files: both readable, the certificate parses, the key is the
 * certificate's, the certificate is valid now and for a while, and names the listen host. Without
 * TLS, a control plane on a non-loopback address must be explicitly allowed (a TLS proxy in front).
 */
export async function checkTls(
  settings: TlsSettings,
  options: { nowMs?: number } = {},
): Promise<DoctorCheck> {
  const title = "control plane TLS";
  if (!settings.used) return skip("tls", title, "agents.mode is local: no control plane listens");
  const { host } = parseListen(settings.listen, "controlPlane.listen");
  if (!settings.tlsCertFile && !settings.tlsKeyFile) {
    if (isLoopbackHost(host)) return ok("tls", title, `plaintext on ${settings.listen} (loopback only)`);
    if (settings.allowPlaintext)
      return warn(
        "tls",
        title,
        `plaintext on ${settings.listen} (controlPlane.allowPlaintext)`,
        "only behind a proxy that terminates TLS: agents send their results and tokens over it",
      );
    return fail(
      "tls",
      title,
      `plaintext on the non-loopback address ${settings.listen}`,
      "set controlPlane.tlsCertFile and controlPlane.tlsKeyFile (PEM), or listen on 127.0.0.1 behind a TLS proxy with controlPlane.allowPlaintext",
    );
  }
  if (!settings.tlsCertFile || !settings.tlsKeyFile)
    return fail(
      "tls",
      title,
      "only one of the certificate and key is set",
      "set both controlPlane.tlsCertFile and controlPlane.tlsKeyFile",
    );
  let certPem: Buffer;
  let keyPem: Buffer;
  try {
    certPem = await readFile(settings.tlsCertFile);
    keyPem = await readFile(settings.tlsKeyFile);
  } catch (error) {
    return fail(
      "tls",
      title,
      `cannot read ${(error as NodeJS.ErrnoException).path ?? "a TLS file"}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      "check the path and that the controller's user may read it",
    );
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (error) {
    return fail(
      "tls",
      title,
      `${settings.tlsCertFile} is not a PEM certificate: ${(error as Error).message}`,
      "give the certificate chain in PEM (-----BEGIN CERTIFICATE-----)",
    );
  }
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch (error) {
    return fail(
      "tls",
      title,
      `${settings.tlsKeyFile} is not a PEM private key: ${(error as Error).message}`,
      "give the unencrypted private key in PEM",
    );
  }
  const details = [
    `subject ${cert.subject.replace(/\n/g, ", ")}`,
    `valid ${cert.validFrom} to ${cert.validTo}`,
  ];
  if (!matches)
    return fail(
      "tls",
      title,
      `the key ${settings.tlsKeyFile} is not the key of ${settings.tlsCertFile}`,
      "give the key the certificate was issued for",
      details,
    );
  const now = options.nowMs ?? Date.now();
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (now < from)
    return fail(
      "tls",
      title,
      `the certificate is not valid before ${cert.validFrom}`,
      "check the clock, or use a certificate valid now",
      details,
    );
  if (now > to)
    return fail(
      "tls",
      title,
      `the certificate expired on ${cert.validTo}`,
      "renew it: agents refuse an expired certificate",
      details,
    );
  const daysLeft = Math.floor((to - now) / 86_400_000);
  const names = host === "0.0.0.0" || host === "::" ? undefined : host;
  if (names && cert.checkHost(names) === undefined && cert.checkIP(names) === undefined)
    return warn(
      "tls",
      title,
      `the certificate does not name ${names}`,
      "agents dial pods.controllerUrl: make sure the certificate names that host",
      details,
    );
  if (daysLeft < certificateWarningDays)
    return warn(
      "tls",
      title,
      `the certificate expires in ${daysLeft} days (${cert.validTo})`,
      "renew it before it expires",
      details,
    );
  return ok("tls", title, `certificate and key match, valid for ${daysLeft} more days`, details);
}
