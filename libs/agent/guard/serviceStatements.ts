import type { Dialect } from './serviceClients.ts';

/**
 * What statements given to a database client do: destroy data (DROP, TRUNCATE, DELETE or UPDATE
 * without a real WHERE, FLUSHALL, dropDatabase, deleteMany({})), or escape to the machine the
 * client runs on (psql's `\!`, mysql's `system`, sqlite's `.shell`, COPY … PROGRAM, mongosh's
 * `require`). Everything else (reads, inserts, targeted updates) is the database's business.
 * A text is judged whole: one destructive statement anywhere makes it destructive.
 */

export interface StatementFinding {
  kind: 'destroy' | 'escape';
  /** What was found, for the reason (`DROP TABLE`, `\!`). */
  what: string;
}

export function judgeStatements(dialect: Dialect, text: string): StatementFinding[] {
  switch (dialect) {
    case 'redis':
      return redisCommands(text);
    case 'mongo':
      return mongoCode(text);
    default:
      return sqlText(dialect, text);
  }
}

// ---- SQL ----

/**
 * psql backslash commands that only describe or format; any other (`\!`, `\o |cmd`,
 * `\copy … program`, `\i file`, `\gexec`) is asked about.
 */
const PSQL_QUIET_META =
  /^(d[a-zA-Z]*\+?|l\+?|conninfo|timing|x|a|t|q|\?|h|encoding|sf\+?|sv\+?|echo|qecho|pset|z|C|H|f|errverbose|copyright)$/;

/** A client's own commands that reach the machine it runs on (not the server). */
const CLIENT_ESCAPES: Partial<Record<Dialect, RegExp>> = {
  mysql: /(^|[\n;])\s*(system|pager|tee|source|edit)\b|\\[!.PTe]/i,
  sqlite: /(^|[\n;])\s*\.(shell|system|sh|once|output|log|load|read|import|excel|save|backup|restore|open|cd)\b/i,
  sql: /\bxp_cmdshell\b|(^|[\n;])\s*(:!!|!!|\.shell|\.system)/i,
};

function clientEscape(dialect: Dialect, raw: string, code: string): string | null {
  if (dialect !== 'psql') return CLIENT_ESCAPES[dialect]?.exec(code)?.[0].trim() ?? null;
  for (const m of code.matchAll(/\\([a-zA-Z]+\+?|[!?]|\\)?/g)) {
    const name = m[1] ?? '';
    if (name !== '\\' && !PSQL_QUIET_META.test(name)) return `\\${name}`;
  }
  // psql runs backticks inside a backslash command's arguments as shell commands.
  return /\\[a-zA-Z][^\n]*`/.test(raw) ? 'backticks in a backslash command' : null;
}

function sqlText(dialect: Dialect, text: string): StatementFinding[] {
  const findings: StatementFinding[] = [];
  const { code, strings } = stripSql(text, dialect === 'mysql');
  const escape = clientEscape(dialect, text, code);
  if (escape) findings.push({ kind: 'escape', what: escape });
  // COPY … TO/FROM PROGRAM runs a shell command where the server runs; LOAD DATA LOCAL INFILE reads a local file.
  if (/\bPROGRAM\b/i.test(code) && /\bCOPY\b/i.test(code)) findings.push({ kind: 'escape', what: 'COPY … PROGRAM' });
  if (/\bLOCAL\s+INFILE\b/i.test(code)) findings.push({ kind: 'escape', what: 'LOAD DATA LOCAL INFILE' });
  const destroy = destroyingSql(code);
  if (destroy) findings.push({ kind: 'destroy', what: destroy });
  // Dynamic SQL (EXECUTE 'DROP …', sp_executesql, PREPARE s FROM '…'): the strings are statements too.
  else if (/\b(EXECUTE|EXEC|PREPARE|SP_EXECUTESQL|DBLINK\w*)\b/i.test(code)) {
    for (const s of strings) {
      const inner = destroyingSql(stripSql(s, false).code);
      if (inner) {
        findings.push({ kind: 'destroy', what: inner });
        break;
      }
    }
  }
  return findings;
}

/**
 * SQL with comments removed and string literals emptied (their texts returned apart); quoted
 * identifiers become `x`. Dollar-quoted bodies stay: a `DO $$ … $$` block runs at once.
 */
function stripSql(text: string, mysql: boolean): { code: string; strings: string[] } {
  let code = '';
  const strings: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    const next = text[i + 1];
    if ((c === '-' && next === '-') || (mysql && c === '#')) {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end;
      code += '\n';
      continue;
    }
    if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 1;
      code += ' ';
      continue;
    }
    if (c === "'" || c === '"' || (mysql && c === '`')) {
      let j = i + 1;
      let value = '';
      for (; j < text.length; j++) {
        const d = text[j] as string;
        if (d === '\\' && c === "'" && mysql) {
          value += text[j + 1] ?? '';
          j++;
          continue;
        }
        if (d === c) {
          if (text[j + 1] === c) {
            value += c;
            j++;
            continue;
          }
          break;
        }
        value += d;
      }
      if (c === "'") {
        strings.push(value);
        code += "''";
      } else code += 'x';
      i = j;
      continue;
    }
    code += c;
  }
  return { code, strings };
}

