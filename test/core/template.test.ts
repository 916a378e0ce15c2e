/**
 * Templates: references, checks before saving, rendering with parameter validation (errors name
 * the parameter), typed substitution, the rendered job checked against JobInput, and the
 * export/import document.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  NO_PARAMS_SCHEMA,
  TEMPLATE_EXPORT_FORMAT,
  checkTemplate,
  compileParamsSchema,
  formatTemplateRef,
  parseTemplateRef,
  renderTemplate,
  templateExport,
  validateTemplateExport,
  type Template,
} from '../../src/core/template.ts';
import { thrown } from './fixtures.ts';

const etl: Template = checkTemplate(
  {
    name: 'etl.daily',
    description: 'Load one table',
    spec: {
      type: 'command',
      payload: { argv: ['etl', '--table={{table}}', '--rows={{params.limits.rows}}'], env: { MODE: '{{mode}}' } },
      priority: '{{priority}}',
      tags: ['etl', 'table:{{table}}'],
      metadata: { limits: '{{limits}}', prev: '{{parents.extract.result.path}}' },
    },
    paramsSchema: {
      type: 'object',
      properties: {
        table: { type: 'string', minLength: 1, pattern: '^[a-z_]+$' },
        mode: { type: 'string', enum: ['full', 'delta'], default: 'delta' },
        priority: { type: 'integer', default: 5 },
        limits: { type: 'object', properties: { rows: { type: 'integer', minimum: 1 } }, required: ['rows'], additionalProperties: false },
        files: { type: 'array', items: { type: 'string' } },
      },
      required: ['table', 'limits'],
      additionalProperties: false,
    },
  },
  3,
);

describe('parseTemplateRef', () => {
  it('reads a name with or without a version', () => {
    expect(parseTemplateRef('etl')).toEqual({ name: 'etl', version: null });
    expect(parseTemplateRef('etl.daily:v2@10')).toEqual({ name: 'etl.daily:v2', version: 10 });
  });

  it('refuses bad references on the given field', () => {
    for (const bad of ['', '@3', 'etl@0', 'etl@', 'etl@x', 'etl@1.5', 'a@b@3', '-x', 'has space', 'etl@01', 'x'.repeat(201), 42]) {
      const e = thrown(() => parseTemplateRef(bad as string, 'jobs[1].template'));
      expect(e.code, String(bad)).toBe('BATON_E_VALIDATION');
      expect(e.field).toBe('jobs[1].template');
    }
  });

  it('round-trips with formatTemplateRef', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,30}$/), fc.integer({ min: 1, max: 999_999_999 }), (name, version) => {
        expect(parseTemplateRef(formatTemplateRef(name, version))).toEqual({ name, version });
      }),
      { numRuns: 100 },
    );
  });
});

describe('checkTemplate', () => {
  const spec = { type: 'command', payload: { argv: ['true'] } };

  it('fills the defaults', () => {
    expect(checkTemplate({ name: 'plain', spec }, 1)).toEqual({ name: 'plain', version: 1, description: null, spec, paramsSchema: NO_PARAMS_SCHEMA });
  });

  it('names the field at fault', () => {
    const cases: [Parameters<typeof checkTemplate>[0], string, RegExp][] = [
      [{ name: 't', spec, paramsSchema: { type: 'array' } }, 'paramsSchema.type', /type "object"/],
      [{ name: 't', spec, paramsSchema: { type: 'object', properties: { a: { type: 'strin' } } } }, 'paramsSchema', /not a valid JSON Schema/],
      [{ name: 't', spec, paramsSchema: { type: 'object', requried: ['a'] } }, 'paramsSchema', /unknown keyword/],
      [{ name: 't', spec, paramsSchema: { type: 'object', properties: { a: { type: 'string', format: 'colour' } } } }, 'paramsSchema', /unknown format/],
      [{ name: 't', spec, paramsSchema: { type: 'object', properties: { a: { $ref: 'http://example.com/s.json' } } } }, 'paramsSchema', /not a valid JSON Schema/],
      [{ name: 't', spec: { ...spec, colour: 'red' } }, 'spec.colour', /not a job input field/],
      [{ name: 't', spec: { ...spec, constructor: 'x' } }, 'spec.constructor', /not a job input field/],
      [{ name: 't', spec: { ...spec, payload: { argv: ['echo', '{{who}}'] } } }, 'spec.payload.argv[1]', /parameter "who"/],
      [{ name: 't', spec: { ...spec, payload: { argv: ['echo', '{{params}}'] } } }, 'spec.payload.argv[1]', /must name a parameter/],
      [{ name: 't', spec, paramsSchema: { type: 'object', properties: { parents: { type: 'string' } } } }, 'paramsSchema.properties.parents', /reserved/],
    ];
    for (const [input, field, message] of cases) {
      const e = thrown(() => checkTemplate(input, 1, ''));
      expect(e.code).toBe('BATON_E_VALIDATION');
      expect(e.field, field).toBe(field);
      expect(e.message).toMatch(message);
    }
    expect(thrown(() => checkTemplate({ name: 't', spec: { ...spec, x: 1 } }, 1, 'templates[4]')).field).toBe('templates[4].spec.x');
  });

  it('accepts union types and refuses an oversized schema', () => {
    const t = checkTemplate({ name: 'u', spec: { ...spec, name: '{{label}}' }, paramsSchema: { type: 'object', properties: { label: { type: ['string', 'null'], default: 'x' } } } }, 1);
    expect(renderTemplate(t, {}).name).toBe('x');
    const huge = { type: 'object', properties: Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`p${i}`, { type: 'string' }])) };
    const e = thrown(() => checkTemplate({ name: 'h', spec, paramsSchema: huge }, 1));
    expect(e.field).toBe('paramsSchema');
    expect(e.message).toMatch(/limit is 65536/);
  });

  it('caches compiled schemas by their text', () => {
    const a = compileParamsSchema({ type: 'object', properties: { x: { type: 'integer' } } });
    expect(compileParamsSchema({ type: 'object', properties: { x: { type: 'integer' } } })).toBe(a);
  });
});

describe('renderTemplate', () => {
  it('substitutes with types, applies schema defaults and keeps parents placeholders for later', () => {
    const params = { table: 'orders', limits: { rows: 1000 } };
    const job = renderTemplate(etl, params);
    expect(job).toEqual({
      type: 'command',
      payload: { argv: ['etl', '--table=orders', '--rows=1000'], env: { MODE: 'delta' } },
      priority: 5,
      tags: ['etl', 'table:orders'],
      metadata: { limits: { rows: 1000 }, prev: '{{parents.extract.result.path}}' },
    });
    expect(params).toEqual({ table: 'orders', limits: { rows: 1000 } });
    expect(renderTemplate(etl, { table: 'orders', limits: { rows: 2 }, priority: 9, mode: 'full' }).priority).toBe(9);
  });

  it('collects every parameter error and names each parameter', () => {
    const e = thrown(() => renderTemplate(etl, { table: 'Bad-Name', limits: { rows: 0 }, files: ['a', 3], extra: true }));
    expect(e.code).toBe('BATON_E_VALIDATION');
    const fields = (e.details as { errors: { field: string }[] }).errors.map((x) => x.field);
    expect(fields).toEqual(expect.arrayContaining(['params.table', 'params.limits.rows', 'params.files[1]', 'params.extra']));
    expect(e.field).toBe(fields[0]);
    expect(e.message).toContain('params.limits.rows');
    expect(thrown(() => renderTemplate(etl, { limits: { rows: 1 } })).field).toBe('params.table');
    expect(thrown(() => renderTemplate(etl, { table: 'x' })).field).toBe('params.limits');
    expect(thrown(() => renderTemplate(etl, [1, 2])).field).toBe('params');
    expect(thrown(() => renderTemplate(etl, undefined)).field).toBe('params.table');
    const many = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`x${i}`, 1]));
    expect((thrown(() => renderTemplate(etl, { table: 'a', limits: { rows: 1 }, ...many })).details as { errors: unknown[] }).errors).toHaveLength(20);
  });

  it('blames the parameter whose value makes the job invalid', () => {
    const e = thrown(() => renderTemplate(etl, { table: 'orders', limits: { rows: 1 }, priority: 11 }));
    expect(e.field).toBe('params.priority');
    expect(e.message).toMatch(/etl\.daily@3 renders an invalid job: priority/);
    expect((e.details as { specField: string }).specField).toBe('priority');
  });

  it('blames an embedded parameter too, and the template when no parameter is involved', () => {
    const t = checkTemplate(
      { name: 'q', spec: { type: 'command', payload: { argv: ['x'] }, queue: 'q-{{suffix}}' }, paramsSchema: { type: 'object', properties: { suffix: { type: 'string' } } } },
      1,
    );
    expect(renderTemplate(t, { suffix: 'ok' }).queue).toBe('q-ok');
    expect(thrown(() => renderTemplate(t, { suffix: 'no spaces please' })).field).toBe('params.suffix');
    const broken = checkTemplate({ name: 'b', spec: { type: 'command', payload: { argv: ['x'] }, priority: 99 } }, 2);
    const e = thrown(() => renderTemplate(broken, {}));
    expect(e.field).toBe('template');
    expect(e.message).toMatch(/b@2 renders an invalid job: priority/);
    expect(thrown(() => renderTemplate(checkTemplate({ name: 'n', spec: { payload: {} } }, 1), {})).message).toMatch(/type/);
  });

  it('names a parameter the spec uses but the caller did not give', () => {
    const t = checkTemplate(
      { name: 'o', spec: { type: 'command', payload: { argv: ['echo', '{{who}}'] } }, paramsSchema: { type: 'object', properties: { who: { type: 'string' } } } },
      1,
    );
    const e = thrown(() => renderTemplate(t, {}));
    expect(e.field).toBe('params.who');
    expect(e.message).toMatch(/spec\.payload\.argv\[1\]/);
  });

  it('checks runAt as a date-time', () => {
    const t = checkTemplate(
      { name: 'later', spec: { type: 'command', payload: { argv: ['x'] }, runAt: '{{at}}' }, paramsSchema: { type: 'object', properties: { at: { type: 'string' } } } },
      1,
    );
    expect(renderTemplate(t, { at: '2030-01-02T03:04:05Z' }).runAt).toBe('2030-01-02T03:04:05Z');
    expect(thrown(() => renderTemplate(t, { at: 'tomorrow' })).field).toBe('params.at');
  });

  it('gives every render its own copy of an object default', () => {
    const t = checkTemplate(
      { name: 'd', spec: { type: 'command', payload: { argv: ['x'] }, metadata: '{{meta}}' }, paramsSchema: { type: 'object', properties: { meta: { type: 'object', default: { n: 1 } } } } },
      1,
    );
    const first = renderTemplate(t, {});
    (first.metadata as { n: number }).n = 99;
    expect(renderTemplate(t, {}).metadata).toEqual({ n: 1 });
  });

  it('substituted values are never expanded again', () => {
    const t = checkTemplate(
      { name: 'lit', spec: { type: 'command', payload: { script: 'echo {{text}}' } }, paramsSchema: { type: 'object', properties: { text: { type: 'string' } } } },
      1,
    );
    expect(renderTemplate(t, { text: '{{text}} {{x}}' }).payload).toEqual({ script: 'echo {{text}} {{x}}' });
  });
});

describe('export and import', () => {
  const simple = checkTemplate({ name: 'simple', spec: { type: 'http', payload: { url: 'https://example.com' } } }, 1);

  it('round-trips', () => {
    const doc = JSON.parse(JSON.stringify(templateExport([etl, simple], () => '2030-01-01T00:00:00.000Z')));
    expect(doc.baton).toBe(TEMPLATE_EXPORT_FORMAT);
    expect(validateTemplateExport(doc)).toEqual([etl, simple]);
    expect(validateTemplateExport(templateExport([]))).toEqual([]);
  });

  it('names what is wrong', () => {
    const good = templateExport([etl, simple]);
    const cases: [unknown, string][] = [
      [null, 'baton'],
      [{ templates: [] }, 'baton'],
      [{ ...good, baton: 'templates/v2' }, 'baton'],
      [{ ...good, extra: 1 }, 'extra'],
      [{ baton: TEMPLATE_EXPORT_FORMAT }, 'templates'],
      [{ ...good, templates: [good.templates[0], { ...good.templates[1], version: 0 }] }, 'templates[1].version'],
      [{ ...good, templates: [good.templates[1], good.templates[1]] }, 'templates[1].version'],
      [{ ...good, templates: [{ ...good.templates[1], spec: { ...good.templates[1].spec, colour: 'red' } }] }, 'templates[0].spec.colour'],
      [{ ...good, templates: [{ ...good.templates[1], paramsSchema: { type: 'string' } }] }, 'templates[0].paramsSchema.type'],
    ];
    for (const [doc, field] of cases) {
      const e = thrown(() => validateTemplateExport(doc));
      expect(e.code).toBe('BATON_E_VALIDATION');
      expect(e.field, JSON.stringify(doc)?.slice(0, 80)).toBe(field);
    }
  });
});
