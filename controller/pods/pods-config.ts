import type { ConfigSchema } from "../../shared/config/config-schema.ts";

/**
 * Settings of the pods area (cloud-init user-data). Kept beside the code that reads them; the
 * controller's commands merge them with controllerConfigSchema so one config file serves both.
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
} satisfies ConfigSchema;
