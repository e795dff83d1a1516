/**
 * Every name a module of src exports is imported by another file (src, test, examples, handlers,
 * scripts) or re-exported by a package entry point. A name only its own file uses is not exported,
 * so the surface between modules stays what they really share.
 */
import { join, relative } from 'node:path';
import ts from 'typescript';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');

function unusedExports(): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
      },
    },
  );
  if (!config) throw new Error('tsconfig.json could not be read');
  const program = ts.createProgram(config.fileNames, config.options);
  const checker = program.getTypeChecker();
  const original = (symbol: ts.Symbol) =>
    symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  const own = (file: ts.SourceFile) => relative(root, file.fileName);
  const projectFiles = program.getSourceFiles().filter((file) => !own(file).startsWith('node_modules'));

  // Declarations some other file imports or re-exports: "file#name".
  const used = new Set<string>();
  const use = (symbol: ts.Symbol | undefined, importer: string) => {
    if (!symbol) return;
    const target = original(symbol);
    for (const declaration of target.declarations ?? []) {
      const file = own(declaration.getSourceFile());
      if (file !== importer) used.add(`${file}#${target.name}`);
    }
  };
  for (const file of projectFiles) {
    const visit = (node: ts.Node): void => {
      if (ts.isImportSpecifier(node) || ts.isExportSpecifier(node)) {
        use(checker.getSymbolAtLocation(node.propertyName ?? node.name), own(file));
      } else if (
        ts.isNamespaceImport(node) ||
        (ts.isCallExpression(node) &&
          node.expression.kind === ts.SyntaxKind.ImportKeyword &&
          node.arguments[0] &&
          ts.isStringLiteral(node.arguments[0]))
      ) {
        // A whole module imported (namespace or import()) counts as using each of its exports.
        const specifier = ts.isNamespaceImport(node) ? node.parent.parent.moduleSpecifier : node.arguments[0];
        const module = specifier && checker.getSymbolAtLocation(specifier);
        for (const exported of module ? checker.getExportsOfModule(module) : []) use(exported, own(file));
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
  }

  const unused: string[] = [];
  // A package entry point's exports are public whether or not this repository imports them.
  const entryPoint = /^src\/(index|[^/]+\/index|adapters\/[^/]+\/index)\.ts$/;
  for (const file of projectFiles.filter(
    (source) => own(source).startsWith('src/') && !entryPoint.test(own(source)),
  )) {
    const module = checker.getSymbolAtLocation(file);
    for (const exported of module ? checker.getExportsOfModule(module) : []) {
      const target = original(exported);
      const declaredHere = target.declarations?.some((declaration) => declaration.getSourceFile() === file);
      if (declaredHere && !used.has(`${own(file)}#${target.name}`))
        unused.push(`${own(file)}: ${exported.name}`);
    }
  }
  return unused.sort();
}

it('src exports only names another file imports', { timeout: 120_000 }, () => {
  expect(unusedExports()).toEqual([]);
});
