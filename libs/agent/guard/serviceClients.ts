/**
 * Clients of services: database shells and forge/cloud CLIs. Destruction asked of a service
 * (DROP TABLE, FLUSHALL, `kubectl delete`, `terraform destroy`) happens on the service, not in the
 * sandbox, so only a person may ask for it. These tables say, per program, where its statements
 * come from and which of its verbs destroy; analyze/services.ts applies them and
 * serviceStatements.ts reads the statements. Recognising a new client is a row here, not code.
 */

/** How a client's statements are read: each dialect is judged by serviceStatements.ts. */
export type Dialect = 'psql' | 'mysql' | 'sqlite' | 'sql' | 'redis' | 'mongo';

export interface DatabaseClient {
  dialect: Dialect;
  /** Options whose value is statement text (`psql -c`, `mysql -e`, `mongosh --eval`). */
  text: string[];
  /** Options whose value names a file of statements: its text is not judged, so it is asked about. */
  files: string[];
  /** Other options that take a value (so the value is neither an operand nor a statement). */
  values: string[];
  /**
   * What the operands are: `connection` (a database name or URL, as psql's), `statementAfterFirst`
   * (sqlite3 DB 'SQL'), `statement` (redis-cli FLUSHALL), `scripts` (mongosh's `.js` operands).
   */
  operands: 'connection' | 'statementAfterFirst' | 'statement' | 'scripts';
  /** Options after which stdin is data, not statements (`redis-cli -x SET k`). */
  stdinIsData?: string[];
  /** The client is a subcommand of the program (`cockroach sql`, `clickhouse client`). */
  subcommand?: string;
  /** The text given is program code (JavaScript, Python) unless one of these options says SQL (mysqlsh). */
  codeUnless?: string[];
}

const PSQL_VALUES = [
  '-d',
  '--dbname',
  '-h',
  '--host',
  '-p',
  '--port',
  '-U',
  '--username',
  '-o',
  '--output',
  '-L',
  '--log-file',
  '-v',
  '--set',
  '--variable',
  '-P',
  '--pset',
  '-F',
  '--field-separator',
  '-R',
  '--record-separator',
  '-T',
  '--table-attr',
];
const MYSQL = {
  dialect: 'mysql',
  text: ['-e', '--execute', '--init-command'],
  files: [],
  values: ['-h', '--host', '-u', '--user', '-P', '--port', '-D', '--database', '-S', '--socket', '--protocol'],
  operands: 'connection',
} satisfies DatabaseClient;
const SQLITE = {
  dialect: 'sqlite',
  text: ['-cmd', '--cmd', '-c', '-s'],
  files: ['-init', '--init'],
  values: ['-separator', '-newline', '-nullvalue', '-vfs'],
  operands: 'statementAfterFirst',
} satisfies DatabaseClient;
const REDIS = {
  dialect: 'redis',
  text: [],
  files: ['--eval', '--functions-rdb'],
  values: ['-h', '-p', '-a', '-u', '-n', '-s', '--user', '--pass', '--askpass', '-r', '-i', '-d', '--sni', '--cacert'],
  operands: 'statement',
  stdinIsData: ['-x'],
} satisfies DatabaseClient;
const MONGO = {
  dialect: 'mongo',
  text: ['--eval'],
  files: ['-f', '--file'],
  values: ['--host', '--port', '-u', '--username', '-p', '--password', '--authenticationDatabase', '--tlsCAFile'],
  operands: 'scripts',
} satisfies DatabaseClient;

/** Database shells by program name. */
export const DATABASE_CLIENTS: Record<string, DatabaseClient> = {
  psql: {
    dialect: 'psql',
    text: ['-c', '--command'],
    files: ['-f', '--file'],
    values: PSQL_VALUES,
    operands: 'connection',
  },
  mysql: MYSQL,
  mariadb: MYSQL,
  mysqlsh: { ...MYSQL, text: ['-e', '--execute'], codeUnless: ['--sql', '--sqlc', '--sqlx'] },
  sqlite3: SQLITE,
  sqlite: SQLITE,
  duckdb: SQLITE,
  litecli: { ...SQLITE, text: ['-e', '--execute'] },
  'redis-cli': REDIS,
  'valkey-cli': REDIS,
  'keydb-cli': REDIS,
  mongosh: MONGO,
  mongo: MONGO,
  cqlsh: {
    dialect: 'sql',
    text: ['-e', '--execute'],
    files: ['-f', '--file'],
    values: ['-u', '-p', '-k', '--keyspace'],
    operands: 'connection',
  },
  'clickhouse-client': {
    dialect: 'sql',
    text: ['-q', '--query'],
    files: ['--queries-file'],
    values: ['-h', '--host', '--port', '-u', '--user', '--password', '-d', '--database', '-f', '--format'],
    operands: 'connection',
  },
  clickhouse: {
    dialect: 'sql',
    text: ['-q', '--query'],
    files: ['--queries-file'],
    values: ['-h', '--host', '--port', '-u', '--user', '--password', '-d', '--database', '-f', '--format'],
    operands: 'connection',
    subcommand: 'client',
  },
  cockroach: {
    dialect: 'sql',
    text: ['-e', '--execute'],
    files: ['-f', '--file'],
    values: ['--url', '--host', '--port', '-u', '--user', '-d', '--database', '--certs-dir', '--format'],
    operands: 'connection',
    subcommand: 'sql',
  },
  sqlcmd: {
    dialect: 'sql',
    text: ['-Q', '-q'],
    files: ['-i'],
    values: ['-S', '-U', '-P', '-d', '-o', '-s', '-W', '-h', '-w'],
    operands: 'connection',
  },
  usql: {
    dialect: 'psql',
    text: ['-c', '--command'],
    files: ['-f', '--file'],
    values: ['-o', '--out', '-v', '--set'],
    operands: 'connection',
  },
  pgcli: { dialect: 'psql', text: [], files: [], values: PSQL_VALUES, operands: 'connection' },
  mycli: { ...MYSQL, text: ['-e', '--execute'] },
};

