import { GuardRule } from '@handoff/contracts';
import { z } from 'zod';

/**
 * The built-in rules, as data (validated by the same schema as guard.json). The structural checks
 * that no rule can express or switch off (parse errors, dynamic command names, credentials,
 * download-and-execute, fork bombs, redirects) live in analyze/*.ts; their ids are listed in
 * STRUCTURAL_RULES below and in docs/guard.md.
 */

const DELETERS = ['rm', 'rmdir', 'unlink', 'shred', 'rimraf', 'del', 'trash', 'srm', 'wipe', 'find'];
const WRITERS = [
  'time', 'strace', 'ltrace', 'script',
  'mv', 'cp', 'ln', 'link', 'install', 'tee', 'truncate', 'touch', 'mkdir', 'mkfifo', 'mknod', 'sed', 'perl', 'dd', 'tar', 'gtar', 'bsdtar', 'unzip',
  'zip', 'split', 'csplit', 'uniq', 'sort', 'patch', 'ed', 'red', 'sqlite3', 'openssl', 'rsync', 'scp', 'curl', 'wget', 'git', 'find',
  'gzip', 'gunzip', 'bzip2', 'bunzip2', 'xz', 'unxz', 'lzma', 'unlzma', 'zstd', 'unzstd', 'lz4', 'lzip', 'compress', 'uncompress', 'pigz', 'unpigz',
];
const MODERS = ['chmod', 'chown', 'chgrp', 'chattr', 'setfacl'];

