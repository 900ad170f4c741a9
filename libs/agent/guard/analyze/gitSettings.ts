import { posix } from 'node:path';
import type { Analyzer } from '../analyze.ts';
import { splitArgs } from '../commandFacts.ts';
import { isInside, placesOf, resolveFrom } from '../paths.ts';
import { gitKeyRunsProgram, repositoryConfig, settingsFileRisk, splitGitSetting } from '../programSettings.ts';
import { literalWord, single, unknownWord } from '../words.ts';
import type { Word } from '../words.ts';
import type { Scope } from './scope.ts';

/**
 * git settings that run programs: `-c core.fsmonitor=…`, `--config-env`, `git config alias.x '!…'`,
 * and the repository git would use (another one's config, or ours holding such a setting).
 */
export function gitSettings(a: Analyzer, args: Word[], scope: Scope, subject: string): void {
  const { operands, optionValues } = splitArgs('git', args);
  const settings: Word[] = [...(optionValues.get('-c') ?? []), ...(optionValues.get('--config') ?? [])];
  for (const w of args) {
    const text = single(w);
    if (w === operands[0]) break;
    if (text !== null && /^-c./.test(text)) settings.push(literalWord(text.slice(2)));
    if (text === null ? w.prefix.startsWith('--exec-path') : text.startsWith('--exec-path=')) {
      a.add('ask', 'ask.program-setting', subject, false, 'git told to run its commands from another directory');
    }
    if (text === null ? w.prefix.startsWith('--config-env') : text.startsWith('--config-env')) {
      a.add('ask', 'ask.program-setting', subject, false, 'git configuration taken from an environment variable');
    }
  }
  for (const setting of settings) {
    const text = single(setting);
    const [key, value] = text === null ? ['', null] : splitGitSetting(text);
    if (text === null || gitKeyRunsProgram(key, value))
      a.add(
        'ask',
        'ask.program-setting',
        subject,
        false,
        `git configuration that runs a program (${text === null ? 'not known before it runs' : key})`,
      );
  }
  const sub = single(operands[0]);
  if (sub === 'config') {
    const rest = args.slice(args.indexOf(operands[0] as Word) + 1);
    const reading = rest.some((w) =>
      /^(--get(-all|-regexp|-urlmatch|-color|-colorbool)?|--list|-l|--show-origin|--show-scope|get|list)$/.test(
        single(w) ?? '',
      ),
    );
    const values = rest.filter(
      (w, i) =>
        !(single(w) ?? 'x').startsWith('-') &&
        !/^(-f|--file|--blob|--default|--type|--comment)$/.test(single(rest[i - 1]) ?? ''),
    );
    if (['set', 'unset', 'get', 'list', 'rename-section', 'remove-section', 'edit'].includes(single(values[0]) ?? ''))
      values.shift();
    const key = values[0] ? single(values[0]) : null;
    const value = values[1] ? single(values[1]) : null;
    if (!reading && values[0] && (key === null || (values[1] && value === null) || gitKeyRunsProgram(key, value))) {
      a.add(
        'ask',
        'ask.program-setting',
        subject,
        false,
        `git configuration that runs a program (${key ?? 'a key not known before it runs'})`,
      );
    }
  }
  // Where git runs: -C, --git-dir, --work-tree; another repository's config could run anything.
  let dir = scope.cwd;
  for (const d of optionValues.get('-C') ?? []) {
    const v = single(d);
    dir = v === null ? null : resolveFrom(dir, v);
  }
  const elsewhere = [...(optionValues.get('--git-dir') ?? []), ...(optionValues.get('--work-tree') ?? [])];
  if (args.some((w) => /^--(git-dir|work-tree)$/.test(single(w) ?? ''))) elsewhere.push(unknownWord('--git-dir'));
  const outside = (p: string | null): boolean => p === null || !isInside(p, a.opts.sandboxRoot);
  if (
    outside(dir) ||
    elsewhere.some((w) =>
      placesOf(w, a.pathContext({ ...scope, cwd: dir })).some((p) => p !== 'inside' && p !== 'sandboxRoot'),
    )
  ) {
    a.add('ask', 'ask.git-outside', subject);
    return;
  }
  // The global configuration in HOME: the agent's HOME is the sandbox root.
  for (const home of new Set([a.opts.sandboxRoot, a.opts.home])) {
    for (const file of ['.gitconfig', '.config/git/config']) {
      const risky = settingsFileRisk(posix.join(home, file), 'git');
      if (risky) {
        a.add(
          'ask',
          'ask.program-setting',
          subject,
          false,
          `git's global configuration (${file}) runs a program (${risky})`,
        );
        return;
      }
    }
  }
  if (sub === 'init' || sub === 'clone' || dir === null) return;
  const repo = repositoryConfig(dir, a.opts.sandboxRoot);
  if (repo === 'outside') a.add('ask', 'ask.git-outside', subject);
  else if (repo) {
    const risky = settingsFileRisk(repo.config, 'git');
    if (risky)
      a.add(
        'ask',
        'ask.program-setting',
        subject,
        false,
        `the repository's git configuration runs a program (${risky})`,
      );
  }
}
