import { describe, expect, it } from "vitest";
import { isLoopbackHost, requireTlsOffLoopback } from "./loopback.ts";

describe("isLoopbackHost", () => {
  it.each([
    ["localhost", true],
    ["LOCALHOST", true],
    ["127.0.0.1", true],
    ["127.8.9.10", true],
    ["::1", true],
    ["[::1]", true],
    ["128.0.0.1", false],
    ["10.0.0.1", false],
    ["0.0.0.0", false],
    ["localhost.evil.example", false],
    ["127.0.0.1.nip.io", false],
    ["::ffff:127.0.0.1", true],
    ["::ffff:10.0.0.1", false],
  ])("%s -> %s", (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });
});

describe("requireTlsOffLoopback", () => {
  it.each([
    "https://controller.example:7443",
    "http://127.0.0.1:7443",
    "http://[::1]:7443",
    "http://localhost/x",
  ])("accepts %s", (url) => {
    expect(requireTlsOffLoopback(url, "controller URL").href).toBe(new URL(url).href);
  });

  it.each([
    ["http://10.0.0.5:7443", /plain http to another machine/],
    ["http://controller.example", /plain http to another machine/],
    ["ftp://127.0.0.1/x", /must start with https:\/\//],
    ["not a url", /is not a URL/],
  ])("refuses %s", (url, message) => {
    expect(() => requireTlsOffLoopback(url, "controller URL")).toThrow(message);
  });
});
