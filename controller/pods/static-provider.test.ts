import { describe, expect, it } from "vitest";
import { createStaticProvider } from "./static-provider.ts";

const h200 = { name: "h200x8", gpuModel: "H200", gpuCount: 8 };
const request = (podId: string, maxPricePerHour = 40) => ({
  podId,
  profile: h200,
  maxPricePerHour,
  userData: "",
});

describe("static provider", () => {
  const machines = [
    { id: "rack-1", host: "10.1.0.1", profile: "h200x8", pricePerHour: 30 },
    { id: "rack-2", host: "10.1.0.2", profile: "h200x8" },
    { id: "rack-3", host: "10.1.0.3", profile: "h100x8" },
  ];

  it("leases free machines of the profile, lists the leased ones, and frees them on release", async () => {
    const provider = createStaticProvider({ machines });
    const a = await provider.create(request("cacheon-a"));
    const b = await provider.create(request("cacheon-b"));
    expect([a.id, b.id]).toEqual(["rack-1", "rack-2"]);
    expect(a).toMatchObject({ status: "running", podId: "cacheon-a", pricePerHour: 30 });
    await expect(provider.create(request("cacheon-c"))).rejects.toThrow(
      /no free machine of profile h200x8 .* \(2 configured, 2 leased\)/,
    );
    expect((await provider.list()).map((p) => p.id)).toEqual(["rack-1", "rack-2"]);
    await provider.release("rack-1");
    await provider.release("rack-1");
    expect(await provider.get("rack-1")).toBeUndefined();
    expect((await provider.create(request("cacheon-d"))).podId).toBe("cacheon-d");
  });

  it("skips machines over the price limit", async () => {
    const provider = createStaticProvider({ machines });
    expect((await provider.create(request("cacheon-a", 10))).id).toBe("rack-2");
    await expect(provider.create(request("cacheon-b", 10))).rejects.toMatchObject({
      code: "resource-exhausted",
    });
  });

  it("refuses duplicate or empty machine ids", () => {
    expect(() => createStaticProvider({ machines: [machines[0], machines[0]] as never })).toThrow(/unique/);
    expect(() => createStaticProvider({ machines: [{ id: "", host: "h", profile: "p" }] })).toThrow(
      /non-empty/,
    );
  });

  it("keeps off the hosts it is asked to avoid, saying so when nothing else is free", async () => {
    const provider = createStaticProvider({ machines });
    const b = await provider.create({ ...request("cacheon-a"), avoidHosts: ["10.1.0.1"] });
    expect(b.id).toBe("rack-2");
    await expect(provider.create({ ...request("cacheon-b"), avoidHosts: ["10.1.0.1"] })).rejects.toThrow(
      /no free machine of profile h200x8 at most USD 40\/h outside hosts 10\.1\.0\.1/,
    );
  });

  it("takes back the leases a restarted fleet still holds, so it neither lists them as gone nor leases them twice", async () => {
    const provider = createStaticProvider({ machines });
    provider.adopt?.([
      { id: "rack-2", podId: "cacheon-old" },
      { id: "no-such-rack", podId: "cacheon-x" },
    ]);
    expect(await provider.list()).toEqual([expect.objectContaining({ id: "rack-2", podId: "cacheon-old" })]);
    expect((await provider.create(request("cacheon-new"))).id).toBe("rack-1");
    await expect(provider.create(request("cacheon-c"))).rejects.toThrow(/no free machine/);
  });
});
