import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { CacheonError } from "../errors/cacheon-error.ts";
import { cacheonErrorFromRpc, isRetryable, retryDecision } from "./retryable.ts";

describe("retryable table", () => {
  it("retries what the network and a busy peer cause", () => {
    for (const code of [
      Code.Unavailable,
      Code.DeadlineExceeded,
      Code.ResourceExhausted,
      Code.Aborted,
      Code.Internal,
    ]) {
      expect(isRetryable(new ConnectError("x", code)), Code[code]).toBe(true);
    }
    expect(isRetryable(new Error("socket hang up"))).toBe(true);
  });

  it("does not retry refused credentials, malformed input or conflicts", () => {
    for (const code of [
      Code.Unauthenticated,
      Code.PermissionDenied,
      Code.InvalidArgument,
      Code.FailedPrecondition,
    ]) {
      expect(isRetryable(new ConnectError("x", code)), Code[code]).toBe(false);
    }
    expect(retryDecision(new CacheonError("permission-denied", "token used")).reason).toMatch(/enrol again/);
  });

  it("translates RPC errors into CacheonErrors that name the call", () => {
    const err = cacheonErrorFromRpc(new ConnectError("token already used", Code.PermissionDenied), "enrol");
    expect(err).toBeInstanceOf(CacheonError);
    expect(err.code).toBe("permission-denied");
    expect(err.message).toBe("enrol: token already used (gRPC PermissionDenied)");
    const kept = new CacheonError("not-found", "x");
    expect(cacheonErrorFromRpc(kept, "y")).toBe(kept);
  });
});
