/**
 * Just enough of make to know what `make [goal...]` runs: variables, rules, recipes and
 * `$(shell ...)`. The recipes of the requested goals (default: the first target) and of their
 * prerequisites, plus every pattern rule's recipe and every `$(shell ...)`, are returned as
 * shell text for the guard to judge. make functions other than shell become a placeholder word.
 */

interface Rule {
  prerequisites: string[];
  recipe: string[];
}

const BUILTIN_VARS: Record<string, string> = {
  CC: 'cc',
  CXX: 'g++',
  CPP: 'cc -E',
  RM: 'rm -f',
  MAKE: 'make',
  AR: 'ar',
  AS: 'as',
  LD: 'ld',
  FC: 'f77',
  SHELL: '/bin/sh',
  CURDIR: '.',
  MAKEFLAGS: '',
};
const MAX_PASSES = 8;

export interface MakePlan {
  /** Shell text make would run. */
  commands: string[];
  /** `$(shell ...)` texts, run while the makefile is read. */
  shells: string[];
  /** The makefile sets SHELL or .SHELLFLAGS: recipes would not be run by sh. */
  customShell: boolean;
}

export function planMake(text: string, goals: string[], overrides: Record<string, string> = {}): MakePlan {
  const lines = text.replace(/\\\r?\n[ \t]*/g, ' ').split(/\r?\n/);
  const vars: Record<string, string> = { ...BUILTIN_VARS, ...overrides };
  const overridden = new Set(Object.keys(overrides));
  const rules = new Map<string, Rule>();
  const patternRecipes: string[] = [];
  const shells: string[] = [];
  let customShell = 'SHELL' in overrides || '.SHELLFLAGS' in overrides;
  let current: Rule[] = [];
  let currentIsPattern = false;
  let firstTarget: string | null = null;

  const expand = (input: string): string => {
    let out = input;
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      const next = out
        .replace(/\$\((shell)\s+([^()]*)\)/g, (_m, _f, cmd: string) => {
          shells.push(cmd);
          return 'made';
        })
        .replace(/\$[@<^?*+|]|\$\([@<^*][DF]\)/g, 'target')
        .replace(/\$[({]([A-Za-z_.][A-Za-z0-9_.-]*)[)}]/g, (_m, name: string) => vars[name] ?? '')
        .replace(/\$[({][a-z-]+\s[^()]*[)}]/g, 'made');
      if (next === out) break;
      out = next;
    }
    return out.replace(/\$\$/g, '$');
  };

  for (const line of lines) {
    if (line.startsWith('\t')) {
      const recipe = line.slice(1).replace(/^[@+\- \t]+/, '');
      if (currentIsPattern) patternRecipes.push(recipe);
      for (const rule of current) rule.recipe.push(recipe);
      continue;
    }
    const trimmed = line.replace(/(^|[^\\])#.*$/, '$1').trim();
    if (trimmed === '') continue;
    const assignment =
      /^(?:export\s+|override\s+)?([A-Za-z_.][A-Za-z0-9_.-]*)\s*(:::=|::=|:=|\?=|\+=|!=|=)\s*(.*)$/.exec(trimmed);
    if (assignment) {
      const [, name = '', op, value = ''] = assignment;
      if (name === 'SHELL' || name === '.SHELLFLAGS') customShell = true;
      if (op === '!=') shells.push(value);
      if (overridden.has(name)) continue; // command-line variables win over the makefile's
      vars[name] = op === '+=' ? `${vars[name] ?? ''} ${value}`.trim() : op === '?=' ? (vars[name] ?? value) : value;
      current = [];
      continue;
    }
    const rule = /^([^:=]+?)\s*::?\s*([^=]*)$/.exec(trimmed);
    if (rule) {
      // make expands target and prerequisite names as it reads them.
      const targets = expand(rule[1] ?? '')
        .split(/\s+/)
        .filter(Boolean);
      const [prereqText, inline] = (rule[2] ?? '').split(';', 2);
      const prerequisites = expand(prereqText ?? '')
        .split(/\s+/)
        .filter(Boolean);
      currentIsPattern = targets.some((t) => t.includes('%'));
      current = targets.map((t) => {
        const entry = rules.get(t) ?? { prerequisites: [], recipe: [] };
        entry.prerequisites.push(...prerequisites);
        rules.set(t, entry);
        return entry;
      });
      if (inline?.trim()) for (const r of current) r.recipe.push(inline.trim());
      if (currentIsPattern && inline?.trim()) patternRecipes.push(inline.trim());
      firstTarget ??= targets.find((t) => !t.startsWith('.') && !t.includes('%')) ?? null;
      continue;
    }
    current = [];
  }

  const commands: string[] = [];
  const seen = new Set<string>();
  const visit = (target: string, depth: number): void => {
    if (seen.has(target) || depth > 50) return;
    seen.add(target);
    const rule = rules.get(target);
    if (!rule) return;
    for (const p of rule.prerequisites) visit(p, depth + 1);
    commands.push(...rule.recipe.map(expand));
  };
  const wanted = goals.length > 0 ? goals : firstTarget ? [firstTarget] : [];
  for (const goal of wanted) visit(goal, 0);
  commands.push(...patternRecipes.map(expand));
  for (const v of Object.values(vars)) expand(v); // collects $(shell ...) in variables
  return { commands, shells: [...new Set(shells)], customShell };
}