const rules: z.input<typeof GuardRule>[] = [
  // --- deleting and overwriting outside the sandbox ---
  { id: 'deny.delete-outside-sandbox', decision: 'deny', reason: 'deletes files outside the sandbox', commands: DELETERS, target: 'outside' },
  { id: 'deny.write-outside-sandbox', decision: 'deny', reason: 'writes, moves or overwrites files outside the sandbox', commands: WRITERS, target: 'outside' },
  { id: 'deny.chmod-outside-sandbox', decision: 'deny', reason: 'changes owner or mode of files outside the sandbox', commands: MODERS, target: 'outside' },
  { id: 'deny.write-device', decision: 'deny', reason: 'writes to a device', commands: [...DELETERS, ...WRITERS, ...MODERS], target: 'device' },
  { id: 'ask.unresolved-target', decision: 'ask', reason: 'the files it deletes or writes cannot be known before it runs', commands: [...DELETERS, ...WRITERS, ...MODERS], target: 'unresolved' },
  { id: 'ask.delete-sandbox-root', decision: 'ask', reason: 'deletes the whole sandbox', commands: DELETERS, target: 'sandboxRoot' },
  // --- disks and file systems ---
  {
    id: 'deny.disk-tools',
    decision: 'deny',
    reason: 'disk and file-system tools are never run by the agent',
    commands: ['mkfs*', 'mke2fs', 'mkswap', 'fdisk', 'sfdisk', 'cfdisk', 'gdisk', 'sgdisk', 'parted', 'partprobe', 'wipefs', 'mount', 'umount', 'losetup', 'swapon', 'swapoff', 'cryptsetup', 'blkdiscard', 'hdparm', 'diskutil', 'zpool', 'lvremove', 'vgremove', 'pvremove', 'lvcreate', 'fsck*', 'e2fsck', 'tune2fs', 'debugfs', 'badblocks', 'dmsetup', 'nvme', 'format'],
  },
  { id: 'deny.dd-device', decision: 'deny', reason: 'dd reads or writes a raw device', commands: ['dd'], args: ['(if|of)=/dev/(sd|hd|vd|xvd|nvme|disk|rdisk|mmcblk|loop|mapper/|md).*'] },
  // --- privilege escalation ---
  { id: 'deny.privilege-escalation', decision: 'deny', reason: 'privilege escalation', commands: ['sudo', 'su', 'doas', 'pkexec', 'runuser', 'sudoedit', 'chroot', 'nsenter', 'setpriv', 'capsh', 'visudo', 'passwd', 'chpasswd', 'useradd', 'usermod', 'userdel', 'groupadd', 'groupmod', 'gpasswd', 'newgrp', 'sg'] },
  { id: 'deny.setuid', decision: 'deny', reason: 'sets the setuid or setgid bit', commands: ['chmod'], args: ['[ugoa]*[+=][rwxXtugo]*s[rwxXt]*(,.*)?', '.*,[ugoa]*[+=][rwxXt]*s.*', '0*[2-7][0-7]{3}'] },
  { id: 'deny.chown-root', decision: 'deny', reason: 'gives files to root', commands: ['chown', 'chgrp'], args: ['root(:.*)?', '0(:.*)?', ':root', ':wheel', 'wheel'] },
  // --- shutdown, services, other people's processes ---
  { id: 'deny.shutdown', decision: 'deny', reason: 'shuts down or restarts the machine', commands: ['shutdown', 'reboot', 'halt', 'poweroff', 'telinit', 'kexec'] },
  { id: 'deny.init-runlevel', decision: 'deny', reason: 'changes the run level', commands: ['init'], args: ['[0-6sS]'] },
  { id: 'deny.service-control', decision: 'deny', reason: 'controls system services', commands: ['systemctl', 'service', 'launchctl', 'rc-service', 'rc-update', 'update-rc.d', 'chkconfig', 'initctl', 'sv', 'supervisorctl'] },
  { id: 'deny.kill-init-or-all', decision: 'deny', reason: 'kills init or every process', commands: ['kill'], args: ['-?1'] },
  { id: 'deny.killall', decision: 'deny', reason: 'kills processes by name, including other people\'s', commands: ['killall', 'killall5'] },
  { id: 'ask.pkill', decision: 'ask', reason: 'kills processes by pattern', commands: ['pkill'] },
  { id: 'deny.kernel', decision: 'deny', reason: 'changes the kernel, firewall or system settings', commands: ['insmod', 'rmmod', 'modprobe', 'sysctl', 'iptables', 'ip6tables', 'nft', 'ufw', 'firewall-cmd', 'pfctl', 'csrutil', 'nvram', 'bless', 'spctl', 'tccutil', 'scutil', 'networksetup', 'dscl', 'grub-install', 'update-grub', 'efibootmgr'] },
  { id: 'ask.unshare', decision: 'ask', reason: 'creates namespaces (a fake root)', commands: ['unshare', 'bwrap', 'firejail', 'proot'] },
  { id: 'ask.open', decision: 'ask', reason: 'opens an application or URL on the desktop', commands: ['open', 'xdg-open', 'gio', 'gnome-open', 'kde-open', 'start'] },
  { id: 'ask.crontab', decision: 'ask', reason: 'installs scheduled jobs that outlive the task', commands: ['crontab', 'at', 'batch'] },
  // --- credentials through tools (files are a structural check) ---
  { id: 'deny.keychain', decision: 'deny', reason: 'reads secrets from a keychain or password store', commands: ['security'], subcommands: ['find-generic-password', 'find-internet-password', 'find-certificate', 'find-identity', 'dump-keychain', 'export', 'unlock-keychain', 'show-keychain-info', 'set-keychain-settings', 'delete-keychain', 'add-generic-password', 'add-internet-password'] },
  { id: 'deny.secret-tools', decision: 'deny', reason: 'reads secrets from a password manager or credential helper', commands: ['secret-tool', 'pass', 'gopass', 'op', 'bw', 'lpass', 'keepassxc-cli', 'kwallet-query', 'git-credential-osxkeychain', 'git-credential-libsecret', 'git-credential-store'] },
  { id: 'deny.git-credential', decision: 'deny', reason: 'asks git for stored credentials', commands: ['git'], subcommands: ['credential', 'credential-store', 'credential-cache'] },
  { id: 'deny.gh-token', decision: 'deny', reason: 'prints the GitHub token', commands: ['gh'], subcommands: ['auth'], args: ['token', 'status'] },
  { id: 'deny.gpg-export-secret', decision: 'deny', reason: 'exports secret keys', commands: ['gpg', 'gpg2'], flags: ['--export-secret-keys', '--export-secret-subkeys'] },
  { id: 'deny.aws-secrets', decision: 'deny', reason: 'reads cloud credentials', commands: ['aws'], subcommands: ['configure'], args: ['get', 'export-credentials', 'list'] },
  // --- history tampering ---
  { id: 'deny.history-tampering', decision: 'deny', reason: 'clears or rewrites shell history', commands: ['history'], flags: ['-c', '-d', '-w', '-r'] },
  { id: 'deny.history-off', decision: 'deny', reason: 'turns shell history off', commands: ['set', 'shopt'], args: ['history'] },
  { id: 'deny.git-history-rewrite', decision: 'deny', reason: 'rewrites or expires git history', commands: ['git'], subcommands: ['filter-branch', 'filter-repo', 'reflog'], args: ['expire', 'delete', 'filter-branch', 'filter-repo'] },
  { id: 'deny.git-force-push', decision: 'deny', reason: 'force-pushes (rewrites the remote history)', commands: ['git'], subcommands: ['push'], flags: ['-f', '--force', '--force-with-lease', '--force-if-includes', '--mirror', '--prune', '-d', '--delete'] },
  { id: 'deny.git-force-refspec', decision: 'deny', reason: 'force-pushes a +refspec or deletes a remote branch', commands: ['git'], subcommands: ['push'], args: ['\\+.*', ':.+'] },
  { id: 'ask.git-config-exec', decision: 'ask', reason: 'git configuration that runs a program', commands: ['git'], args: ['(?i)(alias\\.[^=]*=\\s*!.*|core\\.(pager|editor|sshcommand|hookspath|gitproxy|askpass)=.*|core\\.fsmonitor=(?!(false|no|off|0)$).*|.*\\.(helper|textconv|command|cmd|program)=.*|sequence\\.editor=.*|diff\\.external=.*|--upload-pack=.*|--receive-pack=.*|--exec=.*|ext::.*)'] },
  { id: 'ask.git-config-risky', decision: 'ask', reason: 'git configuration that runs programs, stores credentials or leaves the repository', commands: ['git'], subcommands: ['config'], args: ['(?i)(credential\\..*|core\\.(pager|editor|sshcommand|fsmonitor|hookspath|askpass|gitproxy)|.*\\.(helper|textconv|command|cmd|program)|alias\\..*|url\\..*\\.insteadof|include\\.path|includeif\\..*|--global|--system|--file=.*|-f)'] },
  { id: 'ask.exec-option', decision: 'ask', reason: 'an option that runs another program', commands: ['tar', 'gtar', 'bsdtar'], args: ['--(to-command|checkpoint-action|use-compress-program|info-script|new-volume-script|rsh-command)(=.*)?', '-I', '-F'] },
  { id: 'ask.rsync-exec', decision: 'ask', reason: 'an option that runs another program', commands: ['rsync'], args: ['-e', '--rsh(=.*)?', '--rsync-path(=.*)?'] },
  { id: 'ask.zip-exec', decision: 'ask', reason: 'an option that runs another program', commands: ['zip'], args: ['-TT', '--unzip-command(=.*)?'] },
  { id: 'ask.editor-commands', decision: 'ask', reason: 'an editor told to run commands', commands: ['vi', 'vim', 'nvim', 'ex', 'view', 'gvim', 'emacs'], args: ['-c', '--cmd', '\\+.*', '-S', '--eval(=.*)?', '-l', '--load(=.*)?', '-x', '-[eE]s?', '-s', '-[sS].+', '-u', '--script(=.*)?'] },
  { id: 'ask.pager-commands', decision: 'ask', reason: 'a pager told to run commands or read key bindings', commands: ['less', 'more', 'most'], args: ['\\+.*', '-k.*', '--lesskey-(file|src)(=.*)?'] },
  { id: 'ask.man-program', decision: 'ask', reason: 'man told to run another pager, browser or preprocessor', commands: ['man'], args: ['-P.*', '--pager(=.*)?', '-H.*', '--html(=.*)?', '-p', '--preprocessor(=.*)?'] },
  { id: 'ask.sort-split-program', decision: 'ask', reason: 'an option that runs another program', commands: ['sort', 'split'], args: ['--compress-program(=.*)?', '--filter(=.*)?'] },
  { id: 'ask.perl-module-code', decision: 'ask', reason: 'perl code given through -M', commands: ['perl'], args: ['-[mM].*[;({\'"=].*'] },
  { id: 'ask.git-rebase-exec', decision: 'ask', reason: 'git told to run a command', commands: ['git'], subcommands: ['rebase'], flags: ['-x', '--exec'] },
  { id: 'ask.git-runs-command', decision: 'ask', reason: 'git told to run a command', commands: ['git'], subcommands: ['submodule', 'bisect'], args: ['foreach', 'run'] },
  { id: 'ask.git-tools', decision: 'ask', reason: 'git runs a configured tool or server', commands: ['git'], subcommands: ['difftool', 'mergetool', 'instaweb', 'daemon', 'web--browse'] },
  { id: 'ask.git-grep-pager', decision: 'ask', reason: 'git told to run a command', commands: ['git'], subcommands: ['grep'], args: ['-O.*', '--open-files-in-pager(=.*)?'] },
  { id: 'ask.git-remote-program', decision: 'ask', reason: 'git told to run a program for the remote end or a template', commands: ['git'], subcommands: ['clone', 'fetch', 'pull', 'ls-remote', 'archive', 'init'], args: ['-u', '--upload-pack(=.*)?', '--template(=.*)?', '--exec(=.*)?'] },
  { id: 'ask.host-services', decision: 'ask', reason: 'talks to the desktop or system bus, which can start programs outside the sandbox', commands: ['dbus-send', 'dbus-launch', 'busctl', 'gdbus', 'qdbus', 'loginctl', 'machinectl', 'systemd-run', 'run0', 'flatpak-spawn', 'gio'] },
  { id: 'ask.runs-command', decision: 'ask', reason: 'runs another command the guard does not unwrap', commands: ['chrt', 'numactl', 'prlimit', 'valgrind', 'perf', 'faketime', 'proxychains', 'proxychains4', 'torsocks', 'tsocks', 'rlwrap', 'eatmydata', 'fakeroot', 'fakechroot', 'cross-env', 'dotenv', 'env-cmd', 'entr', 'catchsegv', 'cgexec', 'hyperfine', 'watchexec', 'xterm', 'chpst', 'lockf', 'timelimit', 'cpulimit', 'uvx', 'pipx', 'xdotool', 'just', 'task', 'nix-shell', 'nix', 'firejail'] },
  { id: 'ask.direnv-allow', decision: 'ask', reason: 'lets direnv run the .envrc of a directory', commands: ['direnv'], subcommands: ['allow', 'reload'] },
  { id: 'ask.nodemon-exec', decision: 'ask', reason: 'runs another command the guard does not unwrap', commands: ['nodemon'], args: ['--exec(=.*)?', '-x'] },
  { id: 'ask.cdable-vars', decision: 'ask', reason: 'makes cd take variable names, which the guard does not follow', commands: ['shopt'], args: ['cdable_vars'] },
  { id: 'ask.process-environment', decision: 'ask', reason: 'prints the environment of processes', commands: ['ps'], args: ['[a-df-zA-Z]*e[a-zA-Z]*'] },
  { id: 'ask.detached-session', decision: 'ask', reason: 'starts a session that outlives the task', commands: ['tmux', 'screen', 'disown', 'systemd-run', 'daemonize', 'start-stop-daemon'] },
  { id: 'ask.output-outside', decision: 'ask', reason: 'writes its output outside the sandbox', commands: ['*'], target: 'outside' },
  { id: 'ask.python-pip', decision: 'ask', reason: 'installs packages from the network', commands: ['python', 'python2', 'python3', 'pypy', 'pypy3'], subcommands: ['install', 'uninstall', 'download'], args: ['pip', 'pip3', 'ensurepip'] },
  // --- reverse shells ---
  { id: 'deny.reverse-shell', decision: 'deny', reason: 'netcat running a program (a reverse shell)', commands: ['nc', 'ncat', 'netcat', 'socat'], flags: ['-e', '-c', '--exec', '--sh-exec', '--lua-exec'] },
  { id: 'deny.socat-exec', decision: 'deny', reason: 'socat running a program (a reverse shell)', commands: ['socat'], args: ['(?i).*(exec|system):.*'] },
  // --- asks: network, installs, containers, pushes ---
  { id: 'ask.network', decision: 'ask', reason: 'network access', commands: ['curl', 'wget', 'fetch', 'aria2c', 'http', 'https', 'xh', 'curlie', 'nc', 'ncat', 'netcat', 'socat', 'telnet', 'ftp', 'tftp', 'lynx', 'links', 'w3m', 'lwp-request'] },
  { id: 'ask.remote-shell', decision: 'ask', reason: 'connects to another machine', commands: ['ssh', 'scp', 'sftp', 'mosh', 'ssh-copy-id', 'sshpass', 'ssh-add', 'ssh-agent'] },
  { id: 'ask.rsync-remote', decision: 'ask', reason: 'copies to or from another machine', commands: ['rsync'], args: ['[^/]*:.*'] },
  { id: 'ask.git-push', decision: 'ask', reason: 'pushes to a remote', commands: ['git'], subcommands: ['push'] },
  { id: 'ask.global-install', decision: 'ask', reason: 'installs packages outside the project', commands: ['npm', 'pnpm', 'yarn', 'bun'], flags: ['-g', '--global', '--location'] },
  { id: 'ask.yarn-global', decision: 'ask', reason: 'installs packages outside the project', commands: ['yarn'], subcommands: ['global'] },
  { id: 'ask.package-install', decision: 'ask', reason: 'installs packages from the network into the system or user environment', commands: ['pip', 'pip3', 'pipx', 'gem', 'cargo', 'go', 'brew', 'apt', 'apt-get', 'dnf', 'yum', 'apk', 'pacman', 'zypper', 'port', 'snap', 'flatpak', 'conda', 'mamba', 'uv'], subcommands: ['install', 'add', 'upgrade', 'reinstall', 'get', 'remove', 'uninstall', 'purge', 'autoremove'] },
  { id: 'ask.uv-pip', decision: 'ask', reason: 'installs packages from the network', commands: ['uv'], subcommands: ['pip', 'tool'] },
  { id: 'ask.dpkg', decision: 'ask', reason: 'changes system packages', commands: ['dpkg', 'rpm', 'installer', 'softwareupdate'] },
  { id: 'deny.container-escape', decision: 'deny', reason: 'a container with the host\'s root, devices or privileges', commands: ['docker', 'podman', 'nerdctl'], args: ['--privileged', '--pid=host', '--net=host', '--network=host', '-v/:.*', '/:/.*', '--volume=/:.*', '--cap-add=(ALL|SYS_ADMIN)', '/var/run/docker.sock:.*'] },
  { id: 'ask.containers', decision: 'ask', reason: 'runs or changes containers', commands: ['docker', 'podman', 'nerdctl', 'kubectl', 'helm'], subcommands: ['run', 'exec', 'create', 'start', 'stop', 'restart', 'kill', 'rm', 'rmi', 'cp', 'build', 'push', 'login', 'system', 'volume', 'network', 'apply', 'delete', 'install', 'upgrade', 'uninstall', 'prune', 'image', 'container', 'buildx'] },
  { id: 'ask.compose', decision: 'ask', reason: 'runs or changes containers', commands: ['docker', 'podman'], subcommands: ['compose'], args: ['up', 'run', 'exec', 'down', 'rm', 'start', 'restart', 'stop', 'kill', 'build', 'push', 'create', 'pull', 'cp', 'watch'] },
  { id: 'ask.docker-compose', decision: 'ask', reason: 'runs or changes containers', commands: ['docker-compose', 'podman-compose'], subcommands: ['up', 'run', 'exec', 'down', 'rm', 'start', 'restart', 'stop', 'kill', 'build', 'push', 'create', 'pull', 'cp', 'watch'] },
  { id: 'ask.cloud', decision: 'ask', reason: 'acts on cloud resources', commands: ['aws', 'gcloud', 'az', 'terraform', 'pulumi', 'fly', 'flyctl', 'vercel', 'netlify', 'heroku', 'doctl'] },
  { id: 'ask.publish', decision: 'ask', reason: 'publishes a package', commands: ['npm', 'pnpm', 'yarn', 'cargo', 'twine', 'gem'], subcommands: ['publish', 'unpublish', 'push', 'upload', 'owner', 'login', 'adduser', 'token', 'deprecate'] },
  { id: 'ask.shell-startup', decision: 'ask', reason: 'changes the login shell', commands: ['chsh'] },
];

