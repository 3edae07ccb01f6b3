// Shared jest setup: ts-jest compiles the ESM TypeScript sources to CommonJS for jest.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      {
        tsconfig: {
          module: 'commonjs',
          moduleResolution: 'node10',
          verbatimModuleSyntax: false,
          isolatedModules: true,
          esModuleInterop: true,
          target: 'ES2022',
          types: ['node', 'jest'],
        },
      },
    ],
  },
  testTimeout: 60000,
};
