import { dirname, join, parse } from "node:path";
import type { ConfigSchema } from "../../shared/config/config-schema.ts";

/**
 * Settings of what agents may send: where their events go, how long they are kept, and each
 * agent's quotas. Kept beside the code that reads them; controllerConfigSchema includes them.
 */
export const controlPlaneConfigSchema = {
  "controlPlane.eventsPath": {
    type: "string",
    doc: "SQLite file of the agents' events, kept apart from the store so agents cannot fill the disk that holds rounds and weights; empty: <store name>-events.db beside store.path.",
    default: "",
  },
  "controlPlane.eventRetentionDays": {
    type: "number",
    doc: "Agents' events older than this are deleted.",
    default: 14,
    min: 0.001,
  },
  "controlPlane.maxEventLogMiB": {
    type: "integer",
    doc: "The event log is cut to this size, oldest events first.",
    default: 4096,
    min: 1,
  },
  "controlPlane.agentEventQuotaMiB": {
    type: "integer",
    doc: "Most MiB of one agent's events kept; above it its events are acknowledged but not stored (job results and artefact reports still count).",
    default: 256,
    min: 1,
  },
  "controlPlane.agentEventMiBPerSecond": {
    type: "number",
    doc: "Sustained MiB per second of events one agent may send; above it the controller stops reading its stream until it is back under.",
    default: 1,
    min: 0.001,
  },
  "controlPlane.agentMessagesPerSecond": {
    type: "integer",
    doc: "Sustained messages per second one agent may send (each event of a batch counts as one); above it the controller stops reading its stream until it is back under.",
    default: 1000,
    min: 1,
  },
  "artefacts.urlMinutes": {
    type: "number",
    doc: "Lifetime of an upload URL; URLs are granted when an agent announces an artefact's bytes, each bound to their size and sha256.",
    default: 10,
    min: 0.1,
  },
} satisfies ConfigSchema;

/** The event log's file: the configured path, or <store name>-events.db beside the store. */
export function eventsPathFor(storePath: string, configured: string): string {
  if (configured) return configured;
  if (storePath === ":memory:") return ":memory:";
  return join(dirname(storePath), `${parse(storePath).name}-events.db`);
}
