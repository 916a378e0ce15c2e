/** `baton templates ...`: list, show, create, list versions of, export and import templates. */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { TemplateView } from '../../core/api.ts';
import { clientFor, usage } from '../context.ts';
import { printJson, printTable } from '../output.ts';

function readJson(file: string, flag: string): unknown {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw usage(`${flag}: cannot read ${file}: ${(e as Error).message}`, flag);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw usage(`${flag}: ${file} is not JSON: ${(e as Error).message}`, flag);
  }
}

function table(list: TemplateView[]): void {
  printTable(['NAME', 'VERSION', 'CREATED', 'DESCRIPTION'], list.map((t) => [t.name, t.version, t.createdAt, t.description ?? '']));
}

/** Registers `baton templates` and its subcommands on the program. */
export function registerTemplates(program: Command): void {
  const templates = program.command('templates').description('named, versioned job specs with parameters');

  templates
    .command('ls', { isDefault: true })
    .description('list templates (latest version of each)')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const list = await clientFor(cmd).listTemplates();
      if (flags.json) printJson(list);
      else table(list);
    });

  templates
    .command('get')
    .description('show a template (latest, or name@version) as JSON')
    .argument('<ref>', 'name or name@version')
    .action(async (ref: string, _flags: unknown, cmd: Command) => {
      const at = ref.lastIndexOf('@');
      const version = at === -1 ? undefined : Number(ref.slice(at + 1));
      if (version !== undefined && !Number.isInteger(version)) throw usage(`"${ref}": the version after @ must be a number`);
      printJson(await clientFor(cmd).getTemplate(at === -1 ? ref : ref.slice(0, at), version));
    });

  templates
    .command('create')
    .description('save a template from a JSON file ({name, spec, paramsSchema?, description?}); each save is a new version')
    .requiredOption('--file <file>', 'the template as JSON, or - for stdin')
    .option('--json', 'print the saved version as JSON')
    .action(async (flags: { file: string; json?: boolean }, cmd: Command) => {
      const t = await clientFor(cmd).createTemplate(readJson(flags.file, '--file') as Parameters<ReturnType<typeof clientFor>['createTemplate']>[0]);
      if (flags.json) printJson(t);
      else process.stdout.write(`${t.name}@${t.version}\n`);
    });

  templates
    .command('versions')
    .description('list every version of a template')
    .argument('<name>', 'template name')
    .option('--json', 'print JSON')
    .action(async (name: string, flags: { json?: boolean }, cmd: Command) => {
      const list = await clientFor(cmd).templateVersions(name);
      if (flags.json) printJson(list);
      else table(list);
    });

  templates
    .command('export')
    .description('write every version of every template as a templates/v1 document')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(async (flags: { out?: string }, cmd: Command) => {
      const doc = await clientFor(cmd).exportTemplates();
      const text = `${JSON.stringify(doc, null, 2)}\n`;
      if (flags.out) writeFileSync(flags.out, text);
      else process.stdout.write(text);
    });

  templates
    .command('import')
    .description('import a templates/v1 document (all or nothing; identical versions are skipped)')
    .argument('<file>', 'the document, or - for stdin')
    .action(async (file: string, _flags: unknown, cmd: Command) => {
      const r = await clientFor(cmd).importTemplates(readJson(file, 'file'));
      process.stdout.write(`created ${r.created}, skipped ${r.skipped}\n`);
    });
}
