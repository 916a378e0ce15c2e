/**
 * Templates: POST /v1/templates (each post makes the next immutable version), GET lists, one
 * template (latest or a version), its versions, and export/import of the `templates/v1`
 * document. Operators write templates; viewers read them; submitters submit from them through
 * POST /v1/jobs `{template, params}`.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TemplateView } from '../../core/api.ts';
import { BatonError, invalid } from '../../core/errors.ts';
import { checkTemplate, TemplateInput, TemplateName, templateExport, validateTemplateExport, type TemplateExport } from '../../core/template.ts';
import type { TemplateRecord } from '../../store/types.ts';
import type { ServerContext } from '../context.ts';
import { auditOf, BEARER, principalOf } from './common.ts';
import { iso } from './serialize.ts';

const NameParam = Type.Object({ name: TemplateName });
const VersionParams = Type.Object({ name: TemplateName, version: Type.String({ pattern: '^[1-9][0-9]{0,8}$' }) });

/** A stored template version as the API shows it. */
export function templateView(t: TemplateRecord): TemplateView {
  return { name: t.name, version: t.version, description: t.description, spec: t.spec, paramsSchema: t.paramsSchema, createdAt: iso(t.createdAt) };
}

/** Registers the template routes. */
export function templateRoutes(ctx: ServerContext) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.post<{ Body: TemplateInput }>(
      '/v1/templates',
      { config: { role: 'operator' }, schema: { tags: ['templates'], summary: 'Save a template as its next version', security: BEARER, body: TemplateInput } },
      async (req, reply) => {
        const t = checkTemplate(req.body, 0);
        const rec = await ctx.store.templateCreate({
          tenant: principalOf(req).tenant,
          name: t.name,
          description: t.description,
          spec: t.spec,
          paramsSchema: t.paramsSchema,
          now: ctx.now(),
          audit: auditOf(req, 'template.create', 'template', t.name),
        });
        return reply.status(201).send(templateView(rec));
      },
    );

    app.get(
      '/v1/templates',
      { config: { role: 'viewer' }, schema: { tags: ['templates'], summary: 'The latest version of every template', security: BEARER } },
      async (req) => ({ templates: (await ctx.store.templateList({ tenant: principalOf(req).tenant })).map(templateView) }),
    );

    // Registered before /:name so that "export" is never read as a template name.
    app.get(
      '/v1/templates/export',
      { config: { role: 'viewer' }, schema: { tags: ['templates'], summary: 'Every version of every template as a templates/v1 document', security: BEARER } },
      async (req): Promise<TemplateExport> => {
        const all = await ctx.store.templateVersions({ tenant: principalOf(req).tenant });
        const at = new Map(all.map((t) => [`${t.name}@${t.version}`, iso(t.createdAt)]));
        return templateExport(all, (t) => at.get(`${t.name}@${t.version}`)!);
      },
    );

    app.post(
      '/v1/templates/import',
      { config: { role: 'operator' }, schema: { tags: ['templates'], summary: 'Import a templates/v1 document (all or nothing)', security: BEARER } },
      async (req) => {
        if (typeof req.body !== 'object' || req.body === null) throw invalid('baton', 'the body must be a templates/v1 document');
        const templates = validateTemplateExport(req.body);
        return ctx.store.templateImport({
          tenant: principalOf(req).tenant,
          templates,
          now: ctx.now(),
          audit: auditOf(req, 'template.import', 'template', null, { count: templates.length }),
        });
      },
    );

    app.get<{ Params: { name: string } }>(
      '/v1/templates/:name',
      { config: { role: 'viewer' }, schema: { tags: ['templates'], summary: 'The latest version of a template', security: BEARER, params: NameParam } },
      async (req) => {
        const t = await ctx.store.templateGet({ tenant: principalOf(req).tenant, name: req.params.name, version: null });
        if (t === null) throw new BatonError('BATON_E_NOT_FOUND', `no template ${req.params.name}`);
        return templateView(t);
      },
    );

    app.get<{ Params: { name: string } }>(
      '/v1/templates/:name/versions',
      { config: { role: 'viewer' }, schema: { tags: ['templates'], summary: 'Every version of a template, oldest first', security: BEARER, params: NameParam } },
      async (req) => {
        const list = await ctx.store.templateVersions({ tenant: principalOf(req).tenant, name: req.params.name });
        if (list.length === 0) throw new BatonError('BATON_E_NOT_FOUND', `no template ${req.params.name}`);
        return { versions: list.map(templateView) };
      },
    );

    app.get<{ Params: { name: string; version: string } }>(
      '/v1/templates/:name/versions/:version',
      { config: { role: 'viewer' }, schema: { tags: ['templates'], summary: 'One version of a template', security: BEARER, params: VersionParams } },
      async (req) => {
        const t = await ctx.store.templateGet({ tenant: principalOf(req).tenant, name: req.params.name, version: Number(req.params.version) });
        if (t === null) throw new BatonError('BATON_E_NOT_FOUND', `no template ${req.params.name}@${req.params.version}`);
        return templateView(t);
      },
    );
  };
}
