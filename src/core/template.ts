/**
 * Templates: a named, versioned job spec with `{{param}}` placeholders and a JSON Schema for its
 * parameters. Rendering checks the parameters against the schema (naming the parameter at
 * fault), fills the placeholders — a string that is exactly `{{x}}` becomes the value with its
 * type — and checks that the result is a valid job input. `{{parents...}}` placeholders are
 * left for the graph to fill when the job is released (see placeholders.ts).
 *
 * Placeholders: `{{params.<name>[.path]}}` or the short `{{<name>[.path]}}` (a name of letters,
 * digits and `_`, not starting with a digit). A template that needs a literal `{{word}}` in its
 * spec can take it as a parameter value: substituted values are never searched again.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import * as ajvFormats from 'ajv-formats';
import { FormatRegistry, Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { BatonError, invalid } from './errors.ts';
import {
  childField,
  collectPlaceholders,
  readPath,
  splitPath,
  substitute,
  type PlaceholderParser,
  type Substitution,
} from './placeholders.ts';
import { JobInput } from './spec.ts';

/** The `baton` marker of the export/import document format this code reads and writes. */
export const TEMPLATE_EXPORT_FORMAT = 'templates/v1';
/** Most templates one export document may hold. */
export const MAX_TEMPLATES_PER_EXPORT = 10_000;

/** A template name: no `@`, which separates the version in a reference. */
export const TemplateName = Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]*$' });
const NAME_RE = new RegExp(TemplateName.pattern!);

const templateFields = {
  name: TemplateName,
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  /** A job input whose strings may hold placeholders. */
  spec: Type.Record(Type.String(), Type.Unknown()),
  /** JSON Schema of the parameters, `type: "object"`. Default: no parameters. */
  paramsSchema: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
};

/** Body of POST /v1/templates: each post of an existing name makes its next version. */
export const TemplateInput = Type.Object(templateFields, { additionalProperties: false });
export type TemplateInput = Static<typeof TemplateInput>;

/** One template in an export document. */
export const TemplateDocument = Type.Object(
  { ...templateFields, version: Type.Integer({ minimum: 1 }), createdAt: Type.Optional(Type.String({ maxLength: 64 })) },
  { additionalProperties: false },
);

/** The export/import document: `{baton: "templates/v1", templates: [...]}`. */
export const TemplateExport = Type.Object(
  {
    baton: Type.Literal(TEMPLATE_EXPORT_FORMAT),
    templates: Type.Array(TemplateDocument, { maxItems: MAX_TEMPLATES_PER_EXPORT }),
  },
  { additionalProperties: false },
);
export type TemplateExport = Static<typeof TemplateExport>;

/** A template version as the core works with it (defaults filled). */
export interface Template {
  name: string;
  version: number;
  description: string | null;
  spec: Record<string, unknown>;
  paramsSchema: Record<string, unknown>;
}

/** The schema of a template without parameters. */
export const NO_PARAMS_SCHEMA: Readonly<Record<string, unknown>> = Object.freeze({ type: 'object', properties: {}, additionalProperties: false });

// TypeBox checks `format` only through its registry; JobInput.runAt is a date-time (RFC 3339).
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => DATE_TIME.test(v) && Number.isFinite(Date.parse(v)));

/** Parses `name@3` or `name` (the latest version). Throws BATON_E_VALIDATION on `field`. */
export function parseTemplateRef(ref: string, field = 'template'): { name: string; version: number | null } {
  if (typeof ref !== 'string') throw invalid(field, 'must be a string "name" or "name@version"');
  const at = ref.lastIndexOf('@');
  const name = at === -1 ? ref : ref.slice(0, at);
  if (!NAME_RE.test(name) || name.length > 200) throw invalid(field, `"${ref}" is not a template name (letters, digits, _ . : -) optionally followed by @version`);
  if (at === -1) return { name, version: null };
  const v = ref.slice(at + 1);
  if (!/^[1-9][0-9]{0,8}$/.test(v)) throw invalid(field, `"${ref}": the version after @ must be a positive integer`);
  return { name, version: Number(v) };
}

/** `name@version`, the form `parseTemplateRef` reads. */
export function formatTemplateRef(name: string, version: number): string {
  return `${name}@${version}`;
}

const addFormats = ((ajvFormats as unknown as { default?: unknown }).default ?? ajvFormats) as (ajv: Ajv) => Ajv;

/** Largest parameters schema accepted, as JSON text: it is compiled to code, so keep it bounded. */
export const MAX_PARAMS_SCHEMA_CHARS = 65_536;
/** Most parameter errors reported at once (in `details.errors`). */
export const MAX_PARAM_ERRORS = 20;

