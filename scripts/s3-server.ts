// A real S3-compatible server on loopback for tests and the local demo (s3rver: the S3 REST API
// over a folder, with signature V4 and pre-signed URLs).
import { mkdirSync } from "node:fs";
import { parseArgs } from "node:util";
import S3rver from "s3rver";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "4569" },
    host: { type: "string", default: "127.0.0.1" },
    dir: { type: "string", default: ".cacheon/s3" },
  },
});
mkdirSync(values.dir, { recursive: true });
const server = new S3rver({
  port: Number(values.port),
  address: values.host,
  directory: values.dir,
  silent: true,
  configureBuckets: [],
});
await server.run();
console.log(`s3 server listening on http://${values.host}:${values.port} (data in ${values.dir})`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    void server.close().then(() => process.exit(0));
  });
}