export interface ServiceCli {
  programs: string[];
  /** How many leading operands name the command: groups, then the verb (`gcloud compute instances delete`). */
  depth: number;
  /** Options that take a value, so the value is not a verb. */
  values?: string[];
  /** A verb that deletes or destroys (whole-word regex, case-insensitive; `apps:destroy` counts as `apps`, `destroy`). */
  destroy: string;
  /**
   * A verb destroys when given one of these options (`terraform apply -destroy`, `kubectl apply
   * --prune`); without `verb`, the options destroy whatever the verb (`pg_restore --clean`).
   */
  destroyWith?: { verb?: string; flags: string[] }[];
  /** Options whose value makes the command destructive (`gh api -X DELETE`). */
  destroyValues?: Record<string, string>;
  /** The program always destroys (`dropdb`). */
  always?: boolean;
  /** What it destroys is a database's data (ask.data-destroy), not cloud resources (ask.resource-delete). */
  data?: boolean;
  /** Verbs that only read (whole-word regex). */
  read?: string;
  /** Words (in the command or its options) that make a read reveal secrets or credentials. */
  secret?: string;
  /** Commands that neither read nor destroy: `ask` (ask.cloud) or `allow` (other rules still apply). */
  otherwise: 'ask' | 'allow';
}

/** `delete`, `delete-bucket`, `item-delete`, `rm`, `destroy`… (whole words). */
const DESTROY_VERBS =
  '(.*-)?(delete|destroy|remove|purge|terminate|uninstall|drop|wipe|erase|nuke|truncate|flush)(-.*)?|rm|rmdir|del|prune|reset';
const READ_VERBS = 'ls|list|describe|show|get|view|info|status|logs?|inspect|whoami|version|help|search|diff|tail';
/**
 * Verbs that change something. A command is a read when a word of its path is a read verb and
 * none is one of these (`heroku releases:rollback` is not a read of releases).
 */
export const MUTATING_VERBS =
  '(create|add|set|unset|update|put|apply|run|exec|deploy|push|upload|cp|mv|sync|rsync|start|stop|restart|scale|attach|detach|import|enable|disable|rollback|promote|restore|ssh|scp|connect|login|logout|edit|patch|label|annotate|rename|move|copy|invoke|send|publish|modify|replace|kill|clear|retry|resize|upgrade|downgrade|install|lock|unlock|taint|cordon|drain|expose|autoscale|rollout|transfer|archive|merge|close|reopen|comment|approve|review|tag|assign|allocate|associate|authorize|register|reboot|resume|suspend|reset|pull|clone|fork|init|link|unlink|open|generate|rotate|grant|revoke|proxy|console|port-forward|cancel|release)(-.*)?|.*-(create|add|set|update|put|attach|modify|start|stop|run|invoke|enable|disable|import|restore|copy|move|publish|send|register|associate|authorize|reboot|replace|assign|allocate|tag)';
/** Reads that print secrets, tokens or credentials, or write them into the home directory. */
const SECRETS =
  '.*(secret|password|passwd|token|credential|login|logout|auth|decrypt|access-key|api-key|keys|kubeconfig|connection-?string|appsettings|sas|sign|env|ssh|cert|config-?file|decryption|show-secrets|reveal|unmask).*';