// Compiled validators by schema text, bounded so that many templates cannot grow memory forever.
const compiled = new Map<string, ValidateFunction>();
const MAX_COMPILED = 500;

/**
 * Compiles a parameters schema (cached by its JSON text). Unknown keywords and formats are
 * errors, so a typo in a schema is caught when the template is saved. Throws BATON_E_VALIDATION
 * on `field` when the schema is not a valid JSON Schema with `type: "object"`.
 */
export function compileParamsSchema(schema: Record<string, unknown>, field = 'paramsSchema'): ValidateFunction {
  const key = JSON.stringify(schema);
  const hit = compiled.get(key);
  if (hit) {
    // Map keeps insertion order: re-inserting makes it the most recently used.
    compiled.delete(key);
    compiled.set(key, hit);
    return hit;
  }
  if (key.length > MAX_PARAMS_SCHEMA_CHARS) throw invalid(field, `is ${key.length} characters of JSON; the limit is ${MAX_PARAMS_SCHEMA_CHARS}`);
  if (schema.type !== 'object') throw invalid(`${field}.type`, 'a parameters schema must have type "object"');
  // A fresh Ajv per schema: Ajv keeps every schema it compiled, and ours are user input.
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true, strictTypes: false, strictTuples: false, strictRequired: false, logger: false });
  addFormats(ajv);
  let fn: ValidateFunction;
  try {
    fn = ajv.compile(schema);
  } catch (e) {
    throw invalid(field, `is not a valid JSON Schema: ${(e as Error).message}`);
  }
  compiled.set(key, fn);
  if (compiled.size > MAX_COMPILED) compiled.delete(compiled.keys().next().value as string);
  return fn;
}

/** `/a/b/0` (a JSON pointer into `root`) as a field under `prefix`: `prefix.a.b[0]`. */
function pointerToField(pointer: string, root: unknown, prefix: string): string {
  let field = prefix;
  let cur = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      field = childField(field, Number(key));
      cur = cur[Number(key)];
    } else {
      field = childField(field, key);
      cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[key] : undefined;
    }
  }
  return field;
}

function paramErrorField(e: ErrorObject, params: unknown): string {
  const base = pointerToField(e.instancePath, params, 'params');
  const p = e.params as { missingProperty?: string; additionalProperty?: string; propertyName?: string };
  const extra = p.missingProperty ?? p.additionalProperty ?? p.propertyName;
  return extra !== undefined ? childField(base, extra) : base;
}

/** The parameter names a template's spec reads, each once, with where the first use is. */
function paramUses(spec: unknown, at: string): Map<string, string> {
  const uses = new Map<string, string>();
  for (const { field, placeholder } of collectPlaceholders(spec, parseParamPlaceholder, at)) {
    if (!uses.has(placeholder.path[0])) uses.set(placeholder.path[0], field);
  }
  return uses;
}

const BARE_PARAM = /^[A-Za-z_][A-Za-z0-9_]*(\.[^.\s{}]+)*$/;

/** Template placeholders: `params.x[.path]` or bare `x[.path]`; `parents...` is left for the graph. */
const parseParamPlaceholder: PlaceholderParser = (content, source, field) => {
  if (content === 'parents' || content.startsWith('parents.')) return null;
  if (content === 'params') throw invalid(field, `placeholder ${source} must name a parameter: {{params.<name>}}`);
  if (content.startsWith('params.')) return { root: 'params', path: splitPath(content.slice('params.'.length), source, field), source };
  if (BARE_PARAM.test(content)) return { root: 'params', path: splitPath(content, source, field), source };
  return null;
};

/**
 * Checks a template before it is saved or imported and fills its defaults: the parameters
 * schema compiles (type object), the spec only has job input fields, and every placeholder names
 * a parameter the schema declares. `at` prefixes field names (e.g. `templates[2]`).
 */
export function checkTemplate(input: TemplateInput & { version?: number }, version: number, at = ''): Template {
  const p = (f: string) => (at ? `${at}.${f}` : f);
  const paramsSchema = input.paramsSchema ?? { ...NO_PARAMS_SCHEMA };
  compileParamsSchema(paramsSchema, p('paramsSchema'));
  for (const k of Object.keys(input.spec)) {
    if (!Object.prototype.hasOwnProperty.call(JobInput.properties, k)) throw invalid(p(`spec.${k}`), `is not a job input field (allowed: ${Object.keys(JobInput.properties).join(', ')})`);
  }
  const declared = (paramsSchema.properties ?? {}) as Record<string, unknown>;
  if (Object.prototype.hasOwnProperty.call(declared, 'parents')) {
    throw invalid(p('paramsSchema.properties.parents'), '"parents" is reserved for {{parents...}} placeholders');
  }
  for (const [name, field] of paramUses(input.spec, p('spec'))) {
    if (!Object.prototype.hasOwnProperty.call(declared, name)) throw invalid(field, `uses parameter "${name}", which paramsSchema.properties does not declare`);
  }
  return { name: input.name, version, description: input.description ?? null, spec: input.spec, paramsSchema };
}

