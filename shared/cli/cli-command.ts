import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import { CacheonError } from "../errors/cacheon-error.ts";

/** Exit codes every cacheon command uses. */
export const ExitCode = {
  /** Done; the thing checked is fine. */
  ok: 0,
  /** Done; the thing checked is not fine (hardware fails its profile, a candidate fails). */
  negative: 1,
  /** Usage or configuration error, or the command could not tell (a dependency did not answer). */
  usage: 2,
  /** Interrupted by SIGINT/SIGTERM. */
  interrupted: 130,
} as const;

/** Where a command writes; injectable so tests capture output. */
export interface CommandIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  /** Aborted on SIGINT/SIGTERM; commands stop their work and clean up. */
  signal: AbortSignal;
}

/** Parsed flags of a command. */
export type CommandValues = Record<string, string | boolean | string[] | undefined>;

/** One subcommand of a cacheon program. */
export interface CliCommand {
  /** Name as typed, e.g. "bench". */
  name: string;
  /** One line for the program's command list. */
  summary: string;
  /** Full help text printed by `--help` (usage line, options, examples, exit codes). */
  help: string;
  /** Flags, in node:util parseArgs form. `help` and `json` are added to every command. */
  options: ParseArgsOptionsConfig;
  /** Whether positional arguments are allowed. @default false */
  allowPositionals?: boolean;
  /** Runs the command and returns its exit code. */
  run(values: CommandValues, positionals: string[], io: CommandIo): Promise<number>;
}

/** Options of {@link runCli}. */
export interface RunCliOptions {
  /** Program name, e.g. "cacheon-agent". */
  program: string;
  /** One paragraph on what the program is. */
  description: string;
  /** Subcommands by name, loaded lazily so one command's dependencies do not slow the others. */
  commands: Record<string, { summary: string; load: () => Promise<CliCommand> }>;
  /** What `--version` prints. @default npm's package version, else "0.1.0" */
  version?: string;
  /** Arguments after the program name. */
  argv: string[];
  io: CommandIo;
}

/** Dispatches to a subcommand, handles `--help`, and turns errors into messages and exit codes. */
export async function runCli(options: RunCliOptions): Promise<number> {
  const { program, commands, argv, io } = options;
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(programHelp(options));
    return name === undefined ? ExitCode.usage : ExitCode.ok;
  }
  if (name === "--version") {
    io.stdout.write(`${program} ${options.version ?? process.env.npm_package_version ?? "0.1.0"}\n`);
    return ExitCode.ok;
  }
  const entry = commands[name];
  if (!entry) {
    io.stderr.write(`${program}: unknown command "${name}". Run \`${program} --help\` for the list.\n`);
    return ExitCode.usage;
  }
  const command = await entry.load();
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: {
        ...command.options,
        help: { type: "boolean", short: "h" },
        json: command.options.json ?? { type: "boolean" },
      },
      allowPositionals: command.allowPositionals ?? false,
      strict: true,
    });
  } catch (error) {
    io.stderr.write(`${program} ${name}: ${(error as Error).message}\nRun \`${program} ${name} --help\`.\n`);
    return ExitCode.usage;
  }
  if (parsed.values.help) {
    io.stdout.write(command.help.endsWith("\n") ? command.help : `${command.help}\n`);
    return ExitCode.ok;
  }
  try {
    return await command.run(parsed.values as CommandValues, parsed.positionals, io);
  } catch (error) {
    if (io.signal.aborted) {
      io.stderr.write(`${program} ${name}: interrupted\n`);
      return ExitCode.interrupted;
    }
    const err = CacheonError.from(error);
    io.stderr.write(`${program} ${name}: ${err.message}\n`);
    if (err.code === "internal" && io.env.CACHEON_DEBUG) io.stderr.write(`${err.stack}\n`);
    return err.code === "internal" ? ExitCode.negative : ExitCode.usage;
  }
}

function programHelp(options: RunCliOptions): string {
  const width = Math.max(...Object.keys(options.commands).map((n) => n.length));
  const lines = Object.entries(options.commands).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`);
  return `${options.program}: ${options.description}\n\nUsage: ${options.program} <command> [options]\n\nCommands:\n${lines.join("\n")}\n\nRun \`${options.program} <command> --help\` for a command's options.\n`;
}

/** Runs a program's main from a bin file: wires process I/O, signals and the exit code. */
export async function mainFromProcess(options: Omit<RunCliOptions, "argv" | "io">): Promise<void> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts > 1) process.exit(ExitCode.interrupted);
    process.stderr.write(`\n${options.program}: ${signal} received, stopping (again to force)\n`);
    controller.abort(new CacheonError("cancelled", `${signal} received`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const code = await runCli({
    ...options,
    argv: process.argv.slice(2),
    io: { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal },
  });
  process.exitCode = code;
}
