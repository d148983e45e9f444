// Lint: recommended rules plus type-aware checks for floating promises (a daemon must not crash on one), and the
// import boundaries of docs/architecture.md: a folder of src/ imports only folders of a lower layer, and no module
// imports itself back through a cycle.
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** The layers of src/, lowest first (docs/architecture.md). Folders of one layer do not import each other. */
const LAYERS = [
  ['util'],
  ['store', 'health', 'apply'],
  ['registry'],
  ['render', 'docker', 'drain', 'elb'],
  ['config'],
  ['daemon'],
  ['http'],
  ['cli'],
];

/** For each folder: every folder of its own layer or a higher one is out of bounds. */
const boundaryZones = LAYERS.flatMap((layer, rank) =>
  layer.map((folder) => ({
    target: `./src/${folder}`,
    from: LAYERS.slice(rank)
      .flat()
      .filter((other) => other !== folder)
      .map((other) => `./src/${other}`),
    message: `src/${folder}/ (layer ${rank}) may import only lower layers: see docs/architecture.md.`,
  })),
).filter((zone) => zone.from.length > 0);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bench/**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.json' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-restricted-paths': ['error', { zones: boundaryZones }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-unresolved': ['error', { ignore: ['^node:'] }],
    },
  },
);