/**
 * Renders a template into a job input. Checks `params` against the template's schema (all
 * errors collected into `details.errors`; the first names `field`, e.g. `params.retries`),
 * applies the schema's defaults, fills the placeholders and checks the result against JobInput.
 * An invalid result is blamed on the parameter whose value landed on the bad field when there is
 * one (`params.<name>`), else on `template`. Throws BATON_E_VALIDATION.
 */
export function renderTemplate(template: Template, params: unknown): JobInput {
  const ref = formatTemplateRef(template.name, template.version);
  const validate = compileParamsSchema(template.paramsSchema, 'template.paramsSchema');
  // Ajv fills defaults in place: work on a copy so the caller's object is untouched.
  const values: unknown = params === undefined ? {} : structuredCloneJson(params);
  if (!validate(values)) {
    const errors = (validate.errors ?? []).slice(0, MAX_PARAM_ERRORS).map((e) => ({ field: paramErrorField(e, values), message: e.message ?? 'is invalid' }));
    const first = errors[0] ?? { field: 'params', message: 'is invalid' };
    throw new BatonError('BATON_E_VALIDATION', errors.map((e) => `${e.field}: ${e.message}`).join('; '), {
      field: first.field,
      details: { template: ref, errors },
    });
  }
  const substitutions: Substitution[] = [];
  const rendered = substitute(
    template.spec,
    parseParamPlaceholder,
    (ph, field) => {
      const r = readPath(values, ph.path);
      if (!r.found || r.value === undefined) {
        throw invalid(`params.${ph.path.join('.')}`, `is used by ${ph.source} at spec.${field} but was not given`);
      }
      return r.value;
    },
    '',
    (s) => substitutions.push(s),
  );
  const error = Value.Errors(JobInput, rendered).First();
  if (error) {
    const field = pointerToField(error.path, rendered, '');
    const from = substitutions.find((s) => s.field === field || s.field.startsWith(`${field}.`) || s.field.startsWith(`${field}[`) || field.startsWith(`${s.field}.`) || field.startsWith(`${s.field}[`));
    const blamed = from ? `params.${from.placeholder.path[0]}` : 'template';
    throw new BatonError('BATON_E_VALIDATION', `${blamed}: template ${ref} renders an invalid job: ${field || 'the job'}: ${error.message}`, {
      field: blamed,
      details: { template: ref, specField: field },
    });
  }
  return rendered as JobInput;
}

/** A deep copy of JSON data (parameters arrive as JSON, so nothing is lost). */
function structuredCloneJson(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v)) as unknown;
}

/** The export document for these template versions. */
export function templateExport(templates: readonly Template[], createdAt?: (t: Template) => string): TemplateExport {
  return {
    baton: TEMPLATE_EXPORT_FORMAT,
    templates: templates.map((t) => ({
      name: t.name,
      version: t.version,
      ...(t.description !== null ? { description: t.description } : {}),
      spec: t.spec,
      paramsSchema: t.paramsSchema,
      ...(createdAt ? { createdAt: createdAt(t) } : {}),
    })),
  };
}

/**
 * Checks an import document: its format marker and shape, every template (as `checkTemplate`
 * does), and that no name@version appears twice. Returns its templates with defaults filled, in
 * document order. Throws BATON_E_VALIDATION naming the field (e.g. `templates[2].spec.queue`).
 */
export function validateTemplateExport(doc: unknown): Template[] {
  if (typeof doc !== 'object' || doc === null || (doc as { baton?: unknown }).baton !== TEMPLATE_EXPORT_FORMAT) {
    throw invalid('baton', `must be "${TEMPLATE_EXPORT_FORMAT}" (this is not a Baton templates export, or it is from a newer version)`);
  }
  const error = Value.Errors(TemplateExport, doc).First();
  if (error) {
    const field = pointerToField(error.path, doc, '');
    throw invalid(field || 'templates', error.message);
  }
  const seen = new Map<string, number>();
  return (doc as TemplateExport).templates.map((t, i) => {
    const key = formatTemplateRef(t.name, t.version);
    const dup = seen.get(key);
    if (dup !== undefined) throw invalid(`templates[${i}].version`, `${key} appears twice (also templates[${dup}])`);
    seen.set(key, i);
    return checkTemplate(t, t.version, `templates[${i}]`);
  });
}