export const DEFAULT_RULES: readonly GuardRule[] = z.array(GuardRule).parse(rules);

/** Structural checks (analyze/*.ts): always on, not overridable by allow rules unless marked liftable. */
export const STRUCTURAL_RULES: Record<string, string> = {
  'ask.parse-error': 'the command does not parse as bash',
  'ask.too-complex': 'nested too deep to judge',
  'ask.dynamic-command': 'the command name is computed at run time',
  'ask.eval': 'eval runs text as code',
  'ask.exec': 'exec replaces the shell',
  'ask.alias': 'alias definitions change what names mean',
  'ask.source-outside': 'sources a file from outside the sandbox or one not yet written',
  'ask.inline-code': 'an interpreter runs program text given on the command line or stdin',
  'ask.shell-code-unknown': 'a shell runs code that is not known before it runs',
  'ask.unknown-script': 'runs a script that does not exist yet or lies outside the sandbox',
  'ask.decode-exec': 'decoded or transformed text is run as code',
  'ask.redirect-unresolved': 'redirects output to a file that cannot be known before it runs',
  'ask.code-injection-env': 'sets a variable that makes programs load or run other code',
  'ask.secret-variable': 'prints or passes a variable that holds a secret',
  'ask.symlink-outside': 'links to a path outside the sandbox',
  'ask.kill-unknown': 'kills processes found at run time',
  'ask.credential-mention': 'names a credential file where the path around it is unknown',
  'ask.git-hooks': 'writes git hooks, configuration or attributes (run or obeyed by later git commands)',
  'ask.indirect-variable': 'a nameref, indirect expansion or computed variable name: what it refers to is not known before it runs',
  'ask.program-setting': 'a setting that names a program to run',
  'ask.git-outside': 'runs git on a repository outside the sandbox (its configuration can run programs)',
  'ask.unresolved-path': 'an argument or the working directory is computed at run time, so the file it names is not known',
  'ask.not-isolated': 'no OS sandbox holds the command and the guard cannot show it harmless',
  'ask.sed-exec': 'a sed program that runs commands or writes files',
  'ask.recursive-read': 'reads recursively over a directory that holds credentials',
  'deny.download-exec': 'runs code downloaded from the network',
  'deny.credentials': 'reads or touches credentials or other protected files',
  'deny.redirect-outside-sandbox': 'redirects output to a file outside the sandbox',
  'deny.redirect-device': 'redirects output to a device',
  'deny.network-redirect': 'opens a network connection through /dev/tcp or /dev/udp',
  'deny.fork-bomb': 'a fork bomb',
  'deny.history-tampering': 'clears or rewrites shell history',
};
