import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createCommandProvider, parseProviderPod } from "../../controller/pods/command-provider.ts";
import { createFakeCloud, type FakeCloud } from "./fake-cloud.ts";

const profile = { name: "h200x8", gpuModel: "H200", gpuCount: 8 };
const request = { podId: "cacheon-t1", profile, maxPricePerHour: 40, userData: "#cloud-config\n{}\n" };

describe("command provider (operator scripts, real processes)", () => {
  const clouds: FakeCloud[] = [];
  const cloud = (...args: Parameters<typeof createFakeCloud>) => {
    const c = createFakeCloud(...args);
    clouds.push(c);
    return c;
  };
  afterEach(async () => {
    for (const c of clouds.splice(0)) {
      const left = c.machines();
      c.dispose();
      expect(left, "machines left running").toEqual([]);
    }
  });

  it("creates, lists, gets and deletes a machine, passing the request as JSON on stdin", async () => {
    const c = cloud();
    const pod = await c.provider.create(request);
    expect(pod).toMatchObject({ status: "provisioning", pricePerHour: 25, podId: "cacheon-t1" });
    expect(c.userData(pod.id)).toBe(request.userData);
    expect((await c.provider.list()).map((p) => p.id)).toEqual([pod.id]);
    expect(await c.provider.get(pod.id)).toMatchObject({ id: pod.id, status: "running" });
    await c.provider.release(pod.id);
    expect(await c.provider.list()).toEqual([]);
    expect(await c.provider.get(pod.id)).toBeUndefined();
    await c.provider.release(pod.id); // already gone: still fine
  });

  it("reports a script that prints something other than JSON, naming the script and the docs", async () => {
    const c = cloud({ env: { FAKE_CLOUD_FAULT: "create:garbage" } });
    await expect(c.provider.create(request)).rejects.toMatchObject({
      code: "invalid-argument",
      message: expect.stringMatching(
        /create script `.*fake-cloud.ts create` printed unusable output: stdout is not JSON: "Created instance i-123 \(pending\)".*docs\/providers.md/,
      ),
    });
  });

  it("reports every field wrong in a pod object at once", async () => {
    const c = cloud({ env: { FAKE_CLOUD_FAULT: "create:bad-pod" } });
    await expect(c.provider.create(request)).rejects.toThrow(
      /"id" must be a non-empty string \(got ""\); "host" must be a string \(got nothing\); "status" must be one of provisioning, running, terminated \(got "booting"\); "pricePerHour" must be a number >= 0 in USD \(got "cheap"\)/,
    );
  });

  it("reports a script that prints nothing", async () => {
    const c = cloud({ env: { FAKE_CLOUD_FAULT: "list:empty" } });
    await expect(c.provider.list()).rejects.toThrow(
      /list script .* printed unusable output: it printed nothing on stdout/,
    );
  });

  it("reports a list that is not a list of pods", async () => {
    const dir = cloud().dir;
    const script = join(dir, "list.sh");
    writeFileSync(script, "#!/bin/sh\necho '{\"machines\": []}'\n", { mode: 0o755 });
    const provider = createCommandProvider({ create: [script], list: [script], delete: [script] });
    await expect(provider.list()).rejects.toThrow(/expected \{"pods": \[\.\.\.\]\} or an array of pods/);
  });

  it("passes on a failing script's exit code and stderr", async () => {
    const c = cloud({ env: { FAKE_CLOUD_FAULT: "create:exit" } });
    await expect(c.provider.create(request)).rejects.toMatchObject({
      code: "unavailable",
      message: expect.stringMatching(
        /failed with exit code 3; stderr: error: quota exceeded for H200 in region eu-1/,
      ),
    });
  });

  it("kills a script that runs past its timeout, with its whole process group", async () => {
    const c = cloud({ env: { FAKE_CLOUD_FAULT: "delete:hang" }, timeoutMs: 400 });
    const started = Date.now();
    await expect(c.provider.release("m-1")).rejects.toMatchObject({
      code: "deadline-exceeded",
      message: expect.stringMatching(/did not finish within 400 ms and was killed/),
    });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("stops a script when the caller aborts", async () => {
    const c = cloud({ env: { FAKE_CLOUD_FAULT: "list:hang" } });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    await expect(c.provider.list(controller.signal)).rejects.toMatchObject({ code: "cancelled" });
  });

  it("says so when the script cannot be started", async () => {
    const provider = createCommandProvider({
      create: ["/nonexistent/cloud-cli"],
      list: ["/x"],
      delete: ["/x"],
    });
    await expect(provider.create(request)).rejects.toMatchObject({
      code: "invalid-config",
      message: expect.stringMatching(
        /create script `\/nonexistent\/cloud-cli` could not be started: .*ENOENT.*check the provider's command path/,
      ),
    });
  });

  it("kills a script that floods its output", async () => {
    const dir = cloud().dir;
    const script = join(dir, "flood.sh");
    writeFileSync(script, "#!/bin/sh\nyes '{}'\n", { mode: 0o755 });
    const provider = createCommandProvider({
      create: [script],
      list: [script],
      delete: [script],
      maxOutputBytes: 10_000,
    });
    await expect(provider.list()).rejects.toMatchObject({ code: "resource-exhausted" });
  });
});

describe("parseProviderPod", () => {
  it("accepts a minimal pod and keeps the pod id tag", () => {
    expect(
      parseProviderPod({ id: "a", host: "", status: "running", pricePerHour: 0, extra: 1 }, "x"),
    ).toEqual({
      id: "a",
      host: "",
      status: "running",
      pricePerHour: 0,
    });
    expect(
      parseProviderPod({ id: "a", host: "h", status: "terminated", pricePerHour: 2, podId: "p" }, "x").podId,
    ).toBe("p");
  });

  it("refuses non-objects, negative or infinite prices and a non-string pod id", () => {
    expect(() => parseProviderPod([1], "where")).toThrow(/where: expected a pod object, got \[1\]/);
    expect(() => parseProviderPod(null, "where")).toThrow(/got null/);
    expect(() => parseProviderPod({ id: "a", host: "h", status: "running", pricePerHour: -1 }, "w")).toThrow(
      /pricePerHour/,
    );
    expect(() =>
      parseProviderPod({ id: "a", host: "h", status: "running", pricePerHour: 1, podId: 5 }, "w"),
    ).toThrow(/"podId" must be a string/);
  });
});
