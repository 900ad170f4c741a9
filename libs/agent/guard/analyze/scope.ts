import type { Vars } from '../words.ts';

/**
 * What the shell knows at a point of the walk: variables, working directory, functions defined.
 * Code that may or may not run is walked on a copy (`childScope`) and merged back (`mergeScopes`):
 * whatever differs between the ways it could have gone becomes unknown.
 */
export interface Scope {
  vars: Vars;
  cwd: string | null;
  functions: Set<string>;
  /** Variables holding downloaded text (`x=$(curl ..)`). */
  fetched: Set<string>;
}

export function childScope(scope: Scope): Scope {
  return {
    vars: new Map(scope.vars),
    cwd: scope.cwd,
    functions: new Set(scope.functions),
    fetched: new Set(scope.fetched),
  };
}

/** Values a variable may hold after one of two ways: the same, or unknown. */
function sameValues(a: string[] | null | undefined, b: string[] | null | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** `target` becomes what holds whichever of `target` and `other` happened. Returns `target`. */
export function mergeScopes(target: Scope, other: Scope): Scope {
  for (const name of new Set([...target.vars.keys(), ...other.vars.keys()])) {
    if (!sameValues(target.vars.get(name), other.vars.get(name))) target.vars.set(name, null);
  }
  if (target.cwd !== other.cwd) target.cwd = null;
  for (const f of other.functions) target.functions.add(f);
  for (const f of other.fetched) target.fetched.add(f);
  return target;
}

export function sameScope(a: Scope, b: Scope): boolean {
  if (a.cwd !== b.cwd || a.vars.size !== b.vars.size) return false;
  for (const [name, values] of a.vars) if (!sameValues(values, b.vars.get(name))) return false;
  return true;
}
