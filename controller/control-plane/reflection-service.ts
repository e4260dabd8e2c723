import { create, type DescFile, type DescMessage, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import {
  ServerReflection,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
  ServerReflectionResponseSchema,
} from "../../shared/gen/grpc/reflection/v1/reflection_pb.ts";

/**
 * Answers gRPC server reflection v1 (what `grpcurl list` / `describe` use) from the files the
 * generated code embeds: list_services, file_by_filename and file_containing_symbol, each with
 * its transitive imports. Extensions are not used by the contract and answer UNIMPLEMENTED.
 */
export function registerReflection(router: ConnectRouter, files: DescFile[], serviceNames: string[]): void {
  const byName = new Map<string, DescFile>();
  const bySymbol = new Map<string, DescFile>();
  const addFile = (file: DescFile) => {
    if (byName.has(file.name)) return;
    byName.set(file.name, file);
    const addMessage = (m: DescMessage) => {
      bySymbol.set(m.typeName, file);
      for (const e of m.nestedEnums) bySymbol.set(e.typeName, file);
      for (const n of m.nestedMessages) addMessage(n);
    };
    for (const m of file.messages) addMessage(m);
    for (const e of file.enums) bySymbol.set(e.typeName, file);
    for (const s of file.services) {
      bySymbol.set(s.typeName, file);
      for (const method of s.methods) bySymbol.set(`${s.typeName}.${method.name}`, file);
    }
    for (const dep of file.dependencies) addFile(dep);
  };
  for (const file of files) addFile(file);

  const withImports = (file: DescFile): Uint8Array[] => {
    const seen = new Set<string>();
    const out: Uint8Array[] = [];
    const visit = (f: DescFile) => {
      if (seen.has(f.name)) return;
      seen.add(f.name);
      out.push(toBinary(FileDescriptorProtoSchema, f.proto));
      for (const dep of f.dependencies) visit(dep);
    };
    visit(file);
    return out;
  };

  const answer = (request: ServerReflectionRequest): ServerReflectionResponse => {
    const base = { validHost: request.host, originalRequest: request };
    const notFound = (what: string) =>
      create(ServerReflectionResponseSchema, {
        ...base,
        messageResponse: {
          case: "errorResponse",
          value: { errorCode: Code.NotFound, errorMessage: `${what} not found` },
        },
      });
    const files = (file: DescFile | undefined, what: string) =>
      file
        ? create(ServerReflectionResponseSchema, {
            ...base,
            messageResponse: {
              case: "fileDescriptorResponse",
              value: { fileDescriptorProto: withImports(file) },
            },
          })
        : notFound(what);
    const r = request.messageRequest;
    switch (r.case) {
      case "listServices":
        return create(ServerReflectionResponseSchema, {
          ...base,
          messageResponse: {
            case: "listServicesResponse",
            value: { service: serviceNames.map((name) => ({ name })) },
          },
        });
      case "fileByFilename":
        return files(byName.get(r.value), `file ${r.value}`);
      case "fileContainingSymbol":
        return files(bySymbol.get(r.value), `symbol ${r.value}`);
      default:
        return create(ServerReflectionResponseSchema, {
          ...base,
          messageResponse: {
            case: "errorResponse",
            value: { errorCode: Code.Unimplemented, errorMessage: "extensions are not used by this server" },
          },
        });
    }
  };

  router.service(ServerReflection, {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) yield answer(request);
    },
  });
}
