import type { Analyzer } from '../analyze.ts';
import { hasFlag } from '../commandFacts.ts';
import { DATABASE_CLIENTS, MUTATING_VERBS, SERVICE_CLIS } from '../serviceClients.ts';
import type { DatabaseClient, Dialect, ServiceCli } from '../serviceClients.ts';
import { judgeStatements } from '../serviceStatements.ts';
import { literalWord, single } from '../words.ts';
import type { Word } from '../words.ts';
import type { StdinOf } from './stdin.ts';

/**
 * Destruction asked of a service through its client (serviceClients.ts): statements a database
 * shell is given (`-c`, `-e`, `--eval`, operands, a here-doc or here-string, a pipe) and the verbs of
 * forge and cloud CLIs. A destructive statement or verb is asked about; so is a statement text the
 * guard cannot read (a file, a computed string); everyday reads pass.
 */

/** A database client's words, sorted: statement texts, statement files, operands and options. */
interface ClientArgs {
  client: DatabaseClient;
  texts: Word[];
  files: Word[];
  operands: Word[];
  options: string[];
  /** Words that are connection targets or statements, not file names (unresolvedArguments skips them). */
  notPaths: Set<Word>;
}

/** Option values that name a server or a database, not a file. */
const CONNECTION_OPTIONS = new Set([
  '-d',
  '--dbname',
  '-h',
  '--host',
  '-U',
  '--username',
  '-u',
  '--user',
  '--port',
  '--url',
  '--uri',
  '-D',
  '--database',
  '-n',
]);

/** The database client a command runs, with its words sorted (`cockroach sql …` is one). */
export function databaseClient(name: string, args: Word[]): ClientArgs | null {
  // Own keys only: a command named `constructor` is no client.
  const client = Object.hasOwn(DATABASE_CLIENTS, name) ? DATABASE_CLIENTS[name] : undefined;
  if (!client) return null;
  let rest = args;
  if (client.subcommand) {
    const at = args.findIndex((w) => !(single(w) ?? '').startsWith('-'));
    if (at < 0 || single(args[at]) !== client.subcommand) return null;
    rest = [...args.slice(0, at), ...args.slice(at + 1)];
  }
  const texts: Word[] = [];
  const files: Word[] = [];
  const operands: Word[] = [];
  const options: string[] = [];
  const notPaths = new Set<Word>();
  const takes = (key: string): 'text' | 'file' | 'value' | null =>
    client.text.includes(key)
      ? 'text'
      : client.files.includes(key)
        ? 'file'
        : client.values.includes(key)
          ? 'value'
          : null;
  const put = (key: string, value: Word | undefined, original?: Word): void => {
    if (!value) return;
    const kind = takes(key);
    if (kind === 'text') texts.push(value);
    else if (kind === 'file') files.push(value);
    else if (CONNECTION_OPTIONS.has(key)) notPaths.add(original ?? value);
    if (kind === 'text') notPaths.add(original ?? value);
  };
  let ended = false;
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i] as Word;
    const text = single(word);
    if (ended || text === null || !text.startsWith('-') || text === '-') {
      operands.push(word);
      continue;
    }
    if (text === '--') {
      ended = true;
      continue;
    }
    options.push(text);
    const eq = text.indexOf('=');
    if (text.startsWith('--') && eq > 0) {
      put(text.slice(0, eq), literalWord(text.slice(eq + 1)), word);
      continue;
    }
    if (takes(text)) {
      put(text, rest[i + 1]);
      i++;
      continue;
    }
    // `-Xqc 'sql'`, `-e"sql"`, `-hlocalhost`: in a bundle the first option that takes a value takes the rest.
    if (!text.startsWith('--') && text.length > 2) {
      for (let c = 1; c < text.length; c++) {
        const flag = `-${text[c]}`;
        if (!takes(flag)) continue;
        const glued = text.slice(c + 1);
        if (glued !== '') put(flag, literalWord(glued), word);
        else {
          put(flag, rest[i + 1]);
          i++;
        }
        break;
      }
    }
  }
  return {
    client,
    texts,
    files,
    operands,
    options,
    notPaths: withOperandRoles(client, operands, texts, files, notPaths),
  };
}

