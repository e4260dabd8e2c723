import type { ConnectRouter } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus } from "../../shared/gen/grpc/health/v1/health_pb.ts";

/**
 * Standard gRPC health checking (grpc.health.v1): "" (the whole server) and each named service
 * are SERVING while `serving()` is true; other names are NOT_FOUND, as the protocol asks.
 */
export function registerHealth(router: ConnectRouter, serviceNames: string[], serving: () => boolean): void {
  const known = new Set(["", ...serviceNames]);
  const status = () =>
    serving() ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING;
  router.service(Health, {
    check(request) {
      if (!known.has(request.service))
        throw new ConnectError(`unknown service ${request.service}`, Code.NotFound);
      return { status: status() };
    },
    list() {
      return {
        statuses: Object.fromEntries([...known].filter(Boolean).map((name) => [name, { status: status() }])),
      };
    },
    async *watch(request, context) {
      if (!known.has(request.service)) {
        yield { status: HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN };
      } else {
        yield { status: status() };
      }
      await new Promise<void>((resolve) =>
        context.signal.addEventListener("abort", () => resolve(), { once: true }),
      );
    },
  });
}