/** The first destructive statement in SQL code, named (`DROP TABLE`, `DELETE without WHERE`), or null. */
export function destroyingSql(code: string): string | null {
  const upper = code.toUpperCase().replace(/\s+/g, ' ');
  const drop = /\bDROP\b\s*(\w+)?/.exec(upper);
  if (drop) return `DROP ${drop[1] ?? ''}`.trim();
  // `TRUNCATE t`, `TRUNCATE TABLE t`; MySQL's TRUNCATE(x, d) is arithmetic.
  if (/\bTRUNCATE\b(?!\s*\()/.test(upper)) return 'TRUNCATE';
  for (const m of upper.matchAll(/\b(DELETE|UPDATE)\b/g)) {
    const before = upper.slice(0, m.index).trimEnd();
    // `ON DELETE CASCADE`, `FOR UPDATE`, `ON CONFLICT … DO UPDATE SET` (one row), `FOR NO KEY
    // UPDATE`, `AFTER DELETE ON t` (a trigger), a privilege list (`GRANT SELECT, DELETE ON t`).
    if (/(\b(ON|FOR|DO|KEY|AFTER|BEFORE|OF|OR)|,)$/.test(before) || /^(GRANT|REVOKE)\b/.test(lastStatement(before)))
      continue;
    const rest = statementRest(upper.slice((m.index ?? 0) + m[0].length));
    if (m[1] === 'DELETE' && !/^\s*(\w+(\s*,\s*\w+)*\s+)?FROM\b/.test(rest.top)) continue;
    if (m[1] === 'UPDATE' && !/\bSET\b/.test(rest.top)) continue;
    if (rest.where === null || tautology(rest.where)) return `${m[1] ?? ''} without WHERE`;
  }
  return null;
}

/**
 * The rest of the statement a keyword starts (to `;` or the `)` closing its level): `top` is its
 * text outside parentheses, `where` the condition of its own WHERE (a subquery's does not count).
 */
function statementRest(text: string): { top: string; where: string | null } {
  let depth = 0;
  let top = '';
  let end = text.length;
  let whereAt = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '(') depth++;
    else if (c === ')') {
      if (depth === 0) {
        end = i;
        break;
      }
      depth--;
    } else if (c === ';' && depth === 0) {
      end = i;
      break;
    } else if (depth === 0 && whereAt < 0 && /^WHERE\b/.test(text.slice(i, i + 6)) && !/\w/.test(text[i - 1] ?? ' '))
      whereAt = i + 5;
    if (depth === 0 || (c === '(' && depth === 1)) top += c;
  }
  return { top, where: whereAt < 0 ? null : text.slice(whereAt, end) };
}

