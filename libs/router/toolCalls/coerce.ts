import { isObject, tryJson } from './json.ts';
import type { Json } from './types.ts';

/**
 * Arguments typed by the tool's declared JSON schema. Text formats write every value as text
 * (`<parameter=count>3</parameter>`), and JSON formats get types wrong at times (`"count": "3"`):
 * a value whose declared type differs and that converts cleanly is converted ("3" -> 3 for integer,
 * "true" -> true, JSON text -> object or array, 3 -> "3" for string); anything else is left as the
 * model wrote it, for the tool's own validation to answer.
 */

type Schema = Json;

function typesOf(schema: Schema | undefined): string[] {
  if (!schema) return [];
  const t = schema['type'];
  const own = typeof t === 'string' ? [t] : Array.isArray(t) ? t.filter((x): x is string => typeof x === 'string') : [];
  const alternatives = [schema['anyOf'], schema['oneOf']]
    .filter(Array.isArray)
    .flatMap((list) => (list as unknown[]).filter(isObject).flatMap((s) => typesOf(s)));
  return [...own, ...alternatives];
}

function subschema(schema: Schema | undefined, type: string): Schema | undefined {
  if (!schema) return undefined;
  for (const list of [schema['anyOf'], schema['oneOf']]) {
    if (!Array.isArray(list)) continue;
    const found = (list as unknown[]).filter(isObject).find((s) => typesOf(s).includes(type));
    if (found) return found;
  }
  return schema;
}

function fromText(text: string, type: string, schema: Schema | undefined): { ok: boolean; value?: unknown } {
  const t = text.trim();
  switch (type) {
    case 'integer':
      return /^-?\d+(\.0+)?$/.test(t) ? { ok: true, value: Number.parseInt(t, 10) } : { ok: false };
    case 'number':
      return t !== '' && Number.isFinite(Number(t)) ? { ok: true, value: Number(t) } : { ok: false };
    case 'boolean':
      return /^(true|false)$/i.test(t) ? { ok: true, value: t.toLowerCase() === 'true' } : { ok: false };
    case 'null':
      return /^(null|none)$/i.test(t) ? { ok: true, value: null } : { ok: false };
    case 'object': {
      const v = tryJson(t);
      return isObject(v) ? { ok: true, value: coerceValue(v, subschema(schema, 'object')) } : { ok: false };
    }
    case 'array': {
      const v = tryJson(t);
      return Array.isArray(v) ? { ok: true, value: coerceValue(v, subschema(schema, 'array')) } : { ok: false };
    }
    default:
      return { ok: false };
  }
}

export function coerceValue(value: unknown, schema: Schema | undefined): unknown {
  const types = typesOf(schema);
  if (typeof value === 'string') {
    if (types.length === 0 || types.includes('string')) return value;
    for (const type of types) {
      const r = fromText(value, type, schema);
      if (r.ok) return r.value;
    }
    return value;
  }
  if ((typeof value === 'number' || typeof value === 'boolean') && types.length > 0) {
    if (types.includes(typeof value) || (typeof value === 'number' && types.includes('integer'))) return value;
    if (types.includes('string')) return String(value);
    return value;
  }
  if (Array.isArray(value)) {
    const items = subschema(schema, 'array')?.['items'];
    return isObject(items) ? value.map((v) => coerceValue(v, items)) : value;
  }
  if (isObject(value)) return coerceObject(value, subschema(schema, 'object'));
  return value;
}

function coerceObject(value: Json, schema: Schema | undefined): Json {
  const props = schema?.['properties'];
  if (!isObject(props)) return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    const s = props[k];
    out[k] = isObject(s) ? coerceValue(v, s) : v;
  }
  return out;
}

/** The call's arguments as an object typed by `parameters`, or null when they are not an object at all. */
export function coerceArguments(args: unknown, parameters: Schema | undefined): Json | null {
  let value = args;
  if (value === undefined || value === null || value === '') value = {};
  if (typeof value === 'string') value = tryJson(value.trim());
  if (!isObject(value)) return null;
  return coerceObject(value, parameters);
}
