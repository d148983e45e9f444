// Command lines from operators (check_cmd, reload_cmd, announce's exec:) and from Docker labels
// (SERVICE_CHECK_SCRIPT): argv without a shell unless the line itself uses shell syntax. No process code here, so
// that parsing one does not load execa.

/** A command line split into argv, or kept whole for /bin/sh when it uses shell syntax. */
export type ParsedCommand = { shell: false; argv: string[] } | { shell: true; line: string };

const SHELL_CHARS = /[|&;<>()$`*?[\]~#\n]/;
const LEADING_ASSIGNMENT = /^\s*[A-Za-z_]\w*=/;
/** `! cmd`: POSIX pipeline negation, only as the first word. */
const LEADING_BANG = /^\s*!(\s|$)/;

/**
 * Splits a command line the way a POSIX shell would for plain words and quotes, and reports shell
 * syntax (pipes, redirections, `$`, globs, `&&`, a leading VAR= or `!`) so that such lines go to /bin/sh instead.
 * Throws on an empty line, an empty command name or an unterminated quote.
 */
export function parseCommand(line: string): ParsedCommand {
  if (LEADING_ASSIGNMENT.test(line) || LEADING_BANG.test(line)) return { shell: true, line };
  const argv: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1] as string)) word += line[++i];
      else if (c === '$' || c === '`') return { shell: true, line };
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (c === ' ' || c === '\t') {
      if (inWord) argv.push(word);
      word = '';
      inWord = false;
    } else if (SHELL_CHARS.test(c)) {
      return { shell: true, line };
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in command: ${line}`);
  if (inWord) argv.push(word);
  if (argv.length === 0) throw new Error('empty command');
  if (argv[0] === '') throw new Error(`empty command name in: ${line}`);
  return { shell: false, argv };
}

/** The argv to run a command line with: its words, or `/bin/sh -c LINE` for shell syntax. Throws as parseCommand. */
export function commandArgv(line: string): string[] {
  const parsed = parseCommand(line.trim());
  return parsed.shell ? ['/bin/sh', '-c', parsed.line] : parsed.argv;
}