/** What the operands are for this client: a connection, statements, or script files. */
function withOperandRoles(
  client: DatabaseClient,
  operands: Word[],
  texts: Word[],
  files: Word[],
  notPaths: Set<Word>,
): Set<Word> {
  switch (client.operands) {
    case 'connection':
      for (const w of operands) notPaths.add(w);
      break;
    case 'statementAfterFirst':
      texts.push(...operands.slice(1));
      for (const w of operands.slice(1)) notPaths.add(w);
      break;
    case 'statement':
      // redis-cli FLUSHALL: the operands are one command.
      if (operands.length > 0) {
        const values = operands.map((w) => single(w));
        texts.push(
          values.every((v) => v !== null)
            ? literalWord(values.join(' '))
            : { ...literalWord(''), values: null, text: operands.map((w) => w.text).join(' ') },
        );
        for (const w of operands) notPaths.add(w);
      }
      break;
    case 'scripts':
      // mongosh [address] [file.js …]: the first operand names the server unless it is a script.
      operands.forEach((w, i) => {
        const value = single(w);
        if (i === 0 && !(value !== null && /\.(js|mjs|cjs)$/.test(value))) notPaths.add(w);
        else files.push(w);
      });
      break;
  }
  return notPaths;
}

/** Words of a service client that name no file (connection targets, statements): not asked about as paths. */
export function serviceNotPaths(name: string, args: Word[]): Set<Word> {
  return databaseClient(name, args)?.notPaths ?? new Set();
}

/** The dialect of statements a client reads from stdin, or null when it reads none there. */
export function stdinDialect(name: string, args: Word[]): Dialect | null {
  const parsed = databaseClient(name, args);
  if (!parsed || parsed.texts.length > 0 || parsed.files.length > 0) return null;
  if (parsed.client.stdinIsData?.some((f) => parsed.options.includes(f))) return null;
  return parsed.client.dialect;
}

/** Judge statements for a client: destruction and escapes to the machine are asked about. */
export function judgeServiceText(a: Analyzer, dialect: Dialect, text: string, subject: string): void {
  for (const finding of judgeStatements(dialect, text)) {
    if (finding.kind === 'destroy')
      a.add('ask', 'ask.data-destroy', subject, true, `destroys data in a database (${finding.what})`);
    else
      a.add(
        'ask',
        'ask.inline-code',
        subject,
        true,
        `a database client told to reach the machine it runs on (${finding.what})`,
      );
  }
}

/** Everything this module asks about one simple command. */
export function serviceChecks(a: Analyzer, name: string, args: Word[], subject: string, stdin: StdinOf): void {
  const parsed = databaseClient(name, args);
  if (parsed) databaseCheck(a, parsed, subject, stdin);
  for (const cli of SERVICE_CLIS) if (cli.programs.includes(name)) cliCheck(a, cli, args, subject);
}

function databaseCheck(a: Analyzer, parsed: ClientArgs, subject: string, stdinOf: StdinOf): void {
  const { client, texts, files, options } = parsed;
  if (texts.length > 0 && client.codeUnless && !client.codeUnless.some((o) => options.includes(o))) {
    a.add('ask', 'ask.inline-code', subject, true);
    return;
  }
  if (files.length > 0)
    a.add('ask', 'ask.service-input-unknown', subject, true, 'a database client runs the statements of a file');
  for (const word of texts) {
    if (word.values === null) {
      a.add(
        'ask',
        'ask.service-input-unknown',
        subject,
        true,
        `a database client runs statements computed at run time (\`${word.text}\`)`,
      );
      continue;
    }
    for (const value of word.values) judgeServiceText(a, client.dialect, value, subject);
  }
  if (texts.length > 0 || files.length > 0) return;
  if (client.stdinIsData?.some((f) => options.includes(f))) return;
  // No statements on the command line: it reads them from stdin (a pipe is judged by the pipeline).
  const stdin = stdinOf();
  if (!stdin) return;
  if (stdin.kind === 'text' && !stdin.computed) judgeServiceText(a, client.dialect, stdin.text, subject);
  else if (stdin.kind === 'word' && single(stdin.word) !== null)
    judgeServiceText(a, client.dialect, single(stdin.word) ?? '', subject);
  else
    a.add(
      'ask',
      'ask.service-input-unknown',
      subject,
      true,
      stdin.kind === 'file'
        ? 'a database client runs the statements of a file'
        : 'a database client runs statements filled in at run time',
    );
}

