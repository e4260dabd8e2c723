import type { ConfigSchema } from "../../shared/config/config-schema.ts";

/**
 * Settings of the pods area: the fleet (provider, budget, timeouts) and the cloud-init user-data
 * it renders. Kept beside the code that reads them; controllerConfigSchema includes them so one
 * config file serves every command.
 */
export const podsConfigSchema = {
  "pods.controllerUrl": {
    type: "string",
    doc: "URL agents on rented pods dial: the control plane's public https address.",
    flag: "controller",
  },
  "pods.bundleUrl": {
    type: "string",
    doc: "URL pods download the agent bundle from (scripts/build-agent-bundle builds it).",
    flag: "bundle-url",
  },
  "pods.bundleSha256": {
    type: "string",
    doc: "sha256 (hex) of the agent bundle, from the .sha256 file published beside it.",
    flag: "bundle-sha256",
  },
  "pods.bootReportUrl": {
    type: "string",
    doc: "URL pods POST boot failures to. Default: <controllerUrl>/v1/pods/<pod>/boot-failure.",
    flag: "report-url",
  },
  "pods.provider": {
    type: "string",
    doc: "Where serve rents pods in agents.mode remote: none (agents enrol with tokens from mint-token), static (pods.machines), command (operator scripts pods.createCommand/listCommand/deleteCommand).",
    values: ["none", "static", "command"],
    default: "none",
  },
  "pods.createCommand": {
    type: "string-list",
    doc: "Program and arguments that rent one machine (command provider; JSON on stdin and stdout, see docs/providers.md).",
    default: [],
  },
  "pods.listCommand": {
    type: "string-list",
    doc: "Program and arguments that list the machines held (command provider).",
    default: [],
  },
  "pods.deleteCommand": {
    type: "string-list",
    doc: "Program and arguments that return one machine (command provider).",
    default: [],
  },
  "pods.commandTimeoutSeconds": {
    type: "integer",
    doc: "Longest one provider command may run.",
    default: 120,
    min: 1,
  },
  "pods.machines": {
    type: "string-list",
    doc: 'Pre-provisioned machines for the static provider, each "id@host" or "id@host@pricePerHour".',
    default: [],
  },
  "pods.gpuModel": { type: "string", doc: "GPU model of the pods rented.", default: "H200" },
  "pods.gpuCount": { type: "integer", doc: "GPUs per pod rented.", default: 8, min: 1 },
  "pods.maxPods": { type: "integer", doc: "Most pods alive at once.", default: 2, min: 1 },
  "pods.maxPricePerHour": {
    type: "number",
    doc: "Most one pod may cost, USD per hour; dearer quotes are refused.",
    default: 40,
    min: 0,
  },
  "pods.maxLifetimeMinutes": {
    type: "number",
    doc: "Longest a pod may live from request to release.",
    default: 360,
    min: 0,
  },
  "pods.maxIdleMinutes": {
    type: "number",
    doc: "Longest a pod may sit without work before it is released.",
    default: 10,
    min: 0,
  },
  "pods.provisionTimeoutMinutes": {
    type: "number",
    doc: "The provider must accept an order within this.",
    default: 10,
    min: 0,
  },
  "pods.bootTimeoutMinutes": {
    type: "number",
    doc: "A pod's agent must enrol within this (installs Docker, the toolkit, Node).",
    default: 20,
    min: 0,
  },
  "pods.verifyTimeoutMinutes": {
    type: "number",
    doc: "The hardware report must arrive within this after enrolment.",
    default: 10,
    min: 0,
  },
  "pods.tickSeconds": {
    type: "number",
    doc: "Seconds between fleet housekeeping passes (timeouts, budget, reconciliation).",
    default: 15,
    min: 0,
  },
} satisfies ConfigSchema;