/** Forge and cloud CLIs; `otherwise: 'ask'` for those that act on cloud resources with any other verb. */
export const SERVICE_CLIS: ServiceCli[] = [
  {
    programs: ['aws', 'awslocal'],
    depth: 2,
    values: [
      '--region',
      '--profile',
      '--output',
      '--endpoint-url',
      '--query',
      '--color',
      '--ca-bundle',
      '--cli-read-timeout',
    ],
    destroy: `rb|${DESTROY_VERBS}|(deregister|deprovision|empty|release)-.*`,
    destroyWith: [{ verb: 'sync', flags: ['--delete'] }],
    read: `${READ_VERBS}|(describe|list|get|head|lookup|search|scan|query|batch-get|select|wait|preview|validate|estimate|test|check)(-.*)?`,
    secret: `${SECRETS}|.*(get-session-token|assume-role.*|get-federation-token|get-parameters?|get-authorization-token|create-access-key|presign|export-.*|.*function-configuration|get-function)`,
    otherwise: 'ask',
  },
  {
    programs: ['gcloud'],
    depth: 5,
    values: [
      '--project',
      '--zone',
      '--region',
      '--format',
      '--account',
      '--configuration',
      '--filter',
      '--limit',
      '--verbosity',
    ],
    destroy: `${DESTROY_VERBS}|abandon-instances|recreate-instances`,
    read: `${READ_VERBS}|describe-.*|list-.*|get-.*|read|explain`,
    secret: `${SECRETS}|access|print-.*|get-credentials|get-iam-policy|versions`,
    otherwise: 'ask',
  },
  {
    programs: ['gsutil', 's3cmd'],
    depth: 1,
    destroy: `rb|${DESTROY_VERBS}`,
    destroyWith: [
      { verb: 'rsync', flags: ['-d'] },
      { verb: 'sync', flags: ['--delete-removed', '--delete-after'] },
    ],
    read: 'ls|du|stat|cat|hash|version|help|info|la',
    secret: `${SECRETS}|signurl`,
    otherwise: 'ask',
  },
  {
    programs: ['az'],
    depth: 4,
    values: [
      '--subscription',
      '-g',
      '--resource-group',
      '-n',
      '--name',
      '-o',
      '--output',
      '--query',
      '-l',
      '--location',
    ],
    destroy: `${DESTROY_VERBS}|reimage`,
    read: `${READ_VERBS}|list-.*|show-.*|get-.*|exists|query|wait`,
    secret: `${SECRETS}|get-access-token|.*-keys?|sas|show-connection-string`,
    otherwise: 'ask',
  },
  {
    programs: ['terraform', 'tofu', 'terragrunt'],
    depth: 2,
    values: ['-chdir', '-var', '-var-file', '-target', '-state', '-out'],
    destroy: `${DESTROY_VERBS}|taint`,
    destroyWith: [
      { verb: 'apply|run-all|plan-and-apply', flags: ['-destroy', '--destroy'] },
      { verb: 'apply', flags: ['-replace', '--replace'] },
      { verb: 'import', flags: ['-allow-missing-config'] },
    ],
    read: 'plan|validate|version|fmt|show|list|graph|providers|console-help|workspace-list|help|state-list',
    secret: `${SECRETS}|output|show|pull|console`,
    otherwise: 'ask',
  },
  {
    programs: ['pulumi'],
    depth: 2,
    values: ['-s', '--stack', '-C', '--cwd'],
    destroy: `${DESTROY_VERBS}|down`,
    read: 'preview|ls|list|version|about|whoami|history|graph|help|select-help',
    secret: `${SECRETS}|output|export|config`,
    otherwise: 'ask',
  },
  {
    programs: ['fly', 'flyctl'],
    depth: 2,
    values: ['-a', '--app', '-c', '--config', '-r', '--region', '-o', '--org'],
    destroy: `${DESTROY_VERBS}|unset`,
    read: `${READ_VERBS}|releases|doctor`,
    secret: `${SECRETS}|console|proxy|sftp|dig|wireguard`,
    otherwise: 'ask',
  },
  {
    programs: ['heroku'],
    depth: 2,
    values: ['-a', '--app', '-r', '--remote', '-t', '--team'],
    destroy: `${DESTROY_VERBS}|unset`,
    read: READ_VERBS,
    secret: `${SECRETS}|config|credentials|psql|run|pg-psql|redis-cli|console|exec`,
    otherwise: 'ask',
  },
  {
    programs: ['doctl'],
    depth: 4,
    values: ['-t', '--access-token', '-o', '--output', '--context', '--format'],
    destroy: DESTROY_VERBS,
    read: `${READ_VERBS}|list-.*|get-.*`,
    secret: `${SECRETS}|kubeconfig|save|connection|credentials|registry-login`,
    otherwise: 'ask',
  },
  {
    programs: ['vercel', 'vc'],
    depth: 2,
    values: ['--scope', '-S', '--token', '-t', '--cwd', '-A', '--local-config'],
    destroy: DESTROY_VERBS,
    read: `${READ_VERBS}|inspect|whoami|domains-ls|teams`,
    secret: `${SECRETS}|pull`,
    otherwise: 'ask',
  },
  {
    programs: ['netlify', 'ntl'],
    depth: 2,
    values: ['--site', '--auth', '--filter'],
    destroy: `${DESTROY_VERBS}|unset|clear`,
    read: `${READ_VERBS}|open-help`,
    secret: `${SECRETS}|import`,
    otherwise: 'ask',
  },
  // Forges and cluster tools: their other verbs are judged by the other rules (ask.containers for kubectl run).
  {
    programs: ['gh'],
    depth: 3,
    values: ['-R', '--repo', '--hostname', '-X', '--method', '-H', '--header', '--jq', '-q', '--template', '-t'],
    destroy: DESTROY_VERBS,
    destroyValues: { '-X': 'delete', '--method': 'delete' },
    read: READ_VERBS,
    otherwise: 'allow',
  },
  {
    programs: ['glab'],
    depth: 3,
    values: ['-R', '--repo', '-X', '--method', '-H', '--header'],
    destroy: DESTROY_VERBS,
    destroyValues: { '-X': 'delete', '--method': 'delete' },
    read: READ_VERBS,
    otherwise: 'allow',
  },
  {
    programs: ['kubectl', 'oc', 'kubecolor', 'microk8s.kubectl', 'k3s-kubectl'],
    depth: 1,
    values: [
      '-n',
      '--namespace',
      '--context',
      '--cluster',
      '--kubeconfig',
      '-l',
      '--selector',
      '-o',
      '--output',
      '-f',
      '--filename',
      '-s',
      '--server',
      '--user',
      '-c',
      '--container',
    ],
    // drain evicts every pod from a node
    destroy: `${DESTROY_VERBS}|drain`,
    destroyWith: [
      { verb: 'apply', flags: ['--prune'] },
      { verb: 'replace', flags: ['--force'] },
      { verb: 'scale', flags: ['--replicas=0'] },
    ],
    read: 'get|describe|logs|top|explain|api-resources|api-versions|version|cluster-info|diff|events|auth-can-i',
    secret: 'secrets?|secret/.*|secrets/.*',
    otherwise: 'allow',
  },
  {
    programs: ['helm'],
    depth: 2,
    values: ['-n', '--namespace', '--kube-context', '--kubeconfig'],
    destroy: `${DESTROY_VERBS}|un`,
    read: 'list|ls|status|history|get|show|search|version|template|lint|env|help|repo-list',
    otherwise: 'allow',
  },
  {
    programs: ['eksctl'],
    depth: 2,
    destroy: DESTROY_VERBS,
    read: 'get|info|version|help|utils-describe',
    otherwise: 'ask',
  },
  {
    programs: [
      'wrangler',
      'supabase',
      'firebase',
      'railway',
      'render',
      'netlify-cli',
      'amplify',
      'sst',
      'serverless',
      'sls',
      'cdk',
    ],
    depth: 3,
    values: ['--project', '-P', '--env', '-e', '--config', '-c'],
    destroy: `${DESTROY_VERBS}|down|unset`,
    read: READ_VERBS,
    otherwise: 'allow',
  },
  {
    programs: ['vault', 'consul', 'nomad', 'etcdctl', 'influx', 'rclone', 'mc', 'docker-machine'],
    depth: 3,
    values: ['-address', '-namespace', '--endpoints', '--host', '-t', '--token', '-o', '--org', '-b', '--bucket'],
    // `vault secrets disable` deletes the engine's data; `rclone sync`/`mc mirror` delete what the source lacks
    destroy: `${DESTROY_VERBS}|rb|rmdirs|deletefile|cleanup|disable|sync|dedupe|mirror`,
    destroyWith: [{ verb: 'stop', flags: ['-purge', '--purge'] }],
    read: READ_VERBS,
    otherwise: 'allow',
  },
  // Programs that destroy by their name alone, or with a flag.
  {
    programs: ['dropdb', 'dropuser', 'pg_dropcluster'],
    depth: 0,
    destroy: '',
    always: true,
    data: true,
    otherwise: 'allow',
  },
  {
    programs: ['mysqladmin', 'mariadb-admin'],
    depth: 1,
    values: ['-h', '--host', '-u', '--user', '-P', '--port', '-S', '--socket'],
    destroy: 'drop|purge',
    data: true,
    otherwise: 'allow',
  },
  {
    programs: ['pg_restore'],
    depth: 0,
    destroy: '',
    destroyWith: [{ flags: ['-c', '--clean'] }],
    data: true,
    otherwise: 'allow',
  },
  {
    programs: ['mongorestore'],
    depth: 0,
    destroy: '',
    destroyWith: [{ flags: ['--drop'] }],
    data: true,
    otherwise: 'allow',
  },
];
