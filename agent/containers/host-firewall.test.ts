import { describe, expect, it } from "vitest";
import { guardRule, ownedGuardBridges, ruleComment } from "./host-firewall.ts";

describe("the host guard's rules and their owner", () => {
  it("names the owner in a comment, reduced to characters iptables keeps as they are", () => {
    expect(ruleComment("agt_01 x/y")).toBe("cacheon-agent=agt_01-x-y");
    expect(guardRule("cacheon-ab12cd", "agt_01")).toEqual([
      "-i",
      "cacheon-ab12cd",
      "-m",
      "conntrack",
      "--ctstate",
      "NEW,INVALID",
      "-m",
      "comment",
      "--comment",
      "cacheon-agent=agt_01",
      "-j",
      "DROP",
    ]);
  });

  it("finds only the owner's rules in iptables -S output (as iptables prints them back)", () => {
    const listing = [
      "-P INPUT ACCEPT",
      '-A INPUT -i cacheon-aaaaaa -m conntrack --ctstate INVALID,NEW -m comment --comment "cacheon-agent=agt_01" -j DROP',
      '-A INPUT -i cacheon-bbbbbb -m conntrack --ctstate INVALID,NEW -m comment --comment "cacheon-agent=agt_02" -j DROP',
      "-A INPUT -i cacheon-cccccc -m conntrack --ctstate INVALID,NEW -m comment --comment cacheon-agent=agt_01 -j DROP",
      '-A INPUT -i cacheon-dddddd -m conntrack --ctstate INVALID,NEW -m comment --comment "cacheon-agent=agt_010" -j DROP',
      "-A INPUT -i eth0 -p tcp --dport 22 -j ACCEPT",
    ].join("\n");
    expect(ownedGuardBridges(listing, "agt_01")).toEqual(["cacheon-aaaaaa", "cacheon-cccccc"]);
  });
});