function lastStatement(text: string): string {
  return text.slice(text.lastIndexOf(';') + 1).trim();
}

/** `WHERE 1=1`, `WHERE true`, `WHERE id = id`, `WHERE x IS NOT NULL OR true`: a WHERE that keeps every row. */
function tautology(condition: string): boolean {
  const cond = condition
    .replace(/\b(RETURNING|LIMIT|ORDER BY|OUTPUT)\b.*$/, '')
    .trim()
    .replace(/^\(+|\)+$/g, '')
    .trim();
  if (cond === '') return true;
  if (/\bOR\s+(TRUE|1|NOT\s+FALSE|1\s*=\s*1)\b/.test(cond)) return true;
  return /^(TRUE|1|NOT\s+FALSE|NOT\s+0|(\S+)\s*(=|>=|<=|IS NOT DISTINCT FROM)\s*\2|\S+\s+IS\s+NOT\s+NULL|1\s*(<>|!=)\s*0|0\s*=\s*0|''\s*=\s*'')$/.test(
    cond,
  );
}

// ---- Redis ----

/** Redis commands that throw data away or rewrite where it lives. */
const REDIS_DESTROY =
  /^(FLUSHALL|FLUSHDB|SHUTDOWN|SWAPDB|REPLICAOF|SLAVEOF|DEBUG|(SCRIPT|FUNCTION)\s+FLUSH|CONFIG\s+SET|MODULE\s+LOAD|FAILOVER|CLUSTER\s+RESET)\b/i;

function redisCommands(text: string): StatementFinding[] {
  for (const line of text.split('\n')) {
    const m = REDIS_DESTROY.exec(line.trim());
    if (m) return [{ kind: 'destroy', what: (m[0] ?? '').toUpperCase() }];
  }
  // A Lua script (EVAL "…") or a line further in that flushes.
  const flush = /\b(FLUSHALL|FLUSHDB)\b/i.exec(text);
  return flush ? [{ kind: 'destroy', what: (flush[1] ?? '').toUpperCase() }] : [];
}

// ---- MongoDB shell ----

const MONGO_DESTROY: RegExp[] = [
  /\.\s*(drop|dropDatabase|dropAllUsers|dropAllRoles|dropUser|dropRole|dropIndex|dropIndexes|dropSearchIndex)\s*\(/,
  // deleteMany({}) / remove({}) / remove() with no filter, updateMany({}, …) on every document
  /\.\s*(deleteMany|remove)\s*\(\s*(\{\s*\}\s*)?[,)]/,
  /\.\s*(updateMany|replaceMany)\s*\(\s*\{\s*\}/,
  /\b(runCommand|adminCommand)\s*\(\s*\{\s*['"]?(drop|dropDatabase|delete|dropIndexes|shutdown|dropAllUsersFromDatabase)\b/,
  /\.\s*(shutdownServer|dropCollection)\s*\(/,
  /\brenameCollection\s*\([^)]*,\s*true\s*\)/,
];
/** Names through which mongosh (a Node program) reaches the machine it runs on. */
const MONGO_ESCAPE =
  /\b(require|process|import|load|run|runProgram|runMongoProgram|_runMongoProgram|startMongoProgram\w*|removeFile|copyFile|writeFile|mkdir|listFiles|cat|cd|ls|pwd|hostname|eval|Function|constructor|__proto__|prototype|globalThis|Reflect|child_process|edit|exec|execSync|spawn|fs)\b|[\w)\]]\s*\[\s*[^\]\d\s]/;

function mongoCode(text: string): StatementFinding[] {
  const findings: StatementFinding[] = [];
  const escape = MONGO_ESCAPE.exec(text);
  if (escape) findings.push({ kind: 'escape', what: escape[0].trim() });
  for (const re of MONGO_DESTROY) {
    const m = re.exec(text);
    if (m) {
      findings.push({ kind: 'destroy', what: m[0].replace(/\s+/g, '') });
      break;
    }
  }
  return findings;
}
