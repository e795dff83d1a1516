import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

export const root = join(import.meta.dirname, '../../..');

/** Each package entry point (`secrets-rotator`, `secrets-rotator/adapters/postgres`…) → its source file. */
export function entryPoints(): Map<string, string> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    exports: Record<string, { source: string }>;
  };
  const entries = new Map<string, string>();
  for (const [key, target] of Object.entries(pkg.exports)) {
    const name = `secrets-rotator${key.slice(1)}`;
    if (!key.includes('*')) {
      entries.set(name, target.source.slice(2));
      continue;
    }
    // A wildcard entry covers every folder that has the file its pattern names.
    const [folder, rest] = target.source.slice(2).split('/*');
    for (const dir of readdirSync(join(root, folder ?? ''), { withFileTypes: true })) {
      const file = `${folder}/${dir.name}${rest}`;
      if (
        dir.isDirectory() &&
        readdirSync(join(root, folder ?? '', dir.name)).includes(file.split('/').pop() ?? '')
      ) {
        entries.set(name.replace('*', dir.name), file);
      }
    }
  }
  return entries;
}

/**
 * The names a module exports, read from its source: `type X` for types, `X` for values. An
 * `export *` is refused, since what it adds cannot be read off the file.
 */
export function exportedNames(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(join(root, file), 'utf8'), ts.ScriptTarget.ES2023);
  const names: string[] = [];
  const exported = (node: ts.Node) =>
    ts.canHaveModifiers(node) && ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement)) {
      if (!statement.exportClause || !ts.isNamedExports(statement.exportClause)) {
        throw new Error(`${file}: export * hides what the module exports; name each export`);
      }
      for (const element of statement.exportClause.elements) {
        const isType = statement.isTypeOnly || element.isTypeOnly;
        names.push(`${isType ? 'type ' : ''}${element.name.text}`);
      }
    } else if (exported(statement)) {
      if (ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement)) {
        names.push(`type ${statement.name.text}`);
      } else if (ts.isVariableStatement(statement)) {
        for (const declaration of statement.declarationList.declarations) {
          names.push((declaration.name as ts.Identifier).text);
        }
      } else if (
        (ts.isFunctionDeclaration(statement) ||
          ts.isClassDeclaration(statement) ||
          ts.isEnumDeclaration(statement)) &&
        statement.name
      ) {
        names.push(statement.name.text);
      }
    }
  }
  const bare = (name: string) => name.replace(/^type /, '');
  return names.sort((a, b) => (bare(a) < bare(b) ? -1 : 1));
}
