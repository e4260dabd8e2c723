import { randomUUID } from "node:crypto";
import { toBinary } from "@bufbuild/protobuf";
import { CacheonError } from "../../shared/errors/cacheon-error.ts";
import type { EnrolRequest } from "../../shared/gen/cacheon/v1/agent_service_pb.ts";
import { HardwareReportSchema } from "../../shared/gen/cacheon/v1/hardware_pb.ts";
import type { ControlPlaneStore } from "./control-plane-store.ts";
import {
  enrolmentTokenPrefix,
  hashSecret,
  looksLikeSecret,
  mintSecret,
  sessionCredentialPrefix,
} from "./secrets.ts";

/** Longest allowed pod id; pod ids come from cloud providers and end up in logs and keys. */
export const maxPodIdLength = 128;
const podIdPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

/** Checks a pod id; throws CacheonError("invalid-argument") naming the problem. */
export function validatePodId(podId: string): void {
  if (podId.length === 0 || podId.length > maxPodIdLength || !podIdPattern.test(podId)) {
    throw new CacheonError(
      "invalid-argument",
      `invalid pod id ${JSON.stringify(podId.slice(0, 140))}: use 1-${maxPodIdLength} letters, digits, ".", "_", ":" or "-", starting with a letter or digit`,
    );
  }
}

/** A freshly minted enrolment token. The raw token exists only here; the store keeps its hash. */
export interface MintedToken {
  token: string;
  podId: string;
  expiresAtUnixMs: number;
}

/** Mints a one-time enrolment token bound to `podId`, valid for `ttlMs`. */
export function mintEnrolmentToken(
  store: ControlPlaneStore,
  podId: string,
  ttlMs: number,
  nowMs: number,
): MintedToken {
  validatePodId(podId);
  if (!(ttlMs > 0 && ttlMs <= 7 * 24 * 3600_000)) {
    throw new CacheonError(
      "invalid-argument",
      `enrolment token lifetime must be between 1 ms and 7 days (got ${ttlMs} ms)`,
    );
  }
  const token = mintSecret(enrolmentTokenPrefix);
  const expiresAtUnixMs = nowMs + ttlMs;
  store.insertEnrolmentToken({
    tokenHash: hashSecret(token),
    podId,
    createdAtMs: nowMs,
    expiresAtMs: expiresAtUnixMs,
  });
  return { token, podId, expiresAtUnixMs };
}

/** What a successful enrolment returns. */
export interface Enrolment {
  agentId: string;
  podId: string;
  /** Raw credential, handed to the agent once; only its hash is stored. */
  sessionCredential: string;
}

/**
 * Trades a one-time token for an agent id and session credential. Refuses unknown or forged,
 * expired and used tokens, a token minted for another pod, and a pod that already has an agent.
 */
export function enrolAgent(store: ControlPlaneStore, request: EnrolRequest, nowMs: number): Enrolment {
  validatePodId(request.podId);
  const refusal = (what: string) =>
    new CacheonError("permission-denied", `enrolment refused for pod ${request.podId}: ${what}`);
  if (!looksLikeSecret(request.enrolmentToken, enrolmentTokenPrefix)) {
    throw refusal("the enrolment token is malformed; copy the whole token the controller minted (cpe_...)");
  }
  const tokenHash = hashSecret(request.enrolmentToken);
  const row = store.enrolmentToken(tokenHash);
  if (!row) throw refusal("unknown enrolment token; mint one with `cacheon-controller mint-token --pod ID`");
  if (row.podId !== request.podId) throw refusal("the token was minted for another pod");
  if (row.usedAtMs !== null) throw refusal("the token was already used; mint a new one");
  if (row.expiresAtMs <= nowMs) {
    throw refusal(`the token expired at ${new Date(row.expiresAtMs).toISOString()}; mint a new one`);
  }
  const sessionCredential = mintSecret(sessionCredentialPrefix);
  const agentId = `agent-${randomUUID()}`;
  const outcome = store.consumeTokenAndAddAgent(
    tokenHash,
    {
      agentId,
      podId: request.podId,
      credentialHash: hashSecret(sessionCredential),
      agentVersion: request.agentVersion,
      hardware: request.hardware ? toBinary(HardwareReportSchema, request.hardware) : new Uint8Array(),
      enrolledAtMs: nowMs,
      status: "active",
    },
    nowMs,
  );
  if (outcome === "token-used") throw refusal("the token was already used; mint a new one");
  if (outcome === "pod-taken") {
    throw new CacheonError(
      "failed-precondition",
      `enrolment refused for pod ${request.podId}: another agent is already enrolled for this pod; retire it first`,
    );
  }
  return { agentId, podId: request.podId, sessionCredential };
}
