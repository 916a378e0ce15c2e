/**
 * Keeps src/core pure, as src/core/README.md promises: no Node built-ins, no imports of other
 * layers, no hidden clock or randomness. A failure names the file and the line to change.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const coreDir = fileURLToPath(new URL('../../src/core/', import.meta.url));
const files = readdirSync(coreDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
const builtins = new Set(builtinModules);

/** Specifiers of every static or dynamic import and re-export in `src`. */
function importsOf(src: string): string[] {
  const out: string[] = [];
  for (const m of src.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)) out.push(m[1]);
  return out;
}

describe('src/core stays pure', () => {
  it('has files to check', () => expect(files.length).toBeGreaterThan(0));

  for (const file of files) {
    it(`${file} imports no Node built-in and nothing outside src/core`, () => {
      const src = readFileSync(coreDir + file, 'utf8');
      for (const spec of importsOf(src)) {
        expect(spec.startsWith('node:') || builtins.has(spec), `${file} imports ${spec}`).toBe(false);
        expect(spec.startsWith('../'), `${file} imports ${spec} from outside the core`).toBe(false);
      }
    });

    it(`${file} takes time and randomness as arguments`, () => {
      const lines = readFileSync(coreDir + file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, '');
        expect(/\bDate\.now\s*\(|\bMath\.random\s*\(|\bnew Date\(\s*\)|\bperformance\.now\s*\(|\bprocess\./.test(code), `${file}:${i + 1}: ${line.trim()}`).toBe(false);
      });
    });
  }
});