const compiled = new Map<string, RegExp>();
/** A whole-word, case-insensitive regex from a table entry ('' matches nothing). */
function wordRegex(source: string | undefined): RegExp | null {
  if (!source) return null;
  let re = compiled.get(source);
  if (!re) {
    re = new RegExp(`^(?:${source})$`, 'i');
    compiled.set(source, re);
  }
  return re;
}

/** A CLI's command path: its leading operands (each a list of possible values, null when computed). */
interface CliWords {
  path: (string[] | null)[];
  /** Every operand's values (for secrets), options, and option values by option. */
  operands: string[];
  options: string[];
  optionValues: Map<string, Word[]>;
}

function cliWords(cli: ServiceCli, args: Word[]): CliWords {
  const values = new Set(cli.values ?? []);
  const path: (string[] | null)[] = [];
  const operands: string[] = [];
  const options: string[] = [];
  const optionValues = new Map<string, Word[]>();
  const addValue = (key: string, word: Word | undefined): void => {
    if (word) optionValues.set(key, [...(optionValues.get(key) ?? []), word]);
  };
  let budget = cli.depth;
  // An option the table does not know may take the next word as its value: that word is kept in
  // the path without using up a place, so `kubectl --insecure-skip-tls-verify delete` is seen.
  let maybeValue = false;
  for (let i = 0; i < args.length; i++) {
    const word = args[i] as Word;
    const text = single(word);
    if (text === '--') break;
    if (text !== null && text.startsWith('-') && text !== '-') {
      options.push(text);
      const eq = text.indexOf('=');
      maybeValue = false;
      if (eq > 0) addValue(text.slice(0, eq), literalWord(text.slice(eq + 1)));
      else if (values.has(text)) addValue(text, args[++i]);
      else if (!text.startsWith('--') && text.length > 2 && values.has(text.slice(0, 2)))
        addValue(text.slice(0, 2), literalWord(text.slice(2)));
      else maybeValue = true;
      continue;
    }
    const parts = word.values === null ? null : word.values.flatMap((v) => v.split(':')).filter(Boolean);
    if (parts) operands.push(...parts);
    if (budget > 0) {
      path.push(parts);
      if (!maybeValue) budget--;
    }
    maybeValue = false;
  }
  return { path, operands, options, optionValues };
}

/** A forge or cloud CLI: a destructive verb asks; a plain read passes; anything else as the table says. */
function cliCheck(a: Analyzer, cli: ServiceCli, args: Word[], subject: string): void {
  const rule = cli.data ? 'ask.data-destroy' : 'ask.resource-delete';
  if (cli.always) {
    a.add('ask', rule, subject, true);
    return;
  }
  const { path, operands, options, optionValues } = cliWords(cli, args);
  const destroy = wordRegex(cli.destroy);
  const read = wordRegex(cli.read);
  const mutating = wordRegex(MUTATING_VERBS) as RegExp;
  // A computed word before the verb hides what the command does (`kubectl $verb pod x`).
  for (const slot of path) {
    if (slot === null) {
      a.add('ask', rule, subject, true, 'a service client whose command is computed at run time');
      return;
    }
    if (slot.some((w) => destroy?.test(w) || read?.test(w) || mutating.test(w))) break;
  }
  const words = path.flatMap((slot) => slot ?? []);
  const destroyed =
    (destroy !== null && words.some((w) => destroy.test(w))) ||
    (cli.destroyWith ?? []).some(
      (d) =>
        (d.verb === undefined || words.some((w) => wordRegex(d.verb)?.test(w))) &&
        d.flags.some((f) => hasFlag(args, f)),
    ) ||
    Object.entries(cli.destroyValues ?? {}).some(([option, value]) =>
      (optionValues.get(option) ?? []).some(
        (w) => w.values === null || w.values.some((v) => wordRegex(value)?.test(v)),
      ),
    );
  if (destroyed) {
    a.add('ask', rule, subject, true);
    return;
  }
  const secret = wordRegex(cli.secret);
  const isRead = read !== null && words.some((w) => read.test(w)) && !words.some((w) => mutating.test(w));
  const revealing = secret !== null && [...operands, ...options].some((w) => secret.test(w));
  if (isRead && revealing) a.add('ask', 'ask.service-secret', subject, true);
  else if (!isRead && cli.otherwise === 'ask') a.add('ask', 'ask.cloud', subject, true);
}
